"""Execute chapter notebooks headless (papermill) into ``build/``, collect what each one
publishes with ``utils.report``, and summarise it: ``python -m utils run`` and ``bench``."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import chapters as course
from .runtime import PROFILES, machine

BUILD = course.ROOT / "build"


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
            execution_timeout=timeout_s, log_output=False)
    except Exception as e:  # PapermillExecutionError and kernel deaths alike
        error = f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    seconds = time.perf_counter() - start
    data = json.loads(report.read_text()) if report.is_file() else {}
    return Run(chapter, framework, not error, seconds, output, data.get("facts", {}),
               data.get("results", {}), error, data.get("targets", {}), data.get("tables", {}))


def run_chapters(names: list[str] | None, profile: str | None = None,
                 timeout_s: int | None = None,
                 frameworks: list[str] | None = None) -> list[Run]:
    """Execute every notebook of the named chapters (all chapters that exist by default), of
    the given frameworks (``pytorch``, ``keras``; default both)."""
    runs = []
    from .runtime import dry_run_requested

    if dry_run_requested() and not os.environ.get("COURSE_MODELS_DIR"):
        # One throw-away models folder for the whole dry run: chapter 02 then loads the
        # classifier chapter 01's dry run saved, and the user cache is never touched.
        os.environ["COURSE_MODELS_DIR"] = str(BUILD / "dry-run-models")
    for chapter in course.resolve(names):
        notebooks = course.notebooks(chapter)
        if not notebooks and names:
            print(f"[run] {chapter}: not written yet (no notebooks in solutions/{chapter})")
        for nb in notebooks:
            if frameworks and nb.stem not in frameworks:
                continue
            print(f"[run] {chapter}/{nb.name} …", flush=True)
            run = execute(nb, BUILD / chapter, profile, timeout_s)
            status = ("ok" if run.ok else f"FAILED ({run.error})") + (
                f", missed target(s): {', '.join(run.missed())}" if run.missed() else "")
            print(f"[run] {chapter}/{nb.name}: {status} in {run.seconds:.0f} s", flush=True)
            runs.append(run)
    return runs


def time_ratios(runs: list[Run]) -> dict[str, float]:
    """PyTorch/Keras wall-time ratio per chapter (both measured in this one run)."""
    by = {(r.chapter, r.framework): r.seconds for r in runs if r.ok}
    return {c: by[(c, "pytorch")] / by[(c, "keras")]
            for c in dict.fromkeys(r.chapter for r in runs)
            if (c, "pytorch") in by and (c, "keras") in by}


def _targets(r: Run) -> str:
    """``3/4 met (missed: nll)``, or ``—`` when the notebook judged none."""
    if not r.targets:
        return "—"
    met = len(r.targets) - len(r.missed())
    return f"{met}/{len(r.targets)} met" + (f" (missed: {', '.join(r.missed())})"
                                            if r.missed() else "")


def table(runs: list[Run]) -> str:
    """A Markdown table: chapter, framework, status, device, profile, dataset, key result, time."""
    rows = ["| chapter | framework | status | device | profile | precision | dataset | key result "
            "| targets | time |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        f = r.facts
        precision = f.get("precision") or ("bfloat16" if f.get("mixed_precision") else "float32")
        rows.append(f"| {r.chapter} | {r.framework} | {'ok' if r.ok else 'FAILED'} | "
                    f"{f.get('device', '?')} | {f.get('profile', '?')}"
                    f"{' (dry run)' if f.get('dry_run') else ''} | "
                    f"{precision} | "
                    f"{f.get('dataset', '?')} | {r.key_result()} | {_targets(r)} | "
                    f"{r.seconds:.0f} s |")
    ratios = time_ratios(runs)
    if ratios:
        rows.append("")
        rows.append("PyTorch / Keras wall-time ratio (same work, this run): " + ", ".join(
            f"{c} {v:.2f}" for c, v in ratios.items()))
    return "\n".join(rows)


def _from_json(row: dict) -> Run:
    return Run(row["chapter"], row["framework"], row["ok"], row["seconds"], Path(""),
               row["facts"], row["results"], row["error"], row.get("targets", {}),
               row.get("tables", {}))


def all_results(runs: list[Run]) -> str:
    """Every metric the notebooks published (not only the key ones), as a Markdown table."""
    rows = ["| chapter | framework | result | value |", "|---|---|---|---|"]
    for r in runs:
        for name, value in r.results.items():
            rows.append(f"| {r.chapter} | {r.framework} | {name} | "
                        f"{value['fmt'].format(value['value'])} |")
        for name, t in r.targets.items():
            sign = "≥" if t["higher_is_better"] else "≤"
            rows.append(f"| {r.chapter} | {r.framework} | target {name} ({sign} "
                        f"{t['fmt'].format(t['goal'])}) | {t['fmt'].format(t['value'])} "
                        f"{'met' if t['met'] else 'MISSED'} |")
    return "\n".join(rows)


def write_benchmarks(runs: list[Run], profile: str | None, docs: Path) -> Path:
    """``docs/benchmarks.md`` (+ ``benchmarks.json``): one section per profile, in which each
    chapter's rows are replaced when that chapter is measured again (both frameworks of a
    chapter always come from one run, so their time ratio is a same-run comparison)."""
    docs.mkdir(parents=True, exist_ok=True)
    json_path = docs / "benchmarks.json"
    everything = json.loads(json_path.read_text()) if json_path.is_file() else {}
    command = "python -m utils bench " + " ".join(dict.fromkeys(r.chapter for r in runs)) + (
        f" --profile {profile}" if profile else "")
    for r in runs:
        key = r.facts.get("profile", profile or "auto")
        chapters = everything.setdefault(key, {})
        entry = chapters.setdefault(r.chapter, {"runs": []})
        if entry.get("command") != command or entry.get("date") != time.strftime("%Y-%m-%d"):
            entry.update(date=time.strftime("%Y-%m-%d"), command=command, machine=machine(),
                         runs=[])
        entry["runs"] = [x for x in entry["runs"] if x["framework"] != r.framework] + [
            {"chapter": r.chapter, "framework": r.framework, "ok": r.ok,
             "seconds": round(r.seconds, 1), "facts": r.facts, "results": r.results,
             "error": r.error, "targets": r.targets, "tables": r.tables}]
    json_path.write_text(json.dumps(everything, indent=1) + "\n")
    lines = ["# Benchmarks", "",
             "Measured with `python -m utils bench [CHAPTER…] --profile P`, which executes the "
             "notebooks headless and collects what each publishes with `utils.report`. "
             "Timings compare only within one run (ratios), never across machines.", ""]
    for name in sorted(everything, key=lambda p: list(PROFILES).index(p)
                       if p in PROFILES else len(PROFILES)):
        chapters = everything[name]
        order = [c for c in course.CHAPTERS if c in chapters] + [
            c for c in chapters if c not in course.CHAPTERS]
        lines += [f"## Profile: {name}", ""]
        for chapter in order:
            e, m = chapters[chapter], chapters[chapter]["machine"]
            lines.append(f"- {chapter}: {e['date']} · `{e['command']}` · {m['cpu']} "
                         f"({m['cores']} cores) · GPU: {m['gpu']} · {m['os']} · "
                         f"Python {m['python']}")
        merged = [_from_json(row) for chapter in order for row in chapters[chapter]["runs"]]
        lines += ["", table(merged), "", "All published results:", "", all_results(merged), ""]
        for r in merged:  # the tables notebooks published with report.table
            for title, markdown in r.tables.items():
                lines += [f"### {r.chapter} · {r.framework}: {title}", "", markdown, ""]
    if "full" not in everything:
        lines += ["## Profile: full", "", "Not yet measured, for any chapter or framework: the "
                  "full profile needs a GPU. The reference measurement is one script: "
                  "`tools/gpu-reference prepare` where PyPI is reachable (the wheels a bare CUDA "
                  "PyTorch machine lacks, and the data), then `tools/gpu-reference run "
                  "CHAPTER…` on the GPU machine, which runs `python -m utils bench CHAPTER… "
                  "--profile full` (docs/CONTRIBUTING.md: \"Measuring the full profile on a "
                  "GPU\").", ""]
    md = docs / "benchmarks.md"
    md.write_text("\n".join(lines))
    return md
