"""Image grids and training curves for both frameworks, with no torchvision.

Everything accepts NumPy arrays, torch tensors or TensorFlow tensors in either layout, so the
PyTorch and Keras notebooks draw their figures with the same calls.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_CHANNELS = (1, 3, 4)
_ACCEPTED = (
    "Accepted shapes: one image (H, W), (H, W, C) or (C, H, W), or a batch (N, H, W), "
    "(N, H, W, C) or (N, C, H, W), with C = 1 (gray), 3 (RGB) or 4 (RGBA, alpha is dropped)."
)
MAX_LABELLED = 64
"""`show_images` draws at most this many labelled images (one subplot each)."""


def as_numpy(images: Any) -> np.ndarray:
    """A NumPy copy of a NumPy array, torch tensor (any device) or TensorFlow tensor."""
    if hasattr(images, "detach"):  # torch.Tensor
        tensor = images.detach().cpu()
        if tensor.is_floating_point():
            tensor = tensor.float()  # bfloat16/float16 have no (or a lossy) NumPy twin
        return tensor.numpy()
    if hasattr(images, "numpy"):  # tf.Tensor, EagerTensor, keras variables
        images = images.numpy()
    array = np.asarray(images)
    if array.dtype.kind == "V" or array.dtype.name in ("bfloat16", "float8_e4m3fn", "float8_e5m2"):
        # bfloat16 (Keras' mixed_bfloat16 policy) arrives as an ml_dtypes type that NumPy
        # does not count as floating; float32 holds every bfloat16 value exactly.
        array = array.astype(np.float32)
    return array


def _to_nhwc(array: np.ndarray) -> np.ndarray:
    """Reshape any accepted layout to NHWC (C may still be 4)."""
    shape = array.shape
    if array.ndim == 2:
        return array[None, :, :, None]
    if array.ndim == 3:
        if shape[-1] in _CHANNELS:
            return array[None]
        if shape[0] in _CHANNELS:
            return array.transpose(1, 2, 0)[None]
        return array[..., None]  # a batch of gray images
    if array.ndim == 4:
        if shape[-1] in _CHANNELS:
            return array
        if shape[1] in _CHANNELS:
            return array.transpose(0, 2, 3, 1)
        raise ValueError(f"Cannot find a channel axis of size 1, 3 or 4 in shape {shape}. "
                         + _ACCEPTED)
    raise ValueError(f"Got an array of shape {shape} ({array.ndim}-D). " + _ACCEPTED)


def to_display(images: Any, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """Turn one image or a batch, in any layout, range or framework, into float32 NHWC in [0, 1].

    The range is ``value_range`` if given, else: uint8 is [0, 255], bool is {0, 1}, and other
    numbers are [-1, 1] if any is negative, [0, 255] if any exceeds 1.5, otherwise [0, 1].
    A 3-D array whose first axis has size 1, 3 or 4 (and last axis not) is one (C, H, W) image;
    pass 4-D to be explicit. C = 4 drops alpha; the result has C = 1 or 3.
    """
    array = as_numpy(images)
    if not (array.dtype == np.bool_ or np.issubdtype(array.dtype, np.integer)
            or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"Images must be real numbers or booleans, got dtype {array.dtype}.")
    array = _to_nhwc(array)[..., :3]
    if array.dtype == np.bool_:
        low, high = 0.0, 1.0
    elif value_range is not None:
        low, high = value_range
        if not high > low:
            raise ValueError(f"value_range must be (low, high) with high > low, got {value_range}")
    elif array.dtype == np.uint8:
        low, high = 0.0, 255.0
    elif array.size and array.min() < 0:
        low, high = -1.0, 1.0
    elif array.size and array.max() > 1.5:
        low, high = 0.0, 255.0
    else:
        low, high = 0.0, 1.0
    scaled = (array.astype(np.float32) - np.float32(low)) / np.float32(high - low)
    return np.clip(scaled, 0.0, 1.0)


def _grid_shape(n: int, nrow: int | None) -> tuple[int, int]:
    """(rows, columns) for ``n`` images, ``nrow`` per row (default ceil(sqrt(n)), at most n)."""
    if n == 0:
        raise ValueError("Cannot make a grid of zero images.")
    if nrow is not None and nrow < 1:
        raise ValueError(f"nrow must be at least 1, got {nrow}")
    ncols = min(nrow or math.ceil(math.sqrt(n)), n)
    return math.ceil(n / ncols), ncols


def image_grid(
    images: Any,
    nrow: int | None = None,
    padding: int = 2,
    pad_value: float = 1.0,
    value_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """Tile a batch into one (H, W, C) float image in [0, 1], ``nrow`` images per row.

    Like torchvision's ``make_grid``: ``padding`` pixels of ``pad_value`` around every image;
    ``nrow`` defaults to ceil(sqrt(n)).
    """
    batch = to_display(images, value_range)
    n, height, width, channels = batch.shape
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    nrows, ncols = _grid_shape(n, nrow)
    grid = np.full(
        (nrows * height + (nrows + 1) * padding, ncols * width + (ncols + 1) * padding, channels),
        pad_value,
        dtype=np.float32,
    )
    for index, image in enumerate(batch):
        row, col = divmod(index, ncols)
        top, left = padding + row * (height + padding), padding + col * (width + padding)
        grid[top : top + height, left : left + width] = image
    return grid


def _imshow(ax: Axes, image: np.ndarray) -> None:
    """Draw one (H, W, C) image in [0, 1] on ``ax``, gray images with the gray colour map."""
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
    else:
        ax.imshow(image, vmin=0.0, vmax=1.0)
    ax.set_axis_off()


def _figure(width: float, height: float) -> Figure:
    """A new pyplot figure (so notebooks and ``plt.show()`` display it as usual)."""
    import matplotlib.pyplot as plt

    return plt.figure(figsize=(width, height), layout="constrained")


def show_images(
    images: Any,
    labels: Sequence[str | int] | None = None,
    nrow: int | None = None,
    title: str | None = None,
    value_range: tuple[float, float] | None = None,
    save: str | None = None,
) -> Figure:
    """Show a batch as a grid and return the Figure; with ``labels``, one titled subplot each.

    ``save`` names the figure for `save_figure` (written only when COURSE_FIGURES_DIR is set).
    """
    if labels is None:
        grid = image_grid(images, nrow=nrow, value_range=value_range)
        width = min(12.0, max(3.0, grid.shape[1] / 32))
        fig = _figure(width, width * grid.shape[0] / grid.shape[1] + (0.4 if title else 0.0))
        _imshow(fig.add_subplot(), grid)
    else:
        batch = to_display(images, value_range)
        n = len(batch)
        if len(labels) != n:
            raise ValueError(f"Got {len(labels)} labels for {n} images; give one label each.")
        if n > MAX_LABELLED:
            raise ValueError(f"Labelled mode shows at most {MAX_LABELLED} images, got {n}: "
                             "pass a slice such as images[:64], labels[:64].")
        nrows, ncols = _grid_shape(n, nrow)
        fig = _figure(1.6 * ncols, 1.8 * nrows + (0.4 if title else 0.0))
        for index, (image, label) in enumerate(zip(batch, labels, strict=True)):
            ax = fig.add_subplot(nrows, ncols, index + 1)
            _imshow(ax, image)
            ax.set_title(str(label), fontsize=9)
    if title:
        fig.suptitle(title)
    if save:
        save_figure(fig, save)
    return fig


def _metric_name(key: str) -> str:
    """``val_loss``, ``train_loss`` and ``test_loss`` all belong to the ``loss`` plot."""
    for prefix in ("val_", "train_", "test_"):
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def plot_curves(history: Any, title: str | None = None, save: str | None = None,
                xlabel: str = "epoch") -> Figure:
    """Plot training curves, one subplot per metric with its val_/train_/test_ twins; a Figure.

    ``history`` is a dict of name -> per-epoch values, or a Keras ``History`` (its ``.history``);
    ``xlabel`` names what one value stands for (e.g. "step" for per-step losses).
    """
    records: Mapping[str, Sequence[float]] = getattr(history, "history", history)
    if not isinstance(records, Mapping) or not records:
        raise ValueError("history must be a non-empty dict of name -> list of per-epoch values "
                         "(or a Keras History object).")
    groups: dict[str, list[str]] = {}
    for key in records:
        groups.setdefault(_metric_name(key), []).append(key)
    ncols = min(len(groups), 3)
    nrows = math.ceil(len(groups) / ncols)
    fig = _figure(4.0 * ncols, 3.0 * nrows + (0.4 if title else 0.0))
    for index, (metric, keys) in enumerate(groups.items()):
        ax = fig.add_subplot(nrows, ncols, index + 1)
        for key in keys:
            values = [float(value) for value in records[key]]
            ax.plot(range(1, len(values) + 1), values, marker="." if len(values) < 30 else None,
                    label=key)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    if save:
        save_figure(fig, save)
    return fig


def plot_confusion(confusion: Any, class_names: Sequence[str], title: str | None = None,
                   save: str | None = None) -> Figure:
    """A confusion matrix (rows: true class, columns: predicted), counts in every cell and the
    diagonal's share as the title's accuracy; a Figure."""
    counts = as_numpy(confusion).astype(np.int64)
    n = len(class_names)
    if counts.shape != (n, n):
        raise ValueError(f"confusion must be {n}x{n} for {n} class names, got {counts.shape}")
    fig = _figure(0.55 * n + 2.5, 0.55 * n + 1.6)
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(counts, cmap="Blues")
    for (row, col), value in np.ndenumerate(counts):
        ax.text(col, row, str(value), ha="center", va="center", fontsize=7,
                color="white" if value > counts.max() / 2 else "black")
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    ax.set_title(f"{title + ' — ' if title else ''}accuracy {accuracy:.2%}")
    if save:
        save_figure(fig, save)
    return fig


def compare(
    images_list: Sequence[Any],
    titles: Sequence[str],
    value_range: tuple[float, float] | None = None,
    save: str | None = None,
) -> Figure:
    """Side-by-side panels (e.g. real vs generated); each item is one image or a batch (a grid)."""
    if len(images_list) != len(titles) or not titles:
        raise ValueError(f"Give one title per panel: got {len(images_list)} panels and "
                         f"{len(titles)} titles.")
    panels = [to_display(images, value_range) for images in images_list]
    grids = [batch[0] if len(batch) == 1 else image_grid(batch) for batch in panels]
    fig = _figure(3.5 * len(grids), 3.8)
    for index, (grid, panel_title) in enumerate(zip(grids, titles, strict=True)):
        ax = fig.add_subplot(1, len(grids), index + 1)
        _imshow(ax, grid)
        ax.set_title(panel_title)
    if save:
        save_figure(fig, save)
    return fig


def save_figure(fig: Figure, name: str) -> Path | None:
    """Save ``fig`` as ``$COURSE_FIGURES_DIR/<name>.png`` when that variable is set (the
    headless runner collects figures this way); return the path, or None when unset."""
    directory = os.environ.get("COURSE_FIGURES_DIR")
    if not directory:
        return None
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", name.removesuffix(".png")).strip(".") or "figure"
    path = Path(directory) / f"{stem}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def save_gif(frames: Sequence[Any], path: str | os.PathLike, seconds_per_frame: float = 0.3,
             value_range: tuple[float, float] | None = None, nrow: int | None = None) -> Path:
    """Write an animated GIF (looping, the last frame held 2 s): each frame is one image or a
    batch (drawn as a grid with `image_grid`), in any layout/framework `to_display` accepts."""
    from PIL import Image

    if not frames:
        raise ValueError("save_gif needs at least one frame")
    images = []
    for frame in frames:
        batch = to_display(frame, value_range)  # always NHWC in [0, 1]
        array = image_grid(batch, nrow=nrow, value_range=(0, 1)) if len(batch) > 1 else batch[0]
        pixels = np.clip(np.round(array * 255), 0, 255).astype(np.uint8)
        images.append(Image.fromarray(pixels.squeeze(-1) if pixels.shape[-1] == 1 else pixels))
    if len({im.size for im in images}) != 1:
        sizes = sorted({im.size for im in images})
        raise ValueError(f"all frames must have the same size, got {sizes}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    durations = [int(seconds_per_frame * 1000)] * (len(images) - 1) + [2000]
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0)
    return path


def unrolled_encoder_forecaster(seen: int = 10, future: int = 10, layers: int = 2,
                                save: str | None = None) -> Figure:
    """Draw a stacked recurrent encoder–forecaster unrolled in time: one box per cell and step,
    state arrows along time, input arrows up through the layers, the encoder's final states
    handed to the forecaster layer by layer, and a head on every forecaster step."""
    from matplotlib.patches import FancyArrowPatch, Rectangle

    steps = seen + future
    fig = _figure(min(13.0, 1.0 + 0.6 * steps), 1.4 + 0.75 * layers)
    ax = fig.add_subplot()
    ax.set_axis_off()

    def arrow(a: tuple[float, float], b: tuple[float, float], color: str = "0.35") -> None:
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=8, color=color,
                                     lw=0.9, shrinkA=0, shrinkB=0))

    for t in range(steps):
        forecast = t >= seen
        x = t + (0.6 if forecast else 0.0)  # a gap between encoder and forecaster
        color = "#f2c6a0" if forecast else "#a9c8e8"
        ax.text(x, -0.95, "0" if forecast else f"$x_{{{t + 1}}}$", ha="center", fontsize=8)
        arrow((x, -0.75), (x, -0.3))
        for layer in range(layers):
            ax.add_patch(Rectangle((x - 0.3, layer - 0.3), 0.6, 0.6, fc=color, ec="0.3", lw=0.8))
            if layer + 1 < layers:
                arrow((x, layer + 0.3), (x, layer + 0.7))
            if t + 1 < steps:  # (h, c) to the next step; across the gap at t = seen − 1
                gap = 0.6 if t + 1 == seen else 0.0
                arrow((x + 0.3, layer), (x + 0.7 + gap, layer),
                      color="#c0392b" if gap else "0.35")
        if forecast:
            ax.text(x, layers + 0.15, rf"$\hat x_{{{t + 1}}}$", ha="center", fontsize=8)
            arrow((x, layers - 0.7), (x, layers + 0.05))
    ax.text((seen - 1) / 2, -1.55, f"encoder: reads {seen} frames", ha="center", fontsize=9)
    ax.text(seen + 0.6 + (future - 1) / 2, -1.55,
            f"forecaster: zero input, predicts {future} (head on every step)", ha="center",
            fontsize=9)
    ax.text(seen - 0.2, layers - 0.35, "states\nhanded over", ha="center", fontsize=7,
            color="#c0392b")
    for layer in range(layers):
        ax.text(-0.6, layer, f"layer {layer + 1}", ha="right", va="center", fontsize=8)
    ax.set(xlim=(-1.9, steps + 0.5), ylim=(-1.8, layers + 0.5))
    if save:
        save_figure(fig, save)
    return fig
