"""Exercise checks: tolerant comparisons that say what is wrong, and a tick when it is right.

Each check raises ``AssertionError`` with feedback a learner can act on (shape, worst element,
a hint), so a failed check cell is a hint, not a stack trace puzzle.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .plots import as_numpy  # NumPy from arrays or either framework's tensors


def _ok(name: str, detail: str = "") -> None:
    print(f"✓ {name}: correct{(' — ' + detail) if detail else ''}")


def check_shape(actual: Any, shape: tuple[int, ...], name: str = "result") -> None:
    """The value has exactly this shape."""
    got = tuple(as_numpy(actual).shape)
    if got != tuple(shape):
        raise AssertionError(f"{name}: shape {got}, expected {tuple(shape)}.")
    _ok(name, f"shape {got}")


def check_close(actual: Any, expected: Any, name: str = "result", rtol: float = 1e-5,
                atol: float = 1e-6, hint: str = "") -> None:
    """``actual`` equals ``expected`` elementwise within tolerances (shapes must match)."""
    a, e = as_numpy(actual).astype(np.float64), as_numpy(expected).astype(np.float64)
    if a.shape != e.shape:
        raise AssertionError(f"{name}: shape {a.shape}, expected {e.shape}. {hint}".strip())
    bad = ~np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=False)
    if bad.any():
        diff = np.abs(a - e)
        worst = np.unravel_index(np.nanargmax(np.where(bad, diff, -1)), a.shape)
        raise AssertionError(
            f"{name}: {int(bad.sum())} of {a.size} values differ; worst at index "
            f"{tuple(int(i) for i in worst)}: got {a[worst]:.6g}, expected {e[worst]:.6g} "
            f"(max abs difference {np.nanmax(diff):.3g}). {hint}".strip())
    _ok(name, f"max abs difference {np.abs(a - e).max() if a.size else 0:.2g}")


def check_equal(actual: Any, expected: Any, name: str = "result", hint: str = "") -> None:
    """Exact equality (numbers, strings, tuples, or arrays)."""
    if isinstance(expected, np.ndarray | list | tuple) or hasattr(actual, "shape"):
        a, e = as_numpy(actual), as_numpy(expected)
        if a.shape != e.shape or not np.array_equal(a, e):
            raise AssertionError(f"{name}: got {a.tolist()!r:.200}, expected {e.tolist()!r:.200}."
                                 f" {hint}".strip())
    elif actual != expected:
        raise AssertionError(f"{name}: got {actual!r}, expected {expected!r}. {hint}".strip())
    _ok(name)


def check_true(condition: bool, name: str, message: str) -> None:
    """A condition that must hold; ``message`` says what to look at when it does not."""
    if not condition:
        raise AssertionError(f"{name}: {message}")
    _ok(name)
