"""The full profile's reference measurement on one GPU machine (issue 14).

The machine it is written for has CUDA PyTorch and the scientific stack, but no TensorFlow, no
Jupyter packages and no network, and it receives at most 64 MiB per call (the working tree plus
the folders named in ``carry``). Two verbs, one on each side, and a third to bring results home::

    tools/gpu-reference prepare [CHAPTER…]   here, with PyPI: wheels of the missing packages and
                                             the data into .gpu-data/; prints the calls to make
    tools/gpu-reference run [CHAPTER…]       there: installs the wheels, registers the python3
                                             kernel, runs `python -m utils bench CHAPTER
                                             --profile full` per chapter and copies the results
                                             into $OUT (also when a notebook fails)
    tools/gpu-reference collect DIR          here: merges DIR's rows into docs/benchmarks.*,
                                             unpacks the executed notebooks into build/

Standard library only: ``run`` starts before anything is installed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import lzma
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".gpu-data"  # ignored (.gitignore); everything prepare makes lives here
WHEELS_DIR = DATA / "wheels"
MIB = 1024 * 1024
CALL_LIMIT = 64 * MIB  # the working tree + carried folders, per call
MARGIN = 1 * MIB  # room for notebooks that grow between prepare and the call
RUN_LIMIT_S = 600  # one command on the device machine
DEFAULT_DEADLINE_S = 570  # run's own limit: leaves time to pack results before RUN_LIMIT_S
PACK_RESERVE_S = 15
# Expected seconds per chapter's PyTorch notebook on one H100/H200 in `full` (estimates from the
# arithmetic of each chapter's full sizes, not measured yet: replace them with the first
# measurement). A call takes chapters while their sum stays within CALL_SECONDS, so that each
# call, with installation and kernel start-up, finishes inside DEFAULT_DEADLINE_S.
EXPECTED_S = {"00_setup": 30, "01_cnn": 150, "02_dcgan": 150, "03_vae": 120,
              "04_style_transfer": 60, "05_sequences": 150, "06_diffusion": 180,
              "07_scale_out": 150}
CALL_SECONDS = 360
WORK = Path(os.environ.get("GPU_REFERENCE_WORK", "/tmp/gpu-reference"))  # run's scratch
TARGET_PYTHON = os.environ.get("PYTHON_VERSION", "3.12")  # the device's python3 is 3.12.3
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_26_x86_64",
             "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_12_x86_64",
             "manylinux2010_x86_64", "manylinux_2_5_x86_64", "manylinux1_x86_64"]

# What the device machine lacks, pinned to versions that work together (the course's own
# environment runs them): the headless runner (papermill → nbclient → jupyter_client → a python3
# kernel from ipykernel) and utils' own imports (platformdirs, pooch, mlxtend). Installed with
# --no-deps, so this list is the whole closure minus what the device has (checked by prepare
# against each wheel's Requires-Dist, and by tests/test_gpu_reference.py against the imports).
WHEELS = {
    "papermill": "2.7.0", "nbclient": "0.11.0", "nbformat": "5.11.1", "fastjsonschema": "2.22.3",
    "jsonschema": "4.26.0", "jsonschema-specifications": "2025.9.1", "referencing": "0.37.0",
    "rpds-py": "2026.9.1", "entrypoints": "0.4.2", "tenacity": "9.2.1",
    "jupyter-client": "8.10.0", "jupyter-core": "5.9.1", "pyzmq": "27.3.0", "tornado": "6.6.1",
    "traitlets": "5.16.1", "ipykernel": "7.4.0", "comm": "0.2.3", "nest-asyncio2": "1.7.4",
    "matplotlib-inline": "0.2.2", "ipython": "9.18.1", "ipython-pygments-lexers": "1.1.1",
    "prompt-toolkit": "3.0.53", "wcwidth": "0.9.4", "pexpect": "4.9.0", "ptyprocess": "0.7.0",
    "stack-data": "0.6.3", "asttokens": "3.0.2", "executing": "2.3.0", "pure-eval": "0.2.4",
    "parso": "0.8.7", "platformdirs": "4.14.9", "pooch": "1.9.0", "mlxtend": "0.25.0",
}
# Declared requirements left behind on purpose (10 MiB of the 64 a call may carry): both are
# imported inside try/except by their users and only serve interactive use.
SKIPPED = {
    "debugpy": "ipykernel's debugger (ipykernel runs without it); 5.4 MB",
    "jedi": "IPython's tab completion (IPython falls back without it); 4.9 MB",
}
# Imports of utils/ that the PyTorch measurement does not need, so nothing carries them.
NOT_CARRIED = {
    "tensorflow": "the Keras notebooks run only where TensorFlow is installed and sees a GPU",
    "keras": "the Keras notebooks run only where TensorFlow is installed and sees a GPU",
    "mistune": "the book (python -m utils book) only",
    "latex2mathml": "the book only",
    "tomli": "the book only, on Python < 3.11",
    "nbgrader": "grading the exercises (python -m utils grade-check) only",
}
# The device image's Python packages (/work/.library/device/KINDS.md, read 2026-11-17).
DEVICE_PREINSTALLED = frozenset("""
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch
build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage
cuda-bindings cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn
einops equinox etils execnet filelock flatbuffers flax fonttools formulaic frozenlist fsspec
gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna imageio
iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib
kiwisolver lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown
markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict
multipledispatch mypy-extensions nanobind narwhals networkx ninja numba numba-cuda numpy numpyro
nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13
nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13
nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir
onnxruntime onnxscript opencv-python-headless optax opt-einsum opt-einsum-fx optimistix
orbax-checkpoint packaging pandas pathspec patsy peft pillow pip pluggy portalocker
prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyre-extensions
pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist python-dateutil
pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image
scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson
six sortedcontainers statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore
threadpoolctl tifffile tiktoken timm tokenizers toolz torch torchaudio torchdiffeq torch-geometric
torchmetrics torchvision tqdm transformers treescope triton typer typing-extensions typing-inspect
urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp
""".split())
# For rehearsing `run` in a bare venv (torch numpy scipy matplotlib pillow scikit-image
# scikit-learn threadpoolctl tqdm): what the device image has that such a venv lacks and the run
# needs (papermill's and IPython's requirements; tensorboard for torch.utils.tensorboard).
REHEARSAL_EXTRA = {
    "pyyaml": "6.0.4", "click": "8.5.1", "requests": "2.34.2", "certifi": "2026.10.19.post1",
    "charset-normalizer": "3.5.3", "idna": "3.20", "urllib3": "2.8.0", "attrs": "26.1.0",
    "psutil": "7.2.2", "pygments": "2.21.0", "tensorboard": "2.21.0", "absl-py": "2.5.1",
    "grpcio": "1.85.3", "markdown": "3.11.3", "protobuf": "7.36.2",
    "tensorboard-data-server": "0.7.2", "werkzeug": "3.1.9",
}

# What each chapter's PyTorch notebook loads (utils.data / utils.weights), as .gpu-data folders.
CHAPTER_DATA = {
    "00_setup": ["mnist"],
    "01_cnn": ["mnist", "cifar10-jpeg"],
    "02_dcgan": ["mnist", "att-faces"],
    "03_vae": ["mnist", "cifar10-jpeg"],
    "04_style_transfer": ["weights"],  # SqueezeNet (COURSE_STYLE_EXTRACTOR=squeezenet)
    "05_sequences": ["mnist"],
    "06_diffusion": ["mnist", "fashion-mnist"],  # Fashion-MNIST: full's second race
    "07_scale_out": ["mnist"],
}
IDX = {"mnist", "fashion-mnist"}  # IDX files travel as .xz of their content (the loader reads
#                                   raw IDX too and checks its SHA-256), 6 MB less than .gz
ARCHIVES = {"cifar10-jpeg": "cifar10-jpeg.tar.gz", "att-faces": "att_faces.tar.gz"}
WEIGHT_FILES = ["squeezenet1_1-imagenet.pth", "squeezenet1_1-b8a52dc0.pth"]
# Transport sizes measured when the plan was made (bytes), for planning before prepare ran.
KNOWN_SIZES = {"mnist": 9_311_693, "fashion-mnist": 26_482_394, "cifar10-jpeg": 19_432_167,
               "att-faces": 3_726_104, "weights": 4_959_277, "wheels": 6_163_017}
# Chapter 02 loads the classifier chapter 01 saved (else it trains one itself, with a notice):
# run returns it, collect keeps it here, and a later call that runs 02 without 01 carries it.
MODELS = DATA / "models"
HANDED_ON = ["lenet5-mnist.pt", "lenet5-mnist.pt.json"]  # and its info; not ResNet-9 (26 MB)


def norm(name: str) -> str:
    """A distribution name as pip compares it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def chapter_names(names: list[str]) -> list[str]:
    """Chapter folders from ``00``, ``00_setup`` or ``setup`` (all when empty)."""
    sys.path.insert(0, str(ROOT))
    from utils.chapters import resolve  # standard library only

    return resolve(names or None)


# --- sizes and the split into calls ---------------------------------------------------------

def folder_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def tree_size() -> int:
    """Bytes of the working tree that travels: tracked and untracked-not-ignored files."""
    try:
        out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return 3 * MIB  # no git: a generous guess (the tree is ~2 MiB)
    files = [ROOT / p for p in out.decode().split("\0") if p]
    return sum(f.stat().st_size for f in files if f.is_file())


def part_size(part: str) -> int:
    """Bytes ``part`` (a .gpu-data folder, or ``wheels``) adds to a call: measured once it is
    prepared, else the size recorded when the plan was made."""
    path = WHEELS_DIR if part == "wheels" else DATA / part
    return folder_size(path) or KNOWN_SIZES.get(part, 0)


def carry_parts(chapters: list[str]) -> list[str]:
    parts = ["wheels"] + sorted({p for c in chapters for p in CHAPTER_DATA.get(c, [])})
    if "02_dcgan" in chapters and "01_cnn" not in chapters and MODELS.is_dir():
        parts.append("models")
    return parts


def call_size(chapters: list[str], tree: int) -> int:
    return tree + sum(part_size(p) for p in carry_parts(chapters))


def call_seconds(chapters: list[str]) -> int:
    return sum(EXPECTED_S.get(c, 120) for c in chapters)


def plan(chapters: list[str], tree: int | None = None) -> list[list[str]]:
    """Chapters in course order, split greedily into calls that each fit 64 MiB and
    CALL_SECONDS of expected run time."""
    tree = tree_size() if tree is None else tree
    calls: list[list[str]] = []
    for chapter in chapters:
        if (calls and call_size(calls[-1] + [chapter], tree) <= CALL_LIMIT - MARGIN
                and call_seconds(calls[-1] + [chapter]) <= CALL_SECONDS):
            calls[-1].append(chapter)
        else:
            calls.append([chapter])
    return calls


def carry_paths(chapters: list[str]) -> list[str]:
    return [str((WHEELS_DIR if p == "wheels" else DATA / p).relative_to(ROOT))
            for p in carry_parts(chapters)]


def run_command(chapters: list[str]) -> str:
    """The device call's command (python3 there is the interpreter that has CUDA PyTorch)."""
    return "python3 tools/gpu_reference.py run " + " ".join(chapters)


# --- prepare (here) -------------------------------------------------------------------------

def wheel_present(folder: Path, name: str, version: str) -> bool:
    stem = re.sub(r"[-_.]+", "_", name).lower()
    return any(p.name.lower().startswith(f"{stem}-{version}-") for p in folder.glob("*.whl"))


def download_wheels(folder: Path, pins: dict[str, str], python_version: str) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {f"{re.sub(r'[-_.]+', '_', n).lower()}-{v}-" for n, v in pins.items()}
    for stale in folder.glob("*.whl"):  # one version of each: two stop the whole install
        if not any(stale.name.lower().startswith(w) for w in wanted):
            print(f"[prepare] removing {stale.name} (not in the list)")
            stale.unlink()
    missing = [f"{n}=={v}" for n, v in pins.items() if not wheel_present(folder, n, v)]
    if not missing:
        return 0
    print(f"[prepare] downloading {len(missing)} wheel(s) for CPython {python_version}")
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
           "--python-version", python_version, "--implementation", "cp",
           *[a for p in PLATFORMS for a in ("--platform", p)], "-d", str(folder), *missing]
    return subprocess.run(cmd).returncode


def check_closure(folder: Path, python_version: str, provided: set[str]) -> list[str]:
    """Requirements of the wheels (markers evaluated for Linux x86-64 CPython) that nothing
    provides: neither another wheel, nor the device image, nor SKIPPED on purpose."""
    try:
        from packaging.requirements import Requirement
    except ImportError:
        print("[prepare] (packaging not importable: requirements not checked)")
        return []
    import zipfile

    env = {"python_version": python_version, "python_full_version": python_version + ".0",
           "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
           "os_name": "posix", "implementation_name": "cpython",
           "platform_python_implementation": "CPython", "extra": ""}
    have = provided | {norm(n) for n in SKIPPED}
    problems = []
    for whl in sorted(folder.glob("*.whl")):
        with zipfile.ZipFile(whl) as z:
            meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
            lines = z.read(meta).decode("utf-8", "replace").splitlines()
        for line in lines:
            if not line.startswith("Requires-Dist:"):
                continue
            req = Requirement(line.split(":", 1)[1].strip())
            if req.marker and not req.marker.evaluate(env):
                continue
            if norm(req.name) not in have:
                problems.append(f"{whl.name} needs {req} : nothing provides it")
    return problems


def prepare_data(parts: set[str], datasets: Path, weights: Path) -> None:
    for part in sorted(parts):
        dest = DATA / part
        dest.mkdir(parents=True, exist_ok=True)
        if part in IDX:
            for src in sorted((datasets / part).glob("*-ubyte*")):
                name = src.name.removesuffix(".gz")
                out, stamp = dest / f"{name}.xz", dest / f".{name}.source"
                key = f"{src} {src.stat().st_size} {src.stat().st_mtime_ns}"
                if out.is_file() and stamp.is_file() and stamp.read_text() == key:
                    continue
                print(f"[prepare] {part}/{name}.xz (xz -9 of the decompressed file: a minute)")
                raw = src.read_bytes()
                raw = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
                tmp = out.with_suffix(".tmp")
                tmp.write_bytes(lzma.compress(raw, preset=9))
                tmp.replace(out)
                stamp.write_text(key)
        elif part in ARCHIVES:
            src = datasets / part / ARCHIVES[part]
            if not (dest / src.name).is_file() or folder_size(dest / src.name) != folder_size(src):
                shutil.copyfile(src, dest / src.name)
        elif part == "weights":
            src = next((weights / f for f in WEIGHT_FILES if (weights / f).is_file()), None)
            if src is None:
                raise SystemExit(f"[prepare] no SqueezeNet weights ({' or '.join(WEIGHT_FILES)})"
                                 f" in {weights}: set COURSE_WEIGHTS_DIR")
            if not (dest / src.name).is_file():
                shutil.copyfile(src, dest / src.name)
        if part in IDX or part in ARCHIVES:
            if not any(dest.iterdir()):
                raise SystemExit(f"[prepare] nothing found for {part} in {datasets / part}: "
                                 f"set COURSE_DATA_DIR to the folder holding {part}/")


def first_path(var: str, default: Path) -> Path:
    parts = [p for p in os.environ.get(var, "").split(os.pathsep) if p.strip()]
    return Path(parts[0]).expanduser() if parts else default


def cmd_prepare(args: argparse.Namespace) -> int:
    chapters = chapter_names(args.chapters)
    folder = Path(os.environ.get("WHEEL_DIR") or WHEELS_DIR)
    pins = dict(WHEELS) | (REHEARSAL_EXTRA if args.rehearsal else {})
    if download_wheels(folder, pins, args.python_version):
        print("[prepare] pip download failed (is PyPI reachable?)", file=sys.stderr)
        return 1
    provided = {norm(n) for n in pins} | set(DEVICE_PREINSTALLED)
    problems = check_closure(folder, args.python_version, provided)
    for p in problems:
        print(f"[prepare] MISSING {p}", file=sys.stderr)
    if problems:
        return 1
    datasets = first_path("COURSE_DATA_DIR", ROOT.parent / "shared" / "datasets")
    weights = first_path("COURSE_WEIGHTS_DIR", ROOT.parent / "shared" / "weights")
    prepare_data({p for c in chapters for p in CHAPTER_DATA.get(c, [])}, datasets, weights)
    if folder != WHEELS_DIR:
        print(f"[prepare] wheels for CPython {args.python_version} in {folder} (WHEEL_DIR): a "
              f"rehearsal; the device needs `tools/gpu-reference prepare` without WHEEL_DIR")
        return 0
    tree = tree_size()
    calls = plan(chapters, tree)
    print(f"\nworking tree {tree / MIB:.1f} MiB, wheels {part_size('wheels') / MIB:.1f} MiB ("
          f"{len(list(folder.glob('*.whl')))} files); per call at most "
          f"{(CALL_LIMIT - MARGIN) / MIB:.0f} MiB\n")
    for i, chapters_i in enumerate(calls, 1):
        size = call_size(chapters_i, tree)
        parts = ", ".join(f"{p} {part_size(p) / MIB:.1f}" for p in carry_parts(chapters_i))
        print(f"call {i}: {' '.join(chapters_i)} — {size / MIB:.1f} MiB (tree "
              f"{tree / MIB:.1f}, {parts})")
        print(json.dumps({"command": run_command(chapters_i), "carry": carry_paths(chapters_i),
                          "timeout_s": RUN_LIMIT_S}))
        print("  then, here: tools/gpu-reference collect <files_at of that call>\n")
        if size > CALL_LIMIT - MARGIN:
            print(f"  WARNING: {chapters_i[0]} alone needs {size / MIB:.1f} MiB, over the limit")
    print("Each call's run stops starting chapters at its deadline "
          f"({DEFAULT_DEADLINE_S} s) and always returns what finished.")
    return 0


# --- run (there) ----------------------------------------------------------------------------

class Log:
    def __init__(self, path: Path):
        self.file = path.open("a", encoding="utf-8")

    def __call__(self, text: str) -> None:
        print(text, flush=True)
        self.file.write(text + "\n")
        self.file.flush()


MARK = f"GPU_REFERENCE_CHILD={os.getpid()}"  # in every child's environment (see run_logged)


def descendants(pid: int) -> list[int]:
    """The processes below ``pid``, and any other that carries MARK in its environment: jupyter
    kernels start their own session (killing the process group would leave a kernel training on
    the GPU), and one orphaned by a crashed parent is no descendant any more."""
    children: dict[int, list[int]] = {}
    marked = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
            if MARK.encode() in (stat.parent / "environ").read_bytes().split(b"\0"):
                marked.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out + [m for m in marked if m not in out and m not in (pid, os.getpid())]


def kill_tree(proc: subprocess.Popen) -> None:
    for pid in [proc.pid, *descendants(proc.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def run_logged(log: Log, cmd: list[str], env: dict, timeout: float | None = None,
               show: str | None = None) -> int:
    """Run ``cmd``, its output line by line to the console and the log; 124 on timeout."""
    log(f"$ {show or ' '.join(cmd)}")
    env = {**env, MARK.split("=")[0]: MARK.split("=")[1]}
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace",
                            start_new_session=True)
    timed_out = threading.Event()

    def expire() -> None:
        timed_out.set()
        log(f"[gpu-reference] time is up ({timeout:.0f} s): stopping {' '.join(cmd[2:5])}")
        kill_tree(proc)

    timer = threading.Timer(timeout, expire) if timeout else None
    if timer:
        timer.start()
    assert proc.stdout is not None
    for line in proc.stdout:
        log(line.rstrip("\n"))
    rc = proc.wait()
    if timer:
        timer.cancel()
    return 124 if timed_out.is_set() else rc


def kernel_spec(python: str, env: dict) -> Path:
    """A ``python3`` kernel spec for this interpreter with the same PYTHONPATH, first on
    JUPYTER_PATH (papermill asks for kernel_name="python3")."""
    folder = WORK / "jupyter" / "kernels" / "python3"
    folder.mkdir(parents=True, exist_ok=True)
    spec = {"argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (gpu-reference)", "language": "python",
            "env": {"PYTHONPATH": env["PYTHONPATH"]}, "metadata": {"debugger": False}}
    (folder / "kernel.json").write_text(json.dumps(spec, indent=1) + "\n")
    return folder


def decode_data(out: Path) -> None:
    """IDX files arrive as .xz; the loader reads raw IDX (and checks each file's SHA-256)."""
    for xz in sorted(DATA.glob("*/*-ubyte.xz")):
        dest = out / xz.parent.name / xz.name.removesuffix(".xz")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(".tmp")
        tmp.write_bytes(lzma.decompress(xz.read_bytes()))
        tmp.replace(dest)


def missing_data(chapter: str) -> list[str]:
    return [p for p in CHAPTER_DATA.get(chapter, [])
            if not (DATA / p).is_dir() or not any((DATA / p).iterdir())]


def pack(out: Path, chapters: list[str], summary: dict, models: Path | None = None,
         build: Path = ROOT / "build", docs: Path = ROOT / "docs") -> None:
    """What comes back (≤ 8 files): the log, benchmarks.md/.json, summary.json and the executed
    notebooks with their results (one tar.gz, or one per chapter if that is over 15 MiB)."""
    for name in ("benchmarks.md", "benchmarks.json"):
        if (docs / name).is_file():
            shutil.copyfile(docs / name, out / name)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    for old in out.glob("notebooks*.tar.gz"):
        old.unlink()

    def add(tar: tarfile.TarFile, chapter: str) -> None:
        for f in sorted((build / chapter).glob("*")):
            if f.suffix == ".ipynb" or f.name.endswith(".results.json"):
                tar.add(f, arcname=f"{chapter}/{f.name}")

    with tarfile.open(out / "notebooks.tar.gz", "w:gz") as tar:
        for chapter in chapters:
            add(tar, chapter)
        for name in HANDED_ON:
            if models and (models / name).is_file():
                tar.add(models / name, arcname=f"models/{name}")
    if (out / "notebooks.tar.gz").stat().st_size > 15 * MIB:
        (out / "notebooks.tar.gz").unlink()
        for chapter in chapters:
            with tarfile.open(out / f"notebooks-{chapter}.tar.gz", "w:gz") as tar:
                add(tar, chapter)


def cmd_run(args: argparse.Namespace) -> int:
    start = time.monotonic()
    chapters = chapter_names(args.chapters)
    out = Path(os.environ.get("OUT") or ROOT / "build" / "gpu-reference" / "out")
    out.mkdir(parents=True, exist_ok=True)
    log = Log(out / "gpu-reference.log")
    python = sys.executable  # tools/gpu-reference picks it: $PYTHON, else python3
    summary: dict = {"chapters": chapters, "profile": args.profile, "python": python,
                     "started": time.strftime("%Y-%m-%d %H:%M:%S"), "runs": []}
    log(f"[gpu-reference] run {' '.join(chapters)} --profile {args.profile} with {python} "
        f"(deadline {args.deadline} s), results into {out}")

    wheels = sorted(Path(os.environ.get("WHEEL_DIR") or WHEELS_DIR).glob("*.whl"))
    site = WORK / "site"
    shutil.rmtree(site, ignore_errors=True)
    env = dict(os.environ)
    for var in ("COURSE_DRY_RUN", "COURSE_PROFILE"):  # the profile is --profile's alone
        env.pop(var, None)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(site), str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.update(PYTHONUNBUFFERED="1", JUPYTER_PATH=str(WORK / "jupyter"),
               JUPYTER_DATA_DIR=str(WORK / "jupyter"),
               JUPYTER_RUNTIME_DIR=str(WORK / "jupyter" / "runtime"),
               JUPYTER_CONFIG_DIR=str(WORK / "jupyter" / "config"),
               IPYTHONDIR=str(WORK / "ipython"), MPLCONFIGDIR=str(WORK / "matplotlib"),
               COURSE_DATA_DIR=os.pathsep.join([str(WORK / "data"), str(DATA)]),
               COURSE_WEIGHTS_DIR=str(DATA / "weights"), COURSE_OFFLINE="1",
               COURSE_CACHE_DIR=str(WORK / "cache"), COURSE_MODELS_DIR=str(WORK / "models"),
               COURSE_STYLE_EXTRACTOR="squeezenet")  # no VGG19 weights travel
    shutil.rmtree(WORK / "models", ignore_errors=True)
    (WORK / "models").mkdir(parents=True)
    for f in sorted(MODELS.glob("*")) if MODELS.is_dir() else []:
        shutil.copyfile(f, WORK / "models" / f.name)
        log(f"[gpu-reference] models: {f.name} from an earlier call (chapter 01)")

    ok = bool(wheels) and run_logged(log, [
        python, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
        "--no-cache-dir", "--upgrade", "--target", str(site), *map(str, wheels)], env,
        show=f"{python} -m pip install --no-index --no-deps --target {site} "
             f"{wheels[0].parent if wheels else '?'}/*.whl ({len(wheels)} wheels)") == 0
    if not ok:
        log(f"[gpu-reference] could not install the {len(wheels)} wheel(s) from "
            f"{os.environ.get('WHEEL_DIR') or WHEELS_DIR}: run `tools/gpu-reference prepare` "
            f"here and carry the folders it names")
        summary["error"] = "wheels not installed"
        pack(out, [], summary)
        return 1
    spec = kernel_spec(python, env)
    decode_data(WORK / "data")
    check = ("from jupyter_client.kernelspec import KernelSpecManager as K; "
             "import papermill, nbclient, nbformat, ipykernel; "
             "s = K().get_kernel_spec('python3'); print('kernel python3:', s.resource_dir, "
             "s.argv[0]); import sys; sys.exit(0 if s.resource_dir == sys.argv[1] else 3)")
    if run_logged(log, [python, "-c", check, str(spec)], env, 120) != 0:
        summary["error"] = "python3 kernel spec not found"
        pack(out, [], summary)
        return 1
    run_logged(log, [python, "-m", "utils", "doctor"], env, 240)
    pack(out, [], summary)  # something comes back even if the first chapter overruns
    frameworks = ["pytorch"]
    tf_check = ("import sys, tensorflow as tf; g = tf.config.list_physical_devices('GPU'); "
                "print('TensorFlow', tf.__version__, 'GPUs:', g); sys.exit(0 if g else 3)")
    if args.keras != "never" and run_logged(log, [python, "-c", tf_check], env, 180) == 0:
        frameworks.append("keras")
    else:
        log("[gpu-reference] Keras notebooks skipped: TensorFlow is absent or sees no GPU")
    summary["frameworks"] = frameworks

    failed = False
    for chapter in chapters:
        left = args.deadline - (time.monotonic() - start) - PACK_RESERVE_S
        entry = {"chapter": chapter}
        if missing_data(chapter):
            entry.update(status="data not carried", missing=missing_data(chapter))
            log(f"[gpu-reference] {chapter}: SKIPPED, its data was not carried "
                f"({', '.join(missing_data(chapter))}); see tools/gpu-reference prepare")
        elif left < 60:
            entry.update(status="not started: deadline")
            log(f"[gpu-reference] {chapter}: not started, {left:.0f} s left before the deadline")
        else:
            t = time.monotonic()
            cmd = [python, "-m", "utils", "bench", chapter, "--profile", args.profile]
            cmd += [a for f in frameworks for a in ("--framework", f)]
            rc = run_logged(log, cmd, env, left)
            entry.update(rc=rc, seconds=round(time.monotonic() - t, 1),
                         status={0: "ok", 1: "failed or missed a target", 124: "timed out"}.get(
                             rc, f"exit {rc}"))
        failed |= entry["status"] != "ok"
        summary["runs"].append(entry)
        summary["elapsed_s"] = round(time.monotonic() - start, 1)
        pack(out, [r["chapter"] for r in summary["runs"] if "rc" in r], summary,
             WORK / "models")
    log(f"[gpu-reference] done in {time.monotonic() - start:.0f} s: " + ", ".join(
        f"{r['chapter']} {r['status']}" for r in summary["runs"]))
    log(f"[gpu-reference] results in {out}: " + ", ".join(sorted(p.name for p in out.iterdir())))
    return 1 if failed else 0


# --- collect (here) -------------------------------------------------------------------------

def cmd_collect(args: argparse.Namespace) -> int:
    src = Path(args.dir)
    summary = json.loads((src / "summary.json").read_text())
    profile, done = summary["profile"], [r["chapter"] for r in summary["runs"] if "rc" in r]
    docs = Path(args.docs)
    theirs = json.loads((src / "benchmarks.json").read_text()) if (
        src / "benchmarks.json").is_file() else {}
    ours_path = docs / "benchmarks.json"
    ours = json.loads(ours_path.read_text()) if ours_path.is_file() else {}
    merged = [c for c in done if c in theirs.get(profile, {})]
    for chapter in merged:
        ours.setdefault(profile, {})[chapter] = theirs[profile][chapter]
    docs.mkdir(parents=True, exist_ok=True)
    ours_path.write_text(json.dumps(ours, indent=1) + "\n")
    sys.path.insert(0, str(ROOT))
    from utils import runner  # numpy: run collect with the course's python

    runner.write_benchmarks([], None, docs)
    dest = ROOT / "build" / "gpu-reference"
    for archive in sorted(src.glob("notebooks*.tar.gz")):
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    if (dest / "models").is_dir():
        MODELS.mkdir(parents=True, exist_ok=True)
        for f in (dest / "models").glob("*"):
            shutil.copyfile(f, MODELS / f.name)
    print(f"[collect] {profile} rows of {', '.join(merged) or 'no chapter'} merged into "
          f"{ours_path} and {docs / 'benchmarks.md'}; executed notebooks in {dest}/")
    for r in summary["runs"]:
        print(f"  {r['chapter']}: {r['status']}" + (f" in {r['seconds']} s" if "seconds" in r
                                                    else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tools/gpu-reference", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="verb", required=True)
    p = sub.add_parser("prepare", help="here: wheels and data into .gpu-data/, print the calls")
    p.add_argument("chapters", nargs="*", help="e.g. 00_setup or 01 (default: all)")
    p.add_argument("--python-version", default=TARGET_PYTHON,
                   help=f"the device's Python for the wheels (default {TARGET_PYTHON}; "
                        "env PYTHON_VERSION)")
    p.add_argument("--rehearsal", action="store_true",
                   help="also fetch what the device image has and a bare venv lacks "
                        "(with WHEEL_DIR, for rehearsing run off the device)")
    p = sub.add_parser("run", help="there: install the wheels, bench each chapter, fill $OUT")
    p.add_argument("chapters", nargs="*", help="e.g. 00_setup or 01 (default: all)")
    p.add_argument("--profile", default="full", choices=["smoke", "quick", "full"],
                   help="default full (smoke: a rehearsal off the device)")
    p.add_argument("--deadline", type=float, default=DEFAULT_DEADLINE_S,
                   help=f"seconds from start after which no chapter runs on (default "
                        f"{DEFAULT_DEADLINE_S}, inside the device's {RUN_LIMIT_S} s)")
    p.add_argument("--keras", choices=["auto", "never"], default="auto",
                   help="auto: the Keras twins too when TensorFlow sees a GPU")
    p = sub.add_parser("collect", help="here: merge a run's results into docs/ and build/")
    p.add_argument("dir", help="the folder the run's $OUT files came back to (files_at)")
    p.add_argument("--docs", default=str(ROOT / "docs"), help="default: docs/")
    args = parser.parse_args(argv)
    return {"prepare": cmd_prepare, "run": cmd_run, "collect": cmd_collect}[args.verb](args)


if __name__ == "__main__":
    sys.exit(main())
