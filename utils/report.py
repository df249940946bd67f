"""How a notebook publishes its results: ``report.result("test_accuracy", 0.98, key=True)``.

Under the runner (``python -m utils run`` / ``bench``) each call is added to a JSON file the
runner named in ``COURSE_REPORT_FILE``; in an interactive session it only prints the value.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


def _update(section: str, key: str, value: Any) -> None:
    path = os.environ.get("COURSE_REPORT_FILE")
    if not path:
        return
    file = Path(path)
    data = json.loads(file.read_text()) if file.is_file() else {}
    data.setdefault(section, {})[key] = value
    # Whether TensorFlow was loaded by the time of this (the latest) publication: a PyTorch
    # notebook should never load it (tests/test_dry_run.py checks every one).
    data.setdefault("facts", {})["tensorflow_imported"] = "tensorflow" in sys.modules
    tmp = file.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=float))
    tmp.replace(file)


def result(name: str, value: float, *, key: bool = False, fmt: str = "{:.4g}",
           higher_is_better: bool | None = None) -> None:
    """Publish one metric. ``key=True`` marks the notebook's headline result (one per notebook);
    ``fmt`` is how tables show it (e.g. ``"{:.1%}"``)."""
    value = float(value)
    print(f"[result] {name} = {fmt.format(value)}")
    _update("results", name, {"value": value, "key": key, "fmt": fmt,
                              "higher_is_better": higher_is_better})


def fact(**facts: Any) -> None:
    """Record facts about the run (framework, device, profile, dataset actually used)."""
    for name, value in facts.items():
        _update("facts", name, value if isinstance(value, int | float | bool) else str(value))


def target(name: str, value: float, goal: float, *, higher_is_better: bool = True,
           fmt: str = "{:.4g}") -> bool:
    """Judge a profile's quality target (a number from the notebook's config cell) and record
    the verdict; return whether it was met. A miss never stops the notebook — the remaining
    sections still run — but ``python -m utils bench`` lists it and exits with status 1."""
    value, goal = float(value), float(goal)
    met = value >= goal if higher_is_better else value <= goal
    sign = "≥" if higher_is_better else "≤"
    print(f"{'✓' if met else '✗'} target {name}: {fmt.format(value)} (target {sign} "
          f"{fmt.format(goal)}) — {'met' if met else 'MISSED'}")
    _update("targets", name, {"value": value, "goal": goal, "met": met, "fmt": fmt,
                              "higher_is_better": higher_is_better})
    return met


def table(name: str, rows: list[dict[str, Any]], *, fmt: dict[str, str] | None = None,
          note: str = "") -> str:
    """Publish a small table (a list of rows with the same keys, e.g. a leaderboard) and return
    it as Markdown; ``fmt`` maps a column to its format (``{"FID-style": "{:.1f}"}``) and
    ``note`` is a sentence printed under it. ``python -m utils bench`` copies every published
    table into ``docs/benchmarks.md``."""
    if not rows:
        raise ValueError(f"table {name!r} has no rows")
    columns = list(rows[0])
    if any(list(row) != columns for row in rows):
        raise ValueError(f"table {name!r}: every row needs the columns {columns}, in this order")
    fmt = fmt or {}
    unknown = set(fmt) - set(columns)
    if unknown:
        raise ValueError(f"table {name!r}: formats for unknown columns {sorted(unknown)}; "
                         f"columns are {columns}")

    def cell(column: str, value: Any) -> str:
        if value is None:
            return "—"
        return fmt[column].format(value) if column in fmt else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(c, row[c]) for c in columns) + " |" for row in rows]
    markdown = "\n".join(lines) + (f"\n\n{note}" if note else "")
    print(markdown)
    _update("tables", name, markdown)
    return markdown
