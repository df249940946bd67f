"""Where and how big to run: device detection, profiles, seeding, and one readable report.

Every notebook starts with ``rt = runtime.setup("torch" | "keras", profile=PROFILE)`` and then
picks all its sizes from one visible config cell: ``cfg = rt.pick(smoke=..., quick=..., full=...)``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import platform
import random
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PROFILES: dict[str, str] = {
    "smoke": "tests and CI: tiny subsets, seconds per notebook",
    "quick": "a CPU learner: minutes per notebook, still a meaningful result",
    "full": "a GPU: the reference results",
}
FRAMEWORKS = ("torch", "keras")
DEVICES = ("auto", "cpu", "cuda", "mps")


class ConfigError(ValueError):
    """A setting (profile, device, framework) that the course does not know."""


def _check_choice(kind: str, value: str, valid: tuple[str, ...] | dict[str, str]) -> str:
    value = value.strip().lower()
    if value not in valid:
        raise ConfigError(
            f"Unknown {kind} {value!r}. Valid {kind}s: {', '.join(valid)}."
            + (f" (set by the environment variable COURSE_{kind.upper()})" if kind != "framework"
               else "")
        )
    return value


def under_test() -> bool:
    """True inside pytest, or inside a kernel that pytest/nbval started (conftest.py
    exports COURSE_UNDER_TEST so the notebook kernels inherit it)."""
    return bool(os.environ.get("COURSE_UNDER_TEST")) or "PYTEST_CURRENT_TEST" in os.environ


def choose_profile(requested: str | None = None, *, gpu: bool) -> tuple[str, str]:
    """Return ``(profile, why)``: argument, then ``COURSE_PROFILE``, then automatic."""
    if requested:
        return _check_choice("profile", requested, PROFILES), "requested by the notebook/runner"
    env = os.environ.get("COURSE_PROFILE", "").strip()
    if env:
        return _check_choice("profile", env, PROFILES), "COURSE_PROFILE is set"
    if under_test():
        return "smoke", "auto: running under pytest/nbval"
    if gpu:
        return "full", "auto: a GPU was found"
    return "quick", "auto: no GPU found"


def requested_device() -> str:
    """The ``COURSE_DEVICE`` override (``auto`` when unset)."""
    return _check_choice("device", os.environ.get("COURSE_DEVICE", "auto") or "auto", DEVICES)


# --- PyTorch -------------------------------------------------------------------------------

def torch_device_name(override: str | None = None) -> str:
    """Pick PyTorch's device: ``cuda`` -> ``mps`` -> ``cpu`` (or the override, if available)."""
    import torch

    want = _check_choice("device", override, DEVICES) if override else requested_device()
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if want == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if (want == "cuda" and not cuda) or (want == "mps" and not mps):
        raise ConfigError(
            f"COURSE_DEVICE={want} was requested but PyTorch finds no {want.upper()} device "
            f"here. Unset COURSE_DEVICE (auto) or use COURSE_DEVICE=cpu."
        )
    return want


def _torch_bf16_ok(device: str) -> bool:
    import torch

    return device == "cuda" and torch.cuda.get_device_capability()[0] >= 8


# --- TensorFlow / Keras --------------------------------------------------------------------

def tf_gpus(override: str | None = None) -> list[Any]:
    """TensorFlow's GPUs, with memory growth on; hides them all when the device is ``cpu``.

    Must run before TensorFlow touches a GPU (``setup`` does it first thing).
    """
    import tensorflow as tf

    want = _check_choice("device", override, DEVICES) if override else requested_device()
    gpus = tf.config.list_physical_devices("GPU")
    if want == "mps":
        raise ConfigError("COURSE_DEVICE=mps is a PyTorch device; for Keras use auto, cpu or cuda.")
    if want == "cuda" and not gpus:
        raise ConfigError("COURSE_DEVICE=cuda was requested but TensorFlow finds no GPU here. "
                          "Unset COURSE_DEVICE (auto) or use COURSE_DEVICE=cpu.")
    with contextlib.suppress(RuntimeError):  # RuntimeError: already initialised; keep as is
        if want == "cpu" and gpus:
            tf.config.set_visible_devices([], "GPU")
            return []
        for gpu in gpus:
            tf.config.experimental.set_memory_growth(gpu, True)
    return gpus


def _tf_bf16_ok(gpus: list[Any]) -> bool:
    import tensorflow as tf

    for gpu in gpus:
        cc = tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))
        if cc and cc[0] >= 8:
            return True
    return False


# --- seeding -------------------------------------------------------------------------------

def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy, and whichever of PyTorch / TensorFlow+Keras is already imported.

    (A framework that is not imported yet is not imported just to seed it.)
    """
    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)  # seeds every CUDA device too
    if "keras" in sys.modules or "tensorflow" in sys.modules:
        import keras

        keras.utils.set_random_seed(seed)  # Python, NumPy and the TensorFlow backend


# --- the per-notebook entry point -----------------------------------------------------------

@dataclass
class Runtime:
    """What ``setup`` decided. ``device`` is a string usable by the framework
    (``"cuda"``/``"mps"``/``"cpu"`` for PyTorch; ``"gpu"``/``"cpu"`` for Keras)."""

    framework: str
    device: str
    device_name: str
    profile: str
    profile_reason: str
    mixed_precision: bool
    seed: int
    notes: list[str] = field(default_factory=list)

    def pick(self, **by_profile: dict[str, Any]) -> dict[str, Any]:
        """Return the settings for the active profile; all three profiles must be given,
        with the same keys, so no size can be forgotten for one of them."""
        missing = set(PROFILES) - set(by_profile)
        extra = set(by_profile) - set(PROFILES)
        if missing or extra:
            raise ConfigError(f"pick() needs exactly the profiles {list(PROFILES)}; "
                              f"missing {sorted(missing)}, unknown {sorted(extra)}")
        keys = {name: set(cfg) for name, cfg in by_profile.items()}
        if len({frozenset(k) for k in keys.values()}) != 1:
            raise ConfigError(f"pick(): every profile must set the same keys, got {keys}")
        return dict(by_profile[self.profile])

    def summary(self) -> str:
        mp = "on (bfloat16)" if self.mixed_precision else "off"
        return (f"{_FRAMEWORK_LABEL[self.framework]} on {self.device_name} · profile "
                f"{self.profile!r} ({self.profile_reason}) · mixed precision {mp} · "
                f"seed {self.seed}")


_FRAMEWORK_LABEL = {"torch": "PyTorch", "keras": "Keras"}


def setup(framework: str, profile: str | None = None, seed: int = 0,
          verbose: bool = True) -> Runtime:
    """Detect the device, choose the profile, seed everything, print one line. Call once per
    notebook, before building any model."""
    framework = _check_choice("framework", framework, FRAMEWORKS)
    if framework == "torch":
        import torch

        device = torch_device_name()
        if device == "cuda":
            name = f"cuda ({torch.cuda.get_device_name(0)})"
        elif device == "mps":
            name = "mps (Apple GPU)"
        else:
            name = f"cpu ({torch.get_num_threads()} threads)"
        mixed = _torch_bf16_ok(device)
        gpu = device != "cpu"
    else:
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        gpus = tf_gpus()
        import keras

        device = "gpu" if gpus else "cpu"
        name = f"gpu ({len(gpus)} × {gpus[0].name})" if gpus else "cpu"
        mixed = _tf_bf16_ok(gpus) if gpus else False
        keras.mixed_precision.set_global_policy("mixed_bfloat16" if mixed else "float32")
        gpu = bool(gpus)
    chosen, why = choose_profile(profile, gpu=gpu)
    seed_everything(seed)
    rt = Runtime(framework, device, name, chosen, why, mixed, seed)
    from . import report

    report.fact(framework=_FRAMEWORK_LABEL[framework], device=name, profile=chosen,
                mixed_precision=mixed)
    if verbose:
        print(rt.summary())
    return rt


# --- the report ----------------------------------------------------------------------------

def machine() -> dict[str, str]:
    """What the benchmark ran on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = ""
    try:
        gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {"os": f"{platform.system()} {platform.release()}", "cpu": cpu,
            "cores": str(os.cpu_count()), "gpu": gpu or "none",
            "python": sys.version.split()[0]}


def _version(module: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return None
    from importlib.metadata import PackageNotFoundError, version

    for dist in (module, f"{module}-cpu"):
        with contextlib.suppress(PackageNotFoundError):
            return version(dist)
    return "installed"


def report_rows() -> list[tuple[str, str]]:
    """The facts ``describe()`` prints, as (item, value) rows."""
    rows = [
        ("OS", f"{platform.system()} {platform.release()} ({platform.machine()})"),
        ("Python", sys.version.split()[0]),
        ("CPU", f"{machine()['cpu']} ({os.cpu_count()} cores)"),
        ("NumPy", np.__version__),
    ]
    gpu = False
    if _version("torch"):
        import torch

        rows.append(("PyTorch", torch.__version__))
        cuda = torch.cuda.is_available()
        mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
        found = [f"cuda: {torch.cuda.get_device_name(i)}"
                 for i in range(torch.cuda.device_count() if cuda else 0)]
        found += ["mps"] if mps else []
        rows.append(("PyTorch devices", ", ".join(found + ["cpu"])))
        rows.append(("PyTorch will use", torch_device_name()))
        gpu = gpu or cuda or mps
    else:
        rows.append(("PyTorch", "not installed"))
    if _version("tensorflow"):
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        rows.append(("TensorFlow", tf.__version__))
        rows.append(("Keras", _version("keras") or "not installed"))
        rows.append(("TensorFlow GPUs", ", ".join(g.name for g in gpus) or "none"))
        rows.append(("TensorFlow oneDNN", os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default")))
        gpu = gpu or bool(gpus)
    else:
        rows.append(("TensorFlow", "not installed"))
    rows.append(("COURSE_DEVICE", os.environ.get("COURSE_DEVICE") or "(unset: auto)"))
    profile, why = choose_profile(gpu=gpu)
    rows.append(("Profile", f"{profile} — {why}"))
    rows.append(("Profile means", PROFILES[profile]))
    from . import data

    rows.append(("Data search path", os.pathsep.join(str(p) for p in data.search_dirs())))
    return rows


def describe() -> str:
    """One readable table: OS, Python, frameworks, devices, and the profile chosen and why."""
    rows = report_rows()
    width = max(len(k) for k, _ in rows)
    line = "─" * (width + 2) + "┬" + "─" * 60
    out = [line] + [f" {k:<{width}} │ {v}" for k, v in rows] + [line.replace("┬", "┴")]
    return "\n".join(out)
