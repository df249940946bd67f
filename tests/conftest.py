"""Test-wide settings. The notebook kernels that nbval starts inherit this environment."""

import os

# utils.runtime picks the smoke profile under test (unless COURSE_PROFILE says otherwise).
os.environ["COURSE_UNDER_TEST"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("MPLBACKEND", "Agg")
