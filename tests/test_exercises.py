"""Exercises: chapters/ is generated from solutions/, stubs raise, solutions pass."""

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from utils import checks, exercises
from utils.chapters import ROOT

SOLVED = '''def area(w, h):
    ### BEGIN SOLUTION
    return w * h
    ### END SOLUTION
'''


def test_strip_keeps_indentation_and_everything_else():
    out = exercises.strip_solutions("x = 1\n" + SOLVED + "y = 2\n")
    assert out == ("x = 1\ndef area(w, h):\n    # YOUR CODE HERE\n"
                   "    raise NotImplementedError()\ny = 2\n")
    with pytest.raises(exercises.ExerciseError, match="markers"):
        exercises.strip_solutions("### BEGIN SOLUTION\nx = 1\n")


def _solution_notebook():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("from utils import checks"),
        nbformat.v4.new_code_cell(SOLVED, metadata={"nbgrader": {
            "solution": True, "grade": False, "locked": False, "grade_id": "ex1",
            "schema_version": 3}}),
        nbformat.v4.new_code_cell("checks.check_equal(area(2, 3), 6, name='area')",
                                  metadata={"nbgrader": {"grade": True, "points": 1,
                                                         "solution": False, "locked": True,
                                                         "grade_id": "ex1-check",
                                                         "schema_version": 3}}),
    ]
    return nb


def _run(nb):
    NotebookClient(nb, timeout=60, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT)}}).execute()


def test_generated_stub_and_check_raise_and_solution_passes():
    solved = _solution_notebook()
    student = exercises.make_student_notebook(solved)
    assert "raise NotImplementedError()" in student.cells[1].source
    assert student.cells[1].metadata.nbgrader["grade_id"] == "ex1"  # nbgrader metadata kept
    for cell in student.cells[1:]:
        assert exercises.RAISES in cell.metadata.tags
    assert "tags" not in solved.cells[1].metadata  # the source is not modified
    _run(student)  # nbclient, like nbval, lets `raises-exception` cells raise...
    errors = [o for o in student.cells[2].outputs if o.output_type == "error"]
    assert [e.ename for e in errors] == ["NotImplementedError"]  # ...and the check does raise
    without_tag = exercises.make_student_notebook(solved)
    without_tag.cells[2].metadata.tags.remove(exercises.RAISES)
    with pytest.raises(CellExecutionError, match="NotImplementedError"):
        _run(without_tag)
    _run(solved)
    assert "✓ area: correct" in solved.cells[2].outputs[0]["text"]


def test_solution_markers_need_nbgrader_metadata():
    nb = _solution_notebook()
    nb.cells[1].metadata = {}
    with pytest.raises(exercises.ExerciseError, match="nbgrader"):
        exercises.make_student_notebook(nb)


def test_solution_metadata_needs_markers():
    nb = _solution_notebook()  # nbgrader would blank the whole cell; we must not ship the answer
    nb.cells[1].source = nb.cells[1].source.replace(exercises.BEGIN, "").replace(exercises.END, "")
    with pytest.raises(exercises.ExerciseError, match="no '### BEGIN SOLUTION'"):
        exercises.make_student_notebook(nb)


def test_chapters_are_in_sync_with_solutions():
    stale = exercises.generate(ROOT / "solutions", ROOT / "chapters", check=True)
    assert not stale, f"out of date (run `python -m utils exercises`): {stale}"


def test_every_chapter_has_exercises_with_checks():
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        solutions = [c for c in nb.cells if exercises.is_solution_cell(c)]
        graded = [c for c in nb.cells if exercises.is_check_cell(c)]
        assert len(solutions) >= 2 and len(graded) >= len(solutions), path


# --- the check helpers give useful feedback ---------------------------------------------------

def test_check_close_reports_worst_element():
    checks.check_close([1.0, 2.0], [1.0, 2.0 + 1e-9])
    with pytest.raises(AssertionError, match=r"1 of 3 values differ; worst at index \(2,\)"):
        checks.check_close([1, 2, 3], [1, 2, 4], name="v")
    with pytest.raises(AssertionError, match=r"shape \(2,\), expected \(3,\)"):
        checks.check_close([1, 2], [1, 2, 3])


def test_check_helpers_accept_tensors_and_explain(capsys):
    torch = pytest.importorskip("torch")
    checks.check_shape(torch.zeros(2, 3), (2, 3), name="x")
    assert "✓ x: correct" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="got 5, expected 6. Hint"):
        checks.check_equal(5, 6, hint="Hint: multiply.")
    with pytest.raises(AssertionError, match="loss: should fall"):
        checks.check_true(False, "loss", "should fall")
