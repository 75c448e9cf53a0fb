"""jetkit.stats fitting: normalised bin fractions, the Poisson NLL, and the Newton fit with Hessian
errors and profile scans against exact results."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from jetkit import stats


def test_bin_fractions_are_normalised():
    edges = jnp.linspace(100.0, 250.0, 31)
    assert float(stats.gaussian_bin_fractions(edges, 170.0, 12.0).sum()) == pytest.approx(1.0, abs=1e-5)
    for slope in (0.02, -0.01, 0.0, 1e-12):
        frac = np.asarray(stats.exponential_bin_fractions(edges, slope))
        assert frac.sum() == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(np.asarray(stats.exponential_bin_fractions(edges, 0.0)), 1 / 30, rtol=1e-5)
    ratio = np.asarray(stats.exponential_bin_fractions(edges, 0.02))
    np.testing.assert_allclose(ratio[1:] / ratio[:-1], np.exp(-0.02 * 5.0), rtol=1e-4)


def test_poisson_nll_is_zero_at_the_data_and_positive_elsewhere():
    n = jnp.array([0.0, 3.0, 10.0, 1e5])
    assert float(stats.poisson_nll(n + jnp.array([1e-6, 0, 0, 0]), n)) == pytest.approx(0.0, abs=1e-5)
    assert float(stats.poisson_nll(n * 1.1 + 0.1, n)) > 0


def test_fit_of_a_gaussian_mean_gives_the_textbook_error():
    """Unbinned Gaussian NLL: mu_hat = sample mean, error = sigma / sqrt(N), exactly."""
    x = jnp.asarray(np.random.default_rng(3).normal(5.0, 2.0, 400), jnp.float32)

    def nll(p):
        return 0.5 * jnp.sum(jnp.square((x - p["mu"]) / p["sigma"])) + x.size * jnp.log(p["sigma"])

    r = stats.fit(nll, {"mu": 4.0, "sigma": 1.5})
    assert r.converged
    assert r.values["mu"] == pytest.approx(float(x.mean()), abs=1e-4)
    sigma_hat = float(jnp.std(x))
    assert r.values["sigma"] == pytest.approx(sigma_hat, rel=1e-4)
    assert r.errors["mu"] == pytest.approx(sigma_hat / np.sqrt(400), rel=1e-3)
    assert r.errors["sigma"] == pytest.approx(sigma_hat / np.sqrt(800), rel=1e-3)
    # the profile of a quadratic NLL is the parabola ((mu - mu_hat) / err)^2 / 2
    pts = r.values["mu"] + r.errors["mu"] * np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    np.testing.assert_allclose(stats.profile_scan(r, "mu", pts), [2.0, 0.5, 0.0, 0.5, 2.0], atol=0.02)


@pytest.fixture(scope="module")
def peak_fit():
    rng = np.random.default_rng(4)
    data = np.r_[rng.normal(172.0, 12.0, 3000), 100.0 + rng.exponential(60.0, 20000)]
    edges = np.linspace(110.0, 250.0, 71)
    counts, _ = np.histogram(data, edges)

    def nll(p):
        nu = (p["n_sig"] * stats.gaussian_bin_fractions(edges, p["mu"], p["sigma"])
              + p["n_bkg"] * stats.exponential_bin_fractions(edges, p["slope"]))
        return stats.poisson_nll(nu, counts)

    init = {"n_sig": 2000.0, "n_bkg": 15000.0, "mu": 165.0, "sigma": 15.0, "slope": 0.01}
    return stats.fit(nll, init), nll


def test_peak_fit_recovers_truth_and_hessian_errors_match_profile(peak_fit):
    r, _ = peak_fit
    assert r.converged and r.names == ("n_sig", "n_bkg", "mu", "sigma", "slope")
    assert abs(r.values["mu"] - 172.0) < 3 * r.errors["mu"]
    assert abs(r.values["sigma"] - 12.0) < 3 * r.errors["sigma"]
    assert abs(r.values["slope"] - 1 / 60) < 3 * r.errors["slope"]
    corr = r.correlation()
    np.testing.assert_allclose(np.diag(corr), 1.0, rtol=1e-6)
    pts = np.linspace(r.values["mu"] - 2.5 * r.errors["mu"], r.values["mu"] + 2.5 * r.errors["mu"], 11)
    dnll = stats.profile_scan(r, "mu", pts)
    lo, hi = stats.crossing_interval(pts, dnll)
    assert hi - lo == pytest.approx(2 * r.errors["mu"], rel=0.05)
    assert min(dnll) > -1e-3


def test_fit_errors(peak_fit):
    r, nll = peak_fit
    with pytest.raises(ValueError, match="starting values"):
        stats.fit(nll, {"n_sig": -1e5, "n_bkg": 15000.0, "mu": 165.0, "sigma": 15.0, "slope": 0.01})
    with pytest.raises(ValueError, match="nothing to fit"):
        stats.fit(nll, {"mu": 1.0}, fixed={"mu": 1.0})
    with pytest.raises(ValueError, match="unknown or fixed"):
        stats.profile_scan(r, "tau", [1.0])


def test_fixed_parameters_are_reported_but_not_fitted():
    def nll(p):  # a correlated quadratic: with y fixed, x_hat = 1 + 0.5 (y - 2)
        dx, dy = p["x"] - 1.0, p["y"] - 2.0
        return dx**2 - dx * dy + dy**2

    r = stats.fit(nll, {"x": 0.0, "y": 0.0}, fixed={"y": 4.0})
    assert r.names == ("x",) and r.values["y"] == 4.0 and "y" not in r.errors
    assert r.values["x"] == pytest.approx(2.0, abs=1e-4)
    assert r.errors["x"] == pytest.approx(np.sqrt(0.5), rel=1e-4)  # 1/sqrt(d2 NLL / dx2)


def test_crossing_interval():
    x = np.linspace(-3, 3, 61)
    assert stats.crossing_interval(x, 0.5 * x**2) == pytest.approx((-1.0, 1.0), abs=1e-2)
    lo, hi = stats.crossing_interval(x[30:], 0.5 * x[30:] ** 2)
    assert np.isnan(lo) and hi == pytest.approx(1.0, abs=1e-2)
