"""The exercises work in a real nbgrader course (nbgrader's own command line and gradebook):
generate_assignment accepts the metadata and writes exactly chapters/' stubs, the unchanged stub
scores 0 and the solution full points. `python -m utils grade-check` runs the same code."""

import os

import nbformat
import pytest

from utils import grading
from utils.chapters import ROOT


def _nbgrader_or_skip() -> None:
    """Skip without nbgrader (fail on CI, where `./course setup` installs the test extra)."""
    try:
        import nbgrader  # noqa: F401
    except ImportError as e:
        (pytest.fail if os.environ.get("CI") else pytest.skip)(
            f"nbgrader is not installed ({e}; pip install -e '.[test]')")


def test_chapter_00_in_nbgrader(tmp_path):
    _nbgrader_or_skip()
    checks = grading.check_chapter("00_setup", tmp_path, profile="smoke")
    assert [c.framework for c in checks] == ["pytorch", "keras"]
    for c in checks:
        assert not c.error, c.error
        # nbgrader's student version (release/) has our stubs, character for character
        assert (tmp_path / "release" / "00_setup" / f"{c.framework}.ipynb").is_file()
        assert c.stub_differences == []
        # points as nbgrader's gradebook holds them: two check cells of one point each
        assert c.max_points == 2
        assert len(c.cells[grading.STUB]) == 2, c.cells
        assert all(score == 0 for score in c.cells[grading.STUB].values()), c.cells
        assert c.points[grading.STUB] == 0
        assert c.points[grading.SOLUTION] == 2, c.cells
        assert all(score == 1 for score in c.cells[grading.SOLUTION].values()), c.cells
        # the stub fails only in its exercises; the solution runs without an error
        assert c.raised[grading.STUB] and all(r.startswith("exercise ")
                                              for r in c.raised[grading.STUB])
        assert c.raised[grading.SOLUTION] == []
        assert c.problems() == []
    assert "00_setup/pytorch | 0    | 2        | 2" in grading.table(checks)


def test_verdict_names_each_problem(tmp_path):
    """`Check.problems` (the grade-check verdict) catches what the test above rules out."""
    ok = grading.Check("00_setup", "pytorch", max_points=2,
                       points={grading.STUB: 0, grading.SOLUTION: 2},
                       cells={grading.STUB: {"a": 0, "b": 0}, grading.SOLUTION: {"a": 1, "b": 1}},
                       raised={grading.STUB: ["exercise a"], grading.SOLUTION: []})
    assert ok.problems() == []
    bad = grading.Check("00_setup", "keras", max_points=2,
                        points={grading.STUB: 1, grading.SOLUTION: 1},
                        cells={grading.STUB: {"a": 1, "b": 0}, grading.SOLUTION: {"a": 1, "b": 0}},
                        raised={grading.STUB: ["cell 7"], grading.SOLUTION: ["exercise b"]},
                        stub_differences=["code cell 3: …"])
    text = "\n".join(bad.problems())
    for expected in ("differs from chapters/", "stub scores points", "solution scores 1 of 2",
                     "raise in the solution", "outside the exercises raise in the stub"):
        assert expected in text
    ours = ROOT / "chapters" / "00_setup" / "pytorch.ipynb"
    assert grading.compare_stubs(ours, ours) == []
    theirs = nbformat.read(ours, as_version=4)
    stub = next(c for c in theirs.cells
                if c.cell_type == "code" and "raise NotImplementedError()" in c.source)
    stub.source = stub.source.replace("raise NotImplementedError()", "raise NotImplementedError")
    nbformat.write(theirs, tmp_path / "pytorch.ipynb")
    [difference] = grading.compare_stubs(tmp_path / "pytorch.ipynb", ours)
    assert difference.startswith("code cell ")
