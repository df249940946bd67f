"""./course setup on an NVIDIA machine, with the machine faked: `nvidia-smi` and `python` are
stand-ins on PATH that log what they are asked, so the test sees which packages setup would
install, with which constraints, and whether it marks the environment installed."""

import os
import stat
import subprocess
from pathlib import Path

import pytest

from utils.chapters import ROOT

FAKE_PYTHON = r"""#!/usr/bin/env bash
echo "$*" >> "$FAKE_LOG"
case "$*" in
  "-c import torch") [[ -n "$HAVE_TORCH" ]]; exit ;;
  "-c import tensorflow"|"-c import keras") [[ -n "$HAVE_TF" ]]; exit ;;
  -c*) echo "2.9.0 CUDA 12.8"; exit 0 ;;
  "-m pip freeze") echo "nvidia-cudnn-cu12==9.10.2.21"; echo "numpy==2.0.0"; exit 0 ;;
  "-m utils doctor --gpu-check")
    [[ "${GPU_CHECK_RC:-0}" == 0 ]] || echo "[course] ERROR PyTorch: NVIDIA driver too old" >&2
    exit "${GPU_CHECK_RC:-0}" ;;
  *" -c "*)
    prev=""
    for a in "$@"; do [[ "$prev" == -c ]] && cat "$a" >> "$FAKE_LOG.constraints"; prev=$a; done
    exit 0 ;;
  *) exit 0 ;;
esac
"""


def _exe(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture(params=[True])
def machine(tmp_path, request):
    bin_dir, venv = tmp_path / "bin", tmp_path / "venv"
    bin_dir.mkdir()
    venv.mkdir()
    _exe(bin_dir / "python", FAKE_PYTHON)
    if request.param:
        _exe(bin_dir / "nvidia-smi", "#!/bin/sh\necho 'GPU 0: NVIDIA H100 80GB HBM3'\n")
    else:  # a stand-in that fails, as nvidia-smi does on a machine without a working driver
        _exe(bin_dir / "nvidia-smi", "#!/bin/sh\nexit 9\n")
    log = tmp_path / "log"
    env = {k: v for k, v in os.environ.items() if k not in ("CONDA_PREFIX",)}
    env.update(PATH=f"{bin_dir}:{os.environ['PATH']}", VIRTUAL_ENV=str(venv), FAKE_LOG=str(log))

    def run(**extra):
        log.write_text("")
        result = subprocess.run(["bash", str(ROOT / "course"), "setup"], env={**env, **extra},
                                capture_output=True, text=True, timeout=60)
        calls = log.read_text().splitlines()
        constraints = Path(f"{log}.constraints")
        return result, calls, venv / ".course-installed", (
            constraints.read_text() if constraints.exists() else "")

    return run


def test_fresh_gpu_machine_gets_cuda_torch_and_tensorflow(machine):
    result, calls, stamp, constraints = machine()
    assert result.returncode == 0, result.stderr
    installs = [c for c in calls if c.startswith("-m pip install")]
    frameworks = [c for c in installs if "torch" in c]
    assert len(frameworks) == 1 and "tensorflow[and-cuda]" in frameworks[0]
    assert "cpu" not in frameworks[0] and "--index-url" not in frameworks[0]
    assert any(c.endswith('-e .[test,lab]') for c in installs)  # no cpu extra on a GPU machine
    assert "-m utils doctor --gpu-check" in calls and stamp.is_file()


def test_hosted_gpu_machine_keeps_its_frameworks(machine):
    result, calls, stamp, _ = machine(HAVE_TORCH="1", HAVE_TF="1")
    assert result.returncode == 0, result.stderr
    installs = [c for c in calls if c.startswith("-m pip install")]
    assert installs and not any("torch" in c or "tensorflow" in c for c in installs)
    assert "keeping the installed PyTorch" in result.stdout
    assert "keeping the installed TensorFlow" in result.stdout and stamp.is_file()


def test_added_tensorflow_cannot_replace_torchs_cuda_libraries(machine):
    result, calls, _, constraints = machine(HAVE_TORCH="1")
    assert result.returncode == 0, result.stderr
    tf_install = [c for c in calls if "tensorflow[and-cuda]" in c]
    assert len(tf_install) == 1 and " -c " in tf_install[0] and "torch>=" not in tf_install[0]
    assert "nvidia-cudnn-cu12==9.10.2.21" in constraints and "numpy" not in constraints


def test_gpu_that_frameworks_cannot_use_is_not_marked_installed(machine):
    result, _, stamp, _ = machine(GPU_CHECK_RC="1")
    assert result.returncode == 1
    assert "driver too old" in result.stderr and "not marked as installed" in result.stderr
    assert not stamp.exists()


@pytest.mark.parametrize("machine", [False], indirect=True)
def test_cpu_machine_gets_the_cpu_builds(machine):
    result, calls, stamp, _ = machine()
    assert result.returncode == 0, result.stderr
    installs = [c for c in calls if c.startswith("-m pip install")]
    assert any("download.pytorch.org/whl/cpu" in c and "torch==" in c for c in installs)
    assert any(c.endswith("-e .[cpu,test,lab]") for c in installs)
    assert "-m utils doctor --gpu-check" not in calls and stamp.is_file()
    again = machine()  # installed: a second setup installs nothing
    assert not [c for c in again[1] if c.startswith("-m pip install")]
