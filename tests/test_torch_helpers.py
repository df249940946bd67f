"""utils.torch_helpers: conversion, batch augmentations (against NumPy), loaders, counting."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from augment_reference import flip_pattern, window_index  # noqa: E402

from utils import torch_helpers as th  # noqa: E402


def uint8_images(n: int = 6, height: int = 5, width: int = 7, channels: int = 3) -> np.ndarray:
    return np.random.default_rng(n).integers(0, 256, (n, height, width, channels), dtype=np.uint8)


def test_to_tensor_layout_and_range():
    images = uint8_images()
    x = th.to_tensor(images)
    assert x.dtype == torch.float32 and x.shape == (6, 3, 5, 7) and x.is_contiguous()
    np.testing.assert_allclose(x.numpy(), images.transpose(0, 3, 1, 2) / 255.0, atol=1e-7)
    gray = images[..., 0]
    np.testing.assert_allclose(th.to_tensor(gray).numpy(), gray[:, None] / 255.0, atol=1e-7)


@pytest.mark.parametrize("bad", [np.zeros((2, 4, 4, 3), np.float32), np.zeros((4, 4), np.uint8)])
def test_to_tensor_rejects_bad_input(bad):
    with pytest.raises(ValueError, match=r"uint8 images of shape \(N, H, W\)"):
        th.to_tensor(bad)


def test_normalize_against_numpy():
    x = np.random.default_rng(0).random((4, 3, 5, 5)).astype(np.float32)
    mean, std = [0.4914, 0.4822, 0.4465], [0.247, 0.243, 0.261]
    expected = (x - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    out = th.normalize(torch.from_numpy(x), mean, std)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(th.normalize(torch.from_numpy(x), [0.5], [0.5]).numpy(),
                               x * 2 - 1, atol=1e-6)
    with pytest.raises(ValueError, match="one per channel"):
        th.normalize(torch.from_numpy(x), [0.5, 0.5], [0.5, 0.5])


def test_random_crop_padding_zero_is_identity():
    x = th.to_tensor(uint8_images())
    assert torch.equal(th.random_crop(x, 0), x)
    with pytest.raises(ValueError, match="padding"):
        th.random_crop(x, -1)


def test_random_crop_outputs_are_shifted_windows():
    padding = 2
    x = th.to_tensor(uint8_images(n=32, height=6, width=5)) + 0.01  # no pixel equals the padding
    out = th.random_crop(x, padding, generator=torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    pairs = zip(x.numpy(), out.numpy(), strict=True)
    chosen = {window_index(image, crop, padding) for image, crop in pairs}
    assert len(chosen) > 5  # 32 images over 25 offsets: the offsets really vary


def test_random_crop_is_reproducible_with_a_generator():
    x = th.to_tensor(uint8_images(n=16))
    first = th.random_crop(x, 3, generator=torch.Generator().manual_seed(7))
    again = th.random_crop(x, 3, generator=torch.Generator().manual_seed(7))
    other = th.random_crop(x, 3, generator=torch.Generator().manual_seed(8))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_random_hflip_per_image():
    x = th.to_tensor(uint8_images(n=64))
    mirror = torch.from_numpy(np.flip(x.numpy(), axis=3).copy())
    out = th.random_hflip(x, generator=torch.Generator().manual_seed(0))
    flipped = flip_pattern(x.numpy(), out.numpy(), width_axis=2)
    assert 10 < sum(flipped) < 54  # about half of 64
    assert torch.equal(th.random_hflip(x, p=0.0), x)
    assert torch.equal(th.random_hflip(x, p=1.0), mirror)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(th.random_hflip(x, generator=g1), th.random_hflip(x, generator=g2))


def labelled_images(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Image i is filled with the value i, and its label is i (to check pairing and order)."""
    images = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 4, 4, 3))
    return images.copy(), np.arange(n)


def test_make_loader_batches():
    images, labels = labelled_images(50)
    loader = th.make_loader(images, labels, batch_size=16)
    batches = list(loader)
    assert len(loader) == len(batches) == 4
    assert [len(x) for x, _ in batches] == [16, 16, 16, 2]
    seen = []
    for x, y in batches:
        assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.shape[1:] == (3, 4, 4)
        assert 0.0 <= x.min() and x.max() <= 1.0
        np.testing.assert_allclose(x[:, 0, 0, 0].numpy() * 255, y.numpy(), atol=1e-4)  # pairs
        seen += y.tolist()
    assert sorted(seen) == list(range(50)) and seen != list(range(50))  # shuffled, complete
    assert len(th.make_loader(images, labels, batch_size=16, drop_last=True)) == 3


def test_make_loader_order_depends_only_on_the_seed():
    images, labels = labelled_images(40)

    def order(**kwargs) -> list[int]:
        return [i for _, y in th.make_loader(images, labels, batch_size=8, **kwargs)
                for i in y.tolist()]

    assert order(seed=1) == order(seed=1)
    assert order(seed=1) != order(seed=2)
    assert order(shuffle=False) == list(range(40))


def test_make_loader_images_only_and_bad_labels():
    images, labels = labelled_images(10)
    batches = list(th.make_loader(images, None, batch_size=4, shuffle=False))
    assert all(isinstance(x, torch.Tensor) for x in batches)
    assert [tuple(x.shape) for x in batches] == [(4, 3, 4, 4), (4, 3, 4, 4), (2, 3, 4, 4)]
    with pytest.raises(ValueError, match="10 images but 9 labels"):
        th.make_loader(images, labels[:9], batch_size=4)


@pytest.mark.parametrize("kwargs", [dict(seed=3), dict(shuffle=False),
                                    dict(seed=0, drop_last=True)])
def test_device_loader_gives_make_loaders_batches(kwargs):
    """Same seed, same batches, epoch after epoch: switching loaders changes no number."""
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (103, 5, 5, 3), dtype=np.uint8), np.arange(103) % 10
    reference = th.make_loader(images, labels, 16, **kwargs)
    loader = th.DeviceLoader(images, labels, 16, **kwargs)
    assert loader.images.dtype == torch.uint8 and len(loader) == len(reference)
    for _ in range(3):
        for (xa, ya), (xb, yb) in zip(reference, loader, strict=True):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_device_loader_reseed_images_only_layout_and_bad_input():
    images, labels = labelled_images(40)
    loader = th.DeviceLoader(images, labels, 8, seed=5)
    loader.reseed(2)
    fresh = th.make_loader(images, labels, 8, seed=2)
    assert [y.tolist() for _, y in loader] == [y.tolist() for _, y in fresh]
    plain = th.DeviceLoader(images, None, 16, shuffle=False, memory_format=torch.channels_last)
    batches = list(plain)
    assert [tuple(x.shape) for x in batches] == [(16, 3, 4, 4), (16, 3, 4, 4), (8, 3, 4, 4)]
    assert batches[0].is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_allclose(batches[2][:, 0, 0, 0].numpy() * 255, np.arange(32, 40))
    with pytest.raises(ValueError, match="10 images but 9 labels"):
        th.DeviceLoader(images[:10], labels[:9], 4)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        th.DeviceLoader(images, labels, 0)


def test_count_params():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4),
                                torch.nn.Linear(4, 2))
    assert th.count_params(model) == (3 * 4 + 4) + (4 + 4) + (4 * 2 + 2)
    model[0].requires_grad_(False)
    assert th.count_params(model) == (4 + 4) + (4 * 2 + 2)
    assert th.count_params(model, trainable_only=False) == 16 + 8 + 10


def _tiny_gan(seed: int):
    torch.manual_seed(seed)
    nn = torch.nn
    G = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 6), nn.Tanh())
    D = nn.Sequential(nn.Linear(6, 8), nn.LeakyReLU(0.2), nn.Dropout(0.3), nn.Linear(8, 1))
    opt_G = torch.optim.Adam(G.parameters(), 2e-3, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), 2e-3, betas=(0.5, 0.999))
    return G, D, opt_G, opt_D


def _gan_steps(G, D, opt_G, opt_D, noise, start, stop):
    """Non-saturating GAN steps drawing noise, dropout masks and data from every RNG the
    checkpoint must restore (a torch.Generator, torch's global one, NumPy's and Python's)."""
    import random

    bce = torch.nn.functional.binary_cross_entropy_with_logits
    data = torch.from_numpy(np.random.default_rng(9).normal(size=(8, 6)).astype(np.float32))
    for _ in range(start, stop):
        real = data[np.random.permutation(8)[:4]] + random.random()
        z = torch.randn(4, 4, generator=noise)
        fake = G(z)
        d_loss = bce(D(real), torch.ones(4, 1)) + bce(D(fake.detach()), torch.zeros(4, 1))
        opt_D.zero_grad()
        d_loss.backward()
        opt_D.step()
        g_loss = bce(D(fake), torch.ones(4, 1))
        opt_G.zero_grad()
        g_loss.backward()
        opt_G.step()


def test_training_state_resume_continues_exactly(tmp_path):
    import random

    def seeded_noise():
        torch.manual_seed(1)
        np.random.seed(1)
        random.seed(1)
        return torch.Generator().manual_seed(2)

    straight = _tiny_gan(0)
    _gan_steps(*straight, seeded_noise(), 0, 6)

    first = _tiny_gan(0)
    noise = seeded_noise()
    _gan_steps(*first, noise, 0, 3)
    G, D, opt_G, opt_D = first
    path = th.save_training_state(tmp_path / "gan.pt", 3, {"G": G, "D": D, "opt_G": opt_G,
                                                           "opt_D": opt_D}, {"noise": noise})
    torch.manual_seed(123)  # everything the interrupted run knew is now forgotten
    np.random.seed(123)
    random.seed(123)
    resumed = _tiny_gan(5)
    noise2 = torch.Generator().manual_seed(77)
    G2, D2, opt_G2, opt_D2 = resumed
    step = th.load_training_state(path, {"G": G2, "D": D2, "opt_G": opt_G2, "opt_D": opt_D2},
                                  {"noise": noise2})
    assert step == 3
    _gan_steps(*resumed, noise2, step, 6)

    for a, b in zip((straight[0], straight[1]), (G2, D2), strict=True):
        for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
            assert torch.equal(x, y), name
    # and the run really moved: the resumed weights differ from a fresh network's
    assert not torch.equal(G2[0].weight, _tiny_gan(5)[0][0].weight)


def test_training_state_rejects_mismatched_modules(tmp_path):
    G, D, opt_G, opt_D = _tiny_gan(0)
    path = th.save_training_state(tmp_path / "gan.pt", 0, {"G": G, "D": D})
    assert not list(tmp_path.glob("*.partial"))
    with pytest.raises(ValueError, match=r"missing \['opt_G'\]"):
        th.load_training_state(path, {"G": G, "D": D, "opt_G": opt_G})


def test_device_loader_takes_read_only_arrays_without_warning():
    import warnings

    images, labels = labelled_images(8)
    images.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(list(th.DeviceLoader(images, labels, 4))) == 2
