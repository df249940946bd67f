"""The course book: book.toml, the mdBook preprocessor (fed the JSON mdBook sends), the static
site, and that site in a real headless browser (Chromium from Debian's packages)."""

import base64
import contextlib
import functools
import http.server
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import mistune
import nbformat
import pytest
import tomllib
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from PIL import Image

from utils import book
from utils import chapters as course
from utils.chapters import CHAPTERS, ROOT

# What mdBook writes on the preprocessor's stdin, per mdBook's serde types: [PreprocessorContext
# {root, config (book.toml as a table), renderer, mdbook_version}, Book]. 0.5 names the Book's
# list `items` (0.4: `sections`, plus `__non_exhaustive`); each item is {"Chapter": {name,
# content, number, sub_items, path, source_path, parent_names}}, "Separator" or {"PartTitle": …}.
FIXTURES = Path(__file__).parent / "fixtures"
PLANNED = [c for c in CHAPTERS if c != "00_setup"]


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="30" height="20"><rect width="30" ' \
      'height="20" fill="teal"/></svg>'
FIGURE = _png(12, 8)
LOGO = _png(5, 5)


def _notebook(framework: str, exercise: bool = False) -> nbformat.NotebookNode:
    name = book.FRAMEWORK_NAMES[framework]
    twin = "keras" if framework == "pytorch" else "pytorch"
    answer = "# YOUR CODE HERE\nraise NotImplementedError()" if exercise else "answer = 42"
    return new_notebook(cells=[
        new_markdown_cell(f"# 00 · Setup — {name}\n\nThe twin is [`{twin}.ipynb`]({twin}.ipynb). "
                          "For $y = \\sum_i x_i^2$ the gradient is $\\partial y/\\partial x_i\n"
                          "= 2x_i$; prices like $5 and $6 stay text, and so does `$HOME`.\n\n"
                          "$$\\frac{a}{b}$$"),
        new_markdown_cell("## 1. First steps"),
        new_code_cell(f"x = 1  # {framework}\nprint(x)"),
        new_markdown_cell("## 2. Pictures"),
        new_code_cell("show()"),
        new_markdown_cell("## 3. Exercise"),
        new_code_cell(answer),
    ], metadata={"language_info": {"name": "python"}})


def _executed(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook with the outputs an executed copy in build/ has."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    nb.cells[2].outputs = [
        new_output("stream", name="stdout", text="1\n"),
        new_output("stream", name="stderr", text="\r  0%|          | 0/2"),
        new_output("stream", name="stderr", text="\r 50%|#####     | 1/2"),
        new_output("stream", name="stderr", text="\r100%|##########| 2/2\n"),
        new_output("execute_result", data={"text/plain": "42"}, execution_count=1)]
    nb.cells[4].outputs = [
        new_output("display_data", data={"image/png": base64.b64encode(FIGURE).decode(),
                                         "text/plain": "<Figure size 12x8 with 1 Axes>"}),
        new_output("display_data", data={"image/svg+xml": SVG, "text/plain": "<svg>"}),
        new_output("error", ename="ValueError", evalue="boom",
                   traceback=["\x1b[0;31mValueError\x1b[0m: boom"])]
    return nb


@pytest.fixture
def course_root(tmp_path: Path) -> Path:
    """A small course: README, docs, chapter 00 in both frameworks (solutions, exercises, and an
    executed PyTorch copy in build/); every other chapter of CHAPTERS is planned."""
    root = tmp_path / "course"
    (root / "docs").mkdir(parents=True)
    (root / "README.md").write_text(
        "# Test course\n\nSee [the benchmarks](docs/benchmarks.md), the [environment]"
        "(environment.yml) and [elsewhere](https://example.org/page.md).\n\n"
        "![logo](docs/logo.png)\n\n```bash\necho [not a link](docs/benchmarks.md) $HOME$\n```\n")
    (root / "docs" / "logo.png").write_bytes(LOGO)
    (root / "docs" / "benchmarks.md").write_text(
        "# Benchmarks\n\n| chapter | time |\n|---|---|\n| 00_setup | 25 s |\n")
    (root / "docs" / "CONTRIBUTING.md").write_text("# How a chapter is put together\n\nText.\n")
    shutil.copy(ROOT / "book.toml", root / "book.toml")
    for kind, exercise in (("solutions", False), ("chapters", True)):
        for fw in course.FRAMEWORKS:
            path = root / kind / "00_setup" / f"{fw}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(_notebook(fw, exercise), path)
    (root / "build" / "00_setup").mkdir(parents=True)
    nbformat.write(_executed(_notebook("pytorch")), root / "build" / "00_setup" / "pytorch.ipynb")
    return root


def _mdbook_input(version: str, root: Path, renderer: str = "html") -> str:
    context, book_json = json.loads((FIXTURES / f"mdbook-{version}-preprocessor-input.json")
                                    .read_text())
    context["root"], context["renderer"] = str(root), renderer
    return json.dumps([context, book_json])


def _preprocessor(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    """The command book.toml gives mdBook, run as mdBook runs it: from the book's root."""
    command = tomllib.loads((ROOT / "book.toml").read_text())["preprocessor"]["course"]["command"]
    argv = [sys.executable if word == "python3" else word for word in command.split()]
    return subprocess.run([*argv, *args], input=stdin, capture_output=True, text=True,
                          cwd=ROOT, timeout=60)


def _chapters(items: list) -> list[dict]:
    return [item["Chapter"] for item in items if isinstance(item, dict) and "Chapter" in item]


def _page(items: list, path: str) -> dict:
    for chapter in _chapters(items):
        if chapter["path"] == path:
            return chapter
        with contextlib.suppress(LookupError):
            return _page(chapter["sub_items"], path)
    raise LookupError(path)


# --- book.toml -------------------------------------------------------------------------------

def test_book_toml_is_mdbook_05_config_and_lists_no_chapters():
    config = tomllib.loads((ROOT / "book.toml").read_text())
    assert set(config) <= {"book", "build", "output", "preprocessor", "rust"}
    course_settings = config["preprocessor"]["course"]
    assert course_settings["command"].split()[1:] == ["-m", "utils", "book", "preprocess"]
    assert course_settings["source"] in book.SOURCES
    src = ROOT / config["book"]["src"]
    summary = (src / "SUMMARY.md").read_text()
    for target in re.findall(r"\]\(([^)]+)\)", summary):
        assert (src / target).is_file(), f"SUMMARY.md links to a missing {target}"
    for chapter, title in CHAPTERS.items():  # the order is defined once, in CHAPTERS
        assert chapter not in summary and title not in summary
        assert chapter not in (ROOT / "book.toml").read_text()


# --- the mdBook preprocessor -----------------------------------------------------------------

@pytest.mark.parametrize("renderer, code", [("html", 0), ("markdown", 0), ("epub", 1),
                                            ("latex", 1)])
def test_supports_exit_codes(renderer, code):
    assert _preprocessor("supports", renderer).returncode == code
    assert _preprocessor("supports", renderer).stdout == ""


def test_preprocessor_builds_the_book_from_chapters(course_root):
    result = _preprocessor(stdin=_mdbook_input("0.5", course_root))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) == {"items"}  # mdBook 0.5's shape comes back
    items = out["items"]
    names = [c["name"] for c in _chapters(items)]
    assert names == (["Introduction", CHAPTERS["00_setup"]]
                     + [f"{CHAPTERS[c]} (planned)" for c in PLANNED]
                     + ["Benchmarks", "Contributing", "Glossary"])
    assert items[len(CHAPTERS) + 1] == "Separator"  # between the chapters and the back matter
    assert {"PartTitle": "Appendix"} in items  # what only SUMMARY.md lists is kept
    chapters = _chapters(items)
    setup = chapters[1]
    assert setup["number"] == [0] and setup["path"] == "00_setup/index.md"
    assert [(s["name"], s["number"], s["path"], s["parent_names"])
            for s in _chapters(setup["sub_items"])] == [
        ("PyTorch", [0, 1], "00_setup/pytorch.md", [CHAPTERS["00_setup"]]),
        ("Keras", [0, 2], "00_setup/keras.md", [CHAPTERS["00_setup"]])]
    for chapter, planned in zip(PLANNED, chapters[2:2 + len(PLANNED)], strict=True):
        assert planned["path"] is None and planned["sub_items"] == []  # a draft: no page
        assert planned["number"] == [int(chapter[:2])]
    for chapter in chapters:
        assert set(chapter) == {"name", "content", "number", "sub_items", "path",
                                "source_path", "parent_names"}


def test_framework_page_has_code_outputs_and_figures(course_root):
    items = json.loads(_preprocessor(stdin=_mdbook_input("0.5", course_root)).stdout)["items"]
    torch_page = _page(items, "00_setup/pytorch.md")["content"]
    assert "# 00 · Setup — PyTorch" in torch_page and "## 2. Pictures" in torch_page
    assert "```python\nx = 1  # pytorch\nprint(x)\n```" in torch_page
    assert "```text\n1\n```" in torch_page and "```text\n42\n```" in torch_page
    assert "100%|##########| 2/2" in torch_page and "50%" not in torch_page  # the final bar
    assert "ValueError: boom" in torch_page and "\x1b" not in torch_page
    images = re.findall(r"!\[[^\]]*\]\(data:(image/[\w+]+);base64,([^)]+)\)", torch_page)
    assert [(mime, base64.b64decode(data)) for mime, data in images] == [
        ("image/png", FIGURE), ("image/svg+xml", SVG.encode())]
    assert "build/00_setup/pytorch.ipynb" in torch_page
    assert "[Keras](keras.md)" in torch_page and "[`keras.ipynb`](keras.md)" in torch_page
    assert "(keras.ipynb)" not in torch_page

    keras_page = _page(items, "00_setup/keras.md")["content"]  # no executed copy: clean
    assert "solutions/00_setup/keras.ipynb" in keras_page and "```text" not in keras_page
    assert "```python\nx = 1  # keras\nprint(x)\n```" in keras_page
    assert "[PyTorch](pytorch.md)" in keras_page


def test_math_reaches_mathjax_intact(course_root):
    items = json.loads(_preprocessor(stdin=_mdbook_input("0.5", course_root)).stdout)["items"]
    rendered = mistune.html(_page(items, "00_setup/pytorch.md")["content"])  # as mdBook would
    assert r"\(y = \sum_i x_i^2\)" in rendered
    assert "\\(\\partial y/\\partial x_i\n= 2x_i\\)" in rendered
    assert r"\[\frac{a}{b}\]" in rendered
    assert "prices like $5 and $6 stay text" in rendered and "<code>$HOME</code>" in rendered


def test_chapter_page_links_both_versions_section_by_section(course_root):
    items = json.loads(_preprocessor(stdin=_mdbook_input("0.5", course_root)).stdout)["items"]
    overview = _page(items, "00_setup/index.md")["content"]
    assert overview.startswith(f"# 0. {CHAPTERS['00_setup']}")
    assert ("| 2. Pictures | [PyTorch](pytorch.md#2-pictures) | [Keras](keras.md#2-pictures) |"
            in overview)


def test_front_page_and_back_matter(course_root):
    items = json.loads(_preprocessor(stdin=_mdbook_input("0.5", course_root)).stdout)["items"]
    front = _page(items, "index.md")["content"]
    assert front.startswith("# Test course")
    assert "[the benchmarks](benchmarks.md)" in front
    assert "the environment and" in front  # a file outside the book: words kept, link dropped
    assert "[elsewhere](https://example.org/page.md)" in front
    logo = re.search(r"!\[logo\]\(data:image/png;base64,([^)]+)\)", front)
    assert logo and base64.b64decode(logo.group(1)) == LOGO
    assert "echo [not a link](docs/benchmarks.md) $HOME$" in front  # code is left alone
    assert "| 00_setup | 25 s |" in _page(items, "benchmarks.md")["content"]
    assert "Text." in _page(items, "contributing.md")["content"]


def test_mdbook_04_input_gets_04_output(course_root):
    result = _preprocessor(stdin=_mdbook_input("0.4", course_root))
    out = json.loads(result.stdout)
    assert set(out) == {"sections", "__non_exhaustive"}
    assert [c["name"] for c in _chapters(out["sections"])][:2] == [
        "Introduction", CHAPTERS["00_setup"]]


def test_markdown_renderer_keeps_dollar_math(course_root):
    result = _preprocessor(stdin=_mdbook_input("0.5", course_root, renderer="markdown"))
    content = _page(json.loads(result.stdout)["items"], "00_setup/pytorch.md")["content"]
    assert "$y = \\sum_i x_i^2$" in content


@pytest.mark.parametrize("stdin, message", [
    ("", "not JSON"), ("{not json", "not JSON"), ('{"root": "."}', "[context, book]"),
    ("[1, 2, 3]", "[context, book]"), ('[{"root": "."}, {"chapters": []}]', "`items`")])
def test_malformed_input_is_a_clear_error(stdin, message):
    result = _preprocessor(stdin=stdin)
    assert result.returncode != 0 and result.stdout == ""
    assert result.stderr.startswith("course preprocessor:") and message in result.stderr


def test_unknown_source_is_a_clear_error(course_root):
    context, book_json = json.loads(_mdbook_input("0.5", course_root))
    context["config"]["preprocessor"]["course"]["source"] = "drafts"
    result = _preprocessor(stdin=json.dumps([context, book_json]))
    assert result.returncode == 1 and "'drafts'" in result.stderr and "solutions" in result.stderr


def test_corrupt_notebook_is_named_in_the_error(course_root):
    (course_root / "build" / "00_setup" / "pytorch.ipynb").write_text("{ truncated")
    result = _preprocessor(stdin=_mdbook_input("0.5", course_root))
    assert result.returncode == 1 and result.stdout == ""
    assert "build/00_setup/pytorch.ipynb: not a readable notebook" in result.stderr


def test_source_chapters_shows_the_exercise_versions(course_root):
    torch_page = next(p for p in book.walk(book.pages(course_root, "chapters"))
                      if p.path == "00_setup/pytorch.md")
    assert "chapters/00_setup/pytorch.ipynb" in torch_page.content
    assert "raise NotImplementedError()" in torch_page.content
    assert "answer = 42" not in torch_page.content and "```text" not in torch_page.content


def test_clean_notebooks_when_nothing_was_executed(course_root):
    shutil.rmtree(course_root / "build")
    for page in book.walk(book.pages(course_root)):
        assert "```text" not in page.content and "build/" not in page.content


def test_order_follows_chapters(course_root, monkeypatch):
    reordered = dict(reversed(list(CHAPTERS.items())))
    monkeypatch.setattr(course, "CHAPTERS", reordered)
    titles = [p.title.removesuffix(" (planned)") for p in book.pages(course_root)[1:-2]]
    assert titles == list(reordered.values())


def test_real_course_converts():
    pages = book.pages(ROOT)
    readme_title = (ROOT / "README.md").read_text().splitlines()[0]
    assert pages[0].content.startswith(readme_title)
    setup = next(p for p in pages if p.path == "00_setup/index.md")
    assert [child.path for child in setup.children] == ["00_setup/pytorch.md",
                                                        "00_setup/keras.md"]


# --- helpers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("heading, anchor", [  # mdBook's own examples
    ("## Method-call expressions", "method-call-expressions"),
    ("## `--passes`: add more rustdoc passes", "--passes-add-more-rustdoc-passes"),
    ("## **Bold** title", "bold-title"), ("## title <span dir=rtl>foo</span>", "title-foo"),
    ("## 中文標題 CJK title", "中文標題-cjk-title"), ("## Über", "Über"),
    ("# 00 · Setup — PyTorch", "00--setup--pytorch")])
def test_heading_ids_match_mdbook(heading, anchor):
    assert book.heading_id(heading) == anchor


def test_repeated_headings_get_numbered_anchors():
    assert [a for _, _, a in book.headings("# A\n\n```\n# not a heading\n```\n## A\n## A\n")] \
        == ["a", "a-1", "a-2"]


def test_terminal_keeps_what_the_screen_shows():
    assert book.terminal("a\rb\n") == "b"
    assert book.terminal("epoch 1\nbatch 50%\x1b[A\repoch 2\nbatch 100%\n") == \
        "epoch 2\nbatch 100%"
    assert book.terminal("\x1b[1mModel\x1b[0m: \x1b[38;5;34m203\x1b[0m") == "Model: 203"


def test_fence_outlasts_backticks_in_the_text():
    block = book.fence("print('```')", "python")
    assert block.startswith("````python\n") and block.endswith("\n````")


# --- the static site -------------------------------------------------------------------------

def test_static_site_pages_navigation_and_assets(course_root, tmp_path):
    index = book.build_site(course_root, tmp_path / "site")
    site = index.parent
    assert sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")) == [
        "00_setup/index.html", "00_setup/keras.html", "00_setup/pytorch.html",
        "benchmarks.html", "contributing.html", "index.html"]
    torch_html = (site / "00_setup" / "pytorch.html").read_text()
    assert '<a rel="prev" href="index.html">' in torch_html
    assert '<a rel="next" href="keras.html">' in torch_html
    assert '<a href="../benchmarks.html">' in torch_html  # the sidebar, relative to the page
    for chapter in PLANNED:
        assert f'<span class="planned"><strong>{int(chapter[:2])}. </strong>' in torch_html
        assert not (site / chapter).exists()
    assert torch_html.count("<img ") == 2 and 'src="data:image/svg+xml;base64,' in torch_html
    assert '<math xmlns="http://www.w3.org/1998/Math/MathML" display="block">' in torch_html
    assert 'class="highlight"' in torch_html and '<pre class="output">' in torch_html
    assert 'href="keras.html"' in torch_html and 'id="2-pictures"' in torch_html
    front = index.read_text()
    assert 'href="benchmarks.html"' in front and 'href="https://example.org/page.md"' in front
    for page in site.rglob("*.html"):  # nothing to fetch: no scripts, no remote assets
        text = page.read_text()
        assert "<script" not in text
        assert not re.search(r'(src|rel="stylesheet" href)="(https?:)?//', text)
    assert ".highlight" in (site / "style.css").read_text()


def test_book_command_builds_the_site(tmp_path):
    out = tmp_path / "book"
    result = subprocess.run([sys.executable, "-m", "utils", "book", "--out", str(out)],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (out / "index.html").is_file() and (out / "00_setup" / "keras.html").is_file()


# --- the site in a real browser --------------------------------------------------------------

CHROMIUM = os.environ.get("COURSE_CHROMIUM") or shutil.which("chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _browser_or_skip() -> None:
    """Skip (fail on CI, where .ci/run installs Chromium) without Chromium or playwright."""
    reason = None
    if not CHROMIUM:
        reason = "Chromium is not installed (Debian/Ubuntu: apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "playwright is not installed (pip install -e '.[test]')"
    if reason:
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"browser test: {reason}")


@contextlib.contextmanager
def _serve(folder: Path):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _crawl(site: Path, screenshot: Path | None = None) -> tuple[list[str], dict]:
    """Open every page in headless Chromium; return the problems found (console errors, failed
    or refused requests, images that did not load, links to missing pages or anchors) and,
    per page, its images' and formulas' rendered widths."""
    from playwright.sync_api import sync_playwright

    problems, seen = [], {}
    with _serve(site) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        tab = browser.new_page(viewport={"width": 1280, "height": 900})
        tab.on("console", lambda m: m.type == "error" and problems.append(
            f"{tab.url}: console error: {m.text}"))
        tab.on("pageerror", lambda e: problems.append(f"{tab.url}: page error: {e}"))
        tab.on("requestfailed", lambda r: problems.append(f"request failed: {r.url[:80]}"))
        tab.on("response", lambda r: r.status >= 400 and problems.append(
            f"HTTP {r.status}: {r.url}"))
        for html_file in sorted(site.rglob("*.html")):
            page = html_file.relative_to(site).as_posix()
            response = tab.goto(base + page, wait_until="load")
            if response is None or not response.ok:
                problems.append(f"{page}: did not load")
            seen[page] = tab.evaluate("""() => ({
                title: document.title,
                images: [...document.images].map(i => i.complete ? i.naturalWidth : 0),
                math: [...document.querySelectorAll('math')].map(
                    m => m.getBoundingClientRect().width),
                ids: [...document.querySelectorAll('[id]')].map(e => e.id),
                links: [...document.querySelectorAll('a[href]')].map(a => a.href)})""")
            if page == "index.html" and screenshot:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                tab.screenshot(path=str(screenshot))
        browser.close()
    for page, info in seen.items():
        problems += [f"{page}: image {i} not shown" for i, w in enumerate(info["images"]) if w <= 0]
        for link in info["links"]:
            if not link.startswith(base):
                continue
            url = urllib.parse.urlsplit(link)
            target = urllib.parse.unquote(url.path)[1:] or "index.html"
            if target not in seen:
                problems.append(f"{page}: link to missing {target}")
            elif url.fragment and urllib.parse.unquote(url.fragment) not in seen[target]["ids"]:
                problems.append(f"{page}: link to missing anchor {target}#{url.fragment}")
    return problems, seen


def test_real_book_in_browser(tmp_path):
    """The course's own book: every page loads, images show, links resolve, nothing errs."""
    _browser_or_skip()
    start = time.perf_counter()
    site = book.build_site(ROOT, tmp_path / "book").parent
    problems, seen = _crawl(site, screenshot=ROOT / "build" / "book" / "screenshot.png")
    assert problems == []
    assert {"index.html", "00_setup/index.html", "00_setup/pytorch.html", "00_setup/keras.html",
            "benchmarks.html", "contributing.html"} <= set(seen)
    assert seen["index.html"]["title"].startswith("Introduction · ")
    assert (ROOT / "build" / "book" / "screenshot.png").stat().st_size > 10_000
    assert time.perf_counter() - start < 60


def test_figures_and_math_render_in_browser(course_root, tmp_path):
    """A page with known figures and formulas: both images decode, every formula has a size."""
    _browser_or_skip()
    site = book.build_site(course_root, tmp_path / "book").parent
    problems, seen = _crawl(site)
    assert problems == []
    torch_page = seen["00_setup/pytorch.html"]
    assert torch_page["images"] == [12, 30]  # the PNG's and the SVG's natural widths
    assert len(torch_page["math"]) == 3 and min(torch_page["math"]) > 0
    assert seen["index.html"]["images"] == [5]  # the README's logo, embedded
