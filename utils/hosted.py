"""Notebooks opened outside a clone (Google Colab, Kaggle, a downloaded file).

One setting says where the course comes from: ``repository`` (and ``branch``) in book.toml's
``[preprocessor.course]`` table. From it:

- every notebook's first code cell (`install_cell`, written by ``python -m utils exercises``)
  installs the course's package when ``utils`` is not importable, from
  ``git+<repository>@<branch>`` or from ``COURSE_SOURCE`` (a wheel, a folder or any pip
  requirement), pinning the frameworks already installed so that pip cannot replace them;
- the book's pages link each notebook to Colab and Kaggle (`open_links`; GitHub only).

With ``repository`` empty the links are left out and the cell asks for ``COURSE_SOURCE``.
"""

from __future__ import annotations

import re
from pathlib import Path

from . import chapters as course

TAG = "course-install"  # the first code cell's tag: `with_install_cell` finds it by this
KEEP = ("torch", "tensorflow", "keras", "jax", "numpy")  # never changed by the install


def settings(root: Path = course.ROOT) -> dict[str, str]:
    """``repository`` and ``branch`` from book.toml (empty / ``main`` when unset)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    file = root / "book.toml"
    config = tomllib.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}
    return from_table(config.get("preprocessor", {}).get("course", {}))


def from_table(table: dict) -> dict[str, str]:
    """``repository`` and ``branch`` from book.toml's ``[preprocessor.course]`` table, as read
    (mdBook hands the preprocessor the same table)."""
    return {"repository": table.get("repository", "").strip().rstrip("/"),
            "branch": table.get("branch", "main").strip() or "main"}


def install_source(repository: str, branch: str = "main") -> str:
    """What pip installs the course from: ``git+<repository>@<branch>``, or "" when unset."""
    if not repository:
        return ""
    url = repository if repository.endswith(".git") else repository + ".git"
    return f"git+{url}@{branch}"


def _github(repository: str) -> str | None:
    """``owner/name`` of a GitHub repository URL, else None."""
    m = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?", repository)
    return f"{m.group(1)}/{m.group(2)}" if m else None


def open_links(notebook: str, repository: str, branch: str = "main") -> list[tuple[str, str]]:
    """``[(label, url)]`` that open ``notebook`` (a path in the repository, e.g.
    ``chapters/01_cnn/pytorch.ipynb``) on Colab and Kaggle; none unless on GitHub."""
    repo = _github(repository)
    if not repo:
        return []
    blob = f"{repo}/blob/{branch}/{notebook}"
    return [("Open in Colab", f"https://colab.research.google.com/github/{blob}"),
            ("Open in Kaggle", f"https://kaggle.com/kernels/welcome?src=https://github.com/{blob}")]


def install_cell(source: str) -> str:
    """The first code cell of every notebook, installing from ``source`` (see module doc)."""
    if '"' in source or "\\" in source:
        raise ValueError(f"install source {source!r}: no quotes or backslashes, please")
    return f'''\
# Outside a clone of the course (Colab, Kaggle, a downloaded notebook) `utils` is missing:
# install the course's package first, keeping the frameworks already here. In a clone, or once
# installed, this cell does nothing.
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import tempfile

if importlib.util.find_spec("utils") is None:
    source = os.environ.get("COURSE_SOURCE") or "{source}"
    if not source:
        raise RuntimeError("The course's `utils` package is not installed. Clone the course "
                           "and run ./course setup, or set COURSE_SOURCE (a wheel or git URL).")
    keep = []  # pip may add packages, never change these
    for name in ({", ".join(f'"{name}"' for name in KEEP)}):
        try:
            keep.append(f"{{name}}=={{importlib.metadata.version(name)}}")
        except importlib.metadata.PackageNotFoundError:
            pass
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as pins:
        pins.write("\\n".join(keep) + "\\n")
    print(f"Installing the course from {{source}} (keeping {{', '.join(keep) or 'nothing'}})")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-c", pins.name, source],
                   check=True)
    importlib.invalidate_caches()'''


def with_install_cell(nb, source: str) -> bool:
    """Make ``nb``'s first code cell the install cell for ``source`` (insert it, or update the
    tagged one); return whether ``nb`` changed."""
    import nbformat

    text = install_cell(source)
    code = [c for c in nb.cells if c.cell_type == "code"]
    first = code[0] if code else None
    if first is not None and TAG in first.metadata.get("tags", []):
        if first.source == text:
            return False
        first.source = text
        return True
    cell = nbformat.v4.new_code_cell(text, metadata={"tags": [TAG]}, id=TAG)
    index = nb.cells.index(first) if first is not None else len(nb.cells)
    nb.cells.insert(index, cell)
    return True
