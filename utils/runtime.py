"""Where and how big to run: device detection, profiles, seeding, and one readable report.

Every notebook starts with ``rt = runtime.setup("torch" | "keras", profile=PROFILE)`` and then
picks all its sizes from one visible config cell: ``cfg = rt.pick(smoke=..., quick=..., full=...)``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
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
PRECISIONS: dict[str, str] = {
    "auto": "each chapter's policy: bfloat16 mixed precision for its training where the GPU "
            "supports it well (NVIDIA compute capability ≥ 8), float32 elsewhere",
    "float32": "float32 everywhere, also on a GPU that could do bfloat16",
    "mixed": "the chapter's bfloat16 parts on any device, a CPU too (what a dry run does)",
}
POLICIES: dict[str, str] = {
    "float32": "float32 throughout",
    "mixed": "bfloat16 mixed precision for training (weights, losses and checks in float32)",
}
DRY_RUN_VALUES = ("0", "1")


class ConfigError(ValueError):
    """A setting (profile, device, framework) that the course does not know."""


def _check_choice(kind: str, value: str, valid: tuple[str, ...] | dict[str, str]) -> str:
    value = value.strip().lower()
    if value not in valid:
        raise ConfigError(
            f"Unknown {kind} {value!r}. Valid {kind}s: {', '.join(valid)}."
            + (f" (set by the environment variable COURSE_{kind.upper()})"
               if kind in ("profile", "device", "precision") else "")
        )
    return value


def under_test() -> bool:
    """True inside pytest, or inside a kernel that pytest/nbval started (conftest.py
    exports COURSE_UNDER_TEST so the notebook kernels inherit it)."""
    return bool(os.environ.get("COURSE_UNDER_TEST")) or "PYTEST_CURRENT_TEST" in os.environ


def dry_run_requested() -> bool:
    """``COURSE_DRY_RUN=1``: the full profile's sizes and code paths with a few steps each, and
    what a GPU switches on (bfloat16, XLA) forced on; ``0`` or unset: a normal run."""
    value = os.environ.get("COURSE_DRY_RUN", "").strip() or "0"
    if value not in DRY_RUN_VALUES:
        raise ConfigError(f"COURSE_DRY_RUN={value!r} is not understood. Valid values: 1 (dry-run "
                          "the full profile: its sizes, a few steps each) or 0 (a normal run).")
    return value == "1"


def _env_flag(name: str, default: bool) -> bool:
    """A 0/1 environment switch; anything else is a ConfigError naming the valid values."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if value not in ("0", "1"):
        raise ConfigError(f"{name}={value!r} is not understood. Valid values: 1 (on) or 0 (off).")
    return value == "1"


def requested_precision() -> str:
    """The ``COURSE_PRECISION`` override (``auto`` when unset)."""
    return _check_choice("precision", os.environ.get("COURSE_PRECISION", "auto") or "auto",
                         PRECISIONS)


# NVIDIA compute capability (major) from which a GPU has bfloat16 tensor cores (Ampere: A100,
# L4, RTX 30xx) — below it (T4, V100, P100) the "mixed" chapters train in float32.
BF16_MIN_MAJOR = 8
# torch.compile's inductor generates Triton kernels, and Triton needs compute capability ≥ 7
# (Volta): on older GPUs (Kaggle's P100 is 6.0) the model runs uncompiled.
TRITON_MIN_MAJOR = 7

# Hosted notebook services, recognised by environment variables they set in their kernels (and
# so in `!python -m utils doctor` run from a cell), checked in this order; set at all counts,
# whatever the value. Only names a service's own code relies on: COLAB_RELEASE_TAG (Kaggle's
# kagglehub, env.py: is_in_colab_notebook) and COLAB_GPU (the older Colab marker, widely used);
# KAGGLE_KERNEL_RUN_TYPE (kagglehub's is_in_kaggle_notebook); LIGHTNING_CLOUD_SPACE_ID
# (Lightning's own code, to tell it runs in a Studio); DEEPNOTE_PROJECT_ID (Deepnote's toolkit
# "treats it as a sign that the app is hosted").
HOSTED_SERVICES: dict[str, tuple[str, ...]] = {
    "Google Colab": ("COLAB_RELEASE_TAG", "COLAB_GPU"),
    "Kaggle": ("KAGGLE_KERNEL_RUN_TYPE",),
    "Lightning Studio": ("LIGHTNING_CLOUD_SPACE_ID",),
    "Deepnote": ("DEEPNOTE_PROJECT_ID",),
}
# Where a learner on a CPU-only runtime of the service switches to a GPU.
GPU_SWITCH: dict[str, str] = {
    "Google Colab": "Runtime → Change runtime type → T4 GPU",
    "Kaggle": "Settings → Accelerator → GPU T4 x2",
}


def hosted_service() -> str | None:
    """The hosted notebook service this runs on (``"Google Colab"``, ``"Kaggle"``, …), or
    None. Reads environment variables, and whether ``google.colab`` is already imported (it
    imports nothing); never raises."""
    try:
        for service, names in HOSTED_SERVICES.items():
            if any(name in os.environ for name in names):
                return service
        if "google.colab" in sys.modules:
            return "Google Colab"
    except Exception:  # detection is a courtesy: never let it break a notebook or the doctor
        pass
    return None


def _gpu_switch_hint() -> str:
    """On a hosted service's CPU-only runtime: how to get its GPU; else ''."""
    service = hosted_service()
    if not service or os.environ.get("COURSE_DEVICE", "auto").strip().lower() not in ("", "auto"):
        return ""
    return (f" ({service} without a GPU: "
            f"{GPU_SWITCH.get(service, 'choose a GPU machine in its settings')})")


def choose_profile(requested: str | None = None, *, accelerator: str = "cpu",
                   dry_run: bool = False,
                   gpu: tuple[str, tuple[int, int] | None] | None = None) -> tuple[str, str]:
    """Return ``(profile, why)``: argument, then ``COURSE_PROFILE``, then automatic.

    ``accelerator`` is what the framework found: ``cuda`` (an NVIDIA GPU: ``full``), ``mps``
    (an Apple GPU: ``quick`` — ``full`` takes hours there) or ``cpu`` (``quick``; on a hosted
    service the reason says how to switch its runtime to a GPU). ``gpu`` — the CUDA GPU's
    name and compute capability — only changes the reason: an older GPU (T4, V100, P100) still
    gets ``full``, and is told that it takes several times as long there. A dry run is a run of
    the full profile, so it picks ``full`` and refuses any other profile.
    """
    if requested:
        chosen = _check_choice("profile", requested, PROFILES)
        why = "requested by the notebook/runner"
    elif os.environ.get("COURSE_PROFILE", "").strip():
        chosen, why = _check_choice("profile", os.environ["COURSE_PROFILE"], PROFILES), \
            "COURSE_PROFILE is set"
    elif dry_run:
        chosen, why = "full", "COURSE_DRY_RUN=1 dry-runs the full profile"
    elif under_test():
        return "smoke", "auto: running under pytest/nbval"
    elif accelerator == "cuda":
        name, cc = gpu or ("", None)
        if cc and cc[0] < BF16_MIN_MAJOR:
            return "full", (f"auto: an NVIDIA GPU was found; {name} (compute capability "
                            f"{cc[0]}.{cc[1]}) has no bfloat16 and full is sized for an "
                            f"A100/H100, so expect several times as long — COURSE_PROFILE=quick "
                            f"for a shorter run")
        return "full", "auto: an NVIDIA GPU was found"
    elif accelerator == "mps":
        return "quick", "auto: an Apple GPU (full takes hours there; COURSE_PROFILE=full to ask)"
    else:
        return "quick", "auto: no GPU found" + _gpu_switch_hint()
    if dry_run and chosen != "full":
        raise ConfigError(f"COURSE_DRY_RUN=1 dry-runs the full profile, but the profile is "
                          f"{chosen!r} ({why}). Use COURSE_PROFILE=full, or COURSE_DRY_RUN=0.")
    return chosen, why + (" (dry run)" if dry_run else "")


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

    return device == "cuda" and torch.cuda.get_device_capability()[0] >= BF16_MIN_MAJOR


# --- NVIDIA drivers -------------------------------------------------------------------------

# The oldest Linux driver each CUDA major version runs on (NVIDIA's minor-version compatibility).
MIN_DRIVER: dict[int, tuple[int, ...]] = {11: (450, 80, 2), 12: (525, 60, 13), 13: (580, 65, 6)}


def nvidia_driver() -> str | None:
    """The NVIDIA driver version (``nvidia-smi``), or None without a working driver."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.strip().splitlines()
    return lines[0].strip() if out.returncode == 0 and lines else None


def has_nvidia_gpu() -> bool:
    return nvidia_driver() is not None


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".") if p.isdigit())


def cuda_problem(cuda: str | None = None, driver: str | None = None) -> str:
    """One line: why PyTorch cannot use the NVIDIA GPU here, and the fix."""
    if cuda is None:
        import torch

        cuda = torch.version.cuda
    driver = driver or nvidia_driver()
    if not cuda:
        return ("this PyTorch is a CPU-only build; on this NVIDIA machine install a CUDA build: "
                "pip install --force-reinstall torch (or ./course setup in a fresh .venv)")
    need = MIN_DRIVER.get(_version_tuple(cuda)[0])
    if driver and need and _version_tuple(driver) < need:
        return (f"NVIDIA driver {driver} is too old for CUDA {cuda} (needs ≥ "
                f"{'.'.join(map(str, need))}): update the driver, or install a PyTorch built "
                f"for an older CUDA (e.g. pip install torch --index-url "
                f"https://download.pytorch.org/whl/cu118)")
    return (f"PyTorch (CUDA {cuda}) finds no usable GPU although nvidia-smi sees driver {driver}; "
            f"check CUDA_VISIBLE_DEVICES and that no other process holds the GPU")


def gpu_problems() -> list[str]:
    """On a machine with an NVIDIA driver: one line per installed framework that cannot use the
    GPU, naming the fix (``./course setup`` refuses to mark such an environment installed)."""
    driver = nvidia_driver()
    if driver is None:
        return []
    problems = []
    if _version("torch"):
        import torch

        if not torch.cuda.is_available():
            problems.append("PyTorch: " + cuda_problem(torch.version.cuda, driver))
    if _version("tensorflow"):
        import tensorflow as tf

        if not tf.config.list_physical_devices("GPU"):
            built = tf.sysconfig.get_build_info()
            cuda = str(built.get("cuda_version", "") or "")
            need = MIN_DRIVER.get(_version_tuple(cuda)[0]) if cuda else None
            if not built.get("is_cuda_build", False):
                fix = ("this TensorFlow is a CPU-only build; install "
                       "'tensorflow[and-cuda]' (Linux) in its place")
            elif need and _version_tuple(driver) < need:
                fix = (f"NVIDIA driver {driver} is too old for TensorFlow's CUDA {cuda} "
                       f"(needs ≥ {'.'.join(map(str, need))}): update the driver")
            else:
                fix = (f"TensorFlow {tf.__version__} (CUDA {cuda}) finds no GPU with driver "
                       f"{driver}: install 'tensorflow[and-cuda]' so its CUDA libraries come "
                       f"with it, or check CUDA_VISIBLE_DEVICES")
            problems.append("TensorFlow: " + fix)
    return problems


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


def _tf_gpu(gpu: Any) -> tuple[str, tuple[int, int] | None] | None:
    """A TensorFlow GPU's name and compute capability (None where TensorFlow cannot say)."""
    import tensorflow as tf

    try:
        details = tf.config.experimental.get_device_details(gpu)
    except Exception:  # a mocked or odd device: the name only matters for a message
        return None
    cc = details.get("compute_capability")
    return details.get("device_name", gpu.name), (tuple(cc) if cc else None)


def _tf_bf16_ok(gpus: list[Any]) -> bool:
    import tensorflow as tf

    for gpu in gpus:
        cc = tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))
        if cc and cc[0] >= BF16_MIN_MAJOR:
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
    (``"cuda"``/``"mps"``/``"cpu"`` for PyTorch; ``"gpu"``/``"cpu"`` for Keras).

    ``mixed_precision``: the chapter's training runs in bfloat16 mixed precision (PyTorch:
    inside ``rt.autocast()``; Keras: the global ``mixed_bfloat16`` policy, set by ``setup``).
    ``jit_compile``: Keras compiles training with XLA (on a GPU, and in a dry run).
    ``dry_run``: the full profile's sizes with a few steps each (``COURSE_DRY_RUN=1``).
    ``channels_last`` (PyTorch): convolutions get NHWC-in-memory tensors (``rt.memory_format``),
    the layout NVIDIA's tensor cores use — on a CUDA GPU only. ``torch_compile`` (PyTorch):
    ``rt.compile(model)`` hands the model to ``torch.compile`` — on a CUDA GPU of compute
    capability ≥ 7 only (Triton's minimum: a P100 runs uncompiled), unless
    ``COURSE_TORCH_COMPILE=0``.
    """

    framework: str
    device: str
    device_name: str
    profile: str
    profile_reason: str
    mixed_precision: bool
    seed: int
    dry_run: bool = False
    jit_compile: bool = False
    policy: str = "float32"
    channels_last: bool = False
    torch_compile: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def precision(self) -> str:
        """What really runs: ``"bfloat16 mixed"`` or ``"float32"``."""
        return "bfloat16 mixed" if self.mixed_precision else "float32"

    def pick(self, *, dry_run: dict[str, Any] | None = None,
             **by_profile: dict[str, Any]) -> dict[str, Any]:
        """Return the settings for the active profile; all three profiles must be given,
        with the same keys, so no size can be forgotten for one of them.

        ``dry_run`` lists the full profile's *durations* (epochs, steps, iterations, subset
        sizes) cut for a dry run; every other full-profile setting stays as it is.
        """
        missing = set(PROFILES) - set(by_profile)
        extra = set(by_profile) - set(PROFILES)
        if missing or extra:
            raise ConfigError(f"pick() needs exactly the profiles {list(PROFILES)}; "
                              f"missing {sorted(missing)}, unknown {sorted(extra)}")
        keys = {name: set(cfg) for name, cfg in by_profile.items()}
        if len({frozenset(k) for k in keys.values()}) != 1:
            raise ConfigError(f"pick(): every profile must set the same keys, got {keys}")
        unknown = set(dry_run or {}) - keys["full"]
        if unknown:
            raise ConfigError(f"pick(): dry_run may only shorten settings of the full profile; "
                              f"unknown {sorted(unknown)}")
        chosen = dict(by_profile[self.profile])
        if self.dry_run:
            if dry_run is None:
                raise ConfigError("pick(): this notebook has no dry_run=dict(...) saying how to "
                                  "shorten the full profile, so COURSE_DRY_RUN=1 cannot run it.")
            chosen.update(dry_run)
        return chosen

    @property
    def memory_format(self) -> Any:
        """PyTorch: ``torch.channels_last`` on a CUDA GPU, else ``torch.contiguous_format``;
        use as ``model.to(rt.device, memory_format=rt.memory_format)`` and for batches."""
        import torch

        return torch.channels_last if self.channels_last else torch.contiguous_format

    def compile(self, model: Any) -> Any:
        """PyTorch: ``torch.compile(model)`` where ``torch_compile`` is on, else ``model``.
        Compilation happens on the first calls: time them apart from training."""
        if not self.torch_compile:
            return model
        import torch

        # Every compiled nn.Sequential shares one code object, and with it dynamo's limit of 8
        # compiled variants; past it, models silently run uncompiled. A chapter compiles more.
        torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
        return torch.compile(model, backend="eager" if self.device == "cpu" else "inductor")

    def sync(self) -> None:
        """Wait for the GPU to finish queued work (PyTorch on CUDA/MPS; a no-op otherwise):
        GPU work is asynchronous, so a timer must sync before it reads the clock."""
        if self.framework != "torch" or self.device not in ("cuda", "mps"):
            return
        import torch

        (torch.cuda if self.device == "cuda" else torch.mps).synchronize()

    def autocast(self) -> Any:
        """PyTorch: the chapter's autocast context — bfloat16 where ``mixed_precision``,
        a no-op otherwise. Wrap forward passes and losses of training in it."""
        import torch

        kind = self.device if self.device in ("cuda", "cpu", "mps") else "cpu"
        return torch.autocast(kind, dtype=torch.bfloat16, enabled=self.mixed_precision)

    @contextlib.contextmanager
    def tf32(self) -> Any:
        """Inside this block, float32 matrix products and convolutions may use TF32 tensor
        cores on NVIDIA GPUs that have them (Ampere and newer): inputs rounded to a 10-bit
        mantissa, products summed in float32 — several times faster than strict float32. For
        the *training* of float32 chapters; ``setup`` keeps TF32 off everywhere else, so checks
        and evaluations stay strict float32. Nothing changes on a CPU."""
        if self.framework == "torch":
            import torch

            before = torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision()
            torch.backends.cudnn.allow_tf32 = True
            torch.set_float32_matmul_precision("high")
            try:
                yield
            finally:
                torch.backends.cudnn.allow_tf32 = before[0]
                torch.set_float32_matmul_precision(before[1])
        else:
            import tensorflow as tf

            before = tf.config.experimental.tensor_float_32_execution_enabled()
            tf.config.experimental.enable_tensor_float_32_execution(True)
            try:
                yield
            finally:
                tf.config.experimental.enable_tensor_float_32_execution(before)

    def gate(self, condition: bool, name: str, message: str) -> None:
        """A quality gate that only makes sense after real training (accuracy above chance,
        beating a baseline, a target). Checked like ``checks.check_true``, except in a dry
        run, which trains for a few steps: there it is skipped, and says so."""
        if self.dry_run:
            print(f"– {name}: skipped (dry run: a few training steps; the gate needs the "
                  f"full training)")
            return
        from .checks import check_true

        check_true(condition, name, message)

    def target(self, name: str, value: float, goal: float, *, higher_is_better: bool = True,
               fmt: str = "{:.4g}") -> bool | None:
        """A quality target of this profile (``report.target``): reported met or missed, never
        stopping the notebook; not judged in a dry run (a few training steps)."""
        if self.dry_run:
            print(f"– target {name}: not judged (dry run: a few training steps)")
            return None
        from .report import target

        return target(name, value, goal, higher_is_better=higher_is_better, fmt=fmt)

    def summary(self) -> str:
        extra = (" · XLA on" if self.framework == "keras" and self.jit_compile else "") + (
            " · channels_last" if self.channels_last else "") + (
            " · torch.compile" if self.torch_compile else "") + (
            " · DRY RUN (full sizes, a few steps each)" if self.dry_run else "")
        return (f"{_FRAMEWORK_LABEL[self.framework]} on {self.device_name} · profile "
                f"{self.profile!r} ({self.profile_reason}) · precision {self.precision} · "
                f"seed {self.seed}{extra}")


_FRAMEWORK_LABEL = {"torch": "PyTorch", "keras": "Keras"}


def use_mixed(policy: str, hardware_ok: bool, dry_run: bool) -> bool:
    """Whether a chapter with this precision policy runs in bfloat16 here."""
    wanted = requested_precision()
    if policy != "mixed" or wanted == "float32":
        return False
    return hardware_ok or dry_run or wanted == "mixed"


def setup(framework: str, profile: str | None = None, seed: int = 0,
          verbose: bool = True, precision: str = "float32") -> Runtime:
    """Detect the device, choose the profile and the precision, seed everything, print one
    line. Call once per notebook, before building any model.

    ``precision`` is the chapter's policy: ``"float32"`` or ``"mixed"`` (bfloat16 training on
    GPUs that do it well — and, in a dry run, on the CPU too, so CI meets the GPU's path).
    """
    framework = _check_choice("framework", framework, FRAMEWORKS)
    policy = _check_choice("precision policy", precision, POLICIES)
    dry_run = dry_run_requested()
    if framework == "torch":
        import torch

        from .quiet import tensorboard_without_tensorflow

        tensorboard_without_tensorflow()  # TensorBoard's writer, without importing TensorFlow
        # cuBLAS reads this when CUDA starts; it makes deterministic() possible on a GPU.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        device = torch_device_name()
        gpu = None
        if device == "cuda":
            gpu = (torch.cuda.get_device_name(0), tuple(torch.cuda.get_device_capability(0)))
            name = f"cuda ({gpu[0]})"
        elif device == "mps":
            name = "mps (Apple GPU)"
        else:
            name = f"cpu ({torch.get_num_threads()} threads)"
        mixed = use_mixed(policy, _torch_bf16_ok(device), dry_run)
        accelerator, jit = device, False
        # float32 means float32: no TF32 (10-bit mantissa) behind its back on Ampere and newer,
        # in either framework, so float32 checks hold on a GPU and the twins compute alike.
        torch.backends.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
        # cuDNN tries its algorithms on the first batch of each shape and keeps the fastest;
        # deterministic() switches this off where two runs must match bit for bit.
        torch.backends.cudnn.benchmark = device == "cuda"
        # A dry run takes the GPU's code paths on the CPU: channels_last, and torch.compile's
        # graph capture (with the "eager" backend: no code generation, which would take minutes).
        channels_last = device == "cuda" or dry_run
        # (Not on a GPU older than Triton's minimum: Kaggle's P100 trains uncompiled.)
        compiles = gpu is not None and gpu[1][0] >= TRITON_MIN_MAJOR
        torch_compile = (compiles or dry_run) and _env_flag("COURSE_TORCH_COMPILE", True)
    else:
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        gpus = tf_gpus()
        import keras

        device = "gpu" if gpus else "cpu"
        name = f"gpu ({len(gpus)} × {gpus[0].name})" if gpus else "cpu"
        mixed = use_mixed(policy, _tf_bf16_ok(gpus) if gpus else False, dry_run)
        keras.mixed_precision.set_global_policy("mixed_bfloat16" if mixed else "float32")
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(False)  # as for PyTorch
        accelerator = ("mps" if platform.system() == "Darwin" else "cuda") if gpus else "cpu"
        jit = bool(gpus) or dry_run
        channels_last = torch_compile = False
        gpu = _tf_gpu(gpus[0]) if gpus else None
    chosen, why = choose_profile(profile, accelerator=accelerator, dry_run=dry_run, gpu=gpu)
    if framework == "keras":
        # smoke only proves that every cell runs: there TensorFlow's graph optimiser (Grappler),
        # which spends seconds on each new graph to save milliseconds per step, is off on a CPU.
        tf.config.optimizer.set_experimental_options(
            {"disable_meta_optimizer": chosen == "smoke" and device == "cpu"})
    if dry_run and not os.environ.get("COURSE_MODELS_DIR"):
        # Models trained for a few steps must never replace a learner's real ones (chapter 02
        # loads chapter 01's classifier): a dry run saves them in a throw-away folder.
        import tempfile

        os.environ["COURSE_MODELS_DIR"] = tempfile.mkdtemp(prefix="course-dry-run-models-")
    seed_everything(seed)
    rt = Runtime(framework, device, name, chosen, why, mixed, seed, dry_run=dry_run,
                 channels_last=channels_last, torch_compile=torch_compile,
                 jit_compile=jit, policy=policy)
    from . import report

    report.fact(framework=_FRAMEWORK_LABEL[framework], device=name, profile=chosen,
                precision=rt.precision, mixed_precision=mixed, dry_run=dry_run,
                **({"xla": jit} if framework == "keras" else
                   {"channels_last": channels_last, "torch_compile": torch_compile}))
    if verbose:
        print(rt.summary())
    return rt


@contextlib.contextmanager
def deterministic(framework: str) -> Any:
    """Bit-for-bit repeatable kernels inside the block, for checks that compare two runs
    exactly (checkpoint/resume). PyTorch: ``use_deterministic_algorithms`` and no cuDNN
    autotuning, restored afterwards. TensorFlow: op determinism, which TensorFlow cannot switch
    off again, so it stays on for the rest of the session. On a CPU both already hold."""
    framework = _check_choice("framework", framework, FRAMEWORKS)
    if framework == "keras":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        yield
        return
    import torch

    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark,
              torch.backends.cudnn.deterministic)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = before[1:]


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


def _smoke_conv(framework: str, device: str) -> str:
    """One small convolution (forward and backward) on ``device``: ``ok (… ms)`` or the error."""
    import time

    try:
        start = time.perf_counter()
        if framework == "torch":
            import torch

            x = torch.randn(8, 3, 32, 32, device=device, requires_grad=True)
            w = torch.randn(16, 3, 3, 3, device=device)
            torch.nn.functional.conv2d(x, w, padding=1).square().sum().backward()
            value = float(x.grad.abs().sum())
        else:
            import tensorflow as tf

            with tf.device(device):
                x = tf.random.normal((8, 32, 32, 3))
                w = tf.random.normal((3, 3, 3, 16))
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    loss = tf.reduce_sum(tf.nn.conv2d(x, w, 1, "SAME") ** 2)
                value = float(tf.reduce_sum(tf.abs(tape.gradient(loss, x))))
        if not math.isfinite(value) or value == 0:
            return f"FAILED (gradient {value})"
        return f"ok ({(time.perf_counter() - start) * 1e3:.0f} ms)"
    except Exception as e:  # a broken driver or build: report it, do not crash the report
        return f"FAILED ({type(e).__name__}: {str(e).strip().splitlines()[0][:120]})"


def chapter_precisions(hardware_bf16: bool, dry_run: bool = False) -> str:
    """Which chapters would run in bfloat16 here (from ``chapters.PRECISION``)."""
    from .chapters import PRECISION

    mixed = [c for c, policy in PRECISION.items() if use_mixed(policy, hardware_bf16, dry_run)]
    rest = [c for c in PRECISION if c not in mixed]
    parts = ([f"{', '.join(mixed)}: bfloat16 mixed (training)"] if mixed else []) + (
        [f"{', '.join(rest)}: float32"] if rest else [])
    return "; ".join(parts)


def bf16_note(gpu: tuple[str, tuple[int, int] | None] | None, dry_run: bool = False) -> str:
    """One plain line: what this NVIDIA GPU (name, compute capability) means for the chapters
    whose policy is "mixed" — the reason behind ``chapter_precisions``; '' without a GPU."""
    from .chapters import PRECISION

    if not gpu or not gpu[1]:
        return ""
    (name, cc), ok = gpu, gpu[1][0] >= BF16_MIN_MAJOR
    chapters = ", ".join(c.split("_")[0] for c, policy in PRECISION.items() if policy == "mixed")
    if not chapters:
        return ""
    head = f"{name} (compute capability {cc[0]}.{cc[1]}): "
    if ok:
        return head + f"bfloat16 tensor cores — chapters {chapters} train in " + (
            "bfloat16 mixed precision here" if use_mixed("mixed", True, dry_run)
            else "float32 here, as COURSE_PRECISION=float32 asks")
    head += f"no bfloat16 tensor cores — chapters {chapters} "
    if use_mixed("mixed", False, dry_run):
        why = "COURSE_PRECISION=mixed" if requested_precision() == "mixed" else "COURSE_DRY_RUN=1"
        return head + f"still train in bfloat16 here ({why})"
    return head + ("train in float32 here; on an A100/L4/H100 they would use bfloat16 mixed "
                   "precision")


def nvidia_gpus() -> list[tuple[str, tuple[int, int] | None]]:
    """Each NVIDIA GPU's name and compute capability, from ``nvidia-smi`` (no framework is
    imported); [] without a working driver. The capability is None where the driver is too old
    to report it."""
    for fields in ("name,compute_cap", "name"):
        try:
            out = subprocess.run(["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            return []
        if out.returncode == 0 and out.stdout.strip():
            gpus = []
            for line in out.stdout.strip().splitlines():
                name, _, cap = line.partition(",")
                major, _, minor = cap.strip().partition(".")
                cc = (int(major), int(minor)) if major.isdigit() and minor.isdigit() else None
                gpus.append((name.strip(), cc))
            return gpus
    return []


def _gpu_row(gpus: list[tuple[str, tuple[int, int] | None]]) -> str:
    """``2 × Tesla T4 (compute capability 7.5)``, one entry per kind of GPU; or ``none``."""
    kinds = list(dict.fromkeys(gpus))
    return "; ".join(
        (f"{gpus.count(g)} × " if gpus.count(g) > 1 else "") + g[0]
        + (f" (compute capability {g[1][0]}.{g[1][1]})" if g[1] else "")
        for g in kinds) or "none"


def report_rows(frameworks: tuple[str, ...] = FRAMEWORKS) -> list[tuple[str, str]]:
    """The facts ``describe()`` prints, as (item, value) rows, for the given frameworks (a
    notebook asks for its own only: loading the other costs seconds and memory)."""
    frameworks = tuple(_check_choice("framework", f, FRAMEWORKS) for f in frameworks)
    nvidia = nvidia_gpus()
    rows = [
        ("OS", f"{platform.system()} {platform.release()} ({platform.machine()})"),
        ("Python", sys.version.split()[0]),
        ("Hosted service", hosted_service() or "none (a local machine or your own server)"),
        ("CPU", f"{machine()['cpu']} ({os.cpu_count()} cores)"),
        ("NVIDIA GPU", _gpu_row(nvidia)),
        ("NumPy", np.__version__),
    ]
    dry_run = dry_run_requested()
    accelerator, bf16 = "cpu", {}
    if "torch" not in frameworks:
        rows.append(("PyTorch", "not loaded in this notebook (python -m utils doctor: both)"))
    elif _version("torch"):
        import torch

        rows.append(("PyTorch", torch.__version__ + (f" (CUDA {torch.version.cuda})"
                                                      if torch.version.cuda else "")))
        cuda = torch.cuda.is_available()
        mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
        devices = [f"cuda:{i}" for i in range(torch.cuda.device_count() if cuda else 0)]
        devices += ["mps"] if mps else []
        for dev in devices + ["cpu"]:
            label = f"{dev} ({torch.cuda.get_device_name(dev)})" if dev.startswith("cuda") else dev
            rows.append((f"PyTorch {dev.split(':')[0]} conv",
                         f"{label}: {_smoke_conv('torch', dev)}"))
        device = torch_device_name()
        rows.append(("PyTorch will use", device))
        bf16["PyTorch"] = _torch_bf16_ok(device)
        accelerator = "cuda" if cuda else "mps" if mps else "cpu"
        if has_nvidia_gpu() and not cuda:
            rows.append(("PyTorch CUDA", cuda_problem()))
    else:
        rows.append(("PyTorch", "not installed"))
    if "keras" not in frameworks:
        rows.append(("TensorFlow", "not loaded in this notebook (python -m utils doctor: both)"))
    elif _version("tensorflow"):
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        rows.append(("TensorFlow", tf.__version__))
        rows.append(("Keras", _version("keras") or "not installed"))
        for i, gpu in enumerate(gpus):
            rows.append((f"TensorFlow GPU:{i} conv",
                         f"{gpu.name}: {_smoke_conv('keras', f'/GPU:{i}')}"))
        rows.append(("TensorFlow CPU conv", _smoke_conv("keras", "/CPU:0")))
        rows.append(("TensorFlow oneDNN", os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default")))
        bf16["Keras"] = _tf_bf16_ok(gpus) if gpus else False
        if gpus and accelerator == "cpu":
            accelerator = "mps" if platform.system() == "Darwin" else "cuda"
    else:
        rows.append(("TensorFlow", "not installed"))
    rows.append(("COURSE_DEVICE", os.environ.get("COURSE_DEVICE") or "(unset: auto)"))
    rows.append(("COURSE_PRECISION", os.environ.get("COURSE_PRECISION") or "(unset: auto)"))
    for fw, ok in bf16.items():
        rows.append((f"Precision ({fw})", chapter_precisions(ok, dry_run)))
    gpu = nvidia[0] if nvidia and accelerator == "cuda" else None  # device 0: the notebooks'
    if bf16 and bf16_note(gpu, dry_run):
        rows.append(("Precision on the GPU", bf16_note(gpu, dry_run)))
    profile, why = choose_profile(accelerator=accelerator, dry_run=dry_run, gpu=gpu)
    rows.append(("Profile", f"{profile} — {why}"))
    rows.append(("Profile means", PROFILES[profile]))
    from . import data

    rows.append(("Data search path", os.pathsep.join(str(p) for p in data.search_dirs())))
    return rows


def describe(*frameworks: str) -> str:
    """One readable table: OS, Python, frameworks, devices, and the profile chosen and why;
    ``describe("torch")`` leaves TensorFlow out (and ``describe("keras")`` PyTorch)."""
    rows = report_rows(frameworks or FRAMEWORKS)
    width = max(len(k) for k, _ in rows)
    line = "─" * (width + 2) + "┬" + "─" * 60
    out = [line] + [f" {k:<{width}} │ {v}" for k, v in rows] + [line.replace("┬", "┴")]
    return "\n".join(out)
