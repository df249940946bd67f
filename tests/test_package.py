"""The course as a package (Colab, Kaggle, a downloaded notebook: utils/hosted.py).

The wheel and sdist hold `utils` and chapter 07's scripts, nothing of the notebooks or a
learner's folders; every notebook starts with the install cell written from book.toml; and a
notebook copied out of the clone, in an environment that has the frameworks but not the course,
installs the course from a local wheel in its first cell and runs to the end."""

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import nbformat
import pytest

from utils import chapters, hosted

ROOT = chapters.ROOT
NOTEBOOKS = sorted(ROOT.glob("solutions/*/*.ipynb")) + sorted(ROOT.glob("chapters/*/*.ipynb"))


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """The wheel and sdist, built as `python -m build` builds them (setuptools, no isolation:
    offline, with the setuptools the environment already has)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out),
                    str(ROOT)], check=True, capture_output=True, cwd=ROOT)
    return next(out.glob("*.whl")), next(out.glob("*.tar.gz"))


def test_wheel_and_sdist_hold_the_package_and_nothing_of_the_learners_folders(dist):
    wheel, sdist = dist
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert top == {"utils", "scale_out", "neural_image_course-0.1.0.dist-info"}
    assert "utils/runtime.py" in names and "scale_out/torch_ddp.py" in names
    with tarfile.open(sdist) as tar:
        inside = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert {"pyproject.toml", "README.md", "utils/__init__.py", "scale_out/launch.py"} <= inside
    for folder in ("chapters/", "solutions/", "tests/", "build/", "docs/", "tools/"):
        assert not any(n.startswith(folder) for n in inside), folder
    assert not any(n.endswith(".ipynb") for n in names + sorted(inside))


def test_every_notebook_starts_with_the_install_cell_from_book_toml():
    settings = hosted.settings()
    text = hosted.install_cell(hosted.install_source(**settings))
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        first = next(c for c in nb.cells if c.cell_type == "code")
        assert first.source == text, f"{path}: run python -m utils exercises"
        assert hosted.TAG in first.metadata["tags"]


def test_install_source_and_links_follow_the_setting():
    assert hosted.install_source("") == ""
    assert hosted.install_source("https://github.com/org/course", "dev") == \
        "git+https://github.com/org/course.git@dev"
    links = dict(hosted.open_links("chapters/01_cnn/pytorch.ipynb", "https://github.com/org/c"))
    assert links["Open in Colab"] == ("https://colab.research.google.com/github/org/c/blob/main/"
                                      "chapters/01_cnn/pytorch.ipynb")
    assert links["Open in Kaggle"].endswith("src=https://github.com/org/c/blob/main/chapters/"
                                            "01_cnn/pytorch.ipynb")
    assert hosted.open_links("x.ipynb", "") == []  # unset: no links rather than broken ones
    assert hosted.open_links("x.ipynb", "https://gitlab.com/org/c") == []  # Colab: GitHub only
    with pytest.raises(ValueError, match="quotes"):
        hosted.install_cell('x"; import os; "')


def test_install_cell_does_nothing_where_utils_is_importable(tmp_path):
    code = hosted.install_cell("/nowhere/course.whl")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "PIP_NO_INDEX": "1"})
    assert done.returncode == 0 and done.stdout == "" and "pip" not in done.stderr


def _environment_without_the_course(tmp_path: Path) -> Path:
    """A virtual environment that sees every package of this one (frameworks, Jupyter) except
    the course itself: a folder of links to site-packages, minus the course, on its path."""
    import sysconfig

    venv = tmp_path / "hosted-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    shared = tmp_path / "host-packages"
    shared.mkdir()
    ours = ("neural_image_course", "__editable__", "utils", "scale_out")
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(ours) and entry.suffix != ".pth":
            (shared / entry.name).symlink_to(entry)
    python = venv / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                              "['purelib'])"], capture_output=True, text=True, check=True)
    # read by `site` when the new interpreter starts: the host's packages are on its path
    Path(purelib.stdout.strip(), "host-packages.pth").write_text(f"{shared}\n")
    return python


def test_a_notebook_outside_the_clone_installs_the_course_and_runs(dist, tmp_path):
    wheel, _ = dist
    python = _environment_without_the_course(tmp_path)
    away = tmp_path / "Downloads"
    away.mkdir()
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COURSE_REPORT_FILE")}

    def ask(code: str) -> str:
        return subprocess.run([python, "-c", code], capture_output=True, text=True, check=True,
                              cwd=away, env=clean).stdout.strip()

    assert ask("import importlib.util as u; print(u.find_spec('utils'))") == "None"
    before = ask("import torch; print(torch.__version__)")
    notebook = away / "pytorch.ipynb"
    notebook.write_bytes((ROOT / "solutions/00_setup/pytorch.ipynb").read_bytes())
    env = {**clean, "COURSE_SOURCE": str(wheel), "PIP_NO_INDEX": "1",
           "COURSE_PROFILE": "smoke", "JUPYTER_DATA_DIR": str(tmp_path / "jupyter"),
           "JUPYTER_PATH": ""}
    done = subprocess.run([python, "-m", "papermill", "--log-level", "ERROR", str(notebook),
                           str(away / "out.ipynb"), "--cwd", str(away)], env=env, cwd=away,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    cells = nbformat.read(away / "out.ipynb", as_version=4).cells
    first = next(c for c in cells if c.cell_type == "code")
    printed = "".join(o.get("text", "") for o in first.outputs)
    assert "Installing the course from" in printed and str(wheel) in printed
    # installed into that environment (not found in the clone), the host's framework untouched
    assert "hosted-venv" in ask("import utils; print(utils.__file__)")
    assert ask("import torch; print(torch.__version__)") == before


def test_book_pages_link_colab_and_kaggle_only_when_the_repository_is_set():
    from utils import book

    def page(**settings):
        return next(c for p in book.pages(**settings) for c in p.children
                    if c.path == "03_vae/keras.md").content

    linked = page(repository="https://github.com/org/course", branch="dev")
    assert ("[Open in Colab](https://colab.research.google.com/github/org/course/blob/dev/"
            "chapters/03_vae/keras.ipynb)") in linked
    assert "[Open in Kaggle](https://kaggle.com/kernels/welcome?src=" in linked
    assert "colab" not in page().lower().split("# 03")[0]  # unset: the header has no link
