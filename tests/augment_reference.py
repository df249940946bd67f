"""NumPy brute-force references for the batch augmentations, shared by both framework tests."""

from __future__ import annotations

import numpy as np


def window_index(image: np.ndarray, crop: np.ndarray, padding: int) -> int:
    """Index of the (H, W) window of the zero-padded CHW ``image`` equal to ``crop``; fails if
    ``crop`` is no shifted window of it."""
    _, height, width = image.shape
    padded = np.pad(image, ((0, 0), (padding, padding), (padding, padding)))
    offsets = [(dy, dx) for dy in range(2 * padding + 1) for dx in range(2 * padding + 1)]
    for index, (dy, dx) in enumerate(offsets):
        if np.array_equal(padded[:, dy : dy + height, dx : dx + width], crop):
            return index
    raise AssertionError("the crop is not any shifted window of the zero-padded image")


def flip_pattern(images: np.ndarray, out: np.ndarray, width_axis: int) -> list[bool]:
    """Per image: True if ``out`` is its left-right mirror, False if unchanged; fails otherwise.

    ``width_axis`` is the width's axis in one image: 2 for CHW, 1 for HWC."""
    pattern = []
    for image, result in zip(images, out, strict=True):
        mirrored = np.array_equal(result, np.flip(image, axis=width_axis))
        assert mirrored or np.array_equal(result, image), "neither the image nor its mirror"
        pattern.append(mirrored)
    return pattern
