"""``./course launch 07``: chapter 07's distributed training outside the notebook.

``--nproc N`` starts N CPU processes (gloo / gRPC), ``--nproc gpu`` one per GPU (NCCL; for
TensorFlow, MirroredStrategy over every GPU). The sizes are the notebook's own: the
``rt.pick(...)`` of its config cell, read from the PyTorch notebook, so the notebook stays
their single source. The run folder (default ``build/scale_out/<framework>``) keeps rank 0's
checkpoint: launching again resumes from it, ``--fresh`` starts over.
"""
from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from . import chapters as course

SCRIPTS = course.ROOT / "scale_out"
LAUNCHABLE = ("07_scale_out",)


def profile_sizes(chapter: str, profile: str) -> dict:
    """The profile's settings from the ``cfg = rt.pick(...)`` cell of the chapter's notebook."""
    import nbformat

    nb = nbformat.read(course.ROOT / "solutions" / chapter / "pytorch.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and "cfg = rt.pick(" in cell.source:
            call = next(node.value for node in ast.parse(cell.source).body
                        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call))
            chosen = next(k.value for k in call.keywords if k.arg == profile)
            return eval(compile(ast.Expression(chosen), "<config>", "eval"), {"dict": dict})
    raise SystemExit(f"{chapter}: no `cfg = rt.pick(...)` cell in its PyTorch notebook")


def gpu_count(framework: str) -> int:
    if framework == "pytorch":
        import torch

        return torch.cuda.device_count()
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


def command(framework: str, nproc: str, config: Path, gpus: int) -> list[str]:
    """The launch line: torchrun for PyTorch; for TensorFlow, scale_out/launch.py (N
    MultiWorkerMirroredStrategy workers) or, for --nproc gpu, one MirroredStrategy process."""
    if framework == "pytorch":
        return [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc-per-node={nproc}", str(SCRIPTS / "torch_ddp.py"),
                "--config", str(config)]
    if nproc == "gpu":
        return [sys.executable, str(SCRIPTS / "tf_multiworker.py"), "--config", str(config),
                "--strategy", "mirrored", "--replicas", str(gpus)]
    return [sys.executable, str(SCRIPTS / "launch.py"), "--nproc", nproc,
            "--config", str(config)]


def launch(chapter: str, framework: str, nproc: str, profile: str | None,
           run_dir: str | None, fresh: bool) -> int:
    if chapter not in LAUNCHABLE:
        raise SystemExit(f"launch: only {', '.join(LAUNCHABLE)} has a distributed training "
                         f"script; run {chapter}'s notebooks with ./course run {chapter}")
    if nproc != "gpu" and (not nproc.isdigit() or int(nproc) < 1):
        raise SystemExit(f"--nproc: a number of processes (e.g. 2) or gpu, got {nproc!r}")
    gpus = gpu_count(framework) if nproc == "gpu" else 0
    if nproc == "gpu" and not gpus:
        raise SystemExit("--nproc gpu: no GPU visible to "
                         f"{'PyTorch' if framework == 'pytorch' else 'TensorFlow'} here; "
                         "use --nproc 2 (CPU processes)")
    from .runtime import choose_profile

    profile = profile or choose_profile(None, accelerator="cuda" if gpus else "cpu")[0]
    cfg = profile_sizes(chapter, profile)
    run = Path(run_dir) if run_dir else course.ROOT / "build" / "scale_out" / framework
    if fresh:
        shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True, exist_ok=True)
    from . import data

    mnist = data.load_mnist()
    x, y = data.subset(mnist.x_train, mnist.y_train, cfg["train_size"], seed=0)
    import numpy as np

    np.savez(run / "mnist.npz", x=x[..., 0], y=y)
    config = dict(run_dir=str(run), data=str(run / "mnist.npz"), seed=0,
                  log_every=max(1, cfg["steps"] // 10), collective_timeout_s=60,
                  threads_per_rank=1, tensorboard=True,
                  backend="nccl" if gpus and framework == "pytorch" else "gloo",
                  **{k: cfg[k] for k in ("global_batch", "steps", "warmup", "lr_reference",
                                         "checkpoint_every")})
    (run / "config.json").write_text(json.dumps(config, indent=1))
    cmd = command(framework, nproc, run / "config.json", gpus)
    print(f"[launch] {chapter}, {framework}, profile {profile}: {mnist.label}, "
          f"{len(x):,} images, global batch {cfg['global_batch']}, {cfg['steps']} steps"
          + (f"; resuming from {run / 'checkpoint'}.*" if any(run.glob("checkpoint.*")) else ""))
    print("[launch]", " ".join(cmd), flush=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", TORCH_DISABLE_SHARE_RDZV_TCP_STORE="1")
    env.pop("TF_CONFIG", None)
    code = subprocess.call(cmd, env=env, cwd=course.ROOT)
    print(f"[launch] exit code {code}; logs, weights and TensorBoard in {run}")
    return code
