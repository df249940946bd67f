"""The course's chapters, in order: the one list the runner, the benchmarks and the book use."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A clone of the course keeps its outputs in build/; an installed course (Colab, Kaggle: see
# utils/hosted.py) in build/ under the folder the notebook runs in.
IN_CLONE = (ROOT / "pyproject.toml").is_file() and (ROOT / "solutions").is_dir()
BUILD = ROOT / "build" if IN_CLONE else Path.cwd() / "build"
FRAMEWORKS = ("pytorch", "keras")  # notebook file stems, in the order they are run and shown

CHAPTERS: dict[str, str] = {
    "00_setup": "Setup: runtimes, tensors and a first model",
    "01_cnn": "Convolutional networks",
    "02_dcgan": "Generative adversarial networks (DCGAN)",
    "03_vae": "Variational autoencoders",
    "04_style_transfer": "Neural style transfer",
    "05_sequences": "Image sequences with ConvLSTM",
    "06_diffusion": "Diffusion and flow matching",
    "07_scale_out": "Scale-out: data-parallel training",
}


# Each chapter's precision policy (runtime.setup(..., precision=...) in both twins; a test checks).
# "mixed": its training runs in bfloat16 mixed precision where the GPU does that well (and in a
# dry run); "float32": likelihoods, optimisation of an image, recurrent state or tiny models,
# where bfloat16's 8-bit mantissa would change the numbers the chapter is about.
PRECISION: dict[str, str] = {
    "00_setup": "float32",
    "01_cnn": "mixed",
    "02_dcgan": "mixed",
    "03_vae": "float32",
    "04_style_transfer": "float32",
    "05_sequences": "float32",
    "06_diffusion": "mixed",
    "07_scale_out": "float32",
}


def resolve(names: list[str] | None = None) -> list[str]:
    """Chapter folder names from user input (``01``, ``01_cnn`` or ``cnn``); all when empty."""
    if not names:
        return list(CHAPTERS)
    out = []
    for name in names:
        hits = [c for c in CHAPTERS if name in (c, c[:2], c[3:])]
        if len(hits) != 1:
            raise SystemExit(f"Unknown chapter {name!r}. Chapters: {', '.join(CHAPTERS)}")
        out.append(hits[0])
    return out


def notebooks(chapter: str, kind: str = "solutions") -> list[Path]:
    """The chapter's notebooks that exist, PyTorch first (``kind``: solutions or chapters)."""
    folder = ROOT / kind / chapter
    return [folder / f"{fw}.ipynb" for fw in FRAMEWORKS if (folder / f"{fw}.ipynb").is_file()]
