"""Pretrained weights (chapter 04): where they are looked for, how they are fetched, and a clear
error when they are nowhere.

Search order for a file: ``COURSE_WEIGHTS_DIR`` (a path list), the course's user cache, the
framework caches the official download paths fill (PyTorch: ``$TORCH_HOME/hub/checkpoints``;
Keras: ``$KERAS_HOME/models``, default ``~/.keras/models``). When absent, the file is downloaded
the framework's own way (``torch.hub.download_url_to_file`` with torchvision's hash-prefix check;
``keras.utils.get_file`` with Keras' md5), into that framework's cache. Nothing is ever copied
into the repository.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path


class WeightsNotFound(FileNotFoundError):
    """Pretrained weights are neither on disk nor downloadable; the message says what to do."""


@dataclass(frozen=True)
class WeightFile:
    name: str
    filenames: tuple[str, ...]  # accepted file names, preferred (downloaded) one first
    url: str
    framework: str              # whose cache the official download fills: "torch" or "keras"
    what: str
    sha256: dict[str, str]      # known full SHA-256 per file name, checked when present
    md5: str | None = None      # Keras' get_file hash, for the downloaded file


KNOWN: dict[str, WeightFile] = {
    "squeezenet1_1": WeightFile(
        "squeezenet1_1",
        ("squeezenet1_1-b8a52dc0.pth", "squeezenet1_1-imagenet.pth"),
        "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth", "torch",
        "SqueezeNet 1.1 ImageNet weights, a PyTorch state dict with torchvision's key names "
        "(5 MB)",
        {"squeezenet1_1-imagenet.pth":
         "1f90fa69d37658357dd8db1809a932af61a69a16cffd86456fa185349f4964ae"}),
    "vgg19": WeightFile(
        "vgg19", ("vgg19-dcbb9e9d.pth",),
        "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth", "torch",
        "VGG19 ImageNet weights, torchvision's state dict (548 MB)", {}),
    "vgg19_keras": WeightFile(
        "vgg19_keras", ("vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",),
        "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/"
        "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", "keras",
        "VGG19 ImageNet weights for keras.applications.VGG19(include_top=False) (80 MB)", {},
        md5="253f8cb515780f3b799900260a226db6"),
}


def torch_cache() -> Path:
    """Where ``torch.hub`` keeps downloaded weights (without importing torch)."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch")
    return Path(home).expanduser() / "hub" / "checkpoints"


def keras_cache() -> Path:
    """Where ``keras.utils.get_file`` keeps downloaded weights."""
    return Path(os.environ.get("KERAS_HOME", "~/.keras")).expanduser() / "models"


def user_cache() -> Path:
    env = os.environ.get("COURSE_CACHE_DIR")
    if env:
        return Path(env).expanduser() / "weights"
    import platformdirs

    from .data import APP_NAME

    return platformdirs.user_cache_path(APP_NAME) / "weights"


def search_dirs() -> list[Path]:
    """Folders searched for weight files, in order."""
    dirs = [Path(p.strip()).expanduser()
            for p in os.environ.get("COURSE_WEIGHTS_DIR", "").split(os.pathsep) if p.strip()]
    return dirs + [user_cache(), torch_cache(), keras_cache()]


def _spec(name: str) -> WeightFile:
    if name not in KNOWN:
        raise ValueError(f"unknown weights {name!r}; known: {', '.join(KNOWN)}")
    return KNOWN[name]


def locate(name: str) -> Path | None:
    """The first file on the search path holding weights ``name`` (see ``KNOWN``), or None."""
    spec = _spec(name)
    for folder in search_dirs():
        for filename in spec.filenames:
            if (folder / filename).is_file():
                return folder / filename
    return None


def _verify(path: Path, spec: WeightFile) -> Path:
    """Check a known SHA-256, or torchvision's convention (the name's suffix is its prefix)."""
    expected = spec.sha256.get(path.name)
    stem_hash = path.stem.rsplit("-", 1)[-1]
    if expected is None and path.suffix == ".pth" and len(stem_hash) == 8:
        expected = stem_hash
    if expected:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if not digest.startswith(expected):
            raise WeightsNotFound(
                f"{path} is corrupt or not the expected file (SHA-256 {digest[:16]}…, expected "
                f"{expected[:16]}…). Fix: delete it; the course downloads a fresh copy, or put "
                f"the right file there.")
    return path


def missing_message(name: str, why: str) -> str:
    spec = _spec(name)
    looked = "\n".join(f"  - {d}" for d in search_dirs())
    return (f"{spec.what} not found ({why}).\n"
            f"Needed: one of {', '.join(spec.filenames)} — official file: {spec.url}\n"
            f"Looked in:\n{looked}\n"
            f"Fix: download that file on a machine with internet and put it in one of those "
            f"folders (or set COURSE_WEIGHTS_DIR to the folder that holds it).")


def fetch(name: str, download: bool = True) -> Path:
    """The local file for weights ``name``: found on the search path, else downloaded the
    framework's official way into its cache. Raises ``WeightsNotFound`` with what to do."""
    spec = _spec(name)
    found = locate(name)
    if found is not None:
        return _verify(found, spec)
    if not download or os.environ.get("COURSE_OFFLINE"):
        raise WeightsNotFound(missing_message(name, "downloads are off"))
    try:
        if spec.framework == "torch":
            import torch.hub

            dest = torch_cache() / spec.filenames[0]
            dest.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(spec.url, str(dest), hash_prefix=spec.filenames[0]
                                           .rsplit("-", 1)[-1].split(".")[0], progress=True)
            return _verify(dest, spec)
        import keras

        return Path(keras.utils.get_file(spec.filenames[0], spec.url, file_hash=spec.md5,
                                         cache_subdir="models"))
    except Exception as e:  # network errors come in many types; all become one clear message
        raise WeightsNotFound(missing_message(
            name, f"download failed: {type(e).__name__}: {e}"[:300])) from e


def torch_state_dict(name: str, download: bool = True) -> dict:
    """The state dict of a ``.pth`` weights file, loaded with ``weights_only=True`` on the CPU."""
    import torch

    return torch.load(fetch(name, download), map_location="cpu", weights_only=True)


def numpy_state_dict(name: str, download: bool = True) -> dict:
    """The same state dict as NumPy arrays (PyTorch layout), e.g. to convert for Keras."""
    return {k: v.detach().cpu().numpy() for k, v in torch_state_dict(name, download).items()}
