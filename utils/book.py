"""The course book: chapter notebooks become Markdown pages, served two ways from one page list.

- ``python -m utils book preprocess`` is an mdBook preprocessor (mdBook's JSON protocol on
  stdin/stdout), so ``mdbook build`` renders the course where mdBook is installed.
- ``python -m utils book`` writes the same pages as a static HTML site (``build/book/``) with the
  project's own dependencies: no mdBook, no JavaScript, nothing fetched from the network.

The chapter order is ``utils.chapters.CHAPTERS``; nothing else lists the chapters. Reading the
notebooks needs only the standard library, so mdBook can run the preprocessor with any Python.
"""

from __future__ import annotations

import base64
import html
import json
import mimetypes
import posixpath
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import chapters as course
from .hosted import from_table, open_links

FRAMEWORK_NAMES = {"pytorch": "PyTorch", "keras": "Keras"}
SOURCES = ("solutions", "chapters")  # which notebooks the book shows (book.toml: `source`)
RENDERERS = ("html", "markdown")  # the mdBook renderers the preprocessor supports
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")
DOCS = {"README.md": ("index.md", "Introduction"),  # course file -> (book page, title)
        "docs/benchmarks.md": ("benchmarks.md", "Benchmarks"),
        "docs/CONTRIBUTING.md": ("contributing.md", "Contributing")}
NO_BENCHMARKS = ("# Benchmarks\n\nNothing measured yet: `python -m utils bench --profile quick` "
                 "runs the chapters and writes this table (`docs/benchmarks.md`).\n")


@dataclass
class Page:
    """One entry of the book's table of contents; ``path`` None is a planned chapter (no page)."""

    title: str
    path: str | None
    content: str = ""
    number: list[int] | None = None
    children: list[Page] = field(default_factory=list)


def walk(pages: list[Page]) -> Iterator[Page]:
    """Every page in reading order (depth first)."""
    for page in pages:
        yield page
        yield from walk(page.children)


# --- Markdown helpers ------------------------------------------------------------------------

# Fenced code blocks and code spans: links and math are never rewritten inside them.
_CODE = re.compile(r"^ {0,3}(`{3,}|~{3,})[^\n]*\n.*?(?:^ {0,3}\1[ \t]*$|\Z)"
                   r"|(?<!`)(`+)(?!`)(?:(?!\n[ \t]*\n).)+?(?<!`)\2(?!`)", re.M | re.S)
_LINK = re.compile(r"(!?)\[([^\]\n]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*:|#)", re.I)
# $$display$$ and $inline$ (the opening $ followed, the closing one preceded, by a non-space, and
# not followed by a digit, as in Jupyter and pandoc; no blank line inside).
_MATH = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?=[^\s$])((?:[^$\\\n]|\\.|\n(?![ \t]*\n))+?)"
                   r"(?<=\S)\$(?![\d$])", re.S)
_ANSI = re.compile(r"\x1b\[(?!A)[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")  # all but cursor-up
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def sub_outside_code(pattern: re.Pattern, markdown: str,
                     replace: Callable[[re.Match], str]) -> str:
    """``pattern.sub(replace, markdown)`` for the matches that start and end outside code blocks
    and code spans (a match may contain a whole code span, as a link's text may)."""
    code = [m.span() for m in _CODE.finditer(markdown)]

    def in_code(i: int) -> bool:
        return any(start <= i < end for start, end in code)

    out, done, pos = [], 0, 0
    while m := pattern.search(markdown, pos):
        if in_code(m.start()) or in_code(m.end() - 1):
            pos = m.start() + 1
            continue
        out += [markdown[done:m.start()], replace(m)]
        done = pos = m.end()
    return "".join(out) + markdown[done:]


def fence(text: str, language: str) -> str:
    """A fenced code block that ``text`` cannot close early."""
    ticks = "`" * max(3, 1 + max((len(r) for r in re.findall(r"`+", text)), default=0))
    return f"{ticks}{language}\n{text.rstrip()}\n{ticks}"


def heading_id(text: str) -> str:
    """mdBook's anchor for a heading: tags and entities dropped, lower-cased, spaces to dashes."""
    text = re.sub(r"<.*?>|&lt;|&gt;|&amp;|&#39;|&quot;", "", text).strip().lstrip("#").strip()
    return "".join("-" if c.isspace() else c.lower() if c.isascii() else c
                   for c in text if c.isalnum() or c in "_-" or c.isspace())


def headings(markdown: str) -> list[tuple[int, str, str]]:
    """(level, text, anchor) of each ATX heading outside code, anchors made unique as mdBook
    does (``-1``, ``-2`` … for repeats)."""
    seen: dict[str, int] = {}
    out = []
    for hashes, text in re.findall(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$",
                                   _CODE.sub("", markdown), re.M):
        plain = re.sub(r"\]\([^)]*\)", "]", text)  # a link's text counts, its target does not
        anchor = heading_id(plain)
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        out.append((len(hashes), text, f"{anchor}-{count}" if count else anchor))
    return out


def mathjax(markdown: str) -> str:
    """``$…$`` / ``$$…$$`` as MathJax's ``\\(…\\)`` / ``\\[…\\]`` (mdBook's delimiters), with the
    TeX backslash-escaped so that the Markdown renderer hands it over unchanged."""
    def convert(m: re.Match) -> str:
        display = m.group(1) is not None
        tex = _PUNCTUATION.sub(r"\\\1", m.group(1) if display else m.group(2))
        return rf"\\\[{tex}\\\]" if display else rf"\\\({tex}\\\)"
    return sub_outside_code(_MATH, markdown, convert)


def terminal(text: str) -> str:
    """What a terminal shows after printing ``text``: ``\\r`` rewrites the line and ``ESC[A`` goes
    up one (tqdm's progress bars); other escape codes (colours) are dropped."""
    lines, row, col = [""], 0, 0
    for token in re.split(r"(\r\n|\n|\r|\x1b\[A)", _ANSI.sub("", text)):
        if token in ("\n", "\r\n"):
            row, col = row + 1, 0
            if row == len(lines):
                lines.append("")
        elif token == "\r":
            col = 0
        elif token == "\x1b[A":
            row = max(row - 1, 0)
        elif token:
            line = lines[row].ljust(col)
            lines[row] = line[:col] + token + line[col + len(token):]
            col += len(token)
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def data_uri(mime: str, payload: str | bytes) -> str:
    """A ``data:`` URI; ``payload`` is base64 text (as notebooks store images) or raw bytes."""
    if isinstance(payload, bytes):
        payload = base64.b64encode(payload).decode()
    return f"data:{mime};base64," + "".join(payload.split())


# --- Pages -----------------------------------------------------------------------------------

def _text(value: str | list[str]) -> str:
    return "".join(value) if isinstance(value, list) else value


def _relink(markdown: str, source: str, page: str, root: Path, targets: dict[str, str]) -> str:
    """Point links at book pages: a link from ``source`` (a course file) to another course file
    goes to that file's page; local images are embedded; links to files outside the book keep
    their words and lose the link, so the book has no broken links."""
    def fix(m: re.Match) -> str:
        bang, text, url = m.groups()
        if _SCHEME.match(url):
            return m.group(0)
        target, _, anchor = url.partition("#")
        path = posixpath.normpath(posixpath.join(posixpath.dirname(source), target))
        if bang:
            file = root / path
            mime = mimetypes.guess_type(path)[0]
            if file.is_file() and mime in IMAGE_TYPES:
                return f"![{text}]({data_uri(mime, file.read_bytes())})"
            return text
        if path in targets:
            rel = posixpath.relpath(targets[path], posixpath.dirname(page) or ".")
            return f"[{text}]({rel}{'#' + anchor if anchor else ''})"
        return text
    return sub_outside_code(_LINK, markdown, fix)


def _outputs(outputs: list[dict]) -> list[str]:
    """A code cell's outputs as Markdown: images embedded, text in ``text`` blocks."""
    merged: list[dict] = []  # consecutive pieces of one stream are one text, as in Jupyter
    for out in outputs:
        if (out["output_type"] == "stream" and merged and merged[-1]["output_type"] == "stream"
                and merged[-1]["name"] == out["name"]):
            merged[-1] = {**out, "text": _text(merged[-1]["text"]) + _text(out["text"])}
        else:
            merged.append(out)
    parts = []
    for out in merged:
        kind, data = out["output_type"], out.get("data", {})
        if kind == "stream":
            text = terminal(_text(out["text"]))
        elif kind == "error":
            text = terminal("\n".join(out.get("traceback", [])))
        elif image := next((mime for mime in IMAGE_TYPES if mime in data), None):
            payload = _text(data[image])  # base64, except SVG, which is XML text
            if image == "image/svg+xml":
                payload = payload.encode()
            parts.append(f"![output figure]({data_uri(image, payload)})")
            continue
        elif "text/markdown" in data:
            parts.append(_text(data["text/markdown"]))
            continue
        else:
            text = terminal(_text(data.get("text/plain", "")))
        if text.strip():
            parts.append(fence(text, "text"))
    return parts


def notebook_page(notebook: Path, root: Path, page: str, targets: dict[str, str]) -> str:
    """One notebook as a Markdown page: Markdown cells as they are (links pointed at book pages),
    code cells as highlighted code blocks, outputs as text blocks and embedded images."""
    try:
        nb = json.loads(notebook.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ValueError(f"{notebook}: not a readable notebook ({e})") from None
    language = nb.get("metadata", {}).get("language_info", {}).get("name", "python")
    source = notebook.relative_to(root).as_posix()
    parts = []
    for cell in nb.get("cells", []):
        text = _text(cell.get("source", ""))
        if cell["cell_type"] == "markdown":
            for name, bundle in cell.get("attachments", {}).items():
                mime = next((m for m in IMAGE_TYPES if m in bundle), None)
                if mime:
                    text = text.replace(f"attachment:{name}", data_uri(mime, _text(bundle[mime])))
            parts.append(_relink(text, source, page, root, targets))
        elif cell["cell_type"] == "code":
            if text.strip():
                parts.append(fence(text, language))
            parts += _outputs(cell.get("outputs", []))
    return "\n\n".join(parts) + "\n"


def _notebooks(root: Path, chapter: str, source: str) -> dict[str, Path]:
    """framework -> the notebook to show: the executed copy in build/ when there is one (for
    ``solutions``, which is what ``python -m utils run`` executes), else the clean one."""
    if source not in SOURCES:
        raise ValueError(f"book source {source!r}: use one of {', '.join(SOURCES)} "
                         "([preprocessor.course] source in book.toml)")
    found = {}
    for fw in course.FRAMEWORKS:
        clean = root / source / chapter / f"{fw}.ipynb"
        executed = root / "build" / chapter / f"{fw}.ipynb"
        if clean.is_file():
            found[fw] = executed if source == "solutions" and executed.is_file() else clean
    return found


def _chapter_overview(title: str, number: int, framework_pages: list[Page]) -> str:
    """The chapter's own page: its two versions and a table of their sections, side by side."""
    links = " · ".join(f"[{p.title}]({posixpath.basename(p.path)})" for p in framework_pages)
    sections = {p.title: {text: anchor for level, text, anchor in headings(p.content)
                          if level == 2} for p in framework_pages}
    first = next(iter(sections.values()))
    rows = ["| section | " + " | ".join(sections) + " |", "|---" * (len(sections) + 1) + "|"]
    for text in first:
        cells = [f"[{name}]({posixpath.basename(p.path)}#{sections[name][text]})"
                 if text in sections[name] else "—"
                 for name, p in zip(sections, framework_pages, strict=True)]
        rows.append(f"| {text} | " + " | ".join(cells) + " |")
    return (f"# {number}. {title}\n\nThe chapter exists once per framework, teaching the same "
            f"thing in the same order: {links}. Each page starts with a link to its twin.\n\n"
            + "\n".join(rows) + "\n")


def pages(root: Path = course.ROOT, source: str = "solutions", repository: str = "",
          branch: str = "main") -> list[Page]:
    """The whole book in reading order: the README as front page, every chapter of
    ``CHAPTERS`` (a page per framework, or listed as planned), the benchmarks, the guide.
    With ``repository`` (book.toml) on GitHub, each notebook page links its exercise version
    to Colab and Kaggle."""
    notebooks = {chapter: _notebooks(root, chapter, source) for chapter in course.CHAPTERS}
    targets = {name: page for name, (page, _) in DOCS.items()}
    for chapter, found in notebooks.items():
        for fw in found:
            for kind in ("solutions", "chapters", "build"):
                targets[f"{kind}/{chapter}/{fw}.ipynb"] = f"{chapter}/{fw}.md"

    def doc(name: str, default: str = "") -> Page:
        page, title = DOCS[name]
        file = root / name
        text = file.read_text(encoding="utf-8") if file.is_file() else default
        return Page(title, page, _relink(text, name, page, root, targets))

    book = [doc("README.md")]
    for chapter, title in course.CHAPTERS.items():
        number = int(chapter.split("_")[0])
        if not notebooks[chapter]:
            book.append(Page(f"{title} (planned)", None, number=[number]))
            continue
        children = []
        for i, (fw, notebook) in enumerate(notebooks[chapter].items(), start=1):
            path = f"{chapter}/{fw}.md"
            twins = " · ".join(f"**{FRAMEWORK_NAMES[other]}**" if other == fw else
                               f"[{FRAMEWORK_NAMES[other]}]({other}.md)"
                               for other in notebooks[chapter])
            origin = notebook.relative_to(root).as_posix()
            state = ("the copy executed by `python -m utils run`" if origin.startswith("build/")
                     else f"not executed: `python -m utils run {chapter}` adds the outputs")
            hosted = " · ".join(f"[{label}]({url})" for label, url in open_links(
                f"chapters/{chapter}/{fw}.ipynb", repository, branch))
            header = f"> {twins} · `{origin}`, {state}" + (
                f"\n>\n> Run the exercise version on a hosted GPU: {hosted}" if hosted else
                "") + "\n\n"
            content = header + notebook_page(notebook, root, path, targets)
            children.append(Page(FRAMEWORK_NAMES[fw], path, content, [number, i]))
        overview = _chapter_overview(title, number, children)
        book.append(Page(title, f"{chapter}/index.md", overview, [number], children))
    book.append(doc("docs/benchmarks.md", NO_BENCHMARKS))
    book.append(doc("docs/CONTRIBUTING.md"))
    return book


# --- mdBook preprocessor -------------------------------------------------------------------

def _item(page: Page, parents: list[str], renderer: str) -> dict:
    """A page as mdBook's ``BookItem::Chapter`` (a draft chapter when it has no path)."""
    content = mathjax(page.content) if renderer == "html" else page.content
    return {"Chapter": {
        "name": page.title, "content": content, "number": page.number,
        "sub_items": [_item(child, parents + [page.title], renderer) for child in page.children],
        "path": page.path, "source_path": None, "parent_names": parents}}


def preprocess(context: dict, book: dict) -> dict:
    """mdBook's preprocessor step: the book loaded from SUMMARY.md in, the course's book out.
    Items of SUMMARY.md that the course does not generate are kept, after the course's."""
    settings = context.get("config", {}).get("preprocessor", {}).get("course", {})
    generated = pages(Path(context["root"]), settings.get("source", "solutions"),
                      **from_table(settings))
    key = "sections" if "sections" in book and "items" not in book else "items"  # 0.4: sections
    paths = {page.path for page in walk(generated) if page.path}
    items, numbered = [], False
    for page in generated:
        if numbered and page.number is None:
            items.append("Separator")
        numbered = page.number is not None
        items.append(_item(page, [], context.get("renderer", "html")))
    items += [item for item in book.get(key, [])
              if not (isinstance(item, dict) and item.get("Chapter", {}).get("path") in paths)]
    return {**book, key: items}


def run_preprocessor(stdin: str) -> str:
    """Parse mdBook's ``[context, book]`` JSON and return the book JSON; ValueError if malformed."""
    try:
        context, book = json.loads(stdin)
        if not isinstance(context, dict) or not isinstance(book, dict) or "root" not in context:
            raise TypeError
    except json.JSONDecodeError as e:
        raise ValueError(f"stdin is not JSON ({e})") from None
    except (TypeError, ValueError):
        raise ValueError("expected mdBook's JSON array [context, book], with context.root") \
            from None
    if not any(isinstance(book.get(key), list) for key in ("items", "sections")):
        raise ValueError("the book has no `items` list (mdBook >= 0.5) or `sections` (0.4)")
    return json.dumps(preprocess(context, book))


def preprocessor_main(args: list[str]) -> int:
    """``… preprocess`` (book JSON on stdin and stdout) or ``… preprocess supports RENDERER``
    (exit status 0 when supported), as mdBook calls it."""
    if args:
        if len(args) != 2 or args[0] != "supports":
            print(f"course preprocessor: unexpected arguments {args}; "
                  "usage: preprocess [supports RENDERER]", file=sys.stderr)
            return 2
        return 0 if args[1] in RENDERERS else 1
    try:
        sys.stdout.write(run_preprocessor(sys.stdin.buffer.read().decode("utf-8")))
    except (ValueError, OSError) as e:
        print(f"course preprocessor: {e}", file=sys.stderr)
        return 1
    return 0


# --- Static HTML site ----------------------------------------------------------------------

def _config(root: Path) -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    return tomllib.loads((root / "book.toml").read_text(encoding="utf-8"))


def _html_path(page: str) -> str:
    return page[:-3] + ".html"


def markdown_to_html(markdown: str) -> str:
    """Markdown to HTML with mistune: heading anchors as mdBook makes them, links to ``.md``
    pages as ``.html``, code highlighted by Pygments, math as MathML (latex2mathml)."""
    import mistune
    from latex2mathml.converter import convert
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    class Renderer(mistune.HTMLRenderer):
        def __init__(self) -> None:
            super().__init__(escape=False, allow_harmful_protocols=["data:image/"])
            self.seen: dict[str, int] = {}

        def heading(self, text: str, level: int, **attrs: object) -> str:
            anchor = heading_id(text)
            count = self.seen.get(anchor, 0)
            self.seen[anchor] = count + 1
            anchor = f"{anchor}-{count}" if count else anchor
            return (f'<h{level} id="{anchor}"><a class="header" href="#{anchor}">{text}</a>'
                    f"</h{level}>\n")

        def link(self, text: str, url: str, title: str | None = None) -> str:
            if not _SCHEME.match(url):
                url = re.sub(r"\.md(?=$|#)", ".html", url)
            return super().link(text, url, title)

        def block_code(self, code: str, info: str | None = None) -> str:
            language = info.split()[0] if info and info.strip() else ""
            if language and language != "text":
                try:
                    return highlight(code, get_lexer_by_name(language), HtmlFormatter())
                except ClassNotFound:
                    pass
            css = "output" if language == "text" else "code"  # text blocks are cell outputs
            return f'<pre class="{css}"><code>{html.escape(code)}</code></pre>\n'

    maths: list[str] = []

    def hold(m: re.Match) -> str:  # math waits outside Markdown's reach, then becomes MathML
        display = m.group(1) is not None
        try:
            maths.append(convert(m.group(1) if display else m.group(2),
                                 display="block" if display else "inline"))
        except Exception:  # latex2mathml covers most of LaTeX, not all: then show the TeX
            maths.append(f'<code class="tex">{html.escape(m.group(0))}</code>')
        return f"\ue000{len(maths) - 1}\ue001"

    held = sub_outside_code(_MATH, markdown, hold)
    body = mistune.create_markdown(renderer=Renderer(), plugins=["table", "strikethrough"])(held)
    return re.sub("\ue000(\\d+)\ue001", lambda m: maths[int(m.group(1))], body)


def _toc(book: list[Page], current: str) -> str:
    """The sidebar: every page, numbered, the current one marked, planned chapters unlinked."""
    here = posixpath.dirname(current) or "."

    def entry(page: Page) -> str:
        number = ".".join(map(str, page.number)) + ". " if page.number else ""
        label = f'<strong>{number}</strong>{html.escape(page.title)}'
        if page.path is None:
            item = f'<span class="planned">{label}</span>'
        else:
            href = posixpath.relpath(_html_path(page.path), here)
            mark = ' class="active" aria-current="page"' if page.path == current else ""
            item = f'<a href="{href}"{mark}>{label}</a>'
        sub = "".join(entry(child) for child in page.children)
        return f"<li>{item}{f'<ol>{sub}</ol>' if sub else ''}</li>"

    items, numbered = [], False
    for page in book:
        if numbered and page.number is None:
            items.append('<li class="separator"></li>')
        numbered = page.number is not None
        items.append(entry(page))
    return "<ol>" + "".join(items) + "</ol>"


_PAGE = """<!DOCTYPE html>
<html lang="{language}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · {book}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{base}style.css">
</head>
<body>
<nav class="sidebar" aria-label="Table of contents">
<a class="book-title" href="{base}index.html">{book}</a>
{toc}
</nav>
<main>
{body}
<nav class="pager" aria-label="Previous and next page">{pager}</nav>
</main>
</body>
</html>
"""

_CSS = """
:root { --fg: #222; --muted: #666; --line: #e3e3e3; --accent: #1f5fa8; --side: #f6f7f9; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); font: 16px/1.6 system-ui, sans-serif; display: flex; }
.sidebar { position: sticky; top: 0; height: 100vh; overflow-y: auto; width: 18rem;
  flex: none; padding: 1.2rem 1rem; background: var(--side); border-right: 1px solid var(--line);
  font-size: 0.92rem; }
.sidebar .book-title { display: block; font-weight: 600; color: var(--fg);
  text-decoration: none; margin-bottom: 1rem; }
.sidebar ol { list-style: none; margin: 0; padding-left: 0; }
.sidebar ol ol { padding-left: 1.2rem; }
.sidebar li { margin: 0.25rem 0; }
.sidebar a { color: var(--fg); text-decoration: none; }
.sidebar a:hover, .sidebar a.active { color: var(--accent); }
.sidebar a.active { font-weight: 600; }
.sidebar .planned { color: var(--muted); }
.sidebar .separator { border-top: 1px solid var(--line); margin: 0.7rem 0; }
main { flex: 1; min-width: 0; max-width: 56rem; padding: 1.5rem 2.5rem 3rem; }
h1, h2, h3, h4 { line-height: 1.25; }
a.header { color: inherit; text-decoration: none; }
a { color: var(--accent); }
img { max-width: 100%; height: auto; }
table { border-collapse: collapse; margin: 1rem 0; display: block; overflow-x: auto; }
th, td { border: 1px solid var(--line); padding: 0.3rem 0.6rem; text-align: left; }
th { background: var(--side); }
blockquote { margin: 1rem 0; padding: 0.4rem 1rem; border-left: 4px solid var(--accent);
  background: var(--side); color: var(--muted); }
code { font: 0.88em/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
:not(pre) > code { background: var(--side); padding: 0.1em 0.3em; border-radius: 3px; }
pre, .highlight pre { padding: 0.7rem 1rem; overflow-x: auto; border-radius: 4px;
  background: #f5f5f5; line-height: 1.45; font-size: 0.9em; }
pre.output { background: #fff; border: 1px solid var(--line); border-left: 4px solid #9ab; }
math[display="block"] { margin: 1rem 0; }
.pager { display: flex; justify-content: space-between; margin-top: 3rem; padding-top: 1rem;
  border-top: 1px solid var(--line); }
"""


def _pager(order: list[Page], i: int) -> str:
    """Links to the previous and the next page in reading order."""
    here = posixpath.dirname(order[i].path) or "."
    links = []
    for rel, j, label in (("prev", i - 1, "← {}"), ("next", i + 1, "{} →")):
        if 0 <= j < len(order):
            href = posixpath.relpath(_html_path(order[j].path), here)
            links.append(f'<a rel="{rel}" href="{href}">'
                         f"{html.escape(label.format(order[j].title))}</a>")
        else:
            links.append("<span></span>")
    return "".join(links)


def build_site(root: Path = course.ROOT, out: Path | None = None) -> Path:
    """Write the book as a static HTML site (default: book.toml's ``build-dir``, ``build/book``)
    and return its front page."""
    from pygments.formatters import HtmlFormatter

    config = _config(root)
    about = config.get("book", {})
    source = config.get("preprocessor", {}).get("course", {}).get("source", "solutions")
    out = out or root / config.get("build", {}).get("build-dir", "build/book")
    book = pages(root, source, **from_table(config.get("preprocessor", {}).get("course", {})))
    order = [page for page in walk(book) if page.path]
    for i, page in enumerate(order):
        depth = page.path.count("/")
        target = out / _html_path(page.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_PAGE.format(
            language=about.get("language", "en"), title=html.escape(page.title),
            book=html.escape(about.get("title", "Course")), base="../" * depth,
            toc=_toc(book, page.path), body=markdown_to_html(page.content),
            pager=_pager(order, i)), encoding="utf-8")
    (out / "style.css").write_text(_CSS + HtmlFormatter().get_style_defs(".highlight"),
                                   encoding="utf-8")
    return out / "index.html"
