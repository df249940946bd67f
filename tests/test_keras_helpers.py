"""utils.keras_helpers: conversion, batch augmentations (against NumPy), tf.data, counting."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from augment_reference import flip_pattern, window_index  # noqa: E402

from utils import keras_helpers as kh  # noqa: E402


def uint8_images(n: int = 6, height: int = 5, width: int = 7, channels: int = 3) -> np.ndarray:
    return np.random.default_rng(n).integers(0, 256, (n, height, width, channels), dtype=np.uint8)


def test_to_float_layout_and_range():
    images = uint8_images()
    x = kh.to_float(images)
    assert x.dtype == np.float32 and x.shape == images.shape
    np.testing.assert_allclose(x, images / 255.0, atol=1e-7)
    np.testing.assert_allclose(kh.to_float(images[..., 0]), images[..., :1] / 255.0, atol=1e-7)
    with pytest.raises(ValueError, match=r"uint8 images of shape \(N, H, W\)"):
        kh.to_float(x)


def test_normalize_against_numpy():
    x = np.random.default_rng(0).random((4, 5, 5, 3)).astype(np.float32)
    mean, std = [0.4914, 0.4822, 0.4465], [0.247, 0.243, 0.261]
    out = kh.normalize(x, mean, std)
    np.testing.assert_allclose(out.numpy(), (x - np.array(mean)) / np.array(std), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(kh.normalize(x, [0.5], [0.5]).numpy(), x * 2 - 1, atol=1e-6)
    with pytest.raises(ValueError, match="one per channel"):
        kh.normalize(x, [0.5, 0.5], [0.5, 0.5])


def test_normalize_matches_torch():
    torch = pytest.importorskip("torch")
    from utils import torch_helpers

    x = np.random.default_rng(1).random((3, 4, 6, 3)).astype(np.float32)  # NHWC
    mean, std = [0.1, 0.2, 0.3], [0.5, 0.6, 0.7]
    torch_out = torch_helpers.normalize(torch.from_numpy(x.transpose(0, 3, 1, 2)), mean, std)
    np.testing.assert_allclose(kh.normalize(x, mean, std).numpy(),
                               torch_out.numpy().transpose(0, 2, 3, 1), rtol=1e-6, atol=1e-6)


def test_random_crop_padding_zero_is_identity():
    x = kh.to_float(uint8_images())
    np.testing.assert_array_equal(kh.random_crop(x, 0).numpy(), x)
    with pytest.raises(ValueError, match="padding"):
        kh.random_crop(x, -1)


def test_random_crop_outputs_are_shifted_windows():
    padding = 2
    x = kh.to_float(uint8_images(n=32, height=6, width=5)) + 0.01  # no pixel equals the padding
    out = kh.random_crop(x, padding, seed=0).numpy()
    assert out.shape == x.shape and out.dtype == np.float32
    pairs = zip(x.transpose(0, 3, 1, 2), out.transpose(0, 3, 1, 2), strict=True)
    chosen = {window_index(image, crop, padding) for image, crop in pairs}
    assert len(chosen) > 5  # 32 images over 25 offsets: the offsets really vary


def test_random_crop_is_reproducible_with_a_seed():
    x = kh.to_float(uint8_images(n=16))
    first, again = kh.random_crop(x, 3, seed=7).numpy(), kh.random_crop(x, 3, seed=7).numpy()
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, kh.random_crop(x, 3, seed=8).numpy())
    tf.random.set_seed(5)
    unseeded = kh.random_crop(x, 3).numpy()
    tf.random.set_seed(5)
    np.testing.assert_array_equal(unseeded, kh.random_crop(x, 3).numpy())


def test_random_hflip_per_image():
    x = kh.to_float(uint8_images(n=64))
    flipped = flip_pattern(x, kh.random_hflip(x, seed=0).numpy(), width_axis=1)
    assert 10 < sum(flipped) < 54  # about half of 64
    np.testing.assert_array_equal(kh.random_hflip(x, p=0.0).numpy(), x)
    np.testing.assert_array_equal(kh.random_hflip(x, p=1.0).numpy(), x[:, :, ::-1])
    np.testing.assert_array_equal(kh.random_hflip(x, seed=3).numpy(),
                                  kh.random_hflip(x, seed=3).numpy())


def labelled_images(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Image i is filled with the value i, and its label is i (to check pairing and order)."""
    images = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 4, 4, 3))
    return images.copy(), np.arange(n)


def test_make_dataset_batches():
    images, labels = labelled_images(50)
    batches = list(kh.make_dataset(images, labels, batch_size=16).as_numpy_iterator())
    assert [len(x) for x, _ in batches] == [16, 16, 16, 2]
    seen = []
    for x, y in batches:
        assert x.dtype == np.float32 and y.dtype == np.int64 and x.shape[1:] == (4, 4, 3)
        assert 0.0 <= x.min() and x.max() <= 1.0
        np.testing.assert_allclose(x[:, 0, 0, 0] * 255, y, atol=1e-4)  # images stay paired
        seen += y.tolist()
    assert sorted(seen) == list(range(50)) and seen != list(range(50))  # shuffled, complete


def test_make_dataset_order_depends_only_on_the_seed():
    images, labels = labelled_images(40)

    def order(**kwargs) -> list[int]:
        dataset = kh.make_dataset(images, labels, batch_size=8, **kwargs)
        return [i for _, y in dataset.as_numpy_iterator() for i in y.tolist()]

    assert order(seed=1) == order(seed=1)
    assert order(seed=1) != order(seed=2)
    assert order(shuffle=False) == list(range(40))


def test_make_dataset_images_only_with_augment_and_transform():
    images, _ = labelled_images(10)
    dataset = kh.make_dataset(
        images, batch_size=4, shuffle=False, transform=lambda x: 1.0 - x,
        augment=lambda x, seed: kh.random_hflip(kh.random_crop(x, 1, seed=seed), seed=seed))
    batches = list(dataset.as_numpy_iterator())
    assert [b.shape for b in batches] == [(4, 4, 4, 3), (4, 4, 4, 3), (2, 4, 4, 3)]
    centres = np.concatenate([b[:, 1:3, 1:3] for b in batches])  # never reached by the padding
    np.testing.assert_allclose(centres, np.broadcast_to(
        1.0 - np.arange(10)[:, None, None, None] / 255.0, centres.shape), atol=1e-6)


def test_make_dataset_augmentation_repeats_per_seed_and_changes_per_epoch():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (64, 8, 8, 3), dtype=np.uint8)
    labels = np.arange(64)

    def augment(x, seed):
        return kh.random_hflip(kh.random_crop(x, 2, seed=seed), seed=seed)

    def two_epochs(seed):
        dataset = kh.make_dataset(images, labels, 16, seed=seed, augment=augment)
        return [np.concatenate([x for x, _ in dataset.as_numpy_iterator()]) for _ in range(2)]

    first, second = two_epochs(3), two_epochs(3)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)  # parallel batches, the same draws every run
    assert not np.array_equal(first[0], first[1])  # a new order and new draws every epoch
    assert not np.array_equal(first[0], two_epochs(4)[0])
    # The draws depend on the batch seed, not on which images are in the batch.
    batch = tf.constant(kh.to_float(images[:16]))
    seed = tf.constant([5, 7], dtype=tf.int64)
    np.testing.assert_array_equal(augment(batch, seed), augment(batch, seed))
    assert not np.array_equal(augment(batch, seed), augment(batch, seed + 1))


def test_make_dataset_uint8_batches_augment_like_the_float_ones():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (40, 8, 8, 3), dtype=np.uint8)
    labels = np.arange(40)

    def augment(x, seed):
        return kh.random_hflip(kh.random_crop(x, 2, seed=seed), seed=seed)

    def epoch(**kwargs):
        dataset = kh.make_dataset(images, labels, 16, seed=2, augment=augment, **kwargs)
        xs, ys = zip(*dataset.as_numpy_iterator(), strict=True)
        return np.concatenate(xs), np.concatenate(ys)

    raw, raw_labels = epoch(to_float=False)
    floats, float_labels = epoch()
    assert raw.dtype == np.uint8 and floats.dtype == np.float32
    np.testing.assert_array_equal(raw_labels, float_labels)  # the same order ...
    np.testing.assert_allclose(raw / np.float32(255), floats, atol=1e-6)  # ... and draws


def test_make_dataset_rejects_mismatched_labels():
    images, labels = labelled_images(10)
    with pytest.raises(ValueError, match="10 images but 9 labels"):
        kh.make_dataset(images, labels[:9])


def test_count_params():
    keras = pytest.importorskip("keras")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4),
                              keras.layers.BatchNormalization(), keras.layers.Dense(2)])
    # BatchNormalization's moving mean/variance are not trainable (buffers in PyTorch).
    assert kh.count_params(model) == (3 * 4 + 4) + (4 + 4) + (4 * 2 + 2)
    model.layers[0].trainable = False
    assert kh.count_params(model) == (4 + 4) + (4 * 2 + 2)
    with pytest.raises(ValueError, match="not built"):
        kh.count_params(keras.Sequential([keras.layers.Dense(2)]))


def _tiny_gan(seed: int):
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    G = keras.Sequential([keras.Input((4,)), layers.Dense(8), layers.BatchNormalization(),
                          layers.ReLU(), layers.Dense(6, activation="tanh")])
    D = keras.Sequential([keras.Input((6,)), layers.Dense(8), layers.LeakyReLU(0.2),
                          layers.Dropout(0.3, seed=seed), layers.Dense(1)])
    opt_G = keras.optimizers.Adam(2e-3, beta_1=0.5)
    opt_D = keras.optimizers.Adam(2e-3, beta_1=0.5)
    opt_G.build(G.trainable_variables)
    opt_D.build(D.trainable_variables)
    return G, D, opt_G, opt_D


def _gan_steps(G, D, opt_G, opt_D, noise, start, stop):
    """Non-saturating GAN steps drawing noise from a SeedGenerator, dropout masks from D's own
    seed state, data from NumPy's and Python's global RNGs."""
    import random

    import keras

    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    data = np.random.default_rng(9).normal(size=(8, 6)).astype(np.float32)
    for _ in range(start, stop):
        real = data[np.random.permutation(8)[:4]] + np.float32(random.random())
        z = keras.random.normal((4, 4), seed=noise)
        with tf.GradientTape() as tape:
            fake = G(z, training=True)
            d_loss = (bce(tf.ones((4, 1)), D(real, training=True))
                      + bce(tf.zeros((4, 1)), D(tf.stop_gradient(fake), training=True)))
        opt_D.apply_gradients(zip(tape.gradient(d_loss, D.trainable_variables),
                                  D.trainable_variables, strict=True))
        with tf.GradientTape() as tape:
            g_loss = bce(tf.ones((4, 1)), D(G(z, training=True), training=True))
        opt_G.apply_gradients(zip(tape.gradient(g_loss, G.trainable_variables),
                                  G.trainable_variables, strict=True))


def test_training_state_resume_continues_exactly(tmp_path):
    import random

    import keras

    def seeded_noise():
        np.random.seed(1)
        random.seed(1)
        return keras.random.SeedGenerator(2)

    straight = _tiny_gan(0)
    _gan_steps(*straight, seeded_noise(), 0, 6)

    first = _tiny_gan(0)
    noise = seeded_noise()
    _gan_steps(*first, noise, 0, 3)
    names = ("G", "D", "opt_G", "opt_D")
    path = kh.save_training_state(tmp_path / "gan.npz", 3,
                                  {**dict(zip(names, first, strict=True)), "noise": noise})
    np.random.seed(123)
    random.seed(123)
    resumed = _tiny_gan(5)
    noise2 = keras.random.SeedGenerator(77)
    step = kh.load_training_state(path, {**dict(zip(names, resumed, strict=True)),
                                         "noise": noise2})
    assert step == 3
    _gan_steps(*resumed, noise2, step, 6)

    for a, b in zip(straight[:2], resumed[:2], strict=True):
        for x, y in zip(a.variables, b.variables, strict=True):
            np.testing.assert_array_equal(x.numpy(), y.numpy(), err_msg=x.path)
    fresh = _tiny_gan(5)[0]
    assert not np.array_equal(resumed[0].variables[0].numpy(), fresh.variables[0].numpy())


def test_training_state_explains_unbuilt_optimizer(tmp_path):
    import keras

    G, D, opt_G, _ = _tiny_gan(0)
    path = kh.save_training_state(tmp_path / "gan.npz", 0, {"G": G, "opt_G": opt_G})
    with pytest.raises(ValueError, match=r"optimizer.build"):
        kh.load_training_state(path, {"G": G, "opt_G": keras.optimizers.Adam()})
    with pytest.raises(ValueError, match=r"no state saved for \['D'\]"):
        kh.load_training_state(path, {"D": D})
    with pytest.raises(TypeError, match="expected a Keras model"):
        kh.save_training_state(tmp_path / "x.npz", 0, {"oops": 3})


def test_step_timer_splits_the_first_step_off():
    import time

    import keras

    class Slow(keras.callbacks.Callback):  # a first step that takes ≥ 0.3 s, like a compile
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 0 and not hasattr(self, "done"):
                self.done = time.sleep(0.3)

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse", jit_compile=False)
    timer = kh.step_timer()
    model.fit(np.zeros((32, 2)), np.zeros(32), batch_size=8, epochs=2, verbose=0,
              callbacks=[Slow(), timer])
    assert timer.steps == 8 and timer.first_step_seconds >= 0.3
    assert 0 < timer.seconds < timer.first_step_seconds
