"""Structure of every notebook: clean, twins aligned, profile-driven config, parameters cell."""

import re

import nbformat
import pytest

from utils.chapters import CHAPTERS, ROOT

NOTEBOOKS = sorted((ROOT / "chapters").glob("*/*.ipynb")) + sorted(
    (ROOT / "solutions").glob("*/*.ipynb"))


def _headings(nb):
    return [line.strip() for c in nb.cells if c.cell_type == "markdown"
            for line in c.source.splitlines() if re.match(r"^##\s", line)]


def test_there_are_notebooks():
    assert (ROOT / "solutions" / "00_setup" / "pytorch.ipynb").is_file()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parts[-3]}/{p.parts[-2]}/{p.name}")
def test_committed_without_outputs_and_valid(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path}: has outputs"
    assert path.parent.name in CHAPTERS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parts[-3]}/{p.parts[-2]}/{p.name}")
def test_parameters_cell_and_runtime_setup(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "PROFILE = None" in tagged[0].source  # papermill injects here
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    framework = "torch" if path.stem == "pytorch" else "keras"
    assert f'runtime.setup("{framework}", profile=PROFILE' in code
    assert code.count("rt.pick(") == 1, "one visible config cell picks every size"
    assert "report.result(" in code and ", key=True" in code


@pytest.mark.parametrize("chapter", sorted({p.parent.name for p in NOTEBOOKS}))
def test_twins_have_the_same_sections(chapter):
    for kind in ("solutions", "chapters"):
        pt = nbformat.read(ROOT / kind / chapter / "pytorch.ipynb", as_version=4)
        ke = nbformat.read(ROOT / kind / chapter / "keras.ipynb", as_version=4)
        assert _headings(pt) == _headings(ke)
        assert len(_headings(pt)) >= 4


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parts[-3]}/{p.parts[-2]}/{p.name}")
def test_precision_policy_and_dry_run_are_declared(path):
    """The chapter's precision policy (utils.chapters.PRECISION) is the one both twins pass to
    runtime.setup, and the config cell says how a dry run shortens the full profile."""
    from utils.chapters import PRECISION

    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    policy = PRECISION[path.parent.name]
    assert re.search(r"runtime\.setup\([^)]*precision=\"" + policy + '"', code), (
        f'{path}: runtime.setup(..., precision="{policy}") expected (utils.chapters.PRECISION)')
    assert re.search(r"\bdry_run=dict\(", code), f"{path}: rt.pick(..., dry_run=dict(...)) missing"
    if path.stem == "keras":  # XLA where a GPU (or a dry run) is: every compile() says so
        for match in re.finditer(r"\.compile\(([^)]*)", code):
            args = match.group(1)
            if "optimizer" in args or "Adam" in args or args.strip() == "":
                assert "jit_compile=" in code[match.start():match.start() + 400], (
                    f"{path}: compile() without jit_compile= (rt.jit_compile, or False with "
                    f"the reason): {match.group(0)[:80]}")


_FLOAT64 = re.compile(r"\.double\(\)|torch\.float64")


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.stem == "pytorch"],
                         ids=lambda p: f"{p.parts[-3]}/{p.parts[-2]}/{p.name}")
def test_no_float64_on_device_tensors(path):
    """Apple's MPS has no float64: a float64 tensor must live on the CPU. So `.double()` comes
    right after `.cpu()`, and a line that makes float64 tensors never names a device (other than
    "cpu") or moves them with `.to(`."""
    nb = nbformat.read(path, as_version=4)
    bad = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            code = line.split("#", 1)[0]
            if not _FLOAT64.search(code):
                continue
            doubles_ok = all(code[max(0, m.start() - 6):m.start()] == ".cpu()"
                             for m in re.finditer(r"\.double\(\)", code))
            device_named = re.search(r"device\s*=|\.to\((?!\"cpu\")|\.cuda\(", code)
            if not doubles_ok or device_named:
                bad.append(line.strip())
    assert not bad, f"{path}: float64 possibly on a device tensor:\n" + "\n".join(bad)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parts[-3]}/{p.parts[-2]}/{p.name}")
def test_no_placeholders_left(path):
    """Numbers waiting for a benchmark are marked TODO-BENCH while a chapter is rewritten; none
    may be committed."""
    nb = nbformat.read(path, as_version=4)
    assert not [c for c in nb.cells if "TODO-BENCH" in c.source], f"{path}: TODO-BENCH left"
