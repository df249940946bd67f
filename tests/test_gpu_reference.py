"""tools/gpu-reference, the full profile's one-command GPU measurement: its usage, that the
wheels it carries cover every import the PyTorch notebooks and utils/ need beyond the GPU
machine's own packages, that each call fits 64 MiB, and how it packs and merges results. Fast,
no network, no GPU (the real run happens on the GPU machine)."""

import ast
import importlib.util
import json
import os
import subprocess
import sys
import tarfile
import time
from importlib.metadata import packages_distributions
from pathlib import Path

import nbformat
import pytest

from utils import chapters

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tools" / "gpu-reference"
_spec = importlib.util.spec_from_file_location("gpu_reference", ROOT / "tools" / "gpu_reference.py")
gr = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gr)


def test_usage_names_the_three_verbs():
    out = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, check=True)
    for verb in ("prepare", "run", "collect"):
        assert verb in out.stdout
    out = subprocess.run([str(SCRIPT), "run", "--help"], capture_output=True, text=True,
                         check=True).stdout
    assert "--profile" in out and "default full" in out and "--deadline" in out
    bad = subprocess.run([str(SCRIPT), "measure"], capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def _imports(source: str) -> set[str]:
    """Top-level names of absolute imports (anywhere in the code, lazy ones too)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def _notebook_code(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    lines = [line for c in nb.cells if c.cell_type == "code" for line in c.source.splitlines()
             if not line.lstrip().startswith(("%", "!"))]  # magics are not Python
    return "\n".join(lines)


def _torch_notebooks() -> list[Path]:
    return sorted((ROOT / "solutions").glob("*/pytorch.ipynb"))


def test_wheels_cover_every_import_the_device_lacks():
    modules = {}
    for path in sorted((ROOT / "utils").glob("*.py")):
        modules.update(dict.fromkeys(_imports(path.read_text()), path.name))
    for path in _torch_notebooks():
        modules.update(dict.fromkeys(_imports(_notebook_code(path)), str(path.relative_to(ROOT))))
    dists = packages_distributions()
    carried = {gr.norm(n) for n in gr.WHEELS}
    problems = []
    local = {"utils", "__future__"} | {p.stem for p in (ROOT / "scale_out").glob("*.py")}
    for module, where in sorted(modules.items()):
        top = module.split(".")[0]
        if top in sys.stdlib_module_names or top in local or (
                top in gr.NOT_CARRIED):
            continue
        names = {gr.norm(d) for d in dists.get(top, [top])}
        if not names & (carried | gr.DEVICE_PREINSTALLED):
            problems.append(f"{top} (imported in {where}): neither carried nor on the device")
    assert not problems, "\n".join(problems)
    torch_code = "\n".join(_notebook_code(p) for p in _torch_notebooks())
    torch_imports = {m.split(".")[0] for m in _imports(torch_code)}
    assert not torch_imports & set(gr.NOT_CARRIED)  # those are for Keras and the book only
    if "torch.utils.tensorboard" in torch_code:  # torch's module needs the tensorboard package
        assert "tensorboard" in gr.DEVICE_PREINSTALLED | carried


def test_wheel_list_is_consistent():
    carried = {gr.norm(n) for n in gr.WHEELS}
    assert not carried & gr.DEVICE_PREINSTALLED  # nothing shadows the device's own packages
    assert not carried & {gr.norm(n) for n in gr.SKIPPED}
    assert {"papermill", "nbclient", "nbformat", "ipykernel", "jupyter-client"} <= carried
    assert all(v[0].isdigit() for v in gr.WHEELS.values())  # pinned
    assert not {gr.norm(n) for n in gr.REHEARSAL_EXTRA} & carried


def test_chapter_data_covers_what_each_notebook_loads():
    assert set(gr.CHAPTER_DATA) == set(chapters.CHAPTERS)
    loaders = {"load_mnist": "mnist", "load_fashion_mnist": "fashion-mnist",
               "load_cifar10": "cifar10-jpeg", "load_faces": "att-faces"}
    for path in _torch_notebooks():
        code = _notebook_code(path)
        needed = {part for fn, part in loaders.items() if f"{fn}(" in code}
        if "squeezenet" in code.lower():
            needed.add("weights")
        assert needed <= set(gr.CHAPTER_DATA[path.parent.name]), path


def _shared() -> Path | None:
    first = os.environ.get("COURSE_DATA_DIR", "").split(os.pathsep)[0]
    for candidate in (Path(first) if first else None, ROOT.parent / "shared" / "datasets"):
        if candidate and (candidate / "mnist").is_dir():
            return candidate
    return None


def test_each_call_fits_64_mib():
    datasets = _shared()
    if datasets is None:
        pytest.skip("no shared datasets here to size the calls with")
    weights = datasets.parent / "weights"
    for part, name in gr.ARCHIVES.items():  # the recorded sizes are those files' sizes
        assert gr.KNOWN_SIZES[part] == (datasets / part / name).stat().st_size
    assert gr.KNOWN_SIZES["weights"] == (weights / gr.WEIGHT_FILES[0]).stat().st_size
    for part in gr.IDX:  # .xz of the content, smaller than the .gz files
        assert gr.KNOWN_SIZES[part] < gr.folder_size(datasets / part)
    calls = gr.plan(list(chapters.CHAPTERS))
    assert [c for call in calls for c in call] == list(chapters.CHAPTERS)
    for call in calls:
        assert gr.call_size(call, gr.tree_size()) <= gr.CALL_LIMIT - gr.MARGIN, call
        assert gr.call_seconds(call) <= gr.CALL_SECONDS < gr.DEFAULT_DEADLINE_S, call
        assert len(gr.carry_paths(call)) <= 8 and len(gr.run_command(call)) <= 2000
        assert all(p.startswith(".gpu-data/") for p in gr.carry_paths(call))
    assert set(gr.EXPECTED_S) == set(chapters.CHAPTERS)
    # three device calls (two fit one session's 15 minutes of device time; CONTRIBUTING says how)
    assert len(calls) <= 3, calls


def test_gpu_data_is_ignored():
    out = subprocess.run(["git", "check-ignore", "-q", ".gpu-data/wheels/x.whl"], cwd=ROOT)
    assert out.returncode == 0


def test_run_logged_stops_a_whole_process_tree(tmp_path):
    """A jupyter kernel runs in its own session, and may outlive a crashed parent: the
    deadline must stop it too (here an orphan in its own session that holds the output)."""
    log = gr.Log(tmp_path / "log")
    pid_file = tmp_path / "pid"
    cmd = ["bash", "-c",
           f"sh -c 'setsid sleep 60 & echo $! > {pid_file}'; echo started; sleep 100"]
    start = time.monotonic()
    assert gr.run_logged(log, cmd, dict(os.environ), timeout=1) == 124
    assert time.monotonic() - start < 30
    pid = int(pid_file.read_text())
    time.sleep(0.2)
    stat = Path(f"/proc/{pid}/stat")
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
    assert "started" in (tmp_path / "log").read_text()


def test_pack_returns_notebooks_results_and_the_handed_on_model(tmp_path):
    build, docs, models, out = (tmp_path / n for n in ("build", "docs", "models", "out"))
    for folder in (build / "00_setup" / "figures-pytorch", docs, models, out):
        folder.mkdir(parents=True)
    (build / "00_setup" / "pytorch.ipynb").write_text("{}")
    (build / "00_setup" / "pytorch.results.json").write_text("{}")
    (build / "00_setup" / "figures-pytorch" / "a.png").write_bytes(b"png")
    (docs / "benchmarks.md").write_text("# Benchmarks\n")
    (models / "lenet5-mnist.pt").write_bytes(b"lenet")
    (models / "resnet9-cifar10.pt").write_bytes(b"big")
    gr.pack(out, ["00_setup"], {"runs": []}, models, build=build, docs=docs)
    assert sorted(p.name for p in out.iterdir()) == ["benchmarks.md", "notebooks.tar.gz",
                                                      "summary.json"]
    with tarfile.open(out / "notebooks.tar.gz") as tar:
        assert sorted(tar.getnames()) == ["00_setup/pytorch.ipynb",
                                          "00_setup/pytorch.results.json", "models/lenet5-mnist.pt"]


def test_collect_merges_the_measured_chapters(tmp_path):
    machine = {"cpu": "x", "cores": 16, "gpu": "NVIDIA H200", "os": "Linux", "python": "3.12.3"}
    row = {"chapter": "00_setup", "framework": "pytorch", "ok": True, "seconds": 12.0,
           "facts": {"profile": "full", "device": "cuda", "dataset": "mnist"},
           "results": {"test_accuracy": {"value": 0.99, "key": True, "fmt": "{:.2%}"}},
           "error": "", "targets": {}}
    entry = {"date": "2026-12-02", "command": "python -m utils bench 00_setup --profile full",
             "machine": machine, "runs": [row]}
    came_back, docs = tmp_path / "out", tmp_path / "docs"
    came_back.mkdir()
    docs.mkdir()
    (came_back / "benchmarks.json").write_text(json.dumps({"full": {"00_setup": entry}}))
    (came_back / "summary.json").write_text(json.dumps({"profile": "full", "runs": [
        {"chapter": "00_setup", "rc": 0, "seconds": 14.0, "status": "ok"},
        {"chapter": "01_cnn", "status": "not started: deadline"}]}))
    (docs / "benchmarks.json").write_text(json.dumps({}))
    assert gr.main(["collect", str(came_back), "--docs", str(docs)]) == 0
    merged = json.loads((docs / "benchmarks.json").read_text())
    assert list(merged["full"]) == ["00_setup"]
    text = (docs / "benchmarks.md").read_text()
    assert "## Profile: full" in text and "| 00_setup | pytorch | ok | cuda | full |" in text


def test_unmeasured_full_profile_names_the_script(tmp_path):
    from utils import runner

    text = runner.write_benchmarks([], None, tmp_path).read_text()
    assert "Not yet measured" in text and "tools/gpu-reference prepare" in text
