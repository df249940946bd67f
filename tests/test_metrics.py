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


def test_density_coverage_against_brute_force():
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(60, 4)), rng.normal(0.3, 1.2, size=(45, 4))
    k = 4
    # independent: loops over pairs, the k-th neighbour by sorting
    radii = [sorted(np.linalg.norm(real - x, axis=1))[k] for x in real]  # [0] is x itself
    hits = [[np.linalg.norm(y - x) <= r for x, r in zip(real, radii, strict=True)] for y in fake]
    density = np.sum(hits) / (k * len(fake))
    coverage = np.mean([any(row[i] for row in hits) for i in range(len(real))])
    got = metrics.density_coverage(real, fake, k=k, chunk=7)  # chunks that do not divide
    assert got == pytest.approx((density, coverage), abs=1e-12)


def test_density_coverage_extremes_and_outliers():
    rng = np.random.default_rng(4)
    real = rng.normal(size=(300, 3))
    same = metrics.density_coverage(real, real, k=5)
    assert same == pytest.approx((1.0 + 0.0, 1.0), abs=0.25) and same[1] == 1.0
    assert metrics.density_coverage(real, real + 100.0, k=5) == (0.0, 0.0)
    # Noise near one far outlier: k-NN precision calls all of it realistic, density does not.
    outlier_real = np.vstack([real, [[30.0, 0.0, 0.0]]])
    noise = rng.normal([30.0, 0.0, 0.0], 1.0, size=(200, 3))
    precision, _ = metrics.precision_recall(outlier_real, noise, k=5)
    density, coverage = metrics.density_coverage(outlier_real, noise, k=5)
    assert precision > 0.9 and density < 0.25 and coverage < 0.01
    with pytest.raises(ValueError, match="k must be"):
        metrics.density_coverage(real[:5], real, k=5)
    with pytest.raises(ValueError, match="feature sizes differ"):
        metrics.density_coverage(real, real[:, :2])


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


# --- importance-weighted log-likelihood on a model whose log p(x) is known -------------------
# Linear Gaussian model: z ~ N(0, 1), x | z ~ N(a z + b, s²)  ⇒  x ~ N(b, a² + s²).
# Proposal q(z | x) = N(m, v) deliberately *not* the exact posterior, so the bound is loose.
A, B, S = 1.5, 0.3, 0.5


def log_normal(x, mean, var):
    return -0.5 * (np.log(2 * np.pi * var) + (x - mean) ** 2 / var)


POST_VAR = 1 / (1 + A**2 / S**2)                     # the exact posterior p(z | x)
X = np.array([-1.0, 0.2, 0.9, 2.5])
POST_MEAN = POST_VAR * A * (X - B) / S**2
EXACT = log_normal(X, B, A**2 + S**2)
M, V = POST_MEAN + 0.3, 2 * POST_VAR                 # a proposal that is near it, not equal


def linear_gaussian_log_weights(x, k, seed, m=M, v=V):
    z = np.random.default_rng(seed).normal(m, np.sqrt(v), size=(k, len(x)))
    return log_normal(x, A * z + B, S**2) + log_normal(z, 0.0, 1.0) - log_normal(z, m, v)


def linear_gaussian_elbo(x, m=M, v=V):
    # E_q[log p(x|z)] + E_q[log p(z)] - E_q[log q(z)], each in closed form for Gaussian q.
    e_lik = -0.5 * (np.log(2 * np.pi * S**2) + ((x - A * m - B) ** 2 + A**2 * v) / S**2)
    e_prior = -0.5 * (np.log(2 * np.pi) + m**2 + v)
    entropy = 0.5 * np.log(2 * np.pi * np.e * v)
    return e_lik + e_prior + entropy


def test_iwae_k1_equals_elbo_in_expectation():
    w = linear_gaussian_log_weights(X, k=1, seed=0)
    estimates = np.stack([metrics.importance_weighted_log_likelihood(
        linear_gaussian_log_weights(X, 1, seed)) for seed in range(4000)])
    assert w.shape == (1, 4)
    standard_error = estimates.std(axis=0) / np.sqrt(len(estimates))
    assert np.all(np.abs(estimates.mean(axis=0) - linear_gaussian_elbo(X)) < 4 * standard_error)
    assert np.all(linear_gaussian_elbo(X) < EXACT - 0.05)  # the proposal really is imperfect


def test_iwae_does_not_decrease_with_k_and_stays_below_log_px():
    means = []
    for k in (1, 5, 50, 500):
        est = [metrics.importance_weighted_log_likelihood(
            linear_gaussian_log_weights(X, k, seed)) for seed in range(300)]
        means.append(np.mean(est, axis=0))
    means = np.array(means)
    assert np.all(np.diff(means, axis=0) > -0.01), means  # non-decreasing, up to noise
    assert np.all(means <= EXACT + 0.01)                   # a lower bound on average
    assert np.all(means[-1] - means[0] > 0.05)             # and k really helps here


def test_iwae_converges_to_exact_log_px():
    estimate = metrics.importance_weighted_log_likelihood(
        linear_gaussian_log_weights(X, 200_000, seed=1))
    np.testing.assert_allclose(estimate, EXACT, atol=0.01)


def test_iwae_is_exact_with_the_true_posterior():
    # With q = p(z|x) every weight equals p(x): the estimate is exact for any k, even k = 1.
    log_w = linear_gaussian_log_weights(X, 3, seed=0, m=POST_MEAN, v=POST_VAR)
    np.testing.assert_allclose(metrics.importance_weighted_log_likelihood(log_w), EXACT)


def test_iwae_handles_tiny_weights_and_rejects_bad_input():
    value = metrics.importance_weighted_log_likelihood(np.array([[-1000.0], [-1000.0 + np.log(3)]]))
    assert value[0] == pytest.approx(-1000.0 + np.log(2))  # log((e^-1000 + 3 e^-1000) / 2)
    with pytest.raises(ValueError):
        metrics.importance_weighted_log_likelihood(np.array([[np.nan]]))
    with pytest.raises(ValueError):
        metrics.importance_weighted_log_likelihood(np.zeros((2, 2, 2)))


def test_bits_per_dim():
    # Storing uniform 8-bit pixels costs exactly 8 bits each: NLL = D · log 256 nats.
    assert metrics.bits_per_dim(np.full(5, 3072 * np.log(256)), 3072) == pytest.approx(8.0)
    with pytest.raises(ValueError):
        metrics.bits_per_dim(1.0, 0)


def test_psnr_and_ssim_against_scikit_image_and_by_hand():
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    rng = np.random.default_rng(0)
    ref = rng.uniform(size=(3, 16, 16))
    noisy = np.clip(ref + rng.normal(0, 0.1, ref.shape), 0, 1)
    mse = ((noisy - ref) ** 2).reshape(3, -1).mean(axis=1)
    np.testing.assert_allclose(metrics.psnr(noisy, ref), 10 * np.log10(1 / mse))
    np.testing.assert_allclose(metrics.psnr(noisy, ref),
                               [peak_signal_noise_ratio(r, n, data_range=1) for r, n in
                                zip(ref, noisy, strict=True)])
    assert np.isinf(metrics.psnr(ref, ref)).all()
    s = metrics.ssim(noisy, ref)
    assert s.shape == (3,) and np.all((s > 0) & (s < 1))
    np.testing.assert_allclose(metrics.ssim(ref, ref), 1.0)
    assert s[0] == pytest.approx(structural_similarity(noisy[0], ref[0], data_range=1,
                                                       gaussian_weights=True, sigma=1.5,
                                                       use_sample_covariance=False))
    rgb = rng.uniform(size=(2, 16, 16, 3))
    assert metrics.ssim(rgb, rgb).shape == (2,)
    with pytest.raises(ValueError):
        metrics.psnr(ref, ref[:2])
