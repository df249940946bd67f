"""``docs/benchmarks.md`` from ``docs/benchmarks.json``, in two steps:

- `merge` records the runs of ``python -m utils bench`` in the json: one section per profile, in
  which a chapter's rows are replaced when that chapter is measured again (both frameworks of a
  chapter always come from one run, so their time ratio is a same-run comparison);
- `render` writes the page, and a small chart per chapter and profile
  (``docs/benchmarks/<profile>-<chapter>.svg``: the key result and the wall time, PyTorch vs
  Keras), from the json alone: ``python -m utils bench --render-only`` runs nothing.

Neither holds a local path: data sets are named in words (``utils.data.ImageData.label``), and
`merge` reduces any absolute path a notebook published to its file name (`portable`).
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from . import chapters as course
from .runtime import PROFILES, machine

if TYPE_CHECKING:  # runner imports this module: no import of it at run time but in _from_json
    from .runner import Run

FRAMEWORK_NAMES = {"pytorch": "PyTorch", "keras": "Keras"}
FRAMEWORK_COLOURS = {"pytorch": "#e66100", "keras": "#5d3a9b"}  # tell apart in colour blindness
DATASET_FACTS = ("dataset", "cifar", "faces", "fashion_dataset")
"""The facts that name data a notebook measured on, shown together in the dataset column."""
CHARTS = "benchmarks"  # the charts' folder, beside benchmarks.md
SVG_RC = {"svg.hashsalt": "neural-image-course benchmarks", "svg.fonttype": "none",
          "font.family": "sans-serif", "font.size": 8}
"""Deterministic, small SVGs: fixed ids, text kept as text (no glyph outlines)."""

# An absolute path: POSIX (two or more segments, after a space, a quote, `=` or a bracket, so
# that URLs are left alone) or Windows (a drive letter).
_ABSOLUTE = re.compile(r"(?:^|(?<=[\s\"'`=(\[]))(?:~|[A-Za-z]:)?[/\\](?:[^\s/\\\"'`()\[\],;]+"
                       r"[/\\])+[^\s/\\\"'`()\[\],;]*", re.M)


def portable(value):
    """``value`` with every absolute path in its strings (also inside lists and dicts) reduced to
    its last part: ``/home/me/data/photo.jpg`` → ``photo.jpg``. What the json keeps of a fact."""
    if isinstance(value, str):
        return _ABSOLUTE.sub(lambda m: re.split(r"[/\\]", m.group(0).rstrip("/\\"))[-1] or "…",
                             value)
    if isinstance(value, list):
        return [portable(v) for v in value]
    if isinstance(value, dict):
        return {k: portable(v) for k, v in value.items()}
    return value


# --- tables (also the console summary of `python -m utils run`) ------------------------------

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


def datasets(facts: dict) -> str:
    """The data a run used, in words: its dataset facts (`DATASET_FACTS`) joined, ``?`` if
    none."""
    named = [str(facts[k]) for k in DATASET_FACTS if facts.get(k)]
    return "; ".join(dict.fromkeys(named)) or "?"


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
                    f"{datasets(f)} | {r.key_result()} | {_targets(r)} | "
                    f"{r.seconds:.0f} s |")
    ratios = time_ratios(runs)
    if ratios:
        rows.append("")
        rows.append("PyTorch / Keras wall-time ratio (same work, this run): " + ", ".join(
            f"{c} {v:.2f}" for c, v in ratios.items()))
    return "\n".join(rows)


def _from_json(row: dict) -> Run:
    from .runner import Run

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


# --- benchmarks.json --------------------------------------------------------------------------

def merge(runs: list[Run], profile: str | None, docs: Path) -> Path:
    """Record ``runs`` in ``docs/benchmarks.json`` (created if absent) and return its path: each
    run under its profile and chapter, with the date, the command and the machine; a chapter's
    earlier rows go when it is measured again by another command or on another day."""
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
            entry.update(date=time.strftime("%Y-%m-%d"), command=command,
                         machine=portable(machine()), runs=[])
        entry["runs"] = [x for x in entry["runs"] if x["framework"] != r.framework] + [portable(
            {"chapter": r.chapter, "framework": r.framework, "ok": r.ok,
             "seconds": round(r.seconds, 1), "facts": r.facts, "results": r.results,
             "error": r.error, "targets": r.targets, "tables": r.tables})]
    json_path.write_text(json.dumps(everything, indent=1) + "\n")
    return json_path


def write_benchmarks(runs: list[Run], profile: str | None, docs: Path) -> Path:
    """`merge` the runs into ``docs/benchmarks.json``, then `render` ``docs/benchmarks.md`` (and
    its charts) from it; returns the page's path. No runs: only re-render."""
    if runs or not (docs / "benchmarks.json").is_file():
        merge(runs, profile, docs)
    return render(docs)


# --- benchmarks.md and its charts -------------------------------------------------------------

def _machine(m: dict) -> str:
    return (f"{m['cpu']} ({m['cores']} cores) · GPU: {m['gpu']} · {m['os']} · "
            f"Python {m['python']}")


def _span(dates: list[str]) -> str:
    first, last = min(dates), max(dates)
    return first if first == last else f"{first} to {last}"


def _key(run: Run) -> tuple[str, dict] | None:
    return next(((name, r) for name, r in run.results.items() if r.get("key")), None)


def _direction(result: dict) -> str:
    better = result.get("higher_is_better")
    return "" if better is None else " (higher is better)" if better else " (lower is better)"


def chart(path: Path, chapter: str, profile: str, runs: list[Run]) -> str:
    """Write one chapter's chart (SVG): its key result and its wall time, a bar per framework,
    labelled with the value as the notebook formats it; returns the Markdown alt text."""
    import matplotlib
    from matplotlib.figure import Figure

    runs = sorted(runs, key=lambda r: (course.FRAMEWORKS + (r.framework,)).index(r.framework))
    names = [FRAMEWORK_NAMES.get(r.framework, r.framework) for r in runs]
    colours = [FRAMEWORK_COLOURS.get(r.framework, "#777777") for r in runs]
    keys = [_key(r) for r in runs]
    key_name, key_spec = next((k for k in keys if k), ("key result", {}))
    with matplotlib.rc_context(SVG_RC):
        fig = Figure(figsize=(6.4, 0.5 + 0.32 * len(runs)), layout="constrained")
        panels = fig.subplots(1, 2, sharey=True)
        titles = [f"{key_name}{_direction(key_spec)}", "wall time (lower is better)"]
        values = [[k[1]["value"] if k else None for k in keys], [r.seconds for r in runs]]
        labels = [[k[1]["fmt"].format(k[1]["value"]) if k else "no result" for k in keys],
                  [f"{r.seconds:.0f} s" + ("" if r.ok else " (FAILED)") for r in runs]]
        for ax, title, vals, texts in zip(panels, titles, values, labels, strict=True):
            heights = [v if v is not None and math.isfinite(v) else 0.0 for v in vals]
            ax.barh(range(len(runs)), heights, color=colours, height=0.6)
            low, high = min(heights + [0.0]), max(heights + [0.0])
            span = (high - low) or 1.0  # room on the right for the value labels
            ax.set_xlim(low - 0.05 * span if low < 0 else 0.0, high + 0.5 * span)
            for y, (v, text) in enumerate(zip(heights, texts, strict=True)):
                ax.text(v if v > 0 else 0, y, f" {text}", va="center",
                        ha="left", color="#222222")
            ax.set_title(title, loc="left", fontsize=8)
            ax.set_xticks([])
            ax.tick_params(left=False)
            for side in ("top", "right", "bottom"):
                ax.spines[side].set_visible(False)
        panels[0].set_yticks(range(len(runs)), names)
        panels[0].invert_yaxis()
        fig.savefig(path, format="svg", metadata={"Date": None, "Creator": None})
    return (f"{chapter}, {profile} profile: {key_name}{_direction(key_spec)} and wall time, "
            f"{' vs '.join(names)}")


def _section(name: str, chapters: dict, docs: Path, written: set[Path]) -> list[str]:
    """One profile's part of the page: its machine(s), the table, a chart per chapter, every
    published result and table."""
    order = [c for c in course.CHAPTERS if c in chapters] + [
        c for c in chapters if c not in course.CHAPTERS]
    lines = [f"## Profile: {name}", ""]
    machines: dict[str, list[str]] = {}
    for chapter in order:
        machines.setdefault(_machine(chapters[chapter]["machine"]), []).append(chapter)
    dates = {c: chapters[c]["date"] for c in order}
    commands = {c: chapters[c]["command"] for c in order}
    number = {text: i for i, text in enumerate(machines, 1)}
    if len(machines) == 1:
        lines.append(f"Measured on one machine: {next(iter(machines))}, "
                     f"{_span(list(dates.values()))}.")
    else:
        lines += [f"Measured on {len(machines)} different machines, so compare wall times only "
                  f"within a chapter (its PyTorch and Keras runs come from one run on one "
                  f"machine):", ""]
        lines += [f"- machine {number[text]}: {text}, "
                  f"{_span([dates[c] for c in chs])}: {', '.join(chs)}"
                  for text, chs in machines.items()]
    if len(set(commands.values())) == 1:
        lines += ["", f"Command: `{next(iter(commands.values()))}`"]
    merged = [_from_json(row) for chapter in order for row in chapters[chapter]["runs"]]
    lines += ["", table(merged), "", "### Key result and wall time per chapter", ""]
    for chapter in order:
        differs = [dates[chapter]] if len(set(dates.values())) > 1 else []
        if len(machines) > 1:
            differs.append(f"machine {number[_machine(chapters[chapter]['machine'])]}")
        if len(set(commands.values())) > 1:
            differs.append(f"`{commands[chapter]}`")
        lines += [" · ".join([f"**{chapter}**", *differs]), ""]
        runs = [r for r in merged if r.chapter == chapter]
        if runs:
            svg = docs / CHARTS / f"{name}-{chapter}.svg"
            alt = chart(svg, chapter, name, runs)
            written.add(svg)
            lines += [f"![{alt}]({CHARTS}/{svg.name})", ""]
    lines += ["### All published results", "", all_results(merged), ""]
    for r in merged:  # the tables notebooks published with report.table
        for title, markdown in r.tables.items():
            lines += [f"### {r.chapter} · {r.framework}: {title}", "", markdown, ""]
    return lines


def render(docs: Path) -> Path:
    """Write ``docs/benchmarks.md`` and its charts (``docs/benchmarks/*.svg``; stale ones are
    deleted) from ``docs/benchmarks.json`` alone, which is only read; returns the page's path."""
    json_path = docs / "benchmarks.json"
    everything = json.loads(json_path.read_text()) if json_path.is_file() else {}
    (docs / CHARTS).mkdir(parents=True, exist_ok=True)
    lines = ["# Benchmarks", "",
             "Measured with `python -m utils bench [CHAPTER…] --profile P`, which executes the "
             "notebooks headless and collects what each publishes with `utils.report`. "
             "Timings compare only within one run (ratios), never across machines.", "",
             "Generated from `benchmarks.json` (`python -m utils bench --render-only` rewrites "
             "this page and its charts without running anything). Data sets are named in words, "
             "never by a path on the measuring machine.", ""]
    written: set[Path] = set()
    for name in sorted(everything, key=lambda p: list(PROFILES).index(p)
                       if p in PROFILES else len(PROFILES)):
        lines += _section(name, everything[name], docs, written)
    if "full" not in everything:
        lines += ["## Profile: full", "", "Not yet measured, for any chapter or framework: the "
                  "full profile needs a GPU. The reference measurement is one script: "
                  "`tools/gpu-reference prepare` where PyPI is reachable (the wheels a bare CUDA "
                  "PyTorch machine lacks, and the data), then `tools/gpu-reference run "
                  "CHAPTER…` on the GPU machine, which runs `python -m utils bench CHAPTER… "
                  "--profile full` (docs/CONTRIBUTING.md: \"Measuring the full profile on a "
                  "GPU\").", ""]
    for stale in set((docs / CHARTS).glob("*.svg")) - written:
        stale.unlink()
    md = docs / "benchmarks.md"
    md.write_text("\n".join(lines))
    return md
