"""Test-wide settings (at the root, so that pytest on a single notebook loads them too). The
notebook kernels that nbval starts inherit this environment."""

import os

# utils.runtime picks the smoke profile under test (unless COURSE_PROFILE says otherwise).
os.environ["COURSE_UNDER_TEST"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("MPLBACKEND", "Agg")

# Models that notebooks save for later chapters go to a throw-away folder under test, so a
# smoke-trained classifier never replaces a learner's real one in the user cache.
if "COURSE_MODELS_DIR" not in os.environ:
    import tempfile

    os.environ["COURSE_MODELS_DIR"] = tempfile.mkdtemp(prefix="course-models-")

# Under pytest-xdist (`./course test` runs two workers) each worker, and every kernel it starts,
# gets an equal share of the cores: two processes each running PyTorch's OpenMP threads on all
# cores slowed one another up to 4× in CI (spinning threads fighting for the same cores).
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _workers > 1:
    _threads = str(max(1, (os.cpu_count() or 1) // _workers))
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                 "TF_NUM_INTRAOP_THREADS"):
        os.environ.setdefault(_var, _threads)
