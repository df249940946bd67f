"""docs/ and README.md hold no path of the machine that wrote them, and docs/benchmarks.md is
rendered from docs/benchmarks.json alone: one machine line per profile, data sets in words, a
chart per chapter."""

import json
import re
import shutil
from pathlib import Path

import pytest

from utils import benchmarks
from utils.__main__ import main
from utils.chapters import ROOT

# A machine's own folders anywhere; any other absolute path with two or more parts where a path
# starts (line start, a space, a quote, a backtick, `=`, or a bracket that is not a Markdown
# link's `](`), so that URLs (https://host/a/b), relative links, fractions (1/2) and the
# reader's own home (~/.cache/…, as README.md documents the caches) pass.
ABSOLUTE = re.compile(
    r"(?<![\w.:/-])/(?:work|home|Users|tmp|root)/"
    r"|(?<![\w])[A-Za-z]:\\\\?[\w.-]"
    r"|(?:^|(?<=[\s\"'`=,;])|(?<=^\()|(?<=[^\]]\())/[\w.+@-]+/[\w.+@-]+", re.M)
TOKEN = re.compile(r"[^\s\"'`()<>\[\],;|]+")
# Hand-written docs may name generic places (never files of the measuring machine): the system
# folders utils.data searches, a /path/to placeholder, the throw-away folders of the GPU
# rehearsal in CONTRIBUTING.md. Generated files (docs/benchmarks*) get no exception.
GENERIC = ("/usr/share/datasets", "/usr/local/share/datasets", "/path/to/")
REHEARSAL = {"/tmp/w", "/tmp/out"}


def absolute_paths(path: Path) -> list[str]:
    """``line: path`` for each absolute path in a text file (none for a binary file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return []
    generated = path.name.startswith("benchmarks") or path.parent.name == "benchmarks"
    found = []
    for m in ABSOLUTE.finditer(text):
        token = TOKEN.match(text, m.start()).group(0)
        if not generated and (token.startswith(GENERIC) or token in REHEARSAL):
            continue
        found.append(f"{text.count(chr(10), 0, m.start()) + 1}: {token}")
    return found


def _docs_files() -> list[Path]:
    return sorted(p for p in (ROOT / "docs").rglob("*") if p.is_file()) + [ROOT / "README.md"]


def test_docs_and_readme_name_no_local_path():
    found = {str(p.relative_to(ROOT)): hits for p in _docs_files() if (hits := absolute_paths(p))}
    assert not found, f"absolute paths (name data in words, files by their name): {found}"


def test_the_path_check_can_fail(tmp_path):
    page = tmp_path / "benchmarks.md"
    shutil.copy(ROOT / "docs" / "benchmarks.md", page)
    assert absolute_paths(page) == []
    page.write_text(page.read_text() + "\n| 00_setup | MNIST (/work/shared/datasets/mnist) |\n")
    assert [hit.split(": ", 1)[1] for hit in absolute_paths(page)] == [
        "/work/shared/datasets/mnist"]
    bad = tmp_path / "notes.json"
    for text in ('{"weights": "/opt/models/vgg19.h5"}', '"C:\\\\Users\\\\me\\\\x.png"',
                 "see /home/me/x", "`OUT=/tmp/work/x`", "(/srv/data/mnist)",
                 "mnist (/srv/data/mnist)", "/opt/data/x at a line start"):
        bad.write_text(text)
        assert absolute_paths(bad), text
    for text in ("https://example.org/a/b/c", "[the guide](docs/CONTRIBUTING.md)",
                 "[top](/docs/x.md)", "PyTorch / Keras: 1/2 met, 3/4", "</text></g>",
                 '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN"', "utils/data.py::load",
                 "the cache, ~/.cache/neural-image-course/datasets"):
        bad.write_text(text)
        assert not absolute_paths(bad), text
    png = tmp_path / "x.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe/work/x/y")
    assert absolute_paths(png) == []


# --- the renderer ------------------------------------------------------------------------------

MACHINE = {"os": "Linux 6.1", "cpu": "Test CPU", "cores": "4", "gpu": "none", "python": "3.11.7"}


def _row(chapter, framework, seconds, value, dataset, higher_is_better=True):
    return {"chapter": chapter, "framework": framework, "ok": True, "seconds": seconds,
            "facts": {"profile": "quick", "device": "cpu", "dataset": dataset},
            "results": {"score": {"value": value, "key": True, "fmt": "{:.1%}",
                                  "higher_is_better": higher_is_better}},
            "error": "", "targets": {}, "tables": {}}


def _entry(command, rows, machine=MACHINE, date="2026-12-02"):
    return {"date": date, "command": command, "machine": dict(machine), "runs": rows}


@pytest.fixture
def docs(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    data = {"quick": {
        "00_setup": _entry("python -m utils bench 00_setup --profile quick", [
            _row("00_setup", "pytorch", 24.0, 0.9692, "MNIST (local copy of the official files)"),
            _row("00_setup", "keras", 30.0, 0.9724, "MNIST (local copy of the official files)")]),
        "01_cnn": _entry("python -m utils bench 01_cnn --profile quick", [
            _row("01_cnn", "pytorch", 749.0, 0.8365, "CIFAR-10 JPEG proxy (JPEG-compressed "
                 "images, not the official files)", higher_is_better=False),
            _row("01_cnn", "keras", 885.0, 0.8379, "CIFAR-10 JPEG proxy (JPEG-compressed "
                 "images, not the official files)", higher_is_better=False)]),
    }}
    (folder / "benchmarks.json").write_text(json.dumps(data, indent=1) + "\n")
    return folder


def test_render_one_machine_line_datasets_in_words_and_a_chart_per_chapter(docs):
    before = (docs / "benchmarks.json").read_bytes()
    text = benchmarks.render(docs).read_text()
    assert (docs / "benchmarks.json").read_bytes() == before  # the json is only read
    assert text.count("Test CPU (4 cores)") == 1
    assert "Measured on one machine: Test CPU (4 cores) · GPU: none · Linux 6.1 · " in text
    assert "Python 3.11.7, 2026-12-02." in text and "different machines" not in text
    # per chapter only what differs: the command, not the machine or the (common) date
    assert "**01_cnn** · `python -m utils bench 01_cnn --profile quick`" in text
    assert "| MNIST (local copy of the official files) | score = 96.9% |" in text
    assert "Timings compare only within one run (ratios), never across machines." in text
    assert "## Profile: full" in text and "Not yet measured" in text
    for chapter in ("00_setup", "01_cnn"):
        svg = docs / "benchmarks" / f"quick-{chapter}.svg"
        assert svg.is_file() and f"](benchmarks/quick-{chapter}.svg)" in text
        content = svg.read_text()
        assert content.startswith("<?xml") and "PyTorch" in content and "Keras" in content
        assert absolute_paths(svg) == []
    chart = (docs / "benchmarks" / "quick-01_cnn.svg").read_text()
    # the key result's direction and format, the wall time as the table shows it
    assert "score (lower is better)" in chart and "83.7%" in chart and "885 s" in chart
    assert "score (higher is better)" in (docs / "benchmarks" / "quick-00_setup.svg").read_text()
    assert absolute_paths(docs / "benchmarks.md") == []
    charts = {p.name: p.read_bytes() for p in (docs / "benchmarks").iterdir()}
    benchmarks.render(docs)  # deterministic: the same bytes again
    assert {p.name: p.read_bytes() for p in (docs / "benchmarks").iterdir()} == charts


def test_render_lists_each_machine_once(docs):
    data = json.loads((docs / "benchmarks.json").read_text())
    data["quick"]["03_vae"] = _entry("python -m utils bench 03_vae --profile quick", [
        _row("03_vae", "pytorch", 379.0, 0.5, "MNIST (local copy of the official files)")],
        machine={**MACHINE, "cpu": "Other CPU"}, date="2026-12-03")
    (docs / "benchmarks.json").write_text(json.dumps(data))
    (docs / "benchmarks").mkdir()
    (docs / "benchmarks" / "quick-99_gone.svg").write_text("<svg/>")  # a stale chart
    text = benchmarks.render(docs).read_text()
    assert "Measured on 2 different machines" in text
    assert text.count("Test CPU (4 cores)") == 1 and text.count("Other CPU (4 cores)") == 1
    assert "- machine 1: Test CPU (4 cores) · GPU: none · Linux 6.1 · Python 3.11.7, " \
           "2026-12-02: 00_setup, 01_cnn" in text
    assert "**03_vae** · 2026-12-03 · machine 2 · `python -m utils bench 03_vae" in text
    assert sorted(p.name for p in (docs / "benchmarks").iterdir()) == [
        "quick-00_setup.svg", "quick-01_cnn.svg", "quick-03_vae.svg"]


def test_render_only_command_runs_nothing_and_keeps_the_json(docs, monkeypatch, capsys):
    from utils import runner

    monkeypatch.setattr(runner, "run_chapters", lambda *a, **k: pytest.fail("must not run"))
    before = (docs / "benchmarks.json").read_bytes()
    assert main(["bench", "--render-only", "--docs", str(docs)]) == 0
    assert (docs / "benchmarks.json").read_bytes() == before
    assert "nothing was run" in capsys.readouterr().out
    assert "](benchmarks/quick-00_setup.svg)" in (docs / "benchmarks.md").read_text()


def test_merge_keeps_no_path_a_notebook_published(tmp_path):
    from utils.runner import Run

    run = Run("04_style_transfer", "pytorch", True, 12.0, tmp_path / "x.ipynb",
              {"profile": "quick", "weights": "/home/me/.cache/weights/squeezenet1_1.pth",
               "dataset": "photos: scikit-image 'chelsea' (content), my photo.jpg (style)"},
              {"style_seconds": {"value": 17.0, "key": True, "fmt": "{:.1f} s",
                                 "higher_is_better": False}},
              error="FileNotFoundError: C:\\Users\\me\\style.png")
    md = benchmarks.write_benchmarks([run], "quick", tmp_path / "docs")
    stored = json.loads((tmp_path / "docs" / "benchmarks.json").read_text())
    row = stored["quick"]["04_style_transfer"]["runs"][0]
    assert row["facts"]["weights"] == "squeezenet1_1.pth"
    assert row["error"] == "FileNotFoundError: style.png"
    assert row["results"]["style_seconds"]["value"] == 17.0
    assert "| photos: scikit-image 'chelsea' (content), my photo.jpg (style) |" in md.read_text()
    for path in [md, tmp_path / "docs" / "benchmarks.json",
                 *(tmp_path / "docs" / "benchmarks").iterdir()]:
        assert absolute_paths(path) == [], path


def test_portable_leaves_urls_and_relative_paths():
    text = "see https://example.org/a/b, utils/data.py and 1/2; PyTorch / Keras"
    assert benchmarks.portable(text) == text
    assert benchmarks.portable({"a": ["/srv/x/y.jpg", 3]}) == {"a": ["y.jpg", 3]}
