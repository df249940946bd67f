"""utils.metrics: Fréchet distance against closed forms, precision/recall, class coverage."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from utils import metrics


def random_spd(d: int, seed: int) -> np.ndarray:
    a = np.random.default_rng(seed).normal(size=(d, d))
    return a @ a.T + 0.1 * np.eye(d)


def test_frechet_one_dimensional_closed_form():
    # N(m1, s1²) vs N(m2, s2²): (m1 - m2)² + (s1 - s2)²
    value = metrics.frechet_distance([1.0], [[4.0]], [-2.0], [[9.0]])
    assert value == pytest.approx((1 + 2) ** 2 + (2 - 3) ** 2)


def test_frechet_commuting_covariances_closed_form():
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert metrics.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected)


def test_frechet_general_matches_scipy_sqrtm():
    s1, s2 = random_spd(6, 1), random_spd(6, 2)
    mu1, mu2 = np.arange(6.0), np.ones(6)
    expected = (np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2)
                - 2 * np.trace(linalg.sqrtm(s1 @ s2)).real)
    value = metrics.frechet_distance(mu1, s1, mu2, s2)
    assert value == pytest.approx(expected, rel=1e-8)
    assert value == pytest.approx(metrics.frechet_distance(mu2, s2, mu1, s1), rel=1e-8)


def test_fid_style_identical_sets_is_zero_and_symmetric():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(500, 8)), rng.normal(1.0, 2.0, size=(400, 8))
    assert metrics.fid_style(a, a) == pytest.approx(0.0, abs=1e-9)
    assert metrics.fid_style(a, b) == pytest.approx(metrics.fid_style(b, a), rel=1e-9)
    assert metrics.fid_style(a, b) > 10


def test_fid_style_on_samples_approaches_the_gaussian_value():
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, size=(20_000, 3))
    b = rng.normal([1.0, 0.0, 0.0], 2.0, size=(20_000, 3))
    expected = 1.0 + 3 * (1.0 - 2.0) ** 2  # |Δμ|² + Σ (σ1 - σ2)²
    assert metrics.fid_style(a, b) == pytest.approx(expected, rel=0.05)


def test_gaussian_stats_matches_numpy():
    x = np.random.default_rng(3).normal(size=(50, 4))
    mu, sigma = metrics.gaussian_stats(x)
    np.testing.assert_allclose(mu, x.mean(0))
    np.testing.assert_allclose(sigma, np.cov(x.T))


@pytest.mark.parametrize("args, match", [
    (([0.0, 0.0], np.eye(2), [0.0], np.eye(1)), "shapes do not match"),
    (([0.0, 0.0], np.eye(3), [0.0, 0.0], np.eye(2)), "shapes do not match"),
])
def test_frechet_rejects_mismatched_shapes(args, match):
    with pytest.raises(ValueError, match=match):
        metrics.frechet_distance(*args)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((1, 3)), "at least 2 samples"),
    (np.zeros((4,)), r"shape \(samples, dims\)"),
    (np.full((4, 2), np.nan), "NaN"),
])
def test_fid_style_rejects_bad_features(bad, match):
    with pytest.raises(ValueError, match=match):
        metrics.fid_style(bad, np.zeros((4, 2)))


def brute_force_precision_recall(real, fake, k):
    def radii(points):
        d = np.linalg.norm(points[:, None] - points[None], axis=-1)
        return np.sort(d, axis=1)[:, k]

    def inside(queries, centres, r):
        d = np.linalg.norm(queries[:, None] - centres[None], axis=-1)
        return np.mean([(d[i] <= r).any() for i in range(len(queries))])

    return inside(fake, real, radii(real)), inside(real, fake, radii(fake))


def test_precision_recall_against_brute_force():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(120, 5)), rng.normal(0.5, 1.3, size=(90, 5))
    got = metrics.precision_recall(real, fake, k=3, chunk=16)  # small chunks: exercise chunking
    np.testing.assert_allclose(got, brute_force_precision_recall(real, fake, 3))


def test_precision_recall_extremes():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(200, 4))
    assert metrics.precision_recall(real, real) == (1.0, 1.0)
    assert metrics.precision_recall(real, real + 100.0) == (0.0, 0.0)
    # mode collapse: every sample near one real point -> realistic (precision 1) but no variety
    collapsed = real[:1] + rng.normal(scale=1e-3, size=(200, 4))
    precision, recall = metrics.precision_recall(real, collapsed)
    assert precision == 1.0 and recall < 0.1


def test_precision_recall_rejects_bad_k_and_dims():
    real = np.zeros((10, 3))
    with pytest.raises(ValueError, match="k must be"):
        metrics.precision_recall(real, real, k=10)
    with pytest.raises(ValueError, match="feature sizes differ"):
        metrics.precision_recall(real, np.zeros((10, 2)))


def test_class_coverage_by_hand():
    out = metrics.class_coverage([0, 0, 1, 1, 2, 2, 3, 3], num_classes=4)
    np.testing.assert_allclose(out["shares"], [0.25] * 4)
    assert out["covered"] == 4 and out["kl_to_uniform"] == pytest.approx(0.0)
    collapsed = metrics.class_coverage([7] * 50, num_classes=10)
    assert collapsed["covered"] == 1
    assert collapsed["kl_to_uniform"] == pytest.approx(np.log(10))
    half = metrics.class_coverage([0] * 99 + [1], num_classes=2, min_share=0.02)
    assert half["covered"] == 1  # class 1 has 1 % < 2 %
    assert half["kl_to_uniform"] == pytest.approx(0.99 * np.log(1.98) + 0.01 * np.log(0.02))


@pytest.mark.parametrize("bad", [[], [0, 10], [-1]])
def test_class_coverage_rejects_bad_labels(bad):
    with pytest.raises(ValueError):
        metrics.class_coverage(bad, num_classes=10)
