"""Keras 3 (TensorFlow backend) plumbing: NumPy images to floats, batch augmentation, tf.data.

The twin of `utils.torch_helpers`, in NHWC: the augmentations are TensorFlow ops on whole float
batches, so they run inside a ``tf.data`` ``map`` (see `make_dataset`) or in a custom train step.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .data import as_uint8_nhwc

os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # must happen before keras is imported

if TYPE_CHECKING:
    import tensorflow as tf


def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 NHWC (or NHW gray) images -> float32 NHWC in [0, 1]."""
    return as_uint8_nhwc(images).astype(np.float32) / np.float32(255)


def _uniform(shape: Any, seed: Any, minval: Any = 0.0, maxval: Any = 1.0,
             dtype: Any = None) -> tf.Tensor:
    """Uniform draws: from the global TF RNG when ``seed`` is None (a new draw every call, seeded
    by ``tf.random.set_seed``), else stateless, so the same seed always gives the same draw.
    ``seed`` is an int or a stateless seed of two integers (a tensor, e.g. one per batch from
    `make_dataset`)."""
    import tensorflow as tf

    dtype = dtype or tf.float32
    if seed is None:
        return tf.random.uniform(shape, minval, maxval, dtype=dtype)
    if isinstance(seed, int):
        seed = [seed, 0]
    return tf.random.stateless_uniform(shape, seed, minval, maxval, dtype=dtype)


def normalize(x: Any, mean: Sequence[float], std: Sequence[float]) -> tf.Tensor:
    """``(x - mean) / std`` per channel of a float NHWC batch."""
    import tensorflow as tf

    x = tf.convert_to_tensor(x)
    channels = x.shape[-1]
    mean_t = tf.reshape(tf.constant(mean, dtype=x.dtype), [-1])
    std_t = tf.reshape(tf.constant(std, dtype=x.dtype), [-1])
    if mean_t.shape[0] not in (1, channels) or std_t.shape[0] not in (1, channels):
        raise ValueError(f"mean/std need 1 or {channels} values (one per channel), got "
                         f"{mean_t.shape[0]} and {std_t.shape[0]}.")
    return (x - mean_t) / std_t


def random_crop(x: Any, padding: int, seed: Any = None) -> tf.Tensor:
    """Zero-pad each side by ``padding``, then crop a random window of the original size per image.

    Vectorised (two batched gathers), so it also runs inside tf.data. ``seed=None`` draws from
    TensorFlow's global generator, anew on every call; a seed (an int, or two integers such as
    the per-batch seeds of `make_dataset`) gives the same crops for the same seed.
    """
    import tensorflow as tf

    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    x = tf.convert_to_tensor(x)
    if padding == 0:
        return x
    shape = tf.shape(x)
    n, height, width = shape[0], shape[1], shape[2]
    padded = tf.pad(x, [[0, 0], [padding, padding], [padding, padding], [0, 0]])
    offsets = _uniform([2, n], seed, 0, 2 * padding + 1, dtype=tf.int32)
    rows = offsets[0][:, None] + tf.range(height)[None, :]  # (N, H)
    cols = offsets[1][:, None] + tf.range(width)[None, :]  # (N, W)
    out = tf.gather(padded, rows, axis=1, batch_dims=1)  # (N, H, W + 2p, C)
    return tf.gather(out, cols, axis=2, batch_dims=1)  # (N, H, W, C)


def random_hflip(x: Any, p: float = 0.5, seed: Any = None) -> tf.Tensor:
    """Mirror each image of an NHWC batch left-right with probability ``p`` (``seed`` as in
    `random_crop`)."""
    import tensorflow as tf

    x = tf.convert_to_tensor(x)
    flip = _uniform(tf.shape(x)[:1], seed) < p
    return tf.where(flip[:, None, None, None], tf.reverse(x, axis=[2]), x)


def make_dataset(
    images: np.ndarray,
    labels: np.ndarray | Sequence[int] | None = None,
    batch_size: int = 128,
    shuffle: bool = True,
    seed: int = 0,
    augment: Callable[[tf.Tensor, tf.Tensor], tf.Tensor] | None = None,
    transform: Callable[[tf.Tensor], tf.Tensor] | None = None,
    to_float: bool = True,
) -> tf.data.Dataset:
    """A ``tf.data.Dataset`` of float32 NHWC batches in [0, 1] (with int64 labels if given).

    Images stay uint8 until each batch is converted; then ``augment(batch, batch_seed)`` runs
    (if given), then ``transform(batch)`` (if given, e.g. standardisation). With
    ``to_float=False`` batches stay uint8 (``augment`` then gets uint8 batches: crops and flips
    work on any dtype) and the model converts them itself, on the device: a quarter of the bytes
    cross from the host. ``batch_seed`` is a
    stateless seed (two int64s) of its own for every batch and every epoch, drawn from ``seed``:
    pass it to the random ops (``random_crop(x, 4, seed=...)``) and the augmentation repeats run
    after run although batches are prepared in parallel (``num_parallel_calls``, order kept).
    The same ``seed`` gives the same order; reshuffled every epoch; prefetched, so the next
    batches are prepared while the device trains on this one.
    """
    import tensorflow as tf

    images = as_uint8_nhwc(images)
    if labels is None:
        dataset = tf.data.Dataset.from_tensor_slices(images)
    else:
        labels = np.asarray(labels, dtype=np.int64)
        if len(labels) != len(images):
            raise ValueError(f"Got {len(images)} images but {len(labels)} labels.")
        dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    # One stateless seed per batch, new every epoch and the same in every run.
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

    def prepare(batch: tf.Tensor, batch_seed: tf.Tensor) -> tf.Tensor:
        if to_float:
            batch = tf.cast(batch, tf.float32) / 255.0
        if augment is not None:
            batch = augment(batch, batch_seed)
        return transform(batch) if transform is not None else batch

    dataset = tf.data.Dataset.zip((dataset, seeds))
    parallel = {"num_parallel_calls": tf.data.AUTOTUNE, "deterministic": True}
    if labels is None:
        dataset = dataset.map(prepare, **parallel)
    else:
        dataset = dataset.map(lambda xy, s: (prepare(xy[0], s), xy[1]), **parallel)
    return dataset.prefetch(tf.data.AUTOTUNE)


def step_timer() -> Any:
    """A Keras callback that times ``fit`` with its first training step apart: that step
    traces the train function (and compiles it with XLA when ``jit_compile``), which can take
    longer than many real steps. After ``fit``: ``.first_step_seconds`` (tracing, compilation
    and one step), ``.seconds`` (everything after it: the training time to compare) and
    ``.steps`` (training steps run)."""
    import time

    import keras

    class StepTimer(keras.callbacks.Callback):
        def on_train_begin(self, logs: Any = None) -> None:
            self.start, self.first_step_seconds, self.steps = time.perf_counter(), None, 0
            self.seconds = 0.0

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            self.steps += 1
            if self.first_step_seconds is None:
                self.first_step_seconds = time.perf_counter() - self.start

        def on_train_end(self, logs: Any = None) -> None:
            total = time.perf_counter() - self.start
            self.seconds = total - (self.first_step_seconds or 0.0)

    return StepTimer()


def count_params(model: Any) -> int:
    """Number of trainable parameters of a built Keras model (matches torch's ``requires_grad``)."""
    if not getattr(model, "built", True):
        raise ValueError("The model is not built yet: call it on a batch or use model.build().")
    return sum(math.prod(weight.shape) for weight in model.trainable_weights)


def _state_variables(name: str, obj: Any) -> list[Any]:
    """The variables that hold ``obj``'s state: a model's or optimizer's ``variables`` (weights,
    batch-norm statistics, dropout seeds; moments and step count), a SeedGenerator's ``state``."""
    if hasattr(obj, "variables"):
        return list(obj.variables)
    if hasattr(obj, "state"):
        return [obj.state]
    raise TypeError(f"{name}: expected a Keras model, layer, optimizer or SeedGenerator, "
                    f"got {type(obj).__name__}")


def save_training_state(path: str | os.PathLike, step: int, objects: dict[str, Any]) -> Path:
    """Save everything a training run needs to continue exactly: every variable of each of
    ``objects`` (networks, optimizers, ``keras.random.SeedGenerator``s, e.g. ``{"G": G, "D": D,
    "opt_G": opt_G, "opt_D": opt_D, "noise": seeds}``), the step and NumPy's/Python's global
    random states, as one ``.npz`` file (temporary file, then renamed). Optimizers must be built
    (they are once they have taken a step). Load with `load_training_state`."""
    import json
    import random

    arrays: dict[str, np.ndarray] = {}
    for name, obj in objects.items():
        for i, variable in enumerate(_state_variables(name, obj)):
            arrays[f"{name}/{i}"] = np.asarray(variable.numpy())
    numpy_state = np.random.get_state()
    arrays["numpy_rng"] = numpy_state[1]
    meta = {"step": int(step), "counts": {name: sum(k.startswith(f"{name}/") for k in arrays)
                                          for name in objects},
            "numpy_pos": int(numpy_state[2]), "python_rng": random.getstate()[1],
            "python_version": random.getstate()[0]}
    arrays["meta"] = np.array(json.dumps(meta))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial.npz")
    np.savez(partial, **arrays)
    partial.replace(path)
    return path


def load_training_state(path: str | os.PathLike, objects: dict[str, Any]) -> int:
    """Assign what `save_training_state` saved to the given (freshly built) objects, restore the
    NumPy/Python random states and return the saved step. An optimizer must be built first
    (``optimizer.build(model.trainable_variables)``) so that it has variables to fill."""
    import json
    import random

    with np.load(path, allow_pickle=False) as saved:
        meta = json.loads(str(saved["meta"]))
        missing = sorted(set(objects) - set(meta["counts"]))
        if missing:
            raise ValueError(f"{path}: no state saved for {missing}; it holds "
                             f"{sorted(meta['counts'])}")
        for name, obj in objects.items():
            variables = _state_variables(name, obj)
            if len(variables) != meta["counts"][name]:
                raise ValueError(
                    f"{path}: {name!r} has {len(variables)} variables, the checkpoint "
                    f"{meta['counts'][name]} (different architecture, or an optimizer not "
                    f"built yet: call optimizer.build(model.trainable_variables) first)")
            for i, variable in enumerate(variables):
                value = saved[f"{name}/{i}"]
                if tuple(variable.shape) != value.shape:
                    raise ValueError(f"{path}: {name}/{variable.path} has shape "
                                     f"{tuple(variable.shape)}, the checkpoint {value.shape}")
                variable.assign(value)
        np.random.set_state(("MT19937", saved["numpy_rng"], meta["numpy_pos"]))
    random.setstate((meta["python_version"], tuple(meta["python_rng"]), None))
    return int(meta["step"])


# --- PyTorch weights in Keras, and SqueezeNet 1.1 (chapter 04) --------------------------------

def conv_kernel_from_torch(weight: np.ndarray) -> np.ndarray:
    """A PyTorch ``Conv2d`` weight (out, in, kh, kw) as a Keras ``Conv2D`` kernel (kh, kw, in,
    out). Both frameworks compute cross-correlation, so no spatial flip is needed."""
    weight = np.asarray(weight)
    if weight.ndim != 4:
        raise ValueError(f"expected a 4-D conv weight (out, in, kh, kw), got {weight.shape}")
    return np.ascontiguousarray(weight.transpose(2, 3, 1, 0))


def load_torch_state_dict(model: Any, state_dict: dict[str, Any]) -> list[str]:
    """Copy a PyTorch state dict into the ``Conv2D`` layers of ``model`` whose *names* are the
    PyTorch module paths (``features.3.squeeze`` ← ``features.3.squeeze.weight``/``.bias``).
    Every conv layer must find its weights; returns the state-dict keys that were not used."""
    import keras

    used = set()
    for layer in model.layers:
        if not isinstance(layer, keras.layers.Conv2D):
            continue
        keys = (f"{layer.name}.weight", f"{layer.name}.bias")
        missing = [k for k in keys if k not in state_dict]
        if missing:
            raise KeyError(f"layer {layer.name!r}: no {missing} in the state dict")
        layer.set_weights([conv_kernel_from_torch(state_dict[keys[0]]),
                           np.asarray(state_dict[keys[1]])])
        used.update(keys)
    return sorted(set(state_dict) - used)


def _ceil_max_pool_layer() -> Any:
    import keras

    class CeilMaxPool2D(keras.layers.Layer):
        """3×3, stride-2 max pooling with PyTorch's ``ceil_mode=True``: the last, partial
        window is kept (Keras' ``valid`` drops it, ``same`` pads differently). Pads the bottom
        and right with −inf when needed, then pools ``valid``."""

        def call(self, x: Any) -> Any:
            import tensorflow as tf

            pads = [(-(tf.shape(x)[axis] - 3)) % 2 for axis in (1, 2)]
            x = tf.pad(x, [[0, 0], [0, pads[0]], [0, pads[1]], [0, 0]],
                       constant_values=float("-inf"))
            return tf.nn.max_pool2d(x, 3, 2, "VALID")

        def compute_output_shape(self, shape: tuple) -> tuple:
            def out(n: int | None) -> int | None:
                return None if n is None else -(-(n - 3) // 2) + 1
            return (shape[0], out(shape[1]), out(shape[2]), shape[3])

    return CeilMaxPool2D


def squeezenet1_1(state_dict: dict[str, Any] | None = None,
                  input_shape: tuple = (None, None, 3)) -> Any:
    """SqueezeNet 1.1 as a Keras functional model, the twin of
    `utils.torch_helpers.squeezenet1_1`: layers are named after PyTorch's module paths
    (``features.0`` conv, ``features.1`` its ReLU, ``features.3`` the first Fire module's output,
    ``features.3.squeeze`` …), so ``load_torch_state_dict`` fills it from the *same* state dict
    (``weights.numpy_state_dict("squeezenet1_1")``) and ``model.get_layer("features.7").output``
    is the same feature map as PyTorch's ``features[7]`` — in NHWC."""
    import keras
    from keras import layers

    pool = _ceil_max_pool_layer()
    inputs = keras.Input(input_shape)
    x = layers.Conv2D(64, 3, strides=2, name="features.0")(inputs)
    x = layers.ReLU(name="features.1")(x)
    x = pool(name="features.2")(x)
    fires = {3: (16, 64), 4: (16, 64), 6: (32, 128), 7: (32, 128), 9: (48, 192), 10: (48, 192),
             11: (64, 256), 12: (64, 256)}
    for i in range(3, 13):
        if i in (5, 8):
            x = pool(name=f"features.{i}")(x)
            continue
        squeeze, expand = fires[i]
        s = layers.Conv2D(squeeze, 1, activation="relu", name=f"features.{i}.squeeze")(x)
        e1 = layers.Conv2D(expand, 1, activation="relu", name=f"features.{i}.expand1x1")(s)
        e3 = layers.Conv2D(expand, 3, padding="same", activation="relu",
                           name=f"features.{i}.expand3x3")(s)
        x = layers.Concatenate(name=f"features.{i}")([e1, e3])
    x = layers.Dropout(0.5, name="classifier.0")(x)
    x = layers.Conv2D(1000, 1, activation="relu", name="classifier.1")(x)
    outputs = layers.GlobalAveragePooling2D(name="classifier.3")(x)
    model = keras.Model(inputs, outputs, name="squeezenet1_1")
    if state_dict is not None:
        unused = load_torch_state_dict(model, state_dict)
        if unused:
            raise KeyError(f"state dict keys not used by the model: {unused[:5]}")
    return model
