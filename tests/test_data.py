"""utils.data: real files, bad files, offline behaviour, image folders, synthetic data."""

import gzip
import hashlib
import os
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from utils import data
from utils.data import DatasetError, DatasetNotFound

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No COURSE_DATA_DIR, an empty cache, no system copies, and no network."""
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "SYSTEM_DIRS", [])
    monkeypatch.setattr(data, "DOWNLOAD_ATTEMPTS", 1)

    def no_network(url, **kwargs):
        raise ConnectionError(f"no network for {url}")

    import pooch
    monkeypatch.setattr(pooch, "retrieve", no_network)
    return tmp_path


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def fake_mnist(isolated, monkeypatch):
    """A tiny MNIST-format dataset with its own checksums, in a folder of its own."""
    rng = np.random.default_rng(0)
    arrays = {"train_images": rng.integers(0, 256, (12, 28, 28)),
              "train_labels": np.arange(12) % 10,
              "test_images": rng.integers(0, 256, (4, 28, 28)), "test_labels": np.arange(4)}
    folder = isolated / "copies" / "mnist"
    folder.mkdir(parents=True)
    files = {}
    for key, (name, _, md5) in data._MNIST_FILES.items():
        content = _idx(arrays[key])
        (folder / f"{name}.gz").write_bytes(gzip.compress(content))
        files[key] = (name, hashlib.sha256(content).hexdigest(), md5)
    spec = data.IDX_DATASETS["mnist"]
    monkeypatch.setitem(data.IDX_DATASETS, "mnist", data._IdxSpec(
        spec.folder, spec.classes, spec.mirrors, files))
    return folder, arrays


# --- the real datasets (when an offline copy such as ../shared is present) ---------------------

@pytest.mark.skipif(not (SHARED / "mnist").is_dir(), reason="no offline MNIST copy")
def test_real_mnist_shapes_and_labels():
    ds = data.load_mnist(SHARED, download=False, fallback=False)
    assert ds.x_train.shape == (60000, 28, 28, 1) and ds.x_test.shape == (10000, 28, 28, 1)
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
    assert np.bincount(ds.y_train).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(ds.y_test).tolist() == MNIST_TEST_COUNTS
    assert ds.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]  # the famous first digits
    assert not ds.is_substitute


@pytest.mark.skipif(not (SHARED / "fashion-mnist").is_dir(), reason="no offline copy")
def test_real_fashion_mnist_shapes_and_labels():
    ds = data.load("fashion_mnist", data_dir=SHARED / "fashion-mnist", download=False)
    assert ds.x_train.shape == (60000, 28, 28, 1) and ds.x_test.shape == (10000, 28, 28, 1)
    assert np.bincount(ds.y_train).tolist() == [6000] * 10
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
    assert ds.class_names[9] == "Ankle boot"


@pytest.mark.skipif(not (SHARED / "mnist").is_dir(), reason="no offline MNIST copy")
def test_corrupted_real_copy_is_an_error_naming_the_file(isolated):
    bad = isolated / "bad" / "mnist"
    shutil.copytree(SHARED / "mnist", bad)
    content = bytearray(gzip.decompress((bad / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    content[100] ^= 0xFF  # one flipped label byte: still a valid IDX file, but not MNIST
    (bad / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(content)))
    with pytest.raises(DatasetError) as err:
        data.load_mnist(bad.parent)
    msg = str(err.value)
    assert "t10k-labels-idx1-ubyte.gz" in msg and "SHA-256" in msg and "Fix" in msg


# --- the IDX format and bad files ------------------------------------------------------------

def test_parse_idx_matches_independent_construction():
    arr = np.arange(2 * 3 * 4).reshape(2, 3, 4) % 256
    np.testing.assert_array_equal(data.parse_idx(_idx(arr)), arr)


@pytest.mark.parametrize("content,match", [
    (b"\x00\x00\x0d\x03" + b"\x00" * 20, "wrong magic"),
    (b"\x1f\x8b\x08\x00", "wrong magic"),  # bytes handed to parse_idx are never gzip
    (b"", "wrong magic"),
    (_idx(np.zeros((3, 2, 2)))[:-1], "truncated"),
    (_idx(np.zeros((3, 2, 2)))[:10], "truncated"),
])
def test_parse_idx_rejects_bad_content(content, match):
    with pytest.raises(DatasetError, match=match):
        data.parse_idx(content, "some-file")


def test_fake_copy_loads_from_data_dir(fake_mnist):
    folder, arrays = fake_mnist
    ds = data.load_mnist(folder.parent)
    np.testing.assert_array_equal(ds.x_train[..., 0], arrays["train_images"])
    np.testing.assert_array_equal(ds.y_test, arrays["test_labels"])
    assert ds.source == str(folder)  # the path, for the learner; the label says it in words
    assert ds.label == "MNIST (local copy of the official files)"


def test_label_names_where_the_files_came_from_never_a_path(fake_mnist, monkeypatch, tmp_path):
    folder, _ = fake_mnist
    cached = data.cache_dir() / "mnist"
    shutil.copytree(folder, cached)  # what a download leaves in the cache
    assert data.load_mnist().label == "MNIST (official files)"
    shutil.rmtree(cached)
    system = tmp_path / "system"
    shutil.copytree(folder, system / "mnist")
    monkeypatch.setattr(data, "SYSTEM_DIRS", [system])
    ds = data.load_mnist()
    assert ds.label == "MNIST (system copy of the official files)"
    assert ds.source == str(system / "mnist")
    for label in (ds.label, data.load_mnist(folder.parent).label):
        assert "/" not in label and str(tmp_path) not in label


def test_search_order_env_path_list(fake_mnist, monkeypatch, tmp_path):
    folder, _ = fake_mnist
    monkeypatch.setenv("COURSE_DATA_DIR", os.pathsep.join([str(tmp_path / "nothing"),
                                                           str(folder.parent)]))
    assert data.load_mnist().source == str(folder)
    assert data.load_mnist().label == "MNIST (local copy of the official files)"
    dirs = data.search_dirs("explicit")
    assert dirs[0] == Path("explicit") and dirs[2] == folder.parent and dirs[3] == data.cache_dir()


@pytest.mark.parametrize("damage,match", [
    (lambda raw: raw[: len(raw) // 2], "damaged gzip"),                       # truncated .gz
    (lambda raw: gzip.compress(gzip.decompress(raw)[:-7]), "SHA-256"),         # truncated content
    (lambda raw: gzip.compress(b"\x08\x03" + gzip.decompress(raw)[2:]), "SHA-256"),  # magic
])
def test_damaged_files_are_errors_not_fallbacks(fake_mnist, damage, match):
    folder, _ = fake_mnist
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DatasetError, match=match) as err:
        data.load_mnist(folder.parent, fallback=True)
    assert str(path) in str(err.value)
    assert not isinstance(err.value, DatasetNotFound)


def test_offline_without_copy_falls_back_to_embedded_sample(isolated, capsys):
    ds = data.load_mnist()
    out = capsys.readouterr().out
    assert "NOTICE" in out and "embedded MNIST sample" in out and "download failed" in out
    assert ds.is_substitute and ds.x_train.shape == (4000, 28, 28, 1)
    assert ds.x_test.shape == (1000, 28, 28, 1) and ds.x_train.dtype == np.uint8
    assert np.bincount(ds.y_train).tolist() == [400] * 10
    assert ds.label == "MNIST (embedded sample of 5,000 digits)"
    assert not list((isolated / "cache").rglob("*.gz"))  # nothing half-written left behind


def test_offline_without_copy_and_without_fallback_names_files_and_fix(isolated):
    with pytest.raises(DatasetNotFound) as err:
        data.load_fashion_mnist()
    msg = str(err.value)
    for needed in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "COURSE_DATA_DIR",
                   str(data.cache_dir() / "fashion-mnist"), "no network"):
        assert needed in msg
    with pytest.raises(DatasetNotFound):
        data.load_mnist(fallback=False)


def test_download_is_verified_and_bad_download_removed(fake_mnist, monkeypatch):
    folder, arrays = fake_mnist
    import pooch

    published = {p.name: p.read_bytes() for p in folder.iterdir()}

    def fake_retrieve(url, known_hash, fname, path, **kwargs):
        name = url.rsplit("/", 1)[1]
        content = published[name]
        if "t10k-images" in name:
            content = gzip.compress(gzip.decompress(content)[:-1] + b"\x01")  # tampered
        Path(path, fname).write_bytes(content)
        return str(Path(path, fname))

    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    shutil.rmtree(folder)  # no local copy: everything must come through the download
    with pytest.raises(DatasetError, match="SHA-256"):
        data.load_mnist()
    cached = data.cache_dir() / "mnist"
    assert (cached / "train-images-idx3-ubyte.gz").is_file()  # good downloads are kept
    assert not (cached / "t10k-images-idx3-ubyte.gz").exists()  # the bad one is removed


def test_unwritable_cache_is_a_clear_error(isolated, monkeypatch):
    blocker = isolated / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("COURSE_CACHE_DIR", str(blocker / "cache"))
    with pytest.raises(DatasetError, match="not writable.*COURSE_CACHE_DIR"):
        data.load_fashion_mnist()


def test_unknown_dataset_name_lists_known_ones():
    with pytest.raises(DatasetError) as err:
        data.load("imagenet")
    assert "imagenet" in str(err.value) and "fashion-mnist" in str(err.value)
    assert "load_image_folder" in str(err.value)


def test_offline_env_skips_download(isolated, monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    with pytest.raises(DatasetNotFound, match="downloads are off"):
        data.load_mnist(fallback=False)


# --- image folders ---------------------------------------------------------------------------

@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "pets"
    (root / "cat").mkdir(parents=True)
    (root / "dog").mkdir()
    Image.new("L", (8, 8), 100).save(root / "cat" / "a.png")
    Image.new("RGBA", (8, 8), (255, 0, 0, 255)).save(root / "cat" / "b.png")
    Image.new("RGB", (8, 8), (0, 0, 255)).save(root / "dog" / "c.jpg", quality=100)
    (root / "dog" / "notes.txt").write_text("not an image")
    (root / ".DS_Store").write_bytes(b"\0\0")
    return root


def test_image_folder_labels_and_mixed_modes(folder):
    ds = data.load_image_folder(folder)
    assert ds.class_names == ["cat", "dog"] and ds.y_train.tolist() == [0, 0, 1]
    assert ds.x_train.shape == (3, 8, 8, 3) and ds.x_train.dtype == np.uint8
    assert ds.x_train[0, 0, 0].tolist() == [100, 100, 100]  # gray -> RGB
    assert ds.x_train[1, 0, 0].tolist() == [255, 0, 0]      # RGBA -> RGB
    gray = data.load_image_folder(folder, mode="L")
    assert gray.x_train.shape == (3, 8, 8, 1)


def test_image_folder_transparency_goes_onto_white(tmp_path):
    Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    assert data.load_image_folder(tmp_path).x_train[0, 0, 0].tolist() == [255, 255, 255]


def test_image_folder_unreadable_file(folder, capsys):
    bad = folder / "dog" / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 this is not really a jpeg")
    with pytest.raises(DatasetError) as err:
        data.load_image_folder(folder)
    assert str(bad) in str(err.value) and "skip_unreadable=True" in str(err.value)
    ds = data.load_image_folder(folder, skip_unreadable=True)
    assert len(ds.x_train) == 3 and "skipped 1 unreadable" in capsys.readouterr().out


def test_image_folder_sizes_must_match_or_be_resized(folder):
    Image.new("RGB", (10, 6)).save(folder / "dog" / "wide.png")
    with pytest.raises(DatasetError, match="size=N"):
        data.load_image_folder(folder)
    assert data.load_image_folder(folder, size=5).x_train.shape == (4, 5, 5, 3)


def test_image_folder_flat_archive_and_empty(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(3):
        Image.new("L", (4, 4), i).save(flat / f"{i}.pgm")
    archive = tmp_path / "flat.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(flat, arcname="flat")
    ds = data.load_image_folder(archive, mode="L")
    assert ds.x_train[:, 0, 0, 0].tolist() == [0, 1, 2] and set(ds.y_train.tolist()) == {0}
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no image files"):
        data.load_image_folder(tmp_path / "empty")
    with pytest.raises(DatasetError, match="does not exist"):
        data.load_image_folder(tmp_path / "missing")


# --- CIFAR-10 (binary release) ----------------------------------------------------------------

def _cifar_file(path: Path, labels, rng) -> np.ndarray:
    images = rng.integers(0, 256, (len(labels), 32, 32, 3), dtype=np.uint8)
    records = [bytes([lab]) + img[..., 0].tobytes() + img[..., 1].tobytes() + img[..., 2].tobytes()
               for lab, img in zip(labels, images, strict=True)]
    path.write_bytes(b"".join(records))
    return images


def test_cifar_binary_layout(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "CIFAR_RECORDS_PER_FILE", 3)
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    expected = [_cifar_file(folder / f"data_batch_{i}.bin", [i, 0, 9], rng) for i in range(1, 6)]
    test_images = _cifar_file(folder / "test_batch.bin", [3, 4, 5], rng)
    ds = data.load_cifar10(tmp_path, download=False)
    np.testing.assert_array_equal(ds.x_train, np.concatenate(expected))  # R, G, B planes -> HWC
    np.testing.assert_array_equal(ds.x_test, test_images)
    assert ds.y_train[:3].tolist() == [1, 0, 9] and ds.class_names[0] == "airplane"
    assert ds.label == "CIFAR-10 (local copy of the official files)"
    (folder / "test_batch.bin").write_bytes((folder / "test_batch.bin").read_bytes()[:-5])
    with pytest.raises(DatasetError, match="test_batch.bin.*truncated"):
        data.load_cifar10(tmp_path, download=False)


def test_cifar_offline_synthetic_fallback_and_error(isolated, capsys):
    with pytest.raises(DatasetNotFound, match="cifar-10-binary.tar.gz"):
        data.load_cifar10()
    ds = data.load_cifar10(fallback="synthetic")
    assert ds.name == "synthetic-shapes" and ds.is_substitute
    assert ds.label == "synthetic shapes (generated coloured shapes, not photos)"
    assert "SYNTHETIC" in capsys.readouterr().out


# --- synthetic shapes ------------------------------------------------------------------------

def test_shapes_are_deterministic_balanced_and_learnable():
    x, y = data.make_shapes(1000, seed=3)
    x2, y2 = data.make_shapes(1000, seed=3)
    np.testing.assert_array_equal(x, x2)
    assert x.shape == (1000, 32, 32, 3) and np.bincount(y).tolist() == [100] * 10
    # Learnable: a linear classifier on the (shape-revealing) foreground mask beats chance.
    from sklearn.linear_model import LogisticRegression

    def features(images):
        gray = images.mean(-1)
        return (gray > gray.mean((1, 2), keepdims=True)).reshape(len(images), -1)

    xt, yt = data.make_shapes(400, seed=4)
    acc = LogisticRegression(max_iter=300).fit(features(x), y).score(features(xt), yt)
    assert acc > 0.3, acc  # chance is 0.1


def test_cifar_jpeg_proxy_is_used_and_announced(isolated, capsys):
    classes = ["airplane", "automobile"]
    root = isolated / "src" / "cifar10-jpeg"
    for split, n in (("train", 3), ("test", 2)):
        for label, name in enumerate(classes):
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                image = Image.new("RGB", (32, 32), (label * 200, i, 0))
                image.save(root / split / name / f"{i}.jpg", quality=100)
    archive = isolated / "copies" / "cifar10-jpeg" / "cifar10-jpeg.tar.gz"
    archive.parent.mkdir(parents=True)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root / "train", arcname="train")
        tar.add(root / "test", arcname="test")
    ds = data.load_cifar10(isolated / "copies")
    assert ds.x_train.shape == (6, 32, 32, 3) and ds.x_test.shape == (4, 32, 32, 3)
    assert ds.class_names == classes and sorted(ds.y_train.tolist()) == [0, 0, 0, 1, 1, 1]
    assert ds.y_train.tolist() != [0, 0, 0, 1, 1, 1]  # mixed, not sorted by class
    red = ds.x_train[:, 0, 0, 0].astype(int)
    assert np.all(np.abs(red - 200 * ds.y_train) <= 3)  # each image kept its label (JPEG: ±3)
    assert ds.is_substitute and "JPEG proxy" in capsys.readouterr().out
    assert "JPEG proxy" in ds.source and str(archive) in ds.source  # the path, for the learner
    assert ds.label == "CIFAR-10 JPEG proxy (JPEG-compressed images, not the official files)"
    again = data.load_cifar10(isolated / "copies")  # from the decoded cache this time
    np.testing.assert_array_equal(again.x_train, ds.x_train)


def test_locate_follows_the_search_path(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    (second / "faces").mkdir(parents=True)
    (second / "faces" / "faces.tar.gz").write_bytes(b"x")
    (first / "faces.tar.gz").parent.mkdir(parents=True)
    monkeypatch.setenv("COURSE_DATA_DIR", os.pathsep.join([str(first), str(second)]))
    assert data.locate("faces", "faces.tar.gz") == second / "faces" / "faces.tar.gz"
    (first / "faces.tar.gz").write_bytes(b"y")  # a flat copy earlier on the path wins
    assert data.locate("faces", "faces.tar.gz") == first / "faces.tar.gz"
    explicit = tmp_path / "c" / "faces"
    explicit.mkdir(parents=True)
    (explicit / "faces.tar.gz").write_bytes(b"z")
    assert data.locate("faces", "faces.tar.gz", tmp_path / "c") == explicit / "faces.tar.gz"
    assert data.locate("faces", "missing.zip") is None


def test_load_faces_from_the_att_archive_or_the_embedded_sample(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("COURSE_FACES", raising=False)
    shared = data.locate(*data.FACES_ARCHIVE)
    if shared is not None:  # ../shared present: the real AT&T faces, 40 people × 10
        faces = data.load_faces(size=32)
        assert faces.x_train.shape == (400, 32, 32, 1) and faces.x_train.dtype == np.uint8
        assert not faces.is_substitute and faces.x_train.std() > 20
        assert faces.label.startswith("AT&T faces (") and "/" not in faces.label
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "nothing"))
    monkeypatch.setattr(data, "SYSTEM_DIRS", [])
    sample = data.load_faces(size=48, mode="RGB")
    assert sample.x_train.shape == (100, 48, 48, 3) and sample.is_substitute
    assert "lfw_subset" in sample.source and sample.x_train.std() > 20
    assert sample.label == "faces (embedded sample: scikit-image's 100 LFW face crops)"


def test_load_faces_reads_course_faces_folder(tmp_path, monkeypatch):
    from PIL import Image

    folder = tmp_path / "celeb"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COURSE_FACES", str(folder))
    faces = data.load_faces(size=16, mode="RGB")
    assert faces.x_train.shape == (3, 16, 16, 3) and not faces.is_substitute
    assert faces.label == "celeb (image folder)" and faces.source == str(folder)
    again = data.load_faces(size=16, mode="RGB")  # from the decoded cache: the same words
    assert again.label == "celeb (image folder)"


# --- Moving MNIST ----------------------------------------------------------------------------

def _square_digits(values=(255,), side=28):
    return np.stack([np.full((side, side), v, np.uint8) for v in values])


def test_moving_mnist_shape_dtype_and_determinism():
    digits = np.random.default_rng(0).integers(0, 256, (50, 28, 28), dtype=np.uint8)
    a = data.moving_mnist(6, digits, seq_len=7, num_digits=3, seed=1)
    assert a.shape == (6, 7, 64, 64, 1) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, data.moving_mnist(6, digits, seq_len=7, num_digits=3, seed=1))
    assert not np.array_equal(a, data.moving_mnist(6, digits, seq_len=7, num_digits=3, seed=2))
    # any length / size / digit count; NHWC digits with a channel axis are accepted
    b = data.moving_mnist(2, digits[..., None], seq_len=30, num_digits=1, size=40)
    assert b.shape == (2, 30, 40, 40, 1)


def test_moving_mnist_digits_move_at_constant_speed_and_bounce_inside_the_frame():
    seq = data.moving_mnist(20, _square_digits(), seq_len=40, num_digits=1, seed=3)[..., 0]
    lim = 64 - 28
    for frames in seq:
        corners = []
        for frame in frames:
            rows, cols = np.nonzero(frame)
            assert rows.size == 28 * 28  # the whole digit is always inside the frame
            corners.append((rows.min(), cols.min()))
        corners = np.array(corners, dtype=float)
        assert corners.min() >= 0 and corners.max() <= lim
        steps = np.diff(corners, axis=0)
        speed = np.hypot(*steps.T)
        # 0.1 · 36 = 3.6 px per frame, up to rounding; slower only where it hits an edge.
        at_edge = ((corners[:-1] <= 4) | (corners[:-1] >= lim - 4) | (corners[1:] <= 4)
                   | (corners[1:] >= lim - 4)).any(axis=1)
        assert np.all(np.abs(speed[~at_edge] - 3.6) <= 1.5), speed[~at_edge]
        # bounces: each coordinate's direction of motion flips only at the edges
        for axis in range(2):
            move = steps[:, axis]
            flips = np.nonzero(np.sign(move[1:]) * np.sign(move[:-1]) < 0)[0] + 1
            for f in flips:
                assert corners[f, axis] <= 4 or corners[f, axis] >= lim - 4


def test_moving_mnist_overlaps_combine_by_maximum():
    seq = data.moving_mnist(30, _square_digits((100, 200)), seq_len=20, num_digits=2, seed=0)
    assert set(np.unique(seq)) <= {0, 100, 200}  # a sum would give 300 → overflow
    hidden = (seq == 100).sum(axis=(2, 3, 4)) < 28 * 28  # the 100-square partly under the other
    assert hidden.any()                                  # (so overlaps did happen)


def test_moving_mnist_rejects_bad_input():
    digits = _square_digits()
    with pytest.raises(ValueError):
        data.moving_mnist(2, digits.astype(np.float32))
    with pytest.raises(ValueError):
        data.moving_mnist(2, digits, size=20)
    with pytest.raises(ValueError):
        data.moving_mnist(0, digits)
