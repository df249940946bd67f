"""Generate the learners' notebooks (``chapters/``) from the solved ones (``solutions/``).

The solution notebook is the single source. In a code cell, each region between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's markers) becomes
``# YOUR CODE HERE`` + ``raise NotImplementedError()`` at the same indentation. Cells keep their
nbgrader metadata, so an instructor can also run nbgrader on ``solutions/``. In ``chapters/`` the
exercise cells and their check cells (nbgrader ``grade: true``) get the ``raises-exception``
tag, so nbval accepts that they raise until a learner solves them.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

from . import hosted

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
RAISES = "raises-exception"
_REGION = re.compile(rf"^([ \t]*){re.escape(BEGIN)}[^\n]*\n.*?^[ \t]*{re.escape(END)}[^\n]*$",
                     re.MULTILINE | re.DOTALL)


class ExerciseError(ValueError):
    """A solution notebook whose exercise markup is broken."""


def strip_solutions(source: str, where: str = "<cell>") -> str:
    """Replace every BEGIN/END SOLUTION region with the stub, keeping its indentation."""
    if source.count(BEGIN) != source.count(END):
        raise ExerciseError(f"{where}: {source.count(BEGIN)} '{BEGIN}' but "
                            f"{source.count(END)} '{END}' markers.")
    return _REGION.sub(lambda m: "\n".join(m.group(1) + line for line in STUB), source)


def is_solution_cell(cell) -> bool:
    return cell.cell_type == "code" and BEGIN in cell.source


def is_check_cell(cell) -> bool:
    return cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade") is True


def make_student_notebook(nb: nbformat.NotebookNode, where: str = "<notebook>"):
    """The learner's version of a solution notebook (a new object; outputs cleared)."""
    out = copy.deepcopy(nb)
    for i, cell in enumerate(out.cells):
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        exercise = is_solution_cell(cell)
        if cell.metadata.get("nbgrader", {}).get("solution") and not exercise:
            # nbgrader would replace the whole cell with a stub; we would leave the answer in
            raise ExerciseError(f"{where} cell {i}: nbgrader metadata says 'solution' but the "
                                f"cell has no '{BEGIN}' / '{END}' region.")
        if exercise:
            cell.source = strip_solutions(cell.source, f"{where} cell {i}")
            grader = cell.metadata.setdefault("nbgrader", {})
            if not grader.get("solution"):
                raise ExerciseError(f"{where} cell {i}: has solution markers but no nbgrader "
                                    f"metadata {{'solution': true, 'grade_id': …}}.")
        if exercise or is_check_cell(cell):
            tags = cell.metadata.setdefault("tags", [])
            if RAISES not in tags:
                tags.append(RAISES)
    return out


def generate(solutions: Path, chapters: Path, check: bool = False) -> list[Path]:
    """Write ``chapters/`` from ``solutions/``, and first each solution's install cell (see
    `utils.hosted`, from book.toml's ``repository``); return the notebooks that changed (or,
    with ``check=True``, that are out of date, writing nothing)."""
    changed = []
    source = hosted.install_source(**hosted.settings(solutions.parent))
    for src in sorted(solutions.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in src.parts:
            continue
        dst = chapters / src.relative_to(solutions)
        nb = nbformat.read(src, as_version=4)
        if hosted.with_install_cell(nb, source):  # the solution's own first cell, refreshed
            changed.append(src)
            if not check:
                src.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
        text = nbformat.writes(make_student_notebook(nb, str(src))) + "\n"
        if not dst.is_file() or dst.read_text(encoding="utf-8") != text:
            changed.append(dst)
            if not check:
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.write_text(text, encoding="utf-8")
    return changed
