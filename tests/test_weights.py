"""utils.weights (finding, fetching, verifying pretrained weights) and the SqueezeNet twins:
the same weights give the same features in PyTorch and Keras."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from utils import weights


@pytest.fixture
def no_weights_anywhere(tmp_path, monkeypatch):
    for var, sub in [("COURSE_WEIGHTS_DIR", "w"), ("COURSE_CACHE_DIR", "c"), ("TORCH_HOME", "t"),
                     ("KERAS_HOME", "k")]:
        monkeypatch.setenv(var, str(tmp_path / sub))
    return tmp_path


def test_missing_weights_give_a_clear_message(no_weights_anywhere, monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    assert weights.locate("squeezenet1_1") is None
    with pytest.raises(weights.WeightsNotFound) as err:
        weights.fetch("squeezenet1_1")
    message = str(err.value)
    for needed in ("squeezenet1_1-b8a52dc0.pth", "squeezenet1_1-imagenet.pth",
                   "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth",
                   str(no_weights_anywhere / "w"), str(no_weights_anywhere / "t"),
                   "COURSE_WEIGHTS_DIR"):
        assert needed in message
    with pytest.raises(ValueError, match="unknown weights"):
        weights.fetch("resnet9000")


def test_search_order_and_caches(no_weights_anywhere):
    dirs = weights.search_dirs()
    assert dirs[0] == no_weights_anywhere / "w"
    assert no_weights_anywhere / "t" / "hub" / "checkpoints" in dirs
    assert no_weights_anywhere / "k" / "models" in dirs
    # a file in the torch hub cache (where torch.hub downloads to) is found
    cached = no_weights_anywhere / "t" / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    assert weights.locate("vgg19") == cached


def test_corrupt_files_are_rejected(no_weights_anywhere):
    folder = no_weights_anywhere / "w"
    folder.mkdir()
    (folder / "squeezenet1_1-imagenet.pth").write_bytes(b"not the weights")  # known SHA-256
    with pytest.raises(weights.WeightsNotFound, match="corrupt"):
        weights.fetch("squeezenet1_1")
    (folder / "vgg19-dcbb9e9d.pth").write_bytes(b"not vgg")  # torchvision's name = hash prefix
    with pytest.raises(weights.WeightsNotFound, match="corrupt"):
        weights.fetch("vgg19")


def test_a_file_with_the_right_hash_passes(tmp_path):
    path = tmp_path / "model-00000000.pth"
    path.write_bytes(b"some weights")
    digest = hashlib.sha256(b"some weights").hexdigest()
    spec = weights.WeightFile("m", (path.name,), "https://example.org/m.pth", "torch", "m",
                              {path.name: digest})
    assert weights._verify(path, spec) == path
    renamed = tmp_path / f"model-{digest[:8]}.pth"  # torchvision convention, no full hash known
    path.rename(renamed)
    assert weights._verify(renamed, weights.WeightFile("m", (renamed.name,), "", "torch", "m",
                                                       {})) == renamed


def test_official_download_paths_are_used(no_weights_anywhere, monkeypatch):
    import keras
    import torch.hub

    calls = {}

    def fake_torch_download(url, dst, hash_prefix=None, progress=True):
        calls["torch"] = (url, hash_prefix)
        Path(dst).write_bytes(b"downloaded")

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_torch_download)
    with pytest.raises(weights.WeightsNotFound, match="corrupt"):  # fake bytes fail the check
        weights.fetch("squeezenet1_1")
    assert calls["torch"] == (weights.KNOWN["squeezenet1_1"].url, "b8a52dc0")
    assert (no_weights_anywhere / "t" / "hub" / "checkpoints" /
            "squeezenet1_1-b8a52dc0.pth").is_file()

    def fake_get_file(fname, origin, file_hash=None, cache_subdir=None):
        calls["keras"] = (fname, origin, file_hash, cache_subdir)
        return str(no_weights_anywhere / fname)

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    weights.fetch("vgg19_keras")
    assert calls["keras"][2:] == ("253f8cb515780f3b799900260a226db6", "models")

    def failing_download(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", failing_download)
    with pytest.raises(weights.WeightsNotFound, match="network is unreachable"):
        weights.fetch("vgg19")


# --- the SqueezeNet twins ---------------------------------------------------------------------

LAYERS = ["features.1", "features.2", "features.3", "features.5", "features.7", "features.12"]


def _torch_and_keras_features(state_dict, image_nhwc):
    import keras
    import torch

    from utils import keras_helpers as kh
    from utils import torch_helpers as th

    tmodel = th.squeezenet1_1({k: torch.from_numpy(v) for k, v in state_dict.items()})
    x = torch.from_numpy(image_nhwc.transpose(0, 3, 1, 2).copy())
    out_t = {}
    with torch.no_grad():
        h = x
        for i, layer in enumerate(tmodel.features):
            h = layer(h)
            out_t[f"features.{i}"] = h.numpy().transpose(0, 2, 3, 1)
        out_t["logits"] = tmodel(x).numpy()
    kmodel = kh.squeezenet1_1(state_dict)
    probe = keras.Model(kmodel.input, [kmodel.get_layer(n).output for n in LAYERS]
                        + [kmodel.output])
    out_k = dict(zip([*LAYERS, "logits"], [np.asarray(a) for a in probe(image_nhwc)],
                     strict=True))
    return out_t, out_k


def _assert_parity(out_t, out_k, rtol=1e-4):
    for name, k_value in out_k.items():
        t_value = out_t[name]
        assert t_value.shape == k_value.shape, name
        relative = np.abs(t_value - k_value).max() / max(np.abs(t_value).max(), 1e-12)
        assert relative <= rtol, f"{name}: relative difference {relative:.2e}"


def test_squeezenet_twins_agree_with_the_same_random_weights():
    import torch

    from utils import torch_helpers as th

    torch.manual_seed(0)
    state = {k: v.numpy() for k, v in th.squeezenet1_1().state_dict().items()}
    # 70 px: (70 - 3) // 2 + 1 = 34 after the first conv, and 34 - 3 is odd, so PyTorch's
    # ceil_mode pooling keeps a partial window that Keras' "valid" pooling would drop.
    image = np.random.default_rng(0).normal(size=(2, 70, 70, 3)).astype(np.float32)
    out_t, out_k = _torch_and_keras_features(state, image)
    assert out_t["features.2"].shape[1] == 17
    _assert_parity(out_t, out_k)


def test_squeezenet_twins_agree_with_the_pretrained_weights():
    if weights.locate("squeezenet1_1") is None:
        pytest.skip("SqueezeNet weights not on the search path (COURSE_WEIGHTS_DIR)")
    from PIL import Image
    from skimage import data as skdata

    image = np.asarray(Image.fromarray(skdata.astronaut()).resize((128, 128)), np.float32) / 255
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    x = ((image - mean) / std).astype(np.float32)[None]
    out_t, out_k = _torch_and_keras_features(weights.numpy_state_dict("squeezenet1_1"), x)
    _assert_parity(out_t, out_k)
    assert out_t["logits"].argmax() == out_k["logits"].argmax()


def test_conv_kernel_conversion_and_loading_errors():
    import keras

    from utils import keras_helpers as kh

    with pytest.raises(ValueError):
        kh.conv_kernel_from_torch(np.zeros((3, 3)))
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="conv")])
    with pytest.raises(KeyError, match="conv"):
        kh.load_torch_state_dict(model, {"other.weight": np.zeros((4, 3, 3, 3))})
    unused = kh.load_torch_state_dict(model, {"conv.weight": np.ones((4, 3, 3, 3)),
                                              "conv.bias": np.zeros(4), "extra": np.zeros(1)})
    assert unused == ["extra"]
    np.testing.assert_array_equal(model.get_layer("conv").kernel.numpy(), np.ones((3, 3, 3, 4)))


def test_vgg19_features_loads_torchvision_keys_and_swaps_pooling():
    import torch

    from utils import torch_helpers as th

    model = th.vgg19_features()
    state = {f"features.{k}": v for k, v in model.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(1)  # torchvision's file has these; ignored
    loaded = th.vgg19_features(state, pool="avg")
    assert isinstance(loaded[4], torch.nn.AvgPool2d) and isinstance(model[4], torch.nn.MaxPool2d)
    assert len(loaded) == 37 and th.count_params(loaded) == 20_024_384
    with pytest.raises(ValueError):
        th.vgg19_features(pool="median")
