"""What chapter 07's two training scripts share: the config, the global batches and the
learning rate. Both frameworks train on exactly the same images in the same order."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

REQUIRED = ("run_dir", "data", "global_batch", "steps", "warmup", "lr_reference", "seed",
            "checkpoint_every")


def load_config(path: str | Path) -> dict:
    """The run's JSON config (the notebook writes it), with its required keys checked."""
    cfg = json.loads(Path(path).read_text())
    missing = [key for key in REQUIRED if key not in cfg]
    if missing:
        raise SystemExit(f"{path}: missing {', '.join(missing)} (needed: {', '.join(REQUIRED)})")
    return cfg


def check_world(global_batch: int, world: int) -> int:
    """The per-replica batch; a world size that does not divide the global batch is an error."""
    if global_batch % world:
        valid = [n for n in range(1, min(global_batch, 64) + 1) if global_batch % n == 0]
        raise SystemExit(f"the global batch {global_batch} does not split over {world} "
                         f"processes: use a process count that divides it ({valid})")
    return global_batch // world


def global_batch_indices(n: int, global_batch: int, step: int, seed: int) -> np.ndarray:
    """The global batch of `step`: consecutive slices of one permutation per epoch (seeded by
    seed + epoch), the same on every rank and in a single-process run."""
    per_epoch = n // global_batch
    epoch, k = divmod(step, per_epoch)
    order = np.random.default_rng(seed + epoch).permutation(n)
    return order[k * global_batch:(k + 1) * global_batch]


def lr_at(step: int, cfg: dict) -> float:
    """Linear scaling with the global batch (Goyal et al., 2017) after a linear warm-up."""
    peak = cfg["lr_reference"] * cfg["global_batch"] / 128
    return peak * min(1.0, (step + 1) / cfg["warmup"])
