"""A clean console: TensorFlow's known-harmless C++ start-up lines, filtered where they start.

Importing TensorFlow writes lines such as ``oneDNN custom operations are on`` and ``All log
messages before absl::InitializeLog() is called are written to STDERR`` straight to the
process's file descriptor 2, before ``TF_CPP_MIN_LOG_LEVEL`` applies. In a notebook they land
in the terminal that started Jupyter (or ``./course run``'s output), for every Keras notebook.

``import utils`` calls `install`: the first ``import tensorflow`` afterwards runs with file
descriptor 2 caught in a temporary file, and every line that is *not* in `HARMLESS` is written
back to ``sys.stderr`` afterwards, so real warnings still show (in a notebook: under the cell).
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

# Each: a line TensorFlow prints on every start, that says nothing about the learner's run.
HARMLESS = re.compile("|".join([
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"oneDNN custom operations are on",  # the course turns them on: see utils/__init__.py
    r"This TensorFlow binary is optimized to use available CPU instructions",
    r"^To enable the following instructions: .* rebuild TensorFlow",
    # TensorFlow's CUDA wheels on hosted GPUs (tensorflow/tensorflow#62075)
    r"Unable to register cu(DNN|FFT|BLAS) factory: Attempting to register factory",
    r"TF-TRT Warning: Could not find TensorRT",
    r"computation placer already registered",
]))


def kept(text: str) -> list[str]:
    """The lines of ``text`` worth showing: not empty, not in `HARMLESS`."""
    return [line for line in text.splitlines() if line.strip() and not HARMLESS.search(line)]


@contextlib.contextmanager
def native_stderr_filtered() -> Iterator[None]:
    """Catch what C/C++ code writes to file descriptor 2 inside the block; afterwards write the
    lines `kept` keeps to ``sys.stderr``."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            for line in kept(caught.read().decode(errors="replace")):
                print(line, file=sys.stderr)


class _FilterTensorFlowImport(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` once, and makes its import run inside `native_stderr_filtered`."""

    searching = False

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "tensorflow" or self.searching:
            return None
        self.searching = True  # find the real spec below without finding ourselves again
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self.searching = False
        if spec is not None and spec.loader is not None:
            exec_module = spec.loader.exec_module

            def quiet_exec_module(module: Any) -> None:
                with contextlib.suppress(ValueError):
                    sys.meta_path.remove(self)  # this import only: later ones are cached
                with native_stderr_filtered():
                    exec_module(module)

            spec.loader.exec_module = quiet_exec_module  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Filter the next ``import tensorflow`` (nothing to do if it already happened)."""
    if "tensorflow" in sys.modules or os.environ.get("COURSE_TF_START_LINES") == "1":
        return
    if not any(isinstance(f, _FilterTensorFlowImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _FilterTensorFlowImport())


def tensorboard_without_tensorflow() -> None:
    """Keep TensorFlow out of a PyTorch process. ``torch.utils.tensorboard`` writes its event
    files with TensorBoard's own small stand-in for TensorFlow, but imports all of TensorFlow
    instead whenever it is installed: seconds, hundreds of MB and TensorFlow's start-up lines
    for nothing. TensorBoard takes its stand-in whenever a module ``tensorboard.compat.notf``
    exists (its switch for TensorFlow-free builds); this registers an empty one."""
    import types

    sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))
