"""utils.plots: layout/range conversion, grid arithmetic, figures, and figure saving."""

from __future__ import annotations

import subprocess
import sys

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest

from utils import plots


@pytest.fixture(autouse=True)
def _headless_figures():
    """Draw off-screen, and close every figure a test made."""
    plt.switch_backend("Agg")
    yield
    plt.close("all")


@pytest.fixture
def rgb_uint8() -> np.ndarray:
    """A batch of 2 RGB 5x6 images (NHWC) that uses the full 0..255 range."""
    images = np.random.default_rng(0).integers(0, 256, size=(2, 5, 6, 3), dtype=np.uint8)
    images[0, 0, 0, 0], images[1, 0, 0, 0] = 0, 255
    return images


def to_signed(images: np.ndarray) -> np.ndarray:
    """The same uint8 images as floats in [-1, 1], computed independently of utils."""
    return images.astype(np.float64) / 255 * 2 - 1


def test_importing_the_helpers_imports_no_framework():
    code = ("import sys, utils.plots, utils.torch_helpers, utils.keras_helpers; "
            "print(sorted({'torch', 'tensorflow', 'keras'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


# --- to_display ----------------------------------------------------------------------------


def test_to_display_numpy_layouts_and_ranges(rgb_uint8):
    expected = rgb_uint8.astype(np.float32) / 255
    nchw = (0, 3, 1, 2)
    cases = {
        "uint8 NHWC": rgb_uint8,
        "float [0,1] NHWC": rgb_uint8 / 255.0,
        "float [0,255] NHWC": rgb_uint8.astype(np.float32),
        "float [-1,1] NCHW": to_signed(rgb_uint8).transpose(nchw),
        "float32 [-1,1] NHWC": to_signed(rgb_uint8).astype(np.float32),
        "uint8 NCHW": rgb_uint8.transpose(nchw),
    }
    for name, images in cases.items():
        out = plots.to_display(images)
        assert out.dtype == np.float32, name
        np.testing.assert_allclose(out, expected, atol=1e-6, err_msg=name)


def test_to_display_single_images(rgb_uint8):
    expected = rgb_uint8[:1].astype(np.float32) / 255
    np.testing.assert_allclose(plots.to_display(rgb_uint8[0]), expected, atol=1e-6)
    chw = to_signed(rgb_uint8[0]).transpose(2, 0, 1)
    np.testing.assert_allclose(plots.to_display(chw), expected, atol=1e-6)


def test_to_display_gray_layouts():
    gray = np.arange(5 * 4 * 6, dtype=np.uint8).reshape(5, 4, 6) * 2  # N=5, H=4, W=6
    expected = (gray.astype(np.float32) / 255)[..., None]
    layouts = {"NHW": gray, "NHW1": gray[..., None], "N1HW": gray[:, None],
               "N1HW float": gray[:, None] / 255.0}
    for name, images in layouts.items():
        np.testing.assert_allclose(plots.to_display(images), expected, atol=1e-6, err_msg=name)
    for name, image in {"HW": gray[0], "HW1": gray[0, :, :, None], "1HW": gray[:1]}.items():
        np.testing.assert_allclose(plots.to_display(image), expected[:1], atol=1e-6,
                                   err_msg=name)


def test_to_display_three_d_with_a_channel_sized_first_axis_is_one_image():
    """(3, H, W) is ambiguous: it is read as one CHW image; a 4-D array says "3 gray images"."""
    images = np.random.default_rng(2).random((3, 4, 6))
    np.testing.assert_allclose(plots.to_display(images), images.transpose(1, 2, 0)[None],
                               atol=1e-6)
    np.testing.assert_allclose(plots.to_display(images[..., None]), images[..., None],
                               atol=1e-6)


def test_to_display_drops_alpha(rgb_uint8):
    alpha = np.full(rgb_uint8.shape[:3] + (1,), 7, dtype=np.uint8)
    rgba = np.concatenate([rgb_uint8, alpha], axis=-1)
    expected = rgb_uint8.astype(np.float32) / 255
    np.testing.assert_allclose(plots.to_display(rgba), expected, atol=1e-6)
    np.testing.assert_allclose(plots.to_display(rgba.transpose(0, 3, 1, 2)), expected, atol=1e-6)


def test_to_display_bool_explicit_range_and_clipping():
    mask = np.array([[True, False], [False, True]])
    np.testing.assert_array_equal(plots.to_display(mask)[0, ..., 0], mask.astype(np.float32))
    tens = np.array([[0.0, 5.0], [10.0, 12.0]])
    np.testing.assert_allclose(plots.to_display(tens, value_range=(0, 10))[0, ..., 0],
                               [[0.0, 0.5], [1.0, 1.0]])
    slightly_over = np.array([[0.0, 1.2], [0.5, 1.0]])  # max <= 1.5: still [0, 1], clipped
    np.testing.assert_allclose(plots.to_display(slightly_over)[0, ..., 0],
                               [[0.0, 1.0], [0.5, 1.0]])


def test_to_display_torch_tensors(rgb_uint8):
    torch = pytest.importorskip("torch")
    expected = rgb_uint8.astype(np.float32) / 255
    signed_nchw = torch.tensor(to_signed(rgb_uint8).transpose(0, 3, 1, 2), requires_grad=True)
    np.testing.assert_allclose(plots.to_display(signed_nchw), expected, atol=1e-6)
    np.testing.assert_allclose(plots.to_display(torch.from_numpy(rgb_uint8)), expected, atol=1e-6)
    half = torch.tensor(rgb_uint8 / 255.0).to(torch.bfloat16)
    np.testing.assert_allclose(plots.to_display(half), expected, atol=1e-2)


def test_to_display_tensorflow_tensors(rgb_uint8):
    tf = pytest.importorskip("tensorflow")
    expected = rgb_uint8.astype(np.float32) / 255
    np.testing.assert_allclose(plots.to_display(tf.constant(to_signed(rgb_uint8))), expected,
                               atol=1e-6)
    np.testing.assert_allclose(plots.to_display(tf.constant(rgb_uint8)), expected, atol=1e-6)
    # Keras' mixed_bfloat16 policy hands back bfloat16 tensors, whose NumPy type is ml_dtypes'
    bf16 = tf.cast(tf.constant(rgb_uint8 / 255.0), tf.bfloat16)
    np.testing.assert_allclose(plots.to_display(bf16), expected, atol=1e-2)
    np.testing.assert_allclose(plots.to_display(bf16.numpy()), expected, atol=1e-2)
    assert plots.as_numpy(bf16).dtype == np.float32


@pytest.mark.parametrize(
    "shape",
    [(2, 3, 4, 5, 3), (7,), (4, 8, 8, 2), (4, 2, 8, 8), ()],
)
def test_to_display_rejects_bad_shapes(shape):
    with pytest.raises(ValueError, match=r"Accepted shapes.*\(N, C, H, W\)"):
        plots.to_display(np.zeros(shape, dtype=np.float32))


def test_to_display_rejects_bad_dtypes():
    with pytest.raises(ValueError, match="real numbers"):
        plots.to_display(np.zeros((4, 4), dtype=np.complex64))
    with pytest.raises(ValueError, match="value_range"):
        plots.to_display(np.zeros((4, 4)), value_range=(1, 1))


# --- image_grid ----------------------------------------------------------------------------


def constant_images(n: int, height: int = 28, width: int = 28) -> np.ndarray:
    """NHWC gray images where image i is filled with the value i / n."""
    return np.broadcast_to((np.arange(n) / n)[:, None, None, None], (n, height, width, 1)).copy()


def test_grid_size_arithmetic():
    images = constant_images(10)
    assert plots.image_grid(images, nrow=5, padding=2).shape == (2 * 28 + 3 * 2, 5 * 28 + 6 * 2, 1)
    # default nrow = ceil(sqrt(10)) = 4 -> 3 rows
    assert plots.image_grid(images).shape == (3 * 28 + 4 * 2, 4 * 28 + 5 * 2, 1)
    # nrow larger than the batch: one row, no empty columns
    assert plots.image_grid(images[:3], nrow=8, padding=1).shape == (28 + 2, 3 * 28 + 4, 1)
    rgb = np.zeros((4, 3, 6, 7), dtype=np.uint8)
    assert plots.image_grid(rgb, nrow=2, padding=0).shape == (12, 14, 3)


def test_grid_pixel_placement():
    n, h, w, pad = 10, 3, 4, 2
    images = constant_images(n, h, w)
    grid = plots.image_grid(images, nrow=4, padding=pad, pad_value=0.25)[..., 0]
    covered = np.zeros(grid.shape, dtype=bool)
    for i in range(n):
        row, col = divmod(i, 4)
        top, left = pad + row * (h + pad), pad + col * (w + pad)
        np.testing.assert_allclose(grid[top : top + h, left : left + w], i / n)
        covered[top : top + h, left : left + w] = True
    np.testing.assert_array_equal(grid[~covered], 0.25)  # padding and the two empty cells


def test_grid_without_padding_is_a_block_matrix():
    images = np.random.default_rng(1).random((6, 2, 3, 3)).astype(np.float32)
    expected = np.concatenate([np.concatenate(list(images[r * 3 : r * 3 + 3]), axis=1)
                               for r in range(2)], axis=0)
    np.testing.assert_allclose(plots.image_grid(images, nrow=3, padding=0), expected)


def test_grid_rejects_bad_arguments():
    with pytest.raises(ValueError, match="nrow"):
        plots.image_grid(constant_images(3), nrow=0)
    with pytest.raises(ValueError, match="padding"):
        plots.image_grid(constant_images(3), padding=-1)
    with pytest.raises(ValueError, match="zero images"):
        plots.image_grid(np.zeros((0, 4, 4, 1)))


# --- figures -------------------------------------------------------------------------------


def test_show_images_draws_the_grid():
    images = constant_images(6, 5, 5)
    fig = plots.show_images(images, nrow=3, title="six")
    assert len(fig.axes) == 1
    shown = fig.axes[0].images[0]
    np.testing.assert_allclose(shown.get_array(), plots.image_grid(images, nrow=3)[..., 0])
    assert shown.get_cmap().name == "gray"
    assert fig._suptitle.get_text() == "six"


def test_show_images_with_labels(rgb_uint8):
    fig = plots.show_images(rgb_uint8, labels=["cat", 3])
    assert [ax.get_title() for ax in fig.axes] == ["cat", "3"]
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(), rgb_uint8[1] / 255, atol=1e-6)
    with pytest.raises(ValueError, match="labels"):
        plots.show_images(rgb_uint8, labels=["one"])
    with pytest.raises(ValueError, match="at most 64"):
        plots.show_images(np.zeros((65, 2, 2)), labels=list(range(65)))


def test_plot_curves_groups_metrics():
    history = {"loss": [3.0, 2.0, 1.0], "val_loss": [3.5, 2.5, 2.0],
               "accuracy": [0.1, 0.5, 0.8], "val_accuracy": [0.1, 0.4, 0.7],
               "train_fid": [90.0, 60.0, 40.0], "test_fid": [95.0, 70.0, 50.0],
               "learning_rate": [1e-3, 1e-3, 5e-4]}
    fig = plots.plot_curves(history, title="run")
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "accuracy", "fid", "learning_rate"]
    assert [len(ax.lines) for ax in fig.axes] == [2, 2, 2, 1]
    for ax in fig.axes:
        assert ax.get_xlabel() == "epoch"
        for line in ax.lines:
            np.testing.assert_allclose(line.get_ydata(), history[line.get_label()])
            np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3])


def test_plot_curves_accepts_a_keras_history_object():
    class History:  # what keras.callbacks.History exposes
        history = {"loss": [1.0, 0.5], "val_loss": [1.2, 0.9]}

    fig = plots.plot_curves(History())
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 2
    assert plots.plot_curves({"loss": [1.0, 0.5]}, xlabel="step").axes[0].get_xlabel() == "step"
    with pytest.raises(ValueError, match="non-empty dict"):
        plots.plot_curves({})


def test_compare_panels(rgb_uint8):
    batch = constant_images(4, 5, 5)
    fig = plots.compare([rgb_uint8[0], batch], ["one image", "a batch"])
    assert [ax.get_title() for ax in fig.axes] == ["one image", "a batch"]
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), rgb_uint8[0] / 255, atol=1e-6)
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(),
                               plots.image_grid(batch)[..., 0])
    with pytest.raises(ValueError, match="one title per panel"):
        plots.compare([batch, batch], ["only one"])


# --- save_figure ---------------------------------------------------------------------------


def test_save_figure_only_when_the_directory_is_set(tmp_path, monkeypatch):
    fig = plots.show_images(constant_images(4, 6, 6))
    monkeypatch.delenv("COURSE_FIGURES_DIR", raising=False)
    assert plots.save_figure(fig, "grid") is None
    assert list(tmp_path.iterdir()) == []

    target = tmp_path / "figures" / "nested"
    monkeypatch.setenv("COURSE_FIGURES_DIR", str(target))
    path = plots.save_figure(fig, "ch01 / real:samples")
    assert path == target / "ch01___real_samples.png"
    pixels = mpimg.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 10 and pixels.shape[1] > 10


def test_save_argument_writes_the_figure(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_FIGURES_DIR", str(tmp_path))
    plots.plot_curves({"loss": [1.0, 0.5]}, save="curves")
    plots.show_images(constant_images(4, 6, 6), save="grid.png")
    plots.compare([constant_images(1, 6, 6)], ["x"], save="compare")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["compare.png", "curves.png", "grid.png"]
    assert mpimg.imread(tmp_path / "grid.png").size > 0


def test_plot_confusion_annotates_counts_and_accuracy():
    from utils.plots import plot_confusion

    fig = plot_confusion(np.array([[3, 1], [0, 4]]), ["cat", "dog"], title="pets")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["3", "1", "0", "4"]
    assert ax.get_title() == "pets — accuracy 87.50%"
    with pytest.raises(ValueError, match="2x2"):
        plot_confusion(np.zeros((3, 3)), ["a", "b"])


def test_save_gif_frames_and_timing(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    frames = [rng.uniform(-1, 1, (4, 1, 8, 8)).astype(np.float32) for _ in range(3)]  # NCHW
    path = plots.save_gif(frames, tmp_path / "out" / "progress.gif", seconds_per_frame=0.1,
                          nrow=2)
    with Image.open(path) as gif:
        assert gif.n_frames == 3
        assert gif.size == (2 * 8 + 3 * 2, 2 * 8 + 3 * 2)  # 2×2 grid with 2-pixel padding
        assert gif.info["duration"] == 100 and gif.info["loop"] == 0
        gif.seek(0)
        first = np.asarray(gif.convert("L"), dtype=np.float32) / 255
    expected = plots.image_grid(frames[0], nrow=2)[..., 0]
    np.testing.assert_allclose(first, expected, atol=1.5 / 255)


def test_save_gif_rejects_empty_and_mixed_sizes(tmp_path):
    with pytest.raises(ValueError, match="at least one frame"):
        plots.save_gif([], tmp_path / "a.gif")
    with pytest.raises(ValueError, match="same size"):
        plots.save_gif([np.zeros((8, 8)), np.zeros((9, 9))], tmp_path / "b.gif")


def test_unrolled_encoder_forecaster_draws_one_box_per_cell_and_step():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.patches import Rectangle

    fig = plots.unrolled_encoder_forecaster(seen=3, future=2, layers=2)
    boxes = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    assert len(boxes) == (3 + 2) * 2
