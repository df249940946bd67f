"""utils.runtime: profiles, overrides, device detection with mocked hardware, seeding."""

import random

import numpy as np
import pytest

from utils import runtime
from utils.runtime import ConfigError

REAL_UNDER_TEST = runtime.under_test


@pytest.fixture
def clean_env(monkeypatch):
    """As outside pytest: no overrides (pytest re-sets PYTEST_CURRENT_TEST, so patch it out)."""
    for var in ("COURSE_PROFILE", "COURSE_DEVICE", "COURSE_UNDER_TEST"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(runtime, "under_test", lambda: False)
    return monkeypatch


def test_under_test_is_detected(monkeypatch):
    monkeypatch.delenv("COURSE_UNDER_TEST", raising=False)
    assert REAL_UNDER_TEST()  # PYTEST_CURRENT_TEST is set while a test runs
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    assert not REAL_UNDER_TEST()
    monkeypatch.setenv("COURSE_UNDER_TEST", "1")  # what conftest.py exports to kernels
    assert REAL_UNDER_TEST()


def test_auto_profile_follows_hardware(clean_env):
    assert runtime.choose_profile(gpu=True)[0] == "full"
    assert runtime.choose_profile(gpu=False)[0] == "quick"
    assert "no GPU" in runtime.choose_profile(gpu=False)[1]


def test_under_test_means_smoke(clean_env):
    clean_env.setattr(runtime, "under_test", lambda: True)
    assert runtime.choose_profile(gpu=True) == ("smoke", "auto: running under pytest/nbval")


def test_env_override_beats_auto_and_argument_beats_env(clean_env):
    clean_env.setattr(runtime, "under_test", lambda: True)
    clean_env.setenv("COURSE_PROFILE", "Full ")
    assert runtime.choose_profile(gpu=False)[0] == "full"
    assert runtime.choose_profile("quick", gpu=False)[0] == "quick"


@pytest.mark.parametrize("var,value", [("COURSE_PROFILE", "fast"), ("COURSE_DEVICE", "tpu")])
def test_unknown_override_lists_valid_values(clean_env, var, value):
    clean_env.setenv(var, value)
    with pytest.raises(ConfigError) as err:
        runtime.choose_profile(gpu=False) if var == "COURSE_PROFILE" else runtime.requested_device()
    msg = str(err.value)
    assert value in msg and var in msg
    valid = runtime.PROFILES if var == "COURSE_PROFILE" else runtime.DEVICES
    assert all(v in msg for v in valid)


def test_pick_needs_all_profiles_with_same_keys():
    rt = runtime.Runtime("torch", "cpu", "cpu", "quick", "test", False, 0)
    assert rt.pick(smoke={"n": 1}, quick={"n": 2}, full={"n": 3}) == {"n": 2}
    with pytest.raises(ConfigError, match="missing"):
        rt.pick(smoke={"n": 1}, quick={"n": 2})
    with pytest.raises(ConfigError, match="same keys"):
        rt.pick(smoke={"n": 1}, quick={"n": 2}, full={"m": 3})


# --- PyTorch device detection with mocked hardware -------------------------------------------

torch = pytest.importorskip("torch")


def _mock_torch(monkeypatch, cuda: bool, mps: bool):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


@pytest.mark.parametrize("cuda,mps,expected", [(True, True, "cuda"), (True, False, "cuda"),
                                               (False, True, "mps"), (False, False, "cpu")])
def test_torch_device_order(clean_env, cuda, mps, expected):
    _mock_torch(clean_env, cuda, mps)
    assert runtime.torch_device_name() == expected


def test_torch_device_override(clean_env):
    _mock_torch(clean_env, True, False)
    clean_env.setenv("COURSE_DEVICE", "cpu")
    assert runtime.torch_device_name() == "cpu"
    clean_env.setenv("COURSE_DEVICE", "mps")
    with pytest.raises(ConfigError, match="no MPS device"):
        runtime.torch_device_name()


def test_setup_with_mocked_gpu_picks_full_profile(clean_env):
    _mock_torch(clean_env, False, True)
    rt = runtime.setup("torch", verbose=False)
    assert (rt.device, rt.profile, rt.mixed_precision) == ("mps", "full", False)
    _mock_torch(clean_env, False, False)
    rt = runtime.setup("torch", verbose=False)
    assert (rt.device, rt.profile) == ("cpu", "quick")


def test_setup_rejects_unknown_framework():
    with pytest.raises(ConfigError, match="torch, keras"):
        runtime.setup("jax")


def test_seeding_makes_python_numpy_torch_repeatable():
    runtime.seed_everything(123)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    runtime.seed_everything(123)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


# --- TensorFlow ------------------------------------------------------------------------------

def test_tensorflow_gpu_detection_mocked(clean_env):
    tf = pytest.importorskip("tensorflow")

    class FakeGPU:
        name = "/physical_device:GPU:0"

    grown = []
    clean_env.setattr(tf.config, "list_physical_devices", lambda kind: [FakeGPU()])
    clean_env.setattr(tf.config.experimental, "set_memory_growth",
                      lambda gpu, on: grown.append(on))
    assert len(runtime.tf_gpus()) == 1 and grown == [True]
    clean_env.setenv("COURSE_DEVICE", "mps")
    with pytest.raises(ConfigError, match="PyTorch device"):
        runtime.tf_gpus()
    clean_env.setattr(tf.config, "list_physical_devices", lambda kind: [])
    clean_env.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(ConfigError, match="no GPU"):
        runtime.tf_gpus()


def test_keras_seeding_repeatable():
    keras = pytest.importorskip("keras")
    runtime.seed_everything(7)
    a = keras.random.uniform((3,)).numpy()
    runtime.seed_everything(7)
    np.testing.assert_array_equal(a, keras.random.uniform((3,)).numpy())


def test_describe_reports_cpu_and_profile(clean_env):
    _mock_torch(clean_env, False, False)
    text = runtime.describe()
    for item in ("Python", "PyTorch", "TensorFlow", "Profile", "quick", "no GPU found"):
        assert item in text
