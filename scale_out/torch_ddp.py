"""Chapter 07's data-parallel training script (PyTorch DDP), launched by torchrun.

    torchrun --standalone --nproc-per-node=2 scale_out/torch_ddp.py --config run/config.json

Every size comes from the JSON config the notebook writes. Each rank writes run/rank{r}.json
(its losses, step times and the indices it trained on); rank 0 alone prints, and saves
run/checkpoint.pt every `checkpoint_every` steps. A run that finds a checkpoint resumes from it.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from scale_out_common import check_world, global_batch_indices, load_config, lr_at

BACKENDS = ("gloo", "nccl")


def cnn() -> nn.Sequential:
    """The chapter's CNN: three convolutions with GroupNorm (no BatchNorm: every replica's
    forward pass is independent of the others'), global average pooling, a linear layer;
    initialised as Keras initialises its twin (Glorot-uniform weights, zero biases)."""
    net = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.GroupNorm(8, 32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, 2, 1), nn.GroupNorm(8, 64), nn.ReLU(),
        nn.Conv2d(64, 128, 3, 2, 1), nn.GroupNorm(8, 128), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))
    for layer in net:
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    return net


def setup(cfg: dict) -> tuple[int, int, torch.device]:
    """Join the process group torchrun describes (RANK, WORLD_SIZE, MASTER_ADDR/PORT in the
    environment); a plain `python` run is world size 1."""
    if "RANK" not in os.environ:
        return 0, 1, torch.device("cpu")
    backend = cfg.get("backend") or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend not in BACKENDS:
        raise SystemExit(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    local = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device(f"cuda:{local}") if backend == "nccl" else torch.device("cpu")
    if backend == "nccl":
        torch.cuda.set_device(device)
    timeout = datetime.timedelta(seconds=cfg.get("collective_timeout_s", 60))
    if (os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
            and int(os.environ.get("TORCHELASTIC_MAX_RESTARTS", 0)) > 0):
        print("NOTICE: torchrun shares its key-value store across restarts, where a restarted "
              "group can find the dead group's addresses and wait for them: launch with "
              "TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 (pytorch/pytorch#135712)", flush=True)
    dist.init_process_group(backend, timeout=timeout)  # waits at most `timeout` per collective
    return dist.get_rank(), dist.get_world_size(), device


def time_communication(images, labels, local_batch: int, steps: int) -> dict:
    """Seconds per forward + backward of a fresh copy of the model with DDP's all-reduce and
    without it (`no_sync`: gradients stay local), on the same batches: their difference is what
    communication costs per step, where the backward pass does not hide it."""
    probe = nn.parallel.DistributedDataParallel(cnn().to(images.device))
    x = images[:local_batch].unsqueeze(1).float() / 255
    seconds = {}
    for name in ("all-reduce", "no_sync", "all-reduce"):  # the first pass warms up
        tick = time.perf_counter()
        for _ in range(steps):
            if name == "no_sync":
                with probe.no_sync():
                    F.cross_entropy(probe(x), labels[:local_batch]).backward()
            else:
                F.cross_entropy(probe(x), labels[:local_batch]).backward()
        seconds[name] = (time.perf_counter() - tick) / steps
    dist.barrier()
    return {"with_allreduce_s": seconds["all-reduce"], "local_only_s": seconds["no_sync"]}


def time_allreduce(sizes: list[int], repeats: int, device: torch.device) -> list[list[float]]:
    """[bytes, median seconds of one all-reduce] for float32 tensors of each size in bytes:
    the numbers the notebook's cost model is calibrated with (the median: on shared cores a
    few calls wait for the other process to be scheduled)."""
    out = []
    for size in sizes:
        t = torch.ones(size // 4, device=device)
        dist.all_reduce(t)  # warm-up: the first call sets up the connection's buffers
        times = []
        for _ in range(repeats):
            dist.barrier()  # start together, so a call does not include waiting for the other
            tick = time.perf_counter()
            dist.all_reduce(t)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - tick)
        out.append([size, float(np.median(times))])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="the run's JSON config")
    cfg = load_config(parser.parse_args().config)
    run = Path(cfg["run_dir"])
    torch.set_num_threads(cfg.get("threads_per_rank", 1))
    rank, world, device = setup(cfg)
    local_batch = check_world(cfg["global_batch"], world)

    data = np.load(cfg["data"])  # uint8 images (n, 28, 28) and labels, written by the notebook
    images = torch.from_numpy(data["x"]).to(device)
    labels = torch.from_numpy(data["y"]).to(device)

    torch.manual_seed(cfg["seed"])  # the same initial weights on every rank
    model = cnn().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr_at(0, cfg), momentum=0.9)
    start_step, ckpt = 0, run / "checkpoint.pt"
    if ckpt.is_file():
        state = torch.load(ckpt, map_location=device, weights_only=True)
        if state["world_size"] != world or state["global_batch"] != cfg["global_batch"]:
            raise SystemExit(
                f"{ckpt} was written by a run with {state['world_size']} processes and global "
                f"batch {state['global_batch']}; this run has {world} and "
                f"{cfg['global_batch']}: resume with the same settings or use a new run folder")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_step = state["step"]
    ddp = nn.parallel.DistributedDataParallel(model) if world > 1 else model

    restart = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", 0))  # torchrun's attempt number
    log = {"rank": rank, "world": world, "start_step": start_step, "restart": restart,
           "losses": [], "step_seconds": [], "indices": [], "device": str(device)}
    writer = None
    if rank == 0 and cfg.get("tensorboard"):  # rank 0 alone writes TensorBoard
        try:
            # TensorBoard's own writer, not all of TensorFlow (which it imports when installed):
            # the module name below is TensorBoard's switch for TensorFlow-free builds.
            sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("notf"))
            from torch.utils.tensorboard import SummaryWriter
            writer = SummaryWriter(str(run / "tensorboard"))
        except ImportError:
            print("NOTICE: no TensorBoard here (pip install tensorboard): not writing its log")
    for step in range(start_step, cfg["steps"]):
        if step == cfg.get("fault_step") and rank == 1 and restart == 0:
            os.kill(os.getpid(), signal.SIGKILL)  # the fault section's "machine failure"
        batch = global_batch_indices(len(images), cfg["global_batch"], step, cfg["seed"])
        mine = batch[rank * local_batch:(rank + 1) * local_batch]
        x = images[mine].unsqueeze(1).float() / 255
        tick = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, cfg)
        loss = F.cross_entropy(ddp(x), labels[mine])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # DDP all-reduces (averages) the gradients here, bucket by bucket
        optimizer.step()
        log["step_seconds"].append(time.perf_counter() - tick)
        log["indices"].append(mine.tolist())
        mean_loss = loss.detach().clone()
        if world > 1:
            dist.all_reduce(mean_loss)  # the global batch's loss, for the log
            mean_loss /= world
        log["losses"].append(float(mean_loss))
        done = step + 1
        if rank == 0 and (done % cfg["checkpoint_every"] == 0 or done == cfg["steps"]):
            tmp = ckpt.with_suffix(".tmp")
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "step": done, "world_size": world,
                        "global_batch": cfg["global_batch"]}, tmp)
            os.replace(tmp, ckpt)  # never a half-written checkpoint
        if rank == 0 and done % cfg.get("log_every", 10) == 0:
            print(f"step {done}: loss {log['losses'][-1]:.4f}", flush=True)
            if writer:
                writer.add_scalar("loss", log["losses"][-1], done)
    if writer:
        writer.close()
    if world > 1 and cfg.get("timing_steps"):
        log["timing"] = time_communication(images, labels, local_batch, cfg["timing_steps"])
    if world > 1 and cfg.get("allreduce_bytes"):
        log["allreduce"] = time_allreduce(cfg["allreduce_bytes"], cfg.get("comm_repeats", 10),
                                          device)
    torch.save(model.state_dict(), run / f"weights_rank{rank}.pt")
    (run / f"rank{rank}.json").write_text(json.dumps(log))
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
