"""Generative-model metrics (arXiv:2211.10295) against scipy and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import wasserstein_distance

from jetkit import exercises
from jetkit import metrics
from jetkit.models import generative as gen

floats = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(floats, min_size=1, max_size=60), st.lists(floats, min_size=1, max_size=60))
def test_w1_matches_scipy(u, v):
    assert metrics.generative.w1(u, v) == pytest.approx(wasserstein_distance(u, v), rel=1e-9, abs=1e-9)


def test_w1_of_a_shift_is_the_shift_and_rejects_nan():
    x = np.random.default_rng(0).normal(size=500)
    assert metrics.generative.w1(x, x + 2.5) == pytest.approx(2.5)
    with pytest.raises(ValueError, match="NaN"):
        metrics.generative.w1([1.0, np.nan], [1.0])
    with pytest.raises(ValueError, match="empty"):
        metrics.generative.w1([], [1.0])


def _gaussian(mean, cov, n, seed):
    return np.random.default_rng(seed).multivariate_normal(mean, cov, size=n)


def test_fpd_closed_form_for_gaussians():
    # Sample means/covariances are what FPD uses; build samples with exactly known moments by
    # whitening, then compare with the closed form for commuting (diagonal) covariances:
    # |mu1 - mu2|^2 + sum_k (s1_k - s2_k)^2.
    rng = np.random.default_rng(1)
    z = rng.normal(size=(4000, 3))
    z = (z - z.mean(0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T
    s1, s2 = np.array([1.0, 2.0, 0.5]), np.array([1.5, 1.0, 0.5])
    m1, m2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, -1.0])
    x, y = m1 + z * s1, m2 + z * s2
    expected = np.sum((m1 - m2) ** 2) + np.sum((s1 - s2) ** 2)
    assert metrics.generative.fpd(x, y) == pytest.approx(expected, rel=1e-6)
    assert metrics.generative.fpd(x, x) == pytest.approx(0.0, abs=1e-8)


def test_fpd_general_covariances_against_scipy_sqrtm():
    from scipy.linalg import sqrtm

    x = _gaussian([0, 0], [[1.0, 0.6], [0.6, 2.0]], 3000, 2)
    y = _gaussian([0.5, -0.2], [[0.5, -0.3], [-0.3, 1.0]], 2000, 3)
    sx, sy = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    ref = np.sum((x.mean(0) - y.mean(0)) ** 2) + np.trace(sx + sy - 2 * sqrtm(sx @ sy).real)
    assert metrics.generative.fpd(x, y) == pytest.approx(ref, rel=1e-6)


def test_kpd_matches_the_kernel_matrix_formula():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(80, 5)), rng.normal(0.3, 1.2, size=(60, 5))
    d = 5
    kxx, kyy, kxy = ((a @ b.T / d + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
    ref = ((kxx.sum() - np.trace(kxx)) / (80 * 79) + (kyy.sum() - np.trace(kyy)) / (60 * 59)
           - 2 * kxy.mean())
    assert metrics.generative.kpd(x, y) == pytest.approx(ref, rel=1e-9)


def test_kpd_is_unbiased_for_identical_distributions():
    rng = np.random.default_rng(5)
    same = [metrics.generative.kpd(rng.normal(size=(100, 3)), rng.normal(size=(100, 3))) for _ in range(200)]
    shifted = [metrics.generative.kpd(rng.normal(size=(100, 3)), rng.normal(0.5, 1, size=(100, 3))) for _ in range(20)]
    err = np.std(same) / np.sqrt(len(same))
    assert abs(np.mean(same)) < 3 * err  # unbiased: zero on average (a biased V-statistic is > 0)
    assert min(same) < 0 < np.mean(shifted)
    assert np.mean(shifted) > 10 * np.std(same)


def test_bootstrap_gives_value_and_spread():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=400), rng.normal(size=400)
    value, err = metrics.generative.bootstrap(metrics.generative.w1, x, y, n_boot=10)
    assert value == pytest.approx(metrics.generative.w1(x, y))
    assert 0 < err < 1


def test_jet_mass_matches_kinematics(real_jets5):
    from jetkit.physics import kinematics

    p, m = real_jets5["particles"], real_jets5["mask"]
    ref = np.asarray(kinematics.invariant_mass(kinematics.particles_to_p4(p, m), m))
    np.testing.assert_allclose(metrics.generative.jet_mass(p, m), ref, rtol=2e-3, atol=0.05)


def test_metrics_ignore_padding_and_see_distortions(real_jets5):
    p, m = real_jets5["particles"], real_jets5["mask"]
    junk = np.where(m[..., None], p, 123.0)  # garbage in padded slots must not matter
    np.testing.assert_allclose(metrics.generative.jet_features(junk, m), metrics.generative.jet_features(p, m), rtol=1e-5)
    assert metrics.generative.w1p(junk, m, p, m) == 0.0
    a, b = slice(0, None, 2), slice(1, None, 2)  # two halves with every class in both
    table = metrics.generative.evaluate((p[a], m[a]), {
        "truth vs truth": (p[b], m[b]),
        "smeared mass": metrics.generative.distort(p[b], m[b], "smeared mass", seed=0),
        "wrong multiplicity": metrics.generative.distort(p[b], m[b], "wrong multiplicity", seed=0),
    }, n_boot=3)
    assert table["wrong multiplicity"]["W1P"][0] > 1.5 * table["truth vs truth"]["W1P"][0]
    assert set(table["smeared mass"]) == {"W1M", "W1P", "FPD", "KPD"}
    assert all(np.isfinite(v).all() for row in table.values() for v in row.values())
    assert "W1M" in metrics.generative.format_table(table)


def test_exercise_checks():
    u, v = np.arange(5.0), np.arange(5.0) + 0.5
    assert exercises.check("04_w1_by_hand", 0.5, u, v)
    assert not exercises.check("04_w1_by_hand", 0.7, u, v)
    assert exercises.check("04_fpd_gaussians", 1.0 + 0.25, 0.0, 1.0, 1.0, 1.5)
    assert not exercises.check("04_fpd_gaussians", 1.0, 0.0, 1.0, 1.0, 1.5)
