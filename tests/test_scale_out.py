"""Chapter 07's PyTorch DDP script (scale_out/torch_ddp.py), run as the chapter runs it: two
processes under torchrun with the gloo backend on this CPU, loopback only, free ports chosen by
torchrun's --standalone rendezvous, every run bounded by a timeout so a hang fails fast."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scale_out" / "torch_ddp.py"
TIMEOUT = 180  # seconds for one launch; a healthy one takes 10-30 s on 2 cores


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    """1,024 training images as the notebook writes them: uint8 (n, 28, 28) and labels."""
    from utils import data

    mnist = data.load_mnist()
    path = tmp_path_factory.mktemp("scale_out") / "mnist.npz"
    np.savez(path, x=mnist.x_train[:1024, ..., 0], y=mnist.y_train[:1024])
    return path


def script():
    """scale_out/torch_ddp.py as a module (for its model and helpers)."""
    import importlib.util

    if str(SCRIPT.parent) not in sys.path:
        sys.path.insert(0, str(SCRIPT.parent))  # as when the script runs: its folder first
    spec = importlib.util.spec_from_file_location("torch_ddp", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bounded(cmd: list[str], env: dict) -> subprocess.CompletedProcess:
    """Run cmd from the project's root within TIMEOUT; on a timeout, kill it and every process
    it started (a hung launcher's workers must not outlive the test)."""
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env, cwd=ROOT, start_new_session=True) as proc:
        try:
            out, err = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def make_run(tmp_path: Path, digits: Path, name: str, **overrides) -> Path:
    run = tmp_path / name
    run.mkdir()
    cfg = dict(run_dir=str(run), data=str(digits), global_batch=64, steps=8, warmup=3,
               lr_reference=0.05, seed=0, checkpoint_every=3, log_every=4, timing_steps=0,
               threads_per_rank=1, collective_timeout_s=30)
    cfg.update(overrides)
    (run / "config.json").write_text(json.dumps(cfg))
    return run


def launch(run: Path, nproc: int, restarts: int = 0, env: dict | None = None):
    """torchrun with nproc processes (a plain `python` run for 1)."""
    if nproc == 1:
        cmd = [sys.executable, str(SCRIPT)]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc-per-node={nproc}", f"--max-restarts={restarts}", str(SCRIPT)]
    full_env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    full_env["TORCH_DISABLE_SHARE_RDZV_TCP_STORE"] = "1"  # a fresh store per restart (#135712)
    full_env.update(env or {})
    return bounded(cmd + ["--config", str(run / "config.json")], env=full_env)


def weights(run: Path, rank: int = 0) -> torch.Tensor:
    state = torch.load(run / f"weights_rank{rank}.pt", weights_only=True)
    return torch.cat([v.flatten().double() for v in state.values()])


def test_two_ranks_stay_identical_and_match_one_process(tmp_path, digits):
    one, two = make_run(tmp_path, digits, "one"), make_run(tmp_path, digits, "two")
    for run, n in ((one, 1), (two, 2)):
        p = launch(run, n)
        assert p.returncode == 0, p.stderr[-3000:]
    a, b0, b1 = weights(one), weights(two, 0), weights(two, 1)
    assert torch.equal(b0, b1), "DDP replicas drifted apart"
    torch.manual_seed(0)  # the script's initial weights (cfg["seed"] = 0)
    initial = torch.cat([v.flatten().double() for v in script().cnn().state_dict().values()])
    assert float((a - initial).abs().max()) > 1e-3, "training did not move the weights"
    # the all-reduce adds in another order than one process does; after 8 steps of SGD with
    # momentum that leaves ~1e-6 of the weights' norm (a wrong gradient scale: ~1e-1)
    rel = float((a - b0).norm() / a.norm())
    assert rel < 1e-4, f"two processes differ from one by {rel:.2e} (relative, in norm)"
    logs = [json.loads((two / f"rank{r}.json").read_text()) for r in (0, 1)]
    single = json.loads((one / "rank0.json").read_text())
    for step, (i0, i1, full) in enumerate(zip(logs[0]["indices"], logs[1]["indices"],
                                              single["indices"], strict=True)):
        assert not set(i0) & set(i1), f"step {step}: the shards overlap"
        assert sorted(i0 + i1) == sorted(full), f"step {step}: the shards are not the batch"
    # the logged loss is the global batch's (all-reduced), so it matches the single process
    np.testing.assert_allclose(logs[0]["losses"], single["losses"], rtol=1e-4)
    assert logs[0]["losses"][-1] < logs[0]["losses"][0], "the loss did not go down"


def test_killed_worker_restarts_from_the_checkpoint_exactly(tmp_path, digits):
    clean, faulty = make_run(tmp_path, digits, "clean"), make_run(tmp_path, digits, "faulty",
                                                                   fault_step=5)
    p = launch(clean, 2)
    assert p.returncode == 0, p.stderr[-3000:]
    p = launch(faulty, 2, restarts=1)  # one restart, as the notebook allows
    assert p.returncode == 0, p.stderr[-3000:]
    log = json.loads((faulty / "rank0.json").read_text())
    assert log["start_step"] == 3, "the restarted group did not resume from the step-3 checkpoint"
    assert torch.equal(weights(faulty), weights(clean)), "resumed run differs from uninterrupted"


def test_killed_worker_without_restarts_fails_fast_and_names_the_rank(tmp_path, digits):
    run = make_run(tmp_path, digits, "dies", fault_step=2)
    p = launch(run, 2, restarts=0)
    assert p.returncode != 0
    text = p.stdout + p.stderr
    assert "rank" in text.lower() and ("SIGKILL" in text or "Signal 9" in text), text[-3000:]


def test_bad_settings_are_clear_errors(tmp_path, digits):
    run = make_run(tmp_path, digits, "odd", global_batch=63)
    p = launch(run, 2)
    assert p.returncode != 0 and "does not split over 2 processes" in p.stdout + p.stderr

    run = make_run(tmp_path, digits, "backend", backend="mpi")
    p = launch(run, 1, env={"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0",
                            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29555"})
    assert p.returncode != 0 and "unknown backend 'mpi': choose one of gloo, nccl" in p.stderr

    run = make_run(tmp_path, digits, "resize", steps=3)
    assert launch(run, 2).returncode == 0
    before = (run / "checkpoint.pt").read_bytes()
    p = launch(run, 1)
    assert p.returncode != 0 and "written by a run with 2 processes" in p.stderr
    assert (run / "checkpoint.pt").read_bytes() == before, "the checkpoint was overwritten"


def test_global_batches_cover_each_epoch_once_and_lr_scales_with_the_batch():
    m = script()
    n, batch = 1000, 64
    per_epoch = n // batch  # 15 full batches; the last 40 images of an epoch are left out
    epoch0 = np.concatenate([m.global_batch_indices(n, batch, s, seed=3) for s in range(per_epoch)])
    assert len(set(epoch0.tolist())) == per_epoch * batch
    again = m.global_batch_indices(n, batch, 4, seed=3)
    np.testing.assert_array_equal(again, epoch0[4 * batch:5 * batch])  # the same on every rank
    assert not np.array_equal(m.global_batch_indices(n, batch, per_epoch, seed=3), epoch0[:batch])
    cfg = {"lr_reference": 0.1, "global_batch": 512, "warmup": 4}
    assert [round(m.lr_at(s, cfg), 6) for s in range(5)] == [0.1, 0.2, 0.3, 0.4, 0.4]


# --- TensorFlow: scale_out/tf_multiworker.py, launched by scale_out/launch.py -----------------

TF_SCRIPT, LAUNCH = ROOT / "scale_out" / "tf_multiworker.py", ROOT / "scale_out" / "launch.py"


def tf_launch(run: Path, how: str, *extra: str, env: dict | None = None):
    """how: "one" (one replica), "mirrored" (2 replicas, one process) or "workers" (2 MWMS
    worker processes under launch.py)."""
    pytest.importorskip("tensorflow")
    config = ["--config", str(run / "config.json")]
    if how == "workers":
        cmd = [sys.executable, str(LAUNCH), "--nproc", "2", "--grace", "60", *config, *extra]
    else:
        cmd = [sys.executable, str(TF_SCRIPT), *config, *extra]
        if how == "mirrored":
            cmd += ["--strategy", "mirrored", "--replicas", "2"]
    full_env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    full_env.update(env or {})
    return bounded(cmd, env=full_env)


def tf_weights(run: Path, rank: int = 0) -> np.ndarray:
    saved = np.load(run / f"weights_rank{rank}.npz")
    return np.concatenate([saved[k].ravel() for k in sorted(saved, key=lambda k: int(k[4:]))]
                          ).astype(np.float64)


def test_tf_workers_and_mirrored_replicas_match_one_process(tmp_path, digits):
    runs = {how: make_run(tmp_path, digits, f"tf_{how}") for how in ("one", "mirrored",
                                                                       "workers")}
    for how, run in runs.items():
        p = tf_launch(run, how)
        assert p.returncode == 0, (p.stdout + p.stderr)[-3000:]
    one = tf_weights(runs["one"])
    w0, w1 = tf_weights(runs["workers"], 0), tf_weights(runs["workers"], 1)
    assert np.array_equal(w0, w1), "the two workers' weights differ"
    for how, w in (("workers", w0), ("mirrored", tf_weights(runs["mirrored"]))):
        rel = float(np.linalg.norm(w - one) / np.linalg.norm(one))  # as for PyTorch
        assert rel < 1e-4, f"{how}: {rel:.2e} (relative, in norm) from the one-replica run"
    logs = [json.loads((runs["workers"] / f"rank{r}.json").read_text()) for r in (0, 1)]
    single = json.loads((runs["one"] / "rank0.json").read_text())
    for i0, i1, full in zip(logs[0]["indices"], logs[1]["indices"], single["indices"],
                            strict=True):
        assert not set(i0) & set(i1) and sorted(i0 + i1) == sorted(full)
    np.testing.assert_allclose(logs[0]["losses"], single["losses"], rtol=1e-3)
    assert logs[0]["losses"][-1] < logs[0]["losses"][0], "the loss did not go down"


def test_tf_killed_worker_stops_the_run_and_a_relaunch_resumes(tmp_path, digits):
    clean = make_run(tmp_path, digits, "tf_clean")
    faulty = make_run(tmp_path, digits, "tf_faulty", fault_step=5, collective_timeout_s=20)
    p = tf_launch(clean, "workers")
    assert p.returncode == 0, (p.stdout + p.stderr)[-3000:]
    p = tf_launch(faulty, "workers")
    assert p.returncode == 1 and "worker 1 was killed by SIGKILL" in p.stderr, p.stderr[-3000:]
    p = tf_launch(faulty, "workers")  # the checkpoint of step 3 is there: no fault this time
    assert p.returncode == 0, (p.stdout + p.stderr)[-3000:]
    assert json.loads((faulty / "rank0.json").read_text())["start_step"] == 3
    a, b = tf_weights(clean), tf_weights(faulty)
    # TensorFlow's CPU kernels do not promise the same bits run to run: the equivalence
    # tolerance, not PyTorch's exact equality
    assert float(np.linalg.norm(a - b) / np.linalg.norm(a)) < 1e-4, "the resumed run differs"


def test_tf_bad_settings_are_clear_errors(tmp_path, digits):
    run = make_run(tmp_path, digits, "tf_bad")
    p = tf_launch(run, "one", env={"TF_CONFIG": '{"cluster": {}}'})
    assert p.returncode != 0 and "TF_CONFIG needs a cluster with a worker list" in p.stderr
    with __import__("socket").socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        p = tf_launch(run, "workers", "--ports", str(port), str(port + 1))
    assert p.returncode != 0 and f"port {port} is in use" in p.stderr
    run = make_run(tmp_path, digits, "tf_resize", steps=3)
    assert tf_launch(run, "workers").returncode == 0
    before = (run / "checkpoint.npz").read_bytes()
    p = tf_launch(run, "one")
    assert p.returncode != 0 and "written by a run with 2 processes" in p.stderr
    assert (run / "checkpoint.npz").read_bytes() == before, "the checkpoint was overwritten"


# --- ./course launch 07 (utils/launcher.py) ---------------------------------------------------

def test_launch_reads_the_notebooks_sizes_and_refuses_bad_requests():
    from utils import launcher

    quick = launcher.profile_sizes("07_scale_out", "quick")
    assert quick["global_batch"] == 256 and quick["steps"] == 300 and quick["nproc"] == 2
    assert set(quick) == set(launcher.profile_sizes("07_scale_out", "full"))
    cmd = launcher.command("keras", "gpu", Path("run/config.json"), gpus=4)
    assert cmd[-2:] == ["--replicas", "4"] and "mirrored" in cmd
    assert "--nproc-per-node=gpu" in launcher.command("pytorch", "gpu", Path("c.json"), 1)
    with pytest.raises(SystemExit, match="only 07_scale_out"):
        launcher.launch("03_vae", "pytorch", "2", "smoke", None, False)
    with pytest.raises(SystemExit, match="a number of processes"):
        launcher.launch("07_scale_out", "pytorch", "two", "smoke", None, False)


def test_course_launch_trains_and_resumes(tmp_path):
    """`./course launch 07 --nproc 2` as the README shows it (smoke sizes, a folder of its own):
    it trains, and a second launch finds the finished run's checkpoint and resumes from it."""
    cmd = [sys.executable, "-m", "utils", "launch", "07", "--nproc", "2", "--profile", "smoke",
           "--run-dir", str(tmp_path / "run")]
    p = bounded(cmd, env=dict(os.environ))
    assert p.returncode == 0, (p.stdout + p.stderr)[-3000:]
    log = json.loads((tmp_path / "run" / "rank0.json").read_text())
    assert log["world"] == 2 and len(log["losses"]) == log["start_step"] + 20
    p = bounded(cmd, env=dict(os.environ))
    assert p.returncode == 0 and "resuming from" in p.stdout
    assert json.loads((tmp_path / "run" / "rank0.json").read_text())["start_step"] == 20
