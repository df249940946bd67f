"""Check a chapter's exercises with nbgrader itself: ``python -m utils grade-check CHAPTER…``.

For each chapter, a throw-away nbgrader course gets ``source/<chapter>/{pytorch,keras}.ipynb``
from ``solutions/``. ``nbgrader generate_assignment`` validates the metadata and writes the
student version (``release/``), whose code must equal ``chapters/`` (our generator and
nbgrader's agree). Two students submit: ``stub`` the released notebook unchanged, ``solution``
the solved one; ``nbgrader autograde`` executes both (``COURSE_PROFILE``: smoke by default), and
the points are read from nbgrader's gradebook. tests/test_nbgrader.py runs this on chapter 00.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import chapters as course

COURSE_ID = "neural-image-course"
STUB, SOLUTION = "stub", "solution"  # the two students
STUDENTS = (STUB, SOLUTION)

CONFIG = """\
c = get_config()  # noqa: F821 (nbgrader's config loader provides it)
c.CourseDirectory.course_id = {course_id!r}
c.CourseDirectory.root = {root!r}
c.CourseDirectory.db_url = {db_url!r}
c.Execute.timeout = {timeout}  # seconds per cell (nbgrader's default, 30, is too short)
"""


@dataclass
class Check:
    """One notebook through nbgrader: points per student and grade cell, and what went wrong."""

    chapter: str
    framework: str
    seconds: float = 0.0  # autograding both submissions
    max_points: float = 0.0
    points: dict[str, float] = field(default_factory=dict)  # student -> total
    cells: dict[str, dict[str, float]] = field(default_factory=dict)  # student -> grade_id -> pts
    raised: dict[str, list[str]] = field(default_factory=dict)  # student -> cells with an error
    stub_differences: list[str] = field(default_factory=list)  # release/ vs chapters/
    error: str = ""  # nbgrader itself failed

    @property
    def name(self) -> str:
        return f"{self.chapter}/{self.framework}"

    def problems(self) -> list[str]:
        """Everything that is not as it should be (empty: the exercises work in nbgrader)."""
        if self.error:
            return [self.error]
        out = [f"student version differs from chapters/: {d}" for d in self.stub_differences]
        if self.max_points <= 0:
            out.append("no graded cells")
        scored = {k: v for k, v in self.cells.get(STUB, {}).items() if v}
        if scored:
            out.append(f"the unchanged stub scores points: {scored}")
        if self.points.get(SOLUTION) != self.max_points:
            lost = {k: v for k, v in self.cells.get(SOLUTION, {}).items() if v is None or v == 0}
            out.append(f"the solution scores {self.points.get(SOLUTION)} of {self.max_points}"
                       f" (no points: {sorted(lost)})")
        if self.raised.get(SOLUTION):
            out.append(f"cells raise in the solution: {self.raised[SOLUTION]}")
        elsewhere = [c for c in self.raised.get(STUB, []) if not c.startswith("exercise ")]
        if elsewhere:
            out.append(f"cells outside the exercises raise in the stub: {elsewhere}")
        return out


def _code(path: Path) -> list[str]:
    import nbformat

    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def compare_stubs(released: Path, generated: Path) -> list[str]:
    """The code cells where nbgrader's student version and ours (``chapters/``) differ."""
    ours, theirs = _code(generated), _code(released)
    if len(ours) != len(theirs):
        return [f"{len(theirs)} code cells in nbgrader's, {len(ours)} in {generated.name}"]
    return [f"code cell {i}: nbgrader {a!r} vs ours {b!r}"
            for i, (a, b) in enumerate(zip(theirs, ours, strict=True)) if a != b]


def _raised(path: Path) -> list[str]:
    """The cells of an executed notebook with an error output: ``exercise <grade_id>`` for an
    exercise or its check (nbgrader metadata), else ``cell <index>``."""
    import nbformat

    out = []
    for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            out.append(f"exercise {grade_id}" if grade_id else f"cell {i}")
    return out


def _nbgrader(root: Path, env: dict[str, str], *args: str) -> None:
    log = root / "nbgrader.log"
    with log.open("a") as f:
        f.write(f"\n$ nbgrader {' '.join(args)}\n")
        f.flush()
        done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, env=env,
                              stdout=f, stderr=subprocess.STDOUT)
    if done.returncode:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise RuntimeError(f"nbgrader {' '.join(args)} failed (exit {done.returncode}; "
                           f"log: {log}):\n{tail}")


def check_chapter(chapter: str, root: Path, profile: str | None = "smoke",
                  timeout_s: int = 1800) -> list[Check]:
    """Run generate_assignment → autograde(stub, solution) for the chapter's notebooks in a new
    nbgrader course at ``root``; one `Check` per notebook (failures are recorded, not raised)."""
    notebooks = course.notebooks(chapter)
    if not notebooks:
        return [Check(chapter, "—", error=f"no notebooks in solutions/{chapter}/")]
    checks = [Check(chapter, nb.stem) for nb in notebooks]
    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite:///{root / 'gradebook.db'}"
    (root / "nbgrader_config.py").write_text(CONFIG.format(
        course_id=COURSE_ID, root=str(root), db_url=db_url, timeout=int(timeout_s)))
    source = root / "source" / chapter
    source.mkdir(parents=True, exist_ok=True)
    for nb in notebooks:
        shutil.copy(nb, source / nb.name)
    env = dict(os.environ)
    # nbgrader runs the `alembic` command to create its gradebook: from this Python's bin/ even
    # when the virtualenv is not activated
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    if profile:
        env["COURSE_PROFILE"] = profile
    # chapter 01 saves a classifier for later chapters: keep smoke-trained ones out of the cache
    env.setdefault("COURSE_MODELS_DIR", str(root / "models"))
    try:
        _nbgrader(root, env, "generate_assignment", chapter, "--force")
    except RuntimeError as e:
        for c in checks:
            c.error = str(e)
        return checks
    for nb, c in zip(notebooks, checks, strict=True):
        released = root / "release" / chapter / nb.name
        ours = course.ROOT / "chapters" / chapter / nb.name
        c.stub_differences = (compare_stubs(released, ours) if ours.is_file()
                              else [f"chapters/{chapter}/{nb.name} is missing"])
        for student, submitted in ((STUB, released), (SOLUTION, source / nb.name)):
            folder = root / "submitted" / student / chapter
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(submitted, folder / nb.name)
    from nbgrader.api import Gradebook, MissingEntry

    for nb, c in zip(notebooks, checks, strict=True):
        start = time.perf_counter()
        try:
            _nbgrader(root, env, "autograde", chapter, f"--notebook={nb.stem}", "--force")
        except RuntimeError as e:
            c.error = str(e)
        c.seconds = time.perf_counter() - start
        if c.error:
            continue
        with Gradebook(db_url, COURSE_ID) as gb:
            c.max_points = gb.find_notebook(nb.stem, chapter).max_score
            for student in STUDENTS:
                try:
                    sub = gb.find_submission_notebook(nb.stem, chapter, student)
                except MissingEntry:
                    c.error = f"nbgrader recorded no submission of {student!r}"
                    break
                c.points[student] = sub.score
                c.cells[student] = {g.name: g.score for g in sub.grades}
                c.raised[student] = _raised(root / "autograded" / student / chapter / nb.name)
    return checks


def check_chapters(names: list[str], profile: str | None = "smoke", timeout_s: int = 1800,
                   keep: Path | None = None, progress=print) -> list[Check]:
    """`check_chapter` for each named chapter, each in its own course under ``keep`` (kept) or
    a temporary folder (deleted afterwards)."""
    base = keep or Path(tempfile.mkdtemp(prefix="course-grade-check-"))
    checks = []
    try:
        for chapter in course.resolve(names):
            progress(f"[grade-check] {chapter}: nbgrader course in {base / chapter}")
            done = check_chapter(chapter, base / chapter, profile, timeout_s)
            for c in done:
                progress(f"[grade-check] {c.name}: {'ok' if not c.problems() else 'PROBLEM'} "
                         f"({c.seconds:.0f} s)")
            checks += done
    finally:
        if keep is None:
            shutil.rmtree(base, ignore_errors=True)
    return checks


def table(checks: list[Check]) -> str:
    def pts(c: Check, student: str) -> str:
        value = c.points.get(student)
        return "—" if value is None else f"{value:g}"

    rows = [("notebook", "stub", "solution", "max", "seconds", "= chapters/", "verdict")]
    for c in checks:
        rows.append((c.name, pts(c, STUB), pts(c, SOLUTION), f"{c.max_points:g}",
                     f"{c.seconds:.0f}", "—" if c.error else "no" if c.stub_differences else "yes",
                     "ok" if not c.problems() else "PROBLEM"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)
