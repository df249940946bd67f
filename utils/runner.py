"""Execute chapter notebooks headless (papermill) into ``build/``, collect what each one
publishes with ``utils.report``, and summarise it: ``python -m utils run`` and ``bench``."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from . import chapters as course
from .benchmarks import (  # noqa: F401 (the tables and the page: for the console and callers)
    all_results,
    table,
    time_ratios,
    write_benchmarks,
)

BUILD = course.BUILD


@dataclass
class Run:
    """One executed notebook."""

    chapter: str
    framework: str
    ok: bool
    seconds: float
    output: Path
    facts: dict = field(default_factory=dict)
    results: dict = field(default_factory=dict)
    error: str = ""
    targets: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)

    def missed(self) -> list[str]:
        """The quality targets this run missed (``report.target``)."""
        return [name for name, t in self.targets.items() if not t["met"]]

    def key_result(self) -> str:
        for name, r in self.results.items():
            if r.get("key"):
                return f"{name} = {r['fmt'].format(r['value'])}"
        return "—"


def _kernel_manager_class() -> type:
    """Jupyter's kernel manager, with the kernel on local (IPC) sockets where the system has
    them: no TCP ports open to the machine, and none of ipykernel's "running over TCP without
    encryption" warnings on every start. Windows keeps TCP, Jupyter's default."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class LocalSocketKernelManager(AsyncKernelManager):
        @default("transport")
        def _transport_default(self) -> str:
            return "ipc" if os.name == "posix" else "tcp"

        @default("ip")
        def _ip_default(self) -> str:
            if self.transport != "ipc":
                return "127.0.0.1"
            # Jupyter's default, "kernel-ipc" in the working folder, is shared by two kernels
            # started in one folder (the test suite's two workers): one unique prefix each,
            # in the temporary folder (Jupyter removes the sockets when the kernel stops).
            return os.path.join(tempfile.gettempdir(), f"course-kernel-{uuid.uuid4().hex[:12]}")

    return LocalSocketKernelManager


def execute(notebook: Path, out_dir: Path, profile: str | None = None,
            timeout_s: int | None = None) -> Run:
    """Run one notebook with papermill (``PROFILE`` parameter) into ``out_dir``; never raises
    for a failing notebook: the failure is part of the result."""
    import papermill

    chapter, framework = notebook.parent.name, notebook.stem
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / notebook.name
    report = out_dir / f"{framework}.results.json"
    report.unlink(missing_ok=True)
    env_before = dict(os.environ)
    os.environ["COURSE_REPORT_FILE"] = str(report)
    os.environ["COURSE_FIGURES_DIR"] = str(out_dir / f"figures-{framework}")
    os.environ.setdefault("COURSE_TB_DIR", str(out_dir / "tensorboard"))
    start = time.perf_counter()
    error = ""
    try:
        papermill.execute_notebook(
            str(notebook), str(output), parameters={"PROFILE": profile} if profile else {},
            cwd=str(notebook.parent), progress_bar=False, kernel_name="python3",
            execution_timeout=timeout_s, log_output=False,
            kernel_manager_class=_kernel_manager_class())
    except Exception as e:  # PapermillExecutionError and kernel deaths alike
        error = f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    seconds = time.perf_counter() - start
    data = json.loads(report.read_text()) if report.is_file() else {}
    return Run(chapter, framework, not error, seconds, output, data.get("facts", {}),
               data.get("results", {}), error, data.get("targets", {}), data.get("tables", {}))


STATE = BUILD / "run-state.json"  # what `run` finished, for `--resume`


class Stopped(KeyboardInterrupt):
    """Ctrl-C during `run_chapters`; ``runs`` holds the notebooks that finished before."""

    def __init__(self, runs: list[Run]) -> None:
        super().__init__()
        self.runs = runs


def planned_profile(profile: str | None) -> tuple[str, str]:
    """The profile the notebooks will choose, and why, without importing a framework here: an
    NVIDIA GPU is seen through ``nvidia-smi``, an Apple GPU from the platform."""
    from . import runtime

    device = runtime.requested_device()
    if device == "auto":
        apple = sys.platform == "darwin" and platform.machine() == "arm64"
        device = "cuda" if runtime.has_nvidia_gpu() else "mps" if apple else "cpu"
    return runtime.choose_profile(profile, accelerator=device,
                                  dry_run=runtime.dry_run_requested())


def expected_seconds(profile: str, docs: Path | None = None) -> tuple[dict, str]:
    """Each notebook's measured wall time in ``profile`` from ``docs/benchmarks.json``
    (``{(chapter, framework): seconds}``), and where the numbers come from, in words."""
    path = (docs or course.ROOT / "docs") / "benchmarks.json"
    measured = json.loads(path.read_text()).get(profile, {}) if path.is_file() else {}
    seconds = {(c, r["framework"]): r["seconds"] for c, e in measured.items()
               for r in e["runs"] if r["ok"]}
    machines = {(e["machine"]["cpu"], e["machine"]["cores"], e["machine"]["gpu"])
                for e in measured.values()}
    dates = sorted(e["date"] for e in measured.values())
    where = "; ".join(f"{cpu} ({cores} cores{'' if gpu == 'none' else ', ' + gpu})"
                      for cpu, cores, gpu in sorted(machines))
    return seconds, (f"measured {dates[-1]} on {where}" if dates else "")


def clock(seconds: float | None) -> str:
    """``1 h 05 min``, ``4 min 10 s``, ``50 s``, or ``unknown``."""
    if seconds is None:
        return "unknown"
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


def _shown(path: Path) -> str:
    """A path as the learner types it: relative to the course folder when inside it."""
    return str(path.relative_to(course.ROOT)) if path.is_relative_to(course.ROOT) else str(path)


def _state_row(run: Run) -> dict:
    return {**dataclasses.asdict(run), "output": str(run.output)}


def _load_state(profile: str, dry_run: bool) -> dict[str, dict]:
    """The notebooks a previous `run` finished in this profile (``chapter/framework`` → row)."""
    state = json.loads(STATE.read_text()) if STATE.is_file() else {}
    if (state.get("profile"), state.get("dry_run")) != (profile, dry_run):
        return {}
    return state.get("done", {})


def run_chapters(names: list[str] | None, profile: str | None = None,
                 timeout_s: int | None = None, frameworks: list[str] | None = None,
                 resume: bool = False) -> list[Run]:
    """Execute every notebook of the named chapters (all chapters that exist by default), of
    the given frameworks (``pytorch``, ``keras``; default both). First print the plan and its
    expected time (from ``docs/benchmarks.json``), then a progress line per notebook (and a
    bar in a terminal). Ctrl-C keeps what finished; ``resume=True`` skips the notebooks a
    previous run finished (``build/run-state.json``) in the same profile."""
    from tqdm.auto import tqdm

    from .runtime import dry_run_requested

    dry_run = dry_run_requested()
    if dry_run and not os.environ.get("COURSE_MODELS_DIR"):
        # One throw-away models folder for the whole dry run: chapter 02 then loads the
        # classifier chapter 01's dry run saved, and the user cache is never touched.
        os.environ["COURSE_MODELS_DIR"] = str(BUILD / "dry-run-models")
    todo = []
    for chapter in course.resolve(names):
        notebooks = course.notebooks(chapter)
        if not notebooks and names:
            print(f"[run] {chapter}: not written yet (no notebooks in solutions/{chapter})")
        todo += [nb for nb in notebooks if not frameworks or nb.stem in frameworks]
    chosen, why = planned_profile(profile)
    done = _load_state(chosen, dry_run) if resume else {}
    runs = [Run(**{**row, "output": Path(row["output"])}) for key, row in done.items()
            if key in {f"{nb.parent.name}/{nb.stem}" for nb in todo}]
    skipped = len(runs)
    todo = [nb for nb in todo if f"{nb.parent.name}/{nb.stem}" not in done]
    expected, source = expected_seconds(chosen)
    if dry_run:
        expected, source = {}, ""  # a dry run's few steps were never timed
    eta = [expected.get((nb.parent.name, nb.stem)) for nb in todo]
    total = None if None in eta else sum(eta)
    if resume:
        print(f"[run] --resume: {skipped} notebook(s) already done in profile {chosen} "
              f"({_shown(STATE)}); {len(todo)} to go")
    print(f"[run] plan: {len(todo)} notebook(s) in profile {chosen}{' (dry run)' * dry_run} — "
          f"{why}; expected {clock(total)}" + (f" ({source}; yours will differ)" if source
                                                else ""))
    for nb, seconds in zip(todo, eta, strict=True):
        print(f"[run]   {nb.parent.name}/{nb.name:<14} {clock(seconds)}")
    if todo:
        print("[run] Ctrl-C stops and keeps what finished; `./course run --resume` continues")
    if not resume or not STATE.is_file():
        STATE.parent.mkdir(parents=True, exist_ok=True)
        STATE.write_text(json.dumps({"profile": chosen, "dry_run": dry_run, "done": {}}))
    state = json.loads(STATE.read_text())
    start = time.perf_counter()
    bar = tqdm(total=len(todo), unit="notebook", disable=None, dynamic_ncols=True,
               bar_format="{n}/{total} notebooks |{bar}| {elapsed} elapsed{postfix}")
    try:
        for i, nb in enumerate(todo):
            left = None if None in eta[i:] else sum(eta[i:])
            bar.set_postfix_str(f"≈ {clock(left)} left" if left is not None else "")
            tqdm.write(f"[run] {i + 1}/{len(todo)} {nb.parent.name}/{nb.name} … (elapsed "
                       f"{clock(time.perf_counter() - start)}, ≈ {clock(left)} left)")
            run = execute(nb, BUILD / nb.parent.name, profile, timeout_s)
            status = ("ok" if run.ok else f"FAILED ({run.error})") + (
                f", missed target(s): {', '.join(run.missed())}" if run.missed() else "")
            tqdm.write(f"[run] {nb.parent.name}/{nb.name}: {status} in {run.seconds:.0f} s")
            runs.append(run)
            if run.ok:
                state["done"][f"{nb.parent.name}/{nb.stem}"] = _state_row(run)
                STATE.write_text(json.dumps(state, indent=1, default=str))
            bar.update()
    except KeyboardInterrupt:
        bar.close()
        print(f"\n[run] stopped (Ctrl-C): {len(runs)} notebook(s) finished and are kept in "
              f"{_shown(BUILD)}/; `./course run --resume` continues")
        raise Stopped(runs) from None
    bar.close()
    return runs

