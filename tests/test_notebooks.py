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
