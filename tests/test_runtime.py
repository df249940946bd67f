"""utils.runtime: profiles, overrides, device detection with mocked hardware, seeding."""

import random
import sys
import types

import numpy as np
import pytest

from utils import runtime
from utils.runtime import ConfigError

REAL_UNDER_TEST = runtime.under_test


@pytest.fixture
def clean_env(monkeypatch):
    """As outside pytest: no overrides (pytest re-sets PYTEST_CURRENT_TEST, so patch it out)."""
    for var in ("COURSE_PROFILE", "COURSE_DEVICE", "COURSE_UNDER_TEST", "COURSE_DRY_RUN",
                "COURSE_PRECISION", "COURSE_REPORT_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(runtime, "under_test", lambda: False)
    monkeypatch.delenv("COURSE_TORCH_COMPILE", raising=False)
    for names in runtime.HOSTED_SERVICES.values():  # as on a local machine, also on Colab
        for var in names:
            monkeypatch.delenv(var, raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    import torch

    # setup() on a (mocked) CUDA machine turns cuDNN autotuning on: restore it afterwards.
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", torch.backends.cudnn.benchmark)
    return monkeypatch


def test_under_test_is_detected(monkeypatch):
    monkeypatch.delenv("COURSE_UNDER_TEST", raising=False)
    assert REAL_UNDER_TEST()  # PYTEST_CURRENT_TEST is set while a test runs
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    assert not REAL_UNDER_TEST()
    monkeypatch.setenv("COURSE_UNDER_TEST", "1")  # what conftest.py exports to kernels
    assert REAL_UNDER_TEST()


def test_auto_profile_follows_hardware(clean_env):
    assert runtime.choose_profile(accelerator="cuda")[0] == "full"
    assert runtime.choose_profile(accelerator="cpu")[0] == "quick"
    assert "no GPU" in runtime.choose_profile(accelerator="cpu")[1]
    # Apple GPUs get quick: full takes hours there (300 VAE epochs, VGG19 at 512 px, ...)
    profile, why = runtime.choose_profile(accelerator="mps")
    assert profile == "quick" and "Apple" in why and "COURSE_PROFILE=full" in why


def test_under_test_means_smoke(clean_env):
    clean_env.setattr(runtime, "under_test", lambda: True)
    assert runtime.choose_profile(accelerator="cuda") == ("smoke",
                                                          "auto: running under pytest/nbval")


def test_env_override_beats_auto_and_argument_beats_env(clean_env):
    clean_env.setattr(runtime, "under_test", lambda: True)
    clean_env.setenv("COURSE_PROFILE", "Full ")
    assert runtime.choose_profile(accelerator="cpu")[0] == "full"
    assert runtime.choose_profile("quick", accelerator="cpu")[0] == "quick"
    clean_env.setenv("COURSE_PROFILE", "full")
    assert runtime.choose_profile(accelerator="mps")[0] == "full"  # a Mac user may ask for full


@pytest.mark.parametrize("value", ["yes", "true", "2", "on"])
def test_dry_run_accepts_only_0_or_1(clean_env, value):
    clean_env.setenv("COURSE_DRY_RUN", value)
    with pytest.raises(ConfigError) as err:
        runtime.dry_run_requested()
    assert "COURSE_DRY_RUN" in str(err.value) and "1" in str(err.value) and "0" in str(err.value)
    assert value in str(err.value)


def test_dry_run_means_full_and_refuses_other_profiles(clean_env):
    for value, expected in (("", False), ("0", False), ("1", True), (" 1 ", True)):
        clean_env.setenv("COURSE_DRY_RUN", value)
        assert runtime.dry_run_requested() is expected
    assert runtime.choose_profile(accelerator="cpu", dry_run=True)[0] == "full"
    clean_env.setattr(runtime, "under_test", lambda: True)  # also under pytest: full, not smoke
    assert runtime.choose_profile(accelerator="cpu", dry_run=True)[0] == "full"
    with pytest.raises(ConfigError, match="COURSE_PROFILE=full"):
        runtime.choose_profile("quick", accelerator="cpu", dry_run=True)
    clean_env.setenv("COURSE_PROFILE", "smoke")
    with pytest.raises(ConfigError, match="dry-runs the full profile"):
        runtime.choose_profile(accelerator="cpu", dry_run=True)


def test_unknown_precision_lists_valid_values(clean_env):
    clean_env.setenv("COURSE_PRECISION", "fp16")
    with pytest.raises(ConfigError) as err:
        runtime.requested_precision()
    assert all(v in str(err.value) for v in ["COURSE_PRECISION", "fp16", *runtime.PRECISIONS])
    with pytest.raises(ConfigError, match="float32, mixed"):
        runtime.setup("torch", precision="bf16", verbose=False)


@pytest.mark.parametrize("policy,hardware,dry,env,expected", [
    ("mixed", True, False, "auto", True),      # an H100 running chapter 01
    ("mixed", False, False, "auto", False),    # a CPU or an older GPU
    ("mixed", False, True, "auto", True),      # the dry run forces the GPU's path on the CPU
    ("mixed", True, False, "float32", False),  # the learner turned it off
    ("mixed", False, False, "mixed", True),    # ... or forced it on
    ("float32", True, True, "mixed", False),   # a float32 chapter never runs in bfloat16
])
def test_precision_policy(clean_env, policy, hardware, dry, env, expected):
    clean_env.setenv("COURSE_PRECISION", env)
    assert runtime.use_mixed(policy, hardware, dry) is expected


def test_pick_dry_run_shortens_only_what_it_lists(clean_env):
    profiles = dict(smoke={"n": 1, "w": 8}, quick={"n": 2, "w": 16}, full={"n": 300, "w": 64})
    rt = runtime.Runtime("torch", "cpu", "cpu", "full", "test", True, 0, dry_run=True)
    assert rt.pick(**profiles, dry_run={"n": 2}) == {"n": 2, "w": 64}
    with pytest.raises(ConfigError, match="unknown"):
        rt.pick(**profiles, dry_run={"epochs": 1})
    with pytest.raises(ConfigError, match="dry_run"):
        rt.pick(**profiles)
    rt.dry_run = False
    assert rt.pick(**profiles, dry_run={"n": 2}) == {"n": 300, "w": 64}


def test_gate_checks_normally_and_is_skipped_in_a_dry_run(capsys):
    rt = runtime.Runtime("torch", "cpu", "cpu", "full", "test", False, 0)
    rt.gate(True, "above chance", "")
    with pytest.raises(AssertionError, match="above chance: 9 %"):
        rt.gate(False, "above chance", "9 %")
    rt.dry_run = True
    rt.gate(False, "above chance", "9 %")
    assert "above chance: skipped (dry run" in capsys.readouterr().out


def test_cuda_problem_names_the_fix():
    msg = runtime.cuda_problem("12.8", "470.57.02")
    assert all(s in msg for s in ("470.57.02", "12.8", "525.60.13", "update the driver"))
    assert "CPU-only" in runtime.cuda_problem("", "550.1")
    assert "CUDA_VISIBLE_DEVICES" in runtime.cuda_problem("12.4", "550.54.14")


@pytest.mark.parametrize("var,value", [("COURSE_PROFILE", "fast"), ("COURSE_DEVICE", "tpu")])
def test_unknown_override_lists_valid_values(clean_env, var, value):
    clean_env.setenv(var, value)
    with pytest.raises(ConfigError) as err:
        if var == "COURSE_PROFILE":
            runtime.choose_profile(accelerator="cpu")
        else:
            runtime.requested_device()
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


def test_setup_with_mocked_devices_picks_the_profile(clean_env):
    _mock_torch(clean_env, False, True)
    rt = runtime.setup("torch", verbose=False, precision="mixed")
    assert (rt.device, rt.profile, rt.mixed_precision) == ("mps", "quick", False)
    _mock_torch(clean_env, False, False)
    rt = runtime.setup("torch", verbose=False)
    assert (rt.device, rt.profile) == ("cpu", "quick")
    _mock_torch(clean_env, True, False)
    clean_env.setattr(torch.cuda, "get_device_name", lambda i=0: "NVIDIA H100")
    clean_env.setattr(torch.cuda, "get_device_capability", lambda i=0: (9, 0))
    rt = runtime.setup("torch", verbose=False, precision="mixed")
    assert (rt.device, rt.profile, rt.precision) == ("cuda", "full", "bfloat16 mixed")
    clean_env.setattr(torch.cuda, "get_device_capability", lambda i=0: (7, 5))  # a T4
    assert not runtime.setup("torch", verbose=False, precision="mixed").mixed_precision


def test_gpu_switches_follow_the_device_and_the_dry_run(clean_env):
    _mock_torch(clean_env, False, False)
    rt = runtime.setup("torch", verbose=False)
    assert not (rt.channels_last or rt.torch_compile or torch.backends.cudnn.benchmark)
    assert rt.memory_format == torch.contiguous_format
    model = torch.nn.Linear(2, 2)
    assert rt.compile(model) is model  # a CPU run keeps the plain module
    _mock_torch(clean_env, True, False)
    clean_env.setattr(torch.cuda, "get_device_name", lambda i=0: "NVIDIA H100")
    clean_env.setattr(torch.cuda, "get_device_capability", lambda i=0: (9, 0))
    rt = runtime.setup("torch", verbose=False)
    assert rt.channels_last and rt.torch_compile and torch.backends.cudnn.benchmark
    assert rt.memory_format == torch.channels_last and "channels_last" in rt.summary()
    clean_env.setenv("COURSE_TORCH_COMPILE", "0")
    assert not runtime.setup("torch", verbose=False).torch_compile
    clean_env.setenv("COURSE_TORCH_COMPILE", "yes")
    with pytest.raises(ConfigError, match="COURSE_TORCH_COMPILE='yes'.*1 \\(on\\) or 0"):
        runtime.setup("torch", verbose=False)


def test_dry_run_takes_the_gpu_paths_with_an_eager_compile(clean_env):
    _mock_torch(clean_env, False, False)
    clean_env.setenv("COURSE_DRY_RUN", "1")
    rt = runtime.setup("torch", verbose=False)
    assert rt.channels_last and rt.torch_compile and not torch.backends.cudnn.benchmark
    model = torch.nn.Conv2d(3, 4, 3).to(memory_format=rt.memory_format)
    fast = rt.compile(model)
    x = torch.randn(2, 3, 8, 8).contiguous(memory_format=rt.memory_format)
    torch.testing.assert_close(fast(x), model(x))
    rt.sync()  # a no-op on the CPU


def test_target_reports_and_never_stops(clean_env, tmp_path, capsys):
    import json

    clean_env.setenv("COURSE_REPORT_FILE", str(tmp_path / "r.json"))
    rt = runtime.setup("torch", verbose=False)
    assert rt.target("acc", 0.99, 0.992, fmt="{:.1%}") is False
    assert rt.target("nll", 85.9, 86.0, higher_is_better=False) is True
    out = capsys.readouterr().out
    assert "✗ target acc: 99.0% (target ≥ 99.2%) — MISSED" in out and "✓ target nll" in out
    targets = json.loads((tmp_path / "r.json").read_text())["targets"]
    assert targets["acc"]["met"] is False and targets["nll"]["goal"] == 86.0
    clean_env.setenv("COURSE_DRY_RUN", "1")
    assert runtime.setup("torch", verbose=False).target("acc", 0.1, 0.9) is None


def test_torch_dry_run_autocasts_on_the_cpu(clean_env, tmp_path):
    import json

    _mock_torch(clean_env, False, False)
    clean_env.setenv("COURSE_DRY_RUN", "1")
    clean_env.setenv("COURSE_REPORT_FILE", str(tmp_path / "r.json"))
    rt = runtime.setup("torch", verbose=False, precision="mixed")
    assert (rt.profile, rt.dry_run, rt.precision) == ("full", True, "bfloat16 mixed")
    layer = torch.nn.Linear(4, 3)
    with rt.autocast():
        assert layer(torch.ones(2, 4)).dtype == torch.bfloat16
    assert layer(torch.ones(2, 4)).dtype == torch.float32
    facts = json.loads((tmp_path / "r.json").read_text())["facts"]
    assert facts["precision"] == "bfloat16 mixed" and facts["dry_run"] is True
    assert not torch.backends.cudnn.allow_tf32  # float32 parts stay float32 on Ampere+
    assert torch.get_float32_matmul_precision() == "highest"
    rt = runtime.setup("torch", verbose=False, precision="float32")
    with rt.autocast():
        assert layer(torch.ones(2, 4)).dtype == torch.float32
    assert json.loads((tmp_path / "r.json").read_text())["facts"]["precision"] == "float32"


def test_deterministic_restores_torch_settings():
    before = torch.are_deterministic_algorithms_enabled()
    with runtime.deterministic("torch"):
        assert torch.are_deterministic_algorithms_enabled()
    assert torch.are_deterministic_algorithms_enabled() == before


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


def test_keras_dry_run_sets_mixed_bfloat16_and_xla(clean_env):
    keras = pytest.importorskip("keras")
    clean_env.setenv("COURSE_DRY_RUN", "1")
    try:
        rt = runtime.setup("keras", verbose=False, precision="mixed")
        assert (rt.profile, rt.jit_compile, rt.precision) == ("full", True, "bfloat16 mixed")
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
        assert keras.layers.Dense(2)(np.ones((1, 3), "float32")).dtype == "bfloat16"
        import tensorflow as tf

        assert not tf.config.experimental.tensor_float_32_execution_enabled()
        runtime.setup("keras", verbose=False, precision="float32")
        assert keras.mixed_precision.global_policy().name == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_keras_smoke_turns_grappler_off_on_cpu_only(clean_env):
    pytest.importorskip("keras")
    import tensorflow as tf

    clean_env.delenv("COURSE_DRY_RUN", raising=False)
    try:
        runtime.setup("keras", profile="smoke", verbose=False)
        assert tf.config.optimizer.get_experimental_options()["disable_meta_optimizer"]
        runtime.setup("keras", profile="quick", verbose=False)
        assert not tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer")
    finally:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": False})


def test_describe_reports_cpu_profile_conv_and_precision(clean_env):
    _mock_torch(clean_env, False, False)
    text = runtime.describe()
    for item in ("Python", "PyTorch", "TensorFlow", "Profile", "quick", "no GPU found",
                 "PyTorch cpu conv", "TensorFlow CPU conv", "Precision (PyTorch)",
                 "Precision (Keras)"):
        assert item in text
    assert "FAILED" not in text and "bfloat16" not in text  # a CPU trains in float32
    clean_env.setenv("COURSE_DRY_RUN", "1")
    # read from the registry, so that a new "mixed" chapter needs no edit here
    from utils.chapters import PRECISION
    mixed = ", ".join(name for name, policy in PRECISION.items() if policy == "mixed")
    assert mixed.startswith("01_cnn, 02_dcgan")
    assert f"{mixed}: bfloat16 mixed" in runtime.describe()


def test_gpu_problems_name_the_setting_and_fix(clean_env):
    tf = pytest.importorskip("tensorflow")
    clean_env.setattr(runtime, "nvidia_driver", lambda: "470.57.02")
    clean_env.setattr(torch.cuda, "is_available", lambda: False)
    clean_env.setattr(torch.version, "cuda", "12.8")
    clean_env.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    clean_env.setattr(tf.sysconfig, "get_build_info",
                      lambda: {"is_cuda_build": True, "cuda_version": "12.5.1"})
    problems = runtime.gpu_problems()
    assert len(problems) == 2 and all(len(p.splitlines()) == 1 for p in problems)
    assert problems[0].startswith("PyTorch:") and "too old for CUDA 12.8" in problems[0]
    assert problems[1].startswith("TensorFlow:") and "update the driver" in problems[1]
    clean_env.setattr(tf.sysconfig, "get_build_info", lambda: {"is_cuda_build": False})
    assert "tensorflow[and-cuda]" in runtime.gpu_problems()[1]
    clean_env.setattr(runtime, "nvidia_driver", lambda: None)  # no NVIDIA GPU: nothing to say
    assert runtime.gpu_problems() == []


def test_dry_run_never_saves_models_in_the_user_cache(clean_env):
    clean_env.delenv("COURSE_MODELS_DIR", raising=False)
    clean_env.setenv("COURSE_DRY_RUN", "1")
    runtime.setup("torch", verbose=False)
    from utils import checkpoints

    assert "course-dry-run-models-" in str(checkpoints.models_dir())


def test_tf32_is_on_inside_the_block_only(clean_env):
    rt = runtime.setup("torch", verbose=False)
    assert not torch.backends.cudnn.allow_tf32
    with rt.tf32():
        assert torch.backends.cudnn.allow_tf32
        assert torch.get_float32_matmul_precision() == "high"
    assert not torch.backends.cudnn.allow_tf32
    assert torch.get_float32_matmul_precision() == "highest"
    with pytest.raises(RuntimeError), rt.tf32():  # restored after an error too
        raise RuntimeError
    assert not torch.backends.cudnn.allow_tf32


def test_keras_tf32_is_on_inside_the_block_only(clean_env):
    tf = pytest.importorskip("tensorflow")
    rt = runtime.setup("keras", verbose=False)
    assert not tf.config.experimental.tensor_float_32_execution_enabled()
    with rt.tf32():
        assert tf.config.experimental.tensor_float_32_execution_enabled()
    assert not tf.config.experimental.tensor_float_32_execution_enabled()


# --- hosted notebook services (Colab, Kaggle, ...) -------------------------------------------

T4 = ("Tesla T4", (7, 5))


@pytest.mark.parametrize("var,value,service", [
    ("COLAB_RELEASE_TAG", "release-colab_20250101-060000_RC00", "Google Colab"),
    ("COLAB_GPU", "", "Google Colab"),  # set at all counts, whatever the value
    ("KAGGLE_KERNEL_RUN_TYPE", "Interactive", "Kaggle"),
    ("LIGHTNING_CLOUD_SPACE_ID", "01abc", "Lightning Studio"),
    ("DEEPNOTE_PROJECT_ID", "8d1c-4f2a", "Deepnote"),
])
def test_hosted_service_from_its_environment_variable(clean_env, var, value, service):
    assert runtime.hosted_service() is None  # a local machine: none of them set
    clean_env.setenv(var, value)
    assert runtime.hosted_service() == service


def test_hosted_service_colab_module_and_no_failure(clean_env):
    clean_env.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    assert runtime.hosted_service() == "Google Colab"  # a kernel that already imported it
    clean_env.delitem(sys.modules, "google.colab")
    clean_env.setattr(runtime, "HOSTED_SERVICES", None)  # whatever goes wrong: just None
    assert runtime.hosted_service() is None


def test_profile_on_a_hosted_cpu_runtime_says_how_to_get_a_gpu(clean_env):
    assert runtime.choose_profile(accelerator="cpu") == ("quick", "auto: no GPU found")
    clean_env.setenv("COLAB_RELEASE_TAG", "release-colab")
    profile, why = runtime.choose_profile(accelerator="cpu")
    assert profile == "quick" and "Google Colab without a GPU" in why
    assert "Runtime → Change runtime type → T4 GPU" in why
    clean_env.setenv("COURSE_DEVICE", "cpu")  # the learner chose the CPU: no advice
    assert runtime.choose_profile(accelerator="cpu") == ("quick", "auto: no GPU found")
    clean_env.delenv("COURSE_DEVICE")
    clean_env.delenv("COLAB_RELEASE_TAG")
    clean_env.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    assert "Settings → Accelerator → GPU T4 x2" in runtime.choose_profile(accelerator="cpu")[1]
    clean_env.setattr(runtime, "under_test", lambda: True)
    assert runtime.choose_profile(accelerator="cpu")[0] == "smoke"


@pytest.mark.parametrize("gpu,slow", [(T4, True), (("Tesla P100-PCIE-16GB", (6, 0)), True),
                                      (("Tesla V100-SXM2-16GB", (7, 0)), True),
                                      (("NVIDIA L4", (8, 9)), False),
                                      (("NVIDIA A100-SXM4-40GB", (8, 0)), False)])
def test_every_hosted_gpu_gets_full_and_an_old_one_is_told_why_it_is_slow(clean_env, gpu, slow):
    clean_env.setenv("COLAB_RELEASE_TAG", "release-colab")
    profile, why = runtime.choose_profile(accelerator="cuda", gpu=gpu)
    assert profile == "full"
    if slow:
        assert gpu[0] in why and "no bfloat16" in why and "COURSE_PROFILE=quick" in why
    else:  # compute capability ≥ 8: exactly as before
        assert why == "auto: an NVIDIA GPU was found"


def test_torch_compile_needs_compute_capability_7(clean_env):
    _mock_torch(clean_env, True, False)
    clean_env.setattr(torch.cuda, "get_device_name", lambda i=0: "Tesla P100-PCIE-16GB")
    clean_env.setattr(torch.cuda, "get_device_capability", lambda i=0: (6, 0))
    rt = runtime.setup("torch", verbose=False, precision="mixed")
    assert (rt.profile, rt.precision, rt.channels_last) == ("full", "float32", True)
    assert not rt.torch_compile  # Triton (inductor's code generator) needs Volta or newer
    assert "Tesla P100-PCIE-16GB (compute capability 6.0) has no bfloat16" in rt.summary()
    clean_env.setattr(torch.cuda, "get_device_name", lambda i=0: T4[0])
    clean_env.setattr(torch.cuda, "get_device_capability", lambda i=0: T4[1])
    assert runtime.setup("torch", verbose=False).torch_compile


def _mixed_chapters() -> str:
    from utils.chapters import PRECISION

    return ", ".join(c.split("_")[0] for c, p in PRECISION.items() if p == "mixed")


def test_bf16_note_explains_the_precision_on_each_gpu(clean_env):
    chapters = _mixed_chapters()
    assert chapters.startswith("01, 02")
    assert runtime.bf16_note(T4) == (
        f"Tesla T4 (compute capability 7.5): no bfloat16 tensor cores — chapters {chapters} "
        f"train in float32 here; on an A100/L4/H100 they would use bfloat16 mixed precision")
    h100 = ("NVIDIA H100 80GB HBM3", (9, 0))
    assert runtime.bf16_note(h100).endswith(
        f"chapters {chapters} train in bfloat16 mixed precision here")
    assert runtime.bf16_note(None) == runtime.bf16_note(("Old driver", None)) == ""
    assert "still train in bfloat16 here (COURSE_DRY_RUN=1)" in runtime.bf16_note(T4, True)
    clean_env.setenv("COURSE_PRECISION", "float32")
    assert "float32 here, as COURSE_PRECISION=float32 asks" in runtime.bf16_note(h100)
    clean_env.setenv("COURSE_PRECISION", "mixed")
    assert "(COURSE_PRECISION=mixed)" in runtime.bf16_note(T4)


def test_nvidia_gpus_reads_nvidia_smi(clean_env):
    import subprocess

    answers = []

    def fake_run(cmd, **kwargs):
        code, out = answers.pop(0)
        return subprocess.CompletedProcess(cmd, code, out, "")

    clean_env.setattr(runtime.subprocess, "run", fake_run)
    answers[:] = [(0, "Tesla T4, 7.5\nTesla T4, 7.5\n")]
    assert runtime.nvidia_gpus() == [T4, T4]
    answers[:] = [(2, ""), (0, "Tesla P100-PCIE-16GB\n")]  # a driver without compute_cap
    assert runtime.nvidia_gpus() == [("Tesla P100-PCIE-16GB", None)]

    def no_driver(cmd, **kwargs):
        raise FileNotFoundError("nvidia-smi")

    clean_env.setattr(runtime.subprocess, "run", no_driver)
    assert runtime.nvidia_gpus() == []
    assert runtime._gpu_row([T4, T4]) == "2 × Tesla T4 (compute capability 7.5)"
    assert runtime._gpu_row([]) == "none"


def test_doctor_on_colab_with_a_t4(clean_env):
    clean_env.setenv("COLAB_RELEASE_TAG", "release-colab")
    _mock_torch(clean_env, True, False)
    clean_env.setattr(torch.cuda, "device_count", lambda: 0)  # no cuda conv on this CPU build
    clean_env.setattr(torch.cuda, "get_device_name", lambda i=0: T4[0])
    clean_env.setattr(torch.cuda, "get_device_capability", lambda i=0: T4[1])
    clean_env.setattr(runtime, "nvidia_gpus", lambda: [T4])
    rows = dict(runtime.report_rows())
    assert rows["Hosted service"] == "Google Colab"
    assert rows["NVIDIA GPU"] == "Tesla T4 (compute capability 7.5)"
    assert rows["Precision on the GPU"] == runtime.bf16_note(T4)
    assert "no bfloat16 tensor cores" in rows["Precision on the GPU"]
    assert "bfloat16" not in rows["Precision (PyTorch)"]  # the T4 trains in float32
    assert rows["Profile"].startswith("full — auto: an NVIDIA GPU was found; Tesla T4")
    assert rows["PyTorch"].startswith(torch.__version__)  # whoever installed it (Colab does)
    assert "TensorFlow" in rows


def test_doctor_on_a_local_machine_and_on_colab_without_a_gpu(clean_env):
    _mock_torch(clean_env, False, False)
    clean_env.setattr(runtime, "nvidia_gpus", lambda: [])
    rows = dict(runtime.report_rows())
    assert rows["Hosted service"].startswith("none") and rows["NVIDIA GPU"] == "none"
    assert "Precision on the GPU" not in rows
    assert rows["Profile"] == "quick — auto: no GPU found"
    clean_env.setenv("COLAB_GPU", "")
    rows = dict(runtime.report_rows())
    assert rows["Hosted service"] == "Google Colab"
    assert rows["Profile"].endswith("(Google Colab without a GPU: Runtime → Change runtime "
                                    "type → T4 GPU)")
