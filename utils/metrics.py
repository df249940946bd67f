"""Scores for generative models, from NumPy arrays (NumPy/SciPy/scikit-image only, any framework).

- Samples (chapter 02): Fréchet distance, precision/recall, class coverage — on features.
- Likelihoods (chapter 03): the importance-weighted log p(x) estimate, bits per dimension.
- Image similarity (chapters 03, 05): PSNR and SSIM per image.

The features come from a network the notebook chooses: the course uses chapter 01's LeNet-5
classifier (its 84-unit layer), so the Fréchet distance here is *FID-style* — the same formula as
the Fréchet Inception Distance (Heusel et al., 2017) in another feature space. Its values are not
comparable with published Inception FIDs, only with each other.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _features(x: Any, name: str) -> np.ndarray:
    array = np.asarray(x, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name}: expected features of shape (samples, dims), got {array.shape}")
    if len(array) < 2:
        raise ValueError(f"{name}: need at least 2 samples, got {len(array)}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: features contain NaN or infinity")
    return array


def gaussian_stats(features: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (unbiased) of ``features`` of shape (samples, dims)."""
    array = _features(features, "features")
    return array.mean(axis=0), np.cov(array, rowvar=False).reshape(array.shape[1], -1)


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (negative round-off clipped)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any) -> float:
    """Fréchet (2-Wasserstein) distance² between N(mu1, sigma1) and N(mu2, sigma2):
    ``|mu1 - mu2|² + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^½)``.

    The trace term is computed as ``tr((S1^½ S2 S1^½)^½)``, a symmetric PSD matrix, so no complex
    square roots appear (scipy's ``sqrtm`` of the non-symmetric product can return them).
    """
    mu1, mu2 = (np.atleast_1d(np.asarray(m, np.float64)) for m in (mu1, mu2))
    s1, s2 = (np.atleast_2d(np.asarray(s, np.float64)) for s in (sigma1, sigma2))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"shapes do not match: mu1 {mu1.shape}, sigma1 {s1.shape}, "
                         f"mu2 {mu2.shape}, sigma2 {s2.shape} (expected (d,) and (d, d))")
    root1 = _sqrt_psd(s1)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root1 @ s2 @ root1), 0, None)).sum()
    value = float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * cross)
    return max(value, 0.0)  # round-off can leave -1e-12 for identical inputs


def fid_style(real_features: Any, fake_features: Any) -> float:
    """Fréchet distance between Gaussians fitted to two sets of features (lower is better)."""
    return frechet_distance(*gaussian_stats(real_features), *gaussian_stats(fake_features))


def _kth_neighbour_radius(points: np.ndarray, k: int, chunk: int) -> np.ndarray:
    """Distance from each point to its k-th nearest *other* point of the same set."""
    from scipy.spatial.distance import cdist

    radii = np.empty(len(points))
    for start in range(0, len(points), chunk):
        dist = cdist(points[start:start + chunk], points)
        radii[start:start + chunk] = np.partition(dist, k, axis=1)[:, k]  # column 0: itself
    return radii


def _inside_any_ball(queries: np.ndarray, centres: np.ndarray, radii: np.ndarray,
                     chunk: int) -> np.ndarray:
    from scipy.spatial.distance import cdist

    inside = np.empty(len(queries), dtype=bool)
    for start in range(0, len(queries), chunk):
        dist = cdist(queries[start:start + chunk], centres)
        inside[start:start + chunk] = (dist <= radii[None, :]).any(axis=1)
    return inside


def precision_recall(real_features: Any, fake_features: Any, k: int = 3,
                     chunk: int = 1024) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al., 2019) in feature space.

    Each set's *manifold* is the union of balls around its points reaching their k-th nearest
    neighbour. Precision: the share of generated samples inside the real manifold (are the
    samples realistic?). Recall: the share of real samples inside the generated manifold (is the
    variety covered? mode collapse lowers it).
    """
    real = _features(real_features, "real_features")
    fake = _features(fake_features, "fake_features")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sizes differ: {real.shape[1]} vs {fake.shape[1]}")
    if not 1 <= k < min(len(real), len(fake)):
        raise ValueError(f"k must be in 1..{min(len(real), len(fake)) - 1}, got {k}")
    precision = _inside_any_ball(fake, real, _kth_neighbour_radius(real, k, chunk), chunk).mean()
    recall = _inside_any_ball(real, fake, _kth_neighbour_radius(fake, k, chunk), chunk).mean()
    return float(precision), float(recall)


def density_coverage(real_features: Any, fake_features: Any, k: int = 5,
                     chunk: int = 1024) -> tuple[float, float]:
    """Density and coverage (Naeem et al., 2020) in feature space.

    Every real point ``x_i`` gets a ball reaching its k-th nearest other real point (radius
    ``r_i``). Density: how many real balls hold each generated sample, averaged and divided by
    ``k`` (about 1 when fakes are distributed like the real data; one huge ball around an outlier
    adds only 1/k). Coverage: the share of real points whose ball holds at least one generated
    sample (balls around real points, which are trustworthy, unlike balls around fakes).
    """
    from scipy.spatial.distance import cdist

    real = _features(real_features, "real_features")
    fake = _features(fake_features, "fake_features")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sizes differ: {real.shape[1]} vs {fake.shape[1]}")
    if not 1 <= k < len(real):
        raise ValueError(f"k must be in 1..{len(real) - 1}, got {k}")
    radii = _kth_neighbour_radius(real, k, chunk)
    inside = 0
    nearest = np.full(len(real), np.inf)  # distance from each real point to its nearest fake
    for start in range(0, len(fake), chunk):
        dist = cdist(fake[start:start + chunk], real)  # (fakes, reals)
        inside += int((dist <= radii[None, :]).sum())
        nearest = np.minimum(nearest, dist.min(axis=0))
    density = inside / (k * len(fake))
    coverage = float(np.mean(nearest <= radii))
    return float(density), coverage


def class_coverage(predicted: Any, num_classes: int, min_share: float = 0.02) -> dict[str, Any]:
    """How generated samples spread over the classes a classifier sees in them.

    Returns ``shares`` (fraction per class), ``covered`` (classes with at least ``min_share`` of
    the samples) and ``kl_to_uniform`` (0 when every class is equally common; ``log(num_classes)``
    when all samples fall in one class — complete mode collapse).
    """
    labels = np.asarray(predicted).reshape(-1)
    if labels.size == 0:
        raise ValueError("no predictions given")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"predicted labels must lie in 0..{num_classes - 1}, "
                         f"got {labels.min()}..{labels.max()}")
    shares = np.bincount(labels.astype(np.int64), minlength=num_classes) / labels.size
    nonzero = shares[shares > 0]
    kl = float(np.sum(nonzero * np.log(nonzero * num_classes)))
    return {"shares": shares, "covered": int(np.sum(shares >= min_share)), "kl_to_uniform": kl}


# --- likelihoods (chapter 03) ------------------------------------------------------------------

def importance_weighted_log_likelihood(log_weights: Any) -> np.ndarray:
    """Importance-weighted estimate of log p(x) (Burda et al., 2016), one value per example.

    ``log_weights`` has shape (k, examples): ``log p(x, z_i) - log q(z_i | x)`` for k samples
    ``z_i ~ q(z | x)``. The estimate is ``log (1/k) Σ_i exp(log_weights[i])``, computed with
    log-sum-exp so that weights of e^-500 do not underflow. With k = 1 it is the one-sample ELBO;
    its expectation grows with k towards log p(x) (a lower bound for every k).
    """
    from scipy.special import logsumexp

    w = np.asarray(log_weights, dtype=np.float64)
    if w.ndim == 1:
        w = w[:, None]
    if w.ndim != 2 or w.shape[0] < 1 or w.shape[1] < 1:
        raise ValueError(f"log_weights: expected shape (k, examples), got {np.shape(log_weights)}")
    if np.isnan(w).any() or np.isposinf(w).any():
        raise ValueError("log_weights contain NaN or +inf")
    return logsumexp(w, axis=0) - np.log(w.shape[0])


def bits_per_dim(nll_nats: Any, dims: int) -> float:
    """Mean negative log-likelihood per example in nats → bits per dimension.

    For 8-bit images the NLL must be that of the *discrete* pixel values (a discretised
    likelihood, or a continuous density on [0, 256) of uniformly dequantised data): then
    8 bits/dim is what storing raw pixels costs and lower means the model compresses.
    """
    if dims < 1:
        raise ValueError(f"dims must be positive, got {dims}")
    return float(np.mean(np.asarray(nll_nats, dtype=np.float64)) / (dims * np.log(2.0)))


# --- image similarity (chapters 03 and 05) ---------------------------------------------------

def _paired(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"image shapes differ: {x.shape} vs {y.shape}")
    if x.ndim < 3:
        raise ValueError(f"expected a batch of images (N, H, W[, C]), got shape {x.shape}")
    return x, y


def psnr(images: Any, references: Any, data_range: float = 1.0) -> np.ndarray:
    """Peak signal-to-noise ratio in dB of each image against its reference (higher is better;
    ``inf`` for identical images): ``10 log10(data_range² / MSE)``."""
    x, y = _paired(images, references)
    mse = ((x - y) ** 2).reshape(len(x), -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        return 10 * np.log10(data_range**2 / mse)


def ssim(images: Any, references: Any, data_range: float = 1.0) -> np.ndarray:
    """Structural similarity (Wang et al., 2004) of each image against its reference, via
    scikit-image (Gaussian window σ = 1.5, as in the paper). Images (N, H, W) or (N, H, W, C)."""
    from skimage.metrics import structural_similarity

    x, y = _paired(images, references)
    channel_axis = -1 if x.ndim == 4 else None
    return np.array([
        structural_similarity(a, b, data_range=data_range, gaussian_weights=True, sigma=1.5,
                              use_sample_covariance=False, channel_axis=channel_axis)
        for a, b in zip(x, y, strict=True)])
