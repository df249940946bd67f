"""Plumbing shared by every chapter of the course (both PyTorch and Keras).

`import utils` is cheap: no framework is imported until a function needs it. The lessons
themselves (models, losses, training loops) live in the notebooks, never here.
"""

__version__ = "0.1.0"
