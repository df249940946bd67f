"""A clean console (utils/quiet.py): TensorFlow's known-harmless start-up lines are filtered
where they start, real lines still show, and a PyTorch process never loads TensorFlow for
TensorBoard's writer."""

import os
import subprocess
import sys

from utils import quiet

NOISE = ("absl::InitializeLog", "oneDNN custom operations")


def python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)


def test_filter_drops_known_noise_and_keeps_real_lines(capfd):
    with quiet.native_stderr_filtered():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are "
                    b"written to STDERR\nI0000 port.cc:153] oneDNN custom operations are on.\n"
                    b"E0000 something really failed\n")
    err = capfd.readouterr().err
    assert "something really failed" in err
    assert not [n for n in NOISE if n in err]


def test_importing_tensorflow_after_utils_prints_no_start_up_lines():
    done = python("import utils, tensorflow")
    assert done.returncode == 0 and not [n for n in NOISE if n in done.stderr], done.stderr
    shown = python("import utils, tensorflow", COURSE_TF_START_LINES="1")  # the filter is real
    assert "oneDNN custom operations" in shown.stderr


def test_tensorboard_writer_without_tensorflow(tmp_path):
    code = ("import sys\nfrom utils import quiet\n{}\n"
            "from torch.utils.tensorboard import SummaryWriter\n"
            f"w = SummaryWriter({str(tmp_path)!r}); w.add_scalar('loss', 1.0, 0); w.close()\n"
            "print('tensorflow' in sys.modules)")
    kept_out = python(code.format("quiet.tensorboard_without_tensorflow()"))
    assert kept_out.stdout.strip() == "False", kept_out.stderr
    assert list(tmp_path.glob("events.out.tfevents.*"))  # and the log is still written
    loaded = python(code.format(""))  # without it, TensorBoard loads all of TensorFlow
    assert loaded.stdout.strip() == "True", loaded.stderr
