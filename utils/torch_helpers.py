"""PyTorch plumbing without torchvision: NumPy images to tensors, batch augmentation, loaders.

Augmentations work on whole float NCHW batches with tensor ops, so they run on whatever device
the batch is on (apply them to each batch inside the training loop, after ``.to(device)``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .data import as_uint8_nhwc

if TYPE_CHECKING:
    import torch
    from torch.utils.data import DataLoader


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 NHWC (or NHW gray) NumPy images -> float32 NCHW tensor in [0, 1]."""
    import torch

    images = as_uint8_nhwc(images)
    nchw = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()
    return nchw.float().div(255)


def _rng_device(x: torch.Tensor, generator: torch.Generator | None) -> torch.device:
    """Draw random numbers where ``generator`` lives (a CPU generator can't fill a CUDA tensor)."""
    return generator.device if generator is not None else x.device


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``(x - mean) / std`` per channel of a float NCHW batch."""
    import torch

    mean_t = torch.as_tensor(mean, dtype=x.dtype, device=x.device).reshape(1, -1, 1, 1)
    std_t = torch.as_tensor(std, dtype=x.dtype, device=x.device).reshape(1, -1, 1, 1)
    if mean_t.shape[1] not in (1, x.shape[1]) or std_t.shape[1] not in (1, x.shape[1]):
        raise ValueError(f"mean/std need 1 or {x.shape[1]} values (one per channel), got "
                         f"{mean_t.shape[1]} and {std_t.shape[1]}.")
    return (x - mean_t) / std_t


def random_crop(
    x: torch.Tensor, padding: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Zero-pad each side by ``padding``, then crop a random window of the original size per image.

    The classic CIFAR augmentation: every image is shifted by up to ``padding`` pixels.
    """
    import torch
    import torch.nn.functional as F

    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    if padding == 0:
        return x
    n, _, height, width = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    offsets = torch.randint(2 * padding + 1, (2 * n,), generator=generator,
                            device=_rng_device(x, generator)).to(x.device)
    rows = offsets[:n, None] + torch.arange(height, device=x.device)  # (N, H)
    cols = offsets[n:, None] + torch.arange(width, device=x.device)  # (N, W)
    batch = torch.arange(n, device=x.device)[:, None, None]
    # Advanced indexing on N, H, W (C kept by the slice) gives (N, H, W, C).
    return padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def random_hflip(
    x: torch.Tensor, p: float = 0.5, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Mirror each image of an NCHW batch left-right with probability ``p``."""
    import torch

    draws = torch.rand(x.shape[0], generator=generator, device=_rng_device(x, generator))
    flip = draws.to(x.device) < p
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def make_loader(
    images: np.ndarray,
    labels: np.ndarray | Sequence[int] | None,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
    drop_last: bool = False,
) -> DataLoader:
    """A DataLoader of (float NCHW images in [0, 1], int64 labels), or of images alone.

    Shuffling uses its own generator seeded by ``seed``: the same seed gives the same order.
    Augment on the fly in the training loop: ``x = random_crop(x.to(device), 4, g)``.
    """
    import torch
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

    x = to_tensor(images)
    if labels is None:
        dataset: Any = x  # indexing the tensor itself yields plain image batches
    else:
        y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
        if len(y) != len(x):
            raise ValueError(f"Got {len(x)} images but {len(y)} labels.")
        dataset = torch.utils.data.TensorDataset(x, y)
    order = (RandomSampler(range(len(x)), generator=torch.Generator().manual_seed(seed))
             if shuffle else SequentialSampler(range(len(x))))
    # Sampling whole batches of indices lets the tensors be sliced once per batch instead of
    # being indexed and collated image by image (several times faster on a CPU).
    sampler = BatchSampler(order, batch_size=batch_size, drop_last=drop_last)
    return DataLoader(dataset, sampler=sampler, batch_size=None)


class DeviceLoader:
    """Batches of a dataset that lives whole on the device, as uint8: the GPU way to feed a
    small dataset (MNIST's 60,000 images are 47 MB as uint8, CIFAR-10's 150 MB).

    The images are copied to ``device`` once, as uint8 NCHW (4× smaller than float32); each
    batch is gathered there and converted to float32 in [0, 1] there, so no batch crosses the
    host–device bus and no host thread sits in the training loop. A ``DataLoader`` with worker
    processes is what to use when a dataset does not fit (files on disk, decoding, large images).

    Iterating gives ``(images, labels)`` (or images alone when ``labels`` is None), reshuffled
    on every pass by its own CPU generator seeded by ``seed``. The order is exactly
    `make_loader`'s for the same seed (a test checks), so switching loaders changes no number
    on a CPU. ``reseed(s)`` starts the order afresh, as a new loader with ``seed=s`` would.
    ``memory_format=torch.channels_last`` lays each batch out as NHWC in memory (what tensor
    cores want); its values and shape stay NCHW.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray | Sequence[int] | None,
                 batch_size: int, *, device: str | torch.device = "cpu", shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False, memory_format: Any = None) -> None:
        import torch

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        array = np.ascontiguousarray(as_uint8_nhwc(images))
        if not array.flags.writeable:  # torch.from_numpy warns about read-only arrays
            array = array.copy()
        uint8 = torch.from_numpy(array)
        self.images = uint8.permute(0, 3, 1, 2).contiguous().to(device)  # uint8 NCHW
        self.labels = None
        if labels is not None:
            self.labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64).to(device)
            if len(self.labels) != len(self.images):
                raise ValueError(f"Got {len(self.images)} images but {len(self.labels)} labels.")
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.memory_format = memory_format or torch.contiguous_format
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        """Restart the shuffling from ``seed`` (chapters 02/03: one seed per epoch)."""
        import torch

        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        n = len(self.images)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Any:
        import torch

        n = len(self.images)
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator).to(self.images.device)
        else:
            order = torch.arange(n, device=self.images.device)
        for i in range(len(self)):
            index = order[i * self.batch_size:(i + 1) * self.batch_size]
            x = self.images[index].float().div_(255)
            x = x.contiguous(memory_format=self.memory_format)
            yield x if self.labels is None else (x, self.labels[index])
        if self.shuffle:
            # DataLoader's RandomSampler draws one more (unused) permutation after each complete
            # pass; drawing it too keeps later passes in exactly make_loader's order.
            torch.randperm(n, generator=self.generator)


def count_params(model: torch.nn.Module, trainable_only: bool = True) -> int:
    """Number of parameters (only those with ``requires_grad`` unless ``trainable_only=False``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def save_training_state(path: str | os.PathLike, step: int, modules: dict[str, Any],
                        generators: dict[str, Any] | None = None) -> Path:
    """Save everything a training run needs to continue exactly: the ``state_dict()`` of each of
    ``modules`` (networks *and* optimizers, e.g. ``{"G": G, "D": D, "opt_G": opt_G, ...}``), the
    step, the global torch/NumPy/Python random states and the state of each ``torch.Generator``
    in ``generators``. Written to a temporary file, then renamed (an interrupted save never
    leaves a half-written checkpoint). Load with `load_training_state`."""
    import random

    import torch

    numpy_state = np.random.get_state()
    state = {
        "step": int(step),
        "modules": {name: module.state_dict() for name, module in modules.items()},
        "generators": {name: g.get_state() for name, g in (generators or {}).items()},
        "rng": {"torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "numpy": torch.from_numpy(numpy_state[1].astype(np.int64)),
                "numpy_pos": int(numpy_state[2]),
                "python": list(random.getstate()[1]), "python_version": random.getstate()[0]},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(state, partial)
    partial.replace(path)
    return path


def load_training_state(path: str | os.PathLike, modules: dict[str, Any],
                        generators: dict[str, Any] | None = None) -> int:
    """Restore what `save_training_state` saved into the given (freshly built) networks,
    optimizers and generators, and the global random states; return the saved step.
    Loads with ``weights_only=True`` (no arbitrary code from the file)."""
    import random

    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    missing = sorted(set(modules) - set(state["modules"]))
    unknown = sorted(set(state["modules"]) - set(modules))
    if missing or unknown:
        raise ValueError(f"{path}: checkpoint holds {sorted(state['modules'])}; "
                         f"missing {missing}, not given here {unknown}")
    for name, module in modules.items():
        module.load_state_dict(state["modules"][name])
    for name, generator in (generators or {}).items():
        generator.set_state(state["generators"][name])
    rng = state["rng"]
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    np.random.set_state(("MT19937", rng["numpy"].numpy().astype(np.uint32), rng["numpy_pos"]))
    random.setstate((rng["python_version"], tuple(rng["python"]), None))
    return int(state["step"])


# --- pretrained feature extractors (chapter 04), with torchvision's key names ----------------

def squeezenet1_1(state_dict: dict | None = None) -> torch.nn.Module:
    """SqueezeNet 1.1 (Iandola et al., 2016) written out with torchvision's module layout, so a
    torchvision-format state dict (``weights.torch_state_dict("squeezenet1_1")``) loads with
    ``strict=True``. ``model.features[i]`` are the layers whose outputs chapter 04 uses; the
    ReLUs are not in-place, so stored intermediate outputs stay intact. Returns it in eval mode.
    """
    from torch import nn

    class Fire(nn.Module):
        def __init__(self, c_in: int, squeeze: int, e1: int, e3: int) -> None:
            super().__init__()
            self.squeeze, self.squeeze_activation = nn.Conv2d(c_in, squeeze, 1), nn.ReLU()
            self.expand1x1, self.expand1x1_activation = nn.Conv2d(squeeze, e1, 1), nn.ReLU()
            self.expand3x3 = nn.Conv2d(squeeze, e3, 3, padding=1)
            self.expand3x3_activation = nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            import torch

            x = self.squeeze_activation(self.squeeze(x))
            return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                              self.expand3x3_activation(self.expand3x3(x))], dim=1)

    class SqueezeNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            pool = dict(kernel_size=3, stride=2, ceil_mode=True)
            self.features = nn.Sequential(
                nn.Conv2d(3, 64, 3, stride=2), nn.ReLU(), nn.MaxPool2d(**pool),
                Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), nn.MaxPool2d(**pool),
                Fire(128, 32, 128, 128), Fire(256, 32, 128, 128), nn.MaxPool2d(**pool),
                Fire(256, 48, 192, 192), Fire(384, 48, 192, 192), Fire(384, 64, 256, 256),
                Fire(512, 64, 256, 256))
            self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(512, 1000, 1), nn.ReLU(),
                                            nn.AdaptiveAvgPool2d(1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.classifier(self.features(x)).flatten(1)

    model = SqueezeNet()
    if state_dict is not None:
        model.load_state_dict(state_dict, strict=True)
    return model.eval()


VGG19_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
                512, 512, 512, 512, "M")


def vgg19_features(state_dict: dict | None = None, pool: str = "max") -> torch.nn.Module:
    """VGG19's convolutional part with torchvision's indices (``features.0`` = conv1_1, …), so
    torchvision's ``vgg19-dcbb9e9d.pth`` loads into it (its classifier keys are ignored).
    ``pool="avg"`` swaps max- for average pooling, as Gatys et al. suggest for synthesis."""
    from torch import nn

    if pool not in ("max", "avg"):
        raise ValueError(f"pool must be 'max' or 'avg', got {pool!r}")
    layers: list[nn.Module] = []
    c_in = 3
    for v in VGG19_LAYOUT:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2) if pool == "max" else nn.AvgPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c_in, int(v), 3, padding=1), nn.ReLU()]
            c_in = int(v)
    features = nn.Sequential(*layers)
    if state_dict is not None:
        own = {k[len("features."):]: v for k, v in state_dict.items() if k.startswith("features.")}
        features.load_state_dict(own, strict=True)
    return features.eval()
