"""Plumbing shared by every chapter of the course (both PyTorch and Keras).

`import utils` is cheap: no framework is imported until a function needs it. The lessons
themselves (models, losses, training loops) live in the notebooks, never here.

Importing `utils` sets two TensorFlow defaults, which only take effect if it happens before
TensorFlow is imported (so the Keras notebooks import `utils` first); set either variable
yourself to override:

- ``TF_ENABLE_ONEDNN_OPTS=1``: TensorFlow's oneDNN CPU kernels. TensorFlow turns them on by
  itself only on recent Intel CPUs; on the 2-core AMD EPYC the course is measured on they halve
  a ResNet-9 training step (412 → 216 ms, batch 128). Results may differ in the last bits.
- ``TF_CPP_MIN_LOG_LEVEL=2``: hide TensorFlow's C++ info/warning start-up lines.

It also filters the few lines TensorFlow's import prints before that setting applies (see
`utils.quiet`; ``COURSE_TF_START_LINES=1`` shows them again).
"""

import os as _os

_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from . import quiet as _quiet  # noqa: E402

_quiet.install()

__version__ = "0.1.0"
