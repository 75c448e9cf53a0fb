"""jetkit.stats: significances against closed forms, relaxed cuts and soft histograms against
their hard limits, the Newton fit against exact results, the notebook-01 exercise checks and the
cut explorer widget driven from Python."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jetkit import diffprog as dp
from jetkit import exercises, kinematics
from jetkit.diffprog_exercises import best_threshold, mass_gradient, threshold_significance

SETTINGS = settings(max_examples=40, deadline=None)


def z_closed(s, b, sb=None):
    """Cowan et al. (arXiv:1007.1727) in float64, straight from the paper."""
    s, b = np.float64(s), np.float64(b)
    if sb is None:
        return np.sqrt(2 * ((s + b) * np.log(1 + s / b) - s))
    v = np.float64(sb) ** 2
    return np.sqrt(2 * ((s + b) * np.log((s + b) * (b + v) / (b * b + (s + b) * v))
                        - b * b / v * np.log(1 + v * s / (b * (b + v)))))


# ------------------------------------------------------------------------------ significance


@pytest.mark.parametrize("s,b", [(10, 100), (5, 5), (100, 10), (1, 1e4), (50, 2000)])
def test_asimov_matches_closed_form(s, b):
    assert float(dp.asimov_significance(s, b)) == pytest.approx(z_closed(s, b), rel=1e-5)


@pytest.mark.parametrize("s,b,sb", [(10, 100, 5), (50, 100, 20), (30, 1000, 100), (5, 5, 1), (200, 50, 30)])
def test_asimov_with_uncertainty_matches_closed_form(s, b, sb):
    assert float(dp.asimov_significance(s, b, sb)) == pytest.approx(z_closed(s, b, sb), rel=1e-4)


@SETTINGS
@given(s=st.floats(0.01, 1e3), b=st.floats(0.1, 1e5))
def test_sigma_b_to_zero_recovers_plain_formula(s, b):
    z0 = float(dp.asimov_significance(s, b))
    # sigma_b matters once sigma_b^2 is comparable to b (s << b) or b^2 / (s + b) (s >> b)
    for sb in (1e-3 * np.sqrt(b) * min(1.0, np.sqrt(b / (s + b))), 0.0):
        assert float(dp.asimov_significance(s, b, sb)) == pytest.approx(z0, rel=1e-4, abs=1e-7)


@SETTINGS
@given(b=st.floats(10.0, 1e6), frac=st.floats(1e-6, 1e-3), rel=st.floats(0.0, 0.5))
def test_small_signal_limits(b, frac, rel):
    """s << b: Z -> s/sqrt(b + sigma_b^2), computed without cancellation in float32."""
    s, sb = frac * b, rel * b
    assert float(dp.asimov_significance(s, b, sb)) == pytest.approx(s / np.sqrt(b + sb * sb), rel=2e-3)


@SETTINGS
@given(s=st.floats(0.1, 1e3), b=st.floats(1.0, 1e4), r1=st.floats(0.0, 1.0), r2=st.floats(0.0, 1.0))
def test_uncertainty_never_helps(s, b, r1, r2):
    lo, hi = sorted((r1, r2))
    assert float(dp.asimov_significance(s, b, hi * b)) <= float(dp.asimov_significance(s, b, lo * b)) * (1 + 1e-5)


def test_significance_is_differentiable_everywhere_it_is_defined():
    g = jax.jit(jax.grad(lambda s, b: dp.asimov_significance(s, b, 0.1 * b), argnums=(0, 1)))
    for s, b in [(1e-4, 100.0), (10.0, 100.0), (1e3, 1.0)]:
        ds, db = (float(x) for x in g(s, b))
        assert np.isfinite(ds) and ds > 0 and np.isfinite(db) and db < 0
    assert np.isfinite(float(jax.grad(dp.asimov_significance)(0.0, 10.0)))


@pytest.mark.parametrize("s,b,sb,match", [(-1.0, 10.0, None, "negative signal"),
                                          (1.0, -10.0, None, "negative background"),
                                          (1.0, 0.0, None, "empty background"),
                                          ([1.0, 2.0], [3.0, 0.0], None, "empty background"),
                                          (1.0, 10.0, -1.0, "sigma_b"),
                                          (np.nan, 10.0, None, "NaN")])
def test_bad_yields_raise(s, b, sb, match):
    with pytest.raises(ValueError, match=match):
        dp.asimov_significance(s, b, sb)


def test_binned_significance_adds_bins_in_quadrature():
    s, b = np.array([1.0, 5.0, 20.0]), np.array([100.0, 50.0, 10.0])
    expected = np.sqrt(sum(z_closed(si, bi, 0.1 * bi) ** 2 for si, bi in zip(s, b)))
    assert float(dp.binned_significance(s, b, 0.1)) == pytest.approx(expected, rel=1e-4)
    assert float(dp.binned_significance(s[:1], b[:1])) == pytest.approx(z_closed(1, 100), rel=1e-5)
    with pytest.raises(ValueError, match="empty background"):
        dp.binned_significance(s, np.array([1.0, 0.0, 1.0]))
    assert np.isfinite(float(dp.binned_significance(s, np.array([1.0, 0.0, 1.0]), 0.1, b_floor=1e-3)))
    with pytest.raises(ValueError, match="rel_unc"):
        dp.binned_significance(s, b, -0.1)
    with pytest.raises(ValueError, match="same shape"):
        dp.binned_significance(s, b[:2])


# ------------------------------------------------------------------------------ relaxed cuts


@SETTINGS
@given(x=st.floats(-100, 100), c=st.floats(-100, 100), keep=st.sampled_from(["above", "below"]))
def test_relaxed_cut_becomes_the_hard_cut_as_temperature_goes_to_zero(x, c, keep):
    if abs(x - c) < 1e-3:
        return
    hard = float(dp.hard_cut(x, c, keep))
    errors = [abs(float(dp.relaxed_cut(x, c, t, keep)) - hard) for t in (abs(x - c), abs(x - c) / 5, abs(x - c) / 50)]
    assert errors[0] > errors[1] > errors[2] or errors[2] == 0.0
    assert errors[2] < 1e-6


@SETTINGS
@given(x=st.floats(-10, 10), c=st.floats(-10, 10), t=st.floats(1e-3, 10))
def test_relaxed_cut_sides_are_complementary(x, c, t):
    above, below = float(dp.relaxed_cut(x, c, t, "above")), float(dp.relaxed_cut(x, c, t, "below"))
    assert above + below == pytest.approx(1.0, abs=1e-6)
    assert 0.0 <= above <= 1.0
    assert float(dp.relaxed_cut(c, c, t)) == pytest.approx(0.5)


def test_relaxed_selection_and_window():
    rng = np.random.default_rng(1)
    m, tau = rng.uniform(50, 300, 500), rng.uniform(0, 1, 500)
    features = np.stack([m, m, tau], axis=1)
    keep = ("above", "below", "below")
    hard = np.asarray(dp.relaxed_selection(features, np.array([140.0, 200.0, 0.6]), None, keep))
    np.testing.assert_array_equal(hard, ((m > 140) & (m < 200) & (tau < 0.6)).astype(float))
    cold = np.asarray(dp.relaxed_selection(features, np.array([140.0, 200.0, 0.6]), np.array([1e-4, 1e-4, 1e-6]), keep))
    np.testing.assert_allclose(cold, hard, atol=1e-6)
    np.testing.assert_allclose(np.asarray(dp.relaxed_window(m, 140.0, 200.0, 5.0)),
                               np.asarray(dp.relaxed_selection(features[:, :2], np.array([140.0, 200.0]),
                                                               np.array([5.0, 5.0]), keep[:2])), rtol=1e-6)
    with pytest.raises(ValueError, match="one threshold"):
        dp.relaxed_selection(features, np.array([1.0, 2.0]), None, keep)


@pytest.mark.parametrize("t", [0.0, -1.0, np.nan])
def test_bad_temperature_raises(t):
    with pytest.raises(ValueError, match="temperature"):
        dp.relaxed_cut(np.ones(3), 0.5, t)


def test_bad_keep_raises():
    with pytest.raises(ValueError, match="keep"):
        dp.relaxed_cut(np.ones(3), 0.5, 0.1, keep="inside")


def test_gradient_flows_through_relaxed_cut_but_not_hard_cut():
    x = jnp.linspace(0, 1, 101)
    soft = jax.grad(lambda c: dp.relaxed_cut(x, c, 0.05).sum())(0.5)
    hard = jax.grad(lambda c: dp.hard_cut(x, c).sum())(0.5)
    assert float(soft) < 0 and float(hard) == 0.0


# ------------------------------------------------------------------------------ histograms


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), h=st.floats(1e-3, 2.0), kernel=st.sampled_from(["gaussian", "logistic"]))
def test_soft_histogram_sums_to_total_weight(seed, h, kernel):
    rng = np.random.default_rng(seed)
    x, w = rng.normal(0.5, 1.0, 200), rng.uniform(0, 3, 200)
    edges = np.sort(rng.uniform(-1, 2, 6))
    hist = np.asarray(dp.soft_histogram(x, edges, w, bandwidth=h, kernel=kernel))
    assert np.all(hist >= -1e-5)
    assert hist.sum() == pytest.approx(w.sum(), rel=1e-4)
    no_flow = np.asarray(dp.soft_histogram(x, edges, w, bandwidth=h, kernel=kernel, flow=False))
    assert no_flow.sum() <= w.sum() * (1 + 1e-5)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), flow=st.booleans())
def test_soft_histogram_becomes_hard_histogram_as_bandwidth_goes_to_zero(seed, flow):
    rng = np.random.default_rng(seed)
    x, w = rng.uniform(-0.5, 1.5, 300), rng.uniform(0, 1, 300)
    edges = np.linspace(0, 1, 6)
    ref, _ = np.histogram(np.clip(x, 0, 1) if flow else x, edges, weights=w)
    np.testing.assert_allclose(np.asarray(dp.hard_histogram(x, edges, w, flow=flow)), ref, rtol=1e-5, atol=1e-5)
    # move points away from the edges, where the soft histogram splits them half and half
    near = np.min(np.abs(x[:, None] - edges[None, :]), axis=1) < 1e-3
    x = np.where(near, x + 2e-3, x)
    soft = np.asarray(dp.soft_histogram(x, edges, w, bandwidth=1e-5, flow=flow))
    hard = np.asarray(dp.hard_histogram(x, edges, w, flow=flow))
    np.testing.assert_allclose(soft, hard, rtol=1e-4, atol=1e-4)


def test_soft_histogram_is_differentiable_in_the_inputs():
    x = jnp.linspace(0.05, 0.95, 10)
    g = jax.jit(jax.grad(lambda x: dp.soft_histogram(x, jnp.array([0.0, 0.5, 1.0]), bandwidth=0.1)[1]))(x)
    assert np.all(np.isfinite(np.asarray(g))) and np.all(np.asarray(g) > 0)


@pytest.mark.parametrize("kwargs,match", [({"bandwidth": 0.0}, "bandwidth"), ({"bandwidth": -1.0}, "bandwidth"),
                                          ({"bandwidth": 0.1, "kernel": "box"}, "kernel")])
def test_soft_histogram_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        dp.soft_histogram(np.ones(4), np.array([0.0, 1.0]), **kwargs)


@pytest.mark.parametrize("edges", [np.array([0.0]), np.array([0.0, 1.0, 1.0]), np.array([1.0, 0.0])])
def test_bad_edges_raise(edges):
    with pytest.raises(ValueError, match="edge"):
        dp.soft_histogram(np.ones(4), edges, bandwidth=0.1)
    with pytest.raises(ValueError, match="edge"):
        dp.hard_histogram(np.ones(4), edges)


def test_weights_must_match():
    with pytest.raises(ValueError, match="weights"):
        dp.soft_histogram(np.ones(4), np.array([0.0, 1.0]), np.ones(3), bandwidth=0.1)


# ------------------------------------------------------------------------------ grid scan


def test_grid_scan_matches_explicit_loop():
    rng = np.random.default_rng(2)
    n = 400
    labels = rng.integers(0, 2, n)
    m = np.where(labels == 1, rng.normal(172, 15, n), rng.uniform(50, 300, n))
    tau = np.where(labels == 1, rng.uniform(0.2, 0.8, n), rng.uniform(0.4, 1.0, n))
    w = np.where(labels == 1, 0.5, 2.0)
    grids = [np.linspace(100, 170, 5), np.linspace(180, 250, 4), np.linspace(0.4, 0.9, 6)]
    keep = ["above", "below", "below"]
    z, s, b = dp.grid_scan(np.stack([m, m, tau], 1), labels, w, grids, keep, 0.1)
    z_min, _, _ = dp.grid_scan(np.stack([m, m, tau], 1), labels, w, grids, keep, 0.1, min_background_mc=30)
    assert z.shape == (5, 4, 6)
    for i, lo in enumerate(grids[0]):
        for j, hi in enumerate(grids[1]):
            for k, t in enumerate(grids[2]):
                sel = (m > lo) & (m < hi) & (tau < t)
                s_, b_ = w[sel & (labels == 1)].sum(), w[sel & (labels == 0)].sum()
                assert s[i, j, k] == pytest.approx(s_) and b[i, j, k] == pytest.approx(b_)
                assert z[i, j, k] == pytest.approx(z_closed(s_, b_, 0.1 * b_) if b_ > 0 else 0.0, rel=1e-4)
                enough = (sel & (labels == 0)).sum() >= 30
                assert z_min[i, j, k] == (z[i, j, k] if enough else 0.0)
    assert (z_min == 0).any() and (z_min > 0).any()
    # events exactly on a threshold fail both strict cuts
    z1, s1, b1 = dp.grid_scan(np.array([[1.0], [2.0]]), [1, 0], [1.0, 1.0], [np.array([1.0, 2.0])], ["above"])
    assert s1.tolist() == [0.0, 0.0] and b1.tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match="increasing"):
        dp.grid_scan(m[:, None], labels, w, [np.array([2.0, 1.0])], ["above"])


# ------------------------------------------------------------------------------ fits


def test_bin_fractions_are_normalised():
    edges = jnp.linspace(100.0, 250.0, 31)
    assert float(dp.gaussian_bin_fractions(edges, 170.0, 12.0).sum()) == pytest.approx(1.0, abs=1e-5)
    for slope in (0.02, -0.01, 0.0, 1e-12):
        frac = np.asarray(dp.exponential_bin_fractions(edges, slope))
        assert frac.sum() == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(np.asarray(dp.exponential_bin_fractions(edges, 0.0)), 1 / 30, rtol=1e-5)
    ratio = np.asarray(dp.exponential_bin_fractions(edges, 0.02))
    np.testing.assert_allclose(ratio[1:] / ratio[:-1], np.exp(-0.02 * 5.0), rtol=1e-4)


def test_poisson_nll_is_zero_at_the_data_and_positive_elsewhere():
    n = jnp.array([0.0, 3.0, 10.0, 1e5])
    assert float(dp.poisson_nll(n + jnp.array([1e-6, 0, 0, 0]), n)) == pytest.approx(0.0, abs=1e-5)
    assert float(dp.poisson_nll(n * 1.1 + 0.1, n)) > 0


def test_fit_of_a_gaussian_mean_gives_the_textbook_error():
    """Unbinned Gaussian NLL: mu_hat = sample mean, error = sigma / sqrt(N), exactly."""
    x = jnp.asarray(np.random.default_rng(3).normal(5.0, 2.0, 400), jnp.float32)

    def nll(p):
        return 0.5 * jnp.sum(jnp.square((x - p["mu"]) / p["sigma"])) + x.size * jnp.log(p["sigma"])

    r = dp.fit(nll, {"mu": 4.0, "sigma": 1.5})
    assert r.converged
    assert r.values["mu"] == pytest.approx(float(x.mean()), abs=1e-4)
    sigma_hat = float(jnp.std(x))
    assert r.values["sigma"] == pytest.approx(sigma_hat, rel=1e-4)
    assert r.errors["mu"] == pytest.approx(sigma_hat / np.sqrt(400), rel=1e-3)
    assert r.errors["sigma"] == pytest.approx(sigma_hat / np.sqrt(800), rel=1e-3)
    # the profile of a quadratic NLL is the parabola ((mu - mu_hat) / err)^2 / 2
    pts = r.values["mu"] + r.errors["mu"] * np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    np.testing.assert_allclose(dp.profile_scan(r, "mu", pts), [2.0, 0.5, 0.0, 0.5, 2.0], atol=0.02)


@pytest.fixture(scope="module")
def peak_fit():
    rng = np.random.default_rng(4)
    data = np.r_[rng.normal(172.0, 12.0, 3000), 100.0 + rng.exponential(60.0, 20000)]
    edges = np.linspace(110.0, 250.0, 71)
    counts, _ = np.histogram(data, edges)

    def nll(p):
        nu = (p["n_sig"] * dp.gaussian_bin_fractions(edges, p["mu"], p["sigma"])
              + p["n_bkg"] * dp.exponential_bin_fractions(edges, p["slope"]))
        return dp.poisson_nll(nu, counts)

    init = {"n_sig": 2000.0, "n_bkg": 15000.0, "mu": 165.0, "sigma": 15.0, "slope": 0.01}
    return dp.fit(nll, init), nll


def test_peak_fit_recovers_truth_and_hessian_errors_match_profile(peak_fit):
    r, _ = peak_fit
    assert r.converged and r.names == ("n_sig", "n_bkg", "mu", "sigma", "slope")
    assert abs(r.values["mu"] - 172.0) < 3 * r.errors["mu"]
    assert abs(r.values["sigma"] - 12.0) < 3 * r.errors["sigma"]
    assert abs(r.values["slope"] - 1 / 60) < 3 * r.errors["slope"]
    corr = r.correlation()
    np.testing.assert_allclose(np.diag(corr), 1.0, rtol=1e-6)
    pts = np.linspace(r.values["mu"] - 2.5 * r.errors["mu"], r.values["mu"] + 2.5 * r.errors["mu"], 11)
    dnll = dp.profile_scan(r, "mu", pts)
    lo, hi = dp.crossing_interval(pts, dnll)
    assert hi - lo == pytest.approx(2 * r.errors["mu"], rel=0.05)
    assert min(dnll) > -1e-3


def test_fit_errors(peak_fit):
    r, nll = peak_fit
    with pytest.raises(ValueError, match="starting values"):
        dp.fit(nll, {"n_sig": -1e5, "n_bkg": 15000.0, "mu": 165.0, "sigma": 15.0, "slope": 0.01})
    with pytest.raises(ValueError, match="nothing to fit"):
        dp.fit(nll, {"mu": 1.0}, fixed={"mu": 1.0})
    with pytest.raises(ValueError, match="unknown or fixed"):
        dp.profile_scan(r, "tau", [1.0])


def test_fixed_parameters_are_reported_but_not_fitted():
    def nll(p):  # a correlated quadratic: with y fixed, x_hat = 1 + 0.5 (y - 2)
        dx, dy = p["x"] - 1.0, p["y"] - 2.0
        return dx**2 - dx * dy + dy**2

    r = dp.fit(nll, {"x": 0.0, "y": 0.0}, fixed={"y": 4.0})
    assert r.names == ("x",) and r.values["y"] == 4.0 and "y" not in r.errors
    assert r.values["x"] == pytest.approx(2.0, abs=1e-4)
    assert r.errors["x"] == pytest.approx(np.sqrt(0.5), rel=1e-4)  # 1/sqrt(d2 NLL / dx2)


def test_crossing_interval():
    x = np.linspace(-3, 3, 61)
    assert dp.crossing_interval(x, 0.5 * x**2) == pytest.approx((-1.0, 1.0), abs=1e-2)
    lo, hi = dp.crossing_interval(x[30:], 0.5 * x[30:] ** 2)
    assert np.isnan(lo) and hi == pytest.approx(1.0, abs=1e-2)


# ------------------------------------------------------------------------------ exercises


def test_mass_gradient_is_consistent_with_homogeneity(real_jets):
    """m is homogeneous of degree 1 in the constituent pTs: sum_i pT_i dm/dpT_i = m (Euler)."""
    for i in (0, 150):
        p, mask = real_jets["particles"][i], real_jets["mask"][i]
        g = mass_gradient(p, mask)
        m = float(kinematics.invariant_mass(kinematics.particles_to_p4(p, mask)))
        assert float(np.sum(p[:, 0] * g)) == pytest.approx(m, rel=1e-3)
        assert np.all(g[~mask] == 0)


def test_exercise_checks(real_jets, capsys):
    assert {"01_mass_gradient", "01_asimov", "01_best_cut"} <= set(exercises.available())
    p, mask = real_jets["particles"][0], real_jets["mask"][0]
    g = mass_gradient(p, mask)
    assert exercises.check("01_mass_gradient", g, p, mask)
    assert not exercises.check("01_mass_gradient", 1.1 * g, p, mask)
    assert not exercises.check("01_mass_gradient", np.zeros((64, 3)), p, mask)
    s, b, sb = np.array([50.0, 5.0]), np.array([100.0, 40.0]), np.array([20.0, 4.0])
    z = np.asarray(dp.asimov_significance(s, b, sb))
    assert exercises.check("01_asimov", z, s, b, sb)
    assert not exercises.check("01_asimov", np.asarray(dp.asimov_significance(s, b)), s, b, sb)
    assert not exercises.check("01_asimov", s / np.sqrt(b + sb**2), s, b, sb)
    out = capsys.readouterr().out
    assert "without the background uncertainty" in out and "limit" in out
    assert f"{z[0]:.3f}" not in out  # never the answer

    rng = np.random.default_rng(5)
    labels = np.r_[np.ones(500), np.zeros(500)]
    scores = np.r_[rng.beta(4, 2, 500), rng.beta(2, 4, 500)]
    w = np.where(labels == 1, 0.1, 1.0)
    t_best, z_best = best_threshold(scores, labels, w, 0.1)
    assert threshold_significance(t_best, scores, labels, w, 0.1) == pytest.approx(z_best, rel=1e-4)
    assert z_best >= threshold_significance(0.5, scores, labels, w, 0.1)
    assert exercises.check("01_best_cut", t_best, scores, labels, w, rel_unc=0.1)
    assert not exercises.check("01_best_cut", 0.05, scores, labels, w, rel_unc=0.1)
    assert not exercises.check("01_best_cut", 2.0, scores, labels, w, rel_unc=0.1)
    assert not exercises.check("01_best_cut", "high", scores, labels, w, rel_unc=0.1)
    # with a minimum number of simulated background jets, a very tight cut is refused
    t_min, z_min = best_threshold(scores, labels, w, 0.1, min_background_mc=50)
    assert z_min <= z_best and ((scores > t_min) & (labels == 0)).sum() >= 50
    assert exercises.check("01_best_cut", t_min, scores, labels, w, rel_unc=0.1, min_background_mc=50)
    assert not exercises.check("01_best_cut", 0.97, scores, labels, w, rel_unc=0.1, min_background_mc=50)
    assert "at least 50" in capsys.readouterr().out


# ------------------------------------------------------------------------------ widget


def test_cut_explorer_callbacks_run_without_a_browser(real_jets):
    from jetkit.widgets.cuts import CutExplorer

    mass = real_jets["jets"][:, 3].astype(np.float64)
    top = real_jets["labels"] == 1
    ex = CutExplorer(mass[top], mass[~top], 0.5, 2.0, keep="above", cut=100.0, temperature=5.0,
                     rel_unc=0.1, min_background_mc=10, range=(0.0, float(mass.max()) + 1.0),
                     xlabel="jet mass [GeV]")
    assert "jetkit-cut-slider" in ex.cut_slider._dom_classes
    assert "jetkit-temperature-slider" in ex.temperature_slider._dom_classes
    png_before = ex._view.value
    ex.cut_slider.value = 140.0
    st = ex.state
    s_hard = 0.5 * (mass[top] > 140).sum()
    b_hard = 2.0 * (mass[~top] > 140).sum()
    assert (st["s_hard"], st["b_hard"]) == pytest.approx((s_hard, b_hard))
    assert st["z_hard"] == pytest.approx(z_closed(s_hard, b_hard, 0.1 * b_hard), rel=1e-4)
    assert "Z = " in ex.info.value and ex._view.value != png_before
    assert st["n_background_mc"] == (mass[~top] > 140).sum()
    assert any("sim. bkg" in t.get_text() for t in ex.ax_z.get_legend().get_texts())
    ex.temperature_slider.value = 1e-3
    assert ex.state["z_relaxed"] == pytest.approx(ex.state["z_hard"], rel=1e-2)
    ex.temperature_slider.value = 20.0
    assert ex.state["z_relaxed"] != pytest.approx(ex.state["z_hard"], rel=1e-3)
    hard_curve, _ = ex.z_curves()
    ex.uncertainty_slider.value = 0.0
    hard_no_unc, _ = ex.z_curves()
    assert np.all(hard_no_unc >= hard_curve - 1e-6) and hard_no_unc.max() > hard_curve.max()
    assert ex.state["rel_unc"] == 0.0
    # the drawn selected histogram is the relaxed-cut-weighted yield
    assert float(np.sum(ex._stairs_b.get_data().values)) == pytest.approx(ex.state["b"], rel=1e-3)


def test_cut_explorer_rejects_bad_input():
    from jetkit.widgets.cuts import CutExplorer

    with pytest.raises(ValueError, match="at least one"):
        CutExplorer([], [1.0, 2.0])
    with pytest.raises(ValueError, match="keep"):
        CutExplorer([1.0], [2.0], keep="inside")
    with pytest.raises(ValueError, match="weights"):
        CutExplorer([1.0, 2.0], [2.0, 3.0], -1.0)
    with pytest.raises(ValueError, match="NaN"):
        CutExplorer([np.nan], [2.0])


# ------------------------------------------------------------------------------ neos


def _toy(n=600, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.r_[np.ones(n // 2), np.zeros(n // 2)].astype(np.int32)
    x = rng.normal(0, 1, (n, 2)).astype(np.float32) + labels[:, None] * np.array([1.5, 0.5], np.float32)
    return x, labels


def test_event_weights_and_standardise():
    from jetkit import neos

    labels = np.array([1, 1, 0, 0, 0])
    w = neos.event_weights(labels, 10.0, 300.0)
    assert w[labels == 1].sum() == pytest.approx(10.0) and w[labels == 0].sum() == pytest.approx(300.0)
    with pytest.raises(ValueError, match="both"):
        neos.event_weights(np.ones(3), 1.0, 1.0)
    with pytest.raises(ValueError, match="yields"):
        neos.event_weights(labels, -1.0, 1.0)
    a, b = neos.standardise(np.array([[1.0, 5.0], [3.0, 5.0]]), np.array([[2.0, 6.0]]))
    np.testing.assert_allclose(a, [[-1.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(b, [[0.0, 1.0]])  # test data use the training statistics


def test_summary_yields_and_evaluate():
    from jetkit import neos

    rng = np.random.default_rng(0)
    scores, labels = rng.uniform(0, 1, 400), rng.integers(0, 2, 400)
    w = neos.event_weights(labels, 20.0, 400.0)
    edges = np.linspace(0, 1, 5)
    s, b = neos.summary_yields(scores, labels, w, edges)
    ref = np.histogram(scores[labels == 1], edges, weights=w[labels == 1])[0]
    np.testing.assert_allclose(np.asarray(s), ref, rtol=1e-5)
    soft_s, soft_b = neos.summary_yields(scores, labels, w, edges, bandwidth=0.05)
    assert float(soft_s.sum()) == pytest.approx(20.0, rel=1e-4)
    assert float(soft_b.sum()) == pytest.approx(400.0, rel=1e-4)
    r = neos.evaluate(scores, labels, w, edges, 0.2)
    assert r["z_unc"] < r["z"] and r["n_b_mc"].sum() == (labels == 0).sum()
    assert r["z"] == pytest.approx(float(dp.binned_significance(np.asarray(s), np.asarray(b))), rel=1e-5)
    with pytest.raises(ValueError, match="empty background"):
        neos.evaluate(np.where(labels == 1, 0.9, 0.1), labels, w, edges, 0.2)


def test_neos_and_bce_training_on_a_toy():
    """The neos loss goes down and the trained score reaches a higher Z with sigma_b than the
    untrained network; the BCE loss is the textbook cross-entropy."""
    import functools

    from flax import nnx

    from jetkit import neos
    from jetkit.models import MLP

    x, labels = _toy(300)
    w = neos.event_weights(labels, 30.0, 600.0)
    edges = jnp.linspace(0, 1, 4)
    loss = functools.partial(neos.neos_loss, edges=edges, bandwidth=0.1, rel_unc=0.2, min_background_mc=10)
    model = MLP(2, 1, (16,), rngs=nnx.Rngs(0))
    z0 = neos.evaluate(neos.scores(model, x), labels, w, edges, 0.2)["z_unc"]
    losses = neos.fit_full_batch(model, loss, (x, labels, w), steps=100, learning_rate=1e-2)
    assert losses.shape == (100,) and losses[-1] < losses[0]
    z1 = neos.evaluate(neos.scores(model, x), labels, w, edges, 0.2)["z_unc"]
    assert z1 > z0
    logits = np.asarray(model(jnp.asarray(x))[:, 0], dtype=np.float64)
    p = 1 / (1 + np.exp(-logits))
    expected = -np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p))
    assert float(neos.bce_loss(model, (x, labels, w))) == pytest.approx(expected, rel=1e-4)
    with pytest.raises(ValueError, match="steps"):
        neos.fit_full_batch(model, neos.bce_loss, (x, labels, w), steps=0)


def test_optimise_cuts_finds_the_grid_optimum():
    """On a toy with one cut the relaxed gradient ascent lands where the brute-force scan does."""
    rng = np.random.default_rng(6)
    labels = np.r_[np.ones(2000), np.zeros(2000)].astype(np.int32)
    x = np.where(labels == 1, rng.normal(1.0, 0.5, 4000), rng.normal(-0.5, 1.0, 4000)).astype(np.float32)
    w = np.where(labels == 1, 0.05, 1.0)
    grid = np.linspace(-1, 2.5, 351)
    z, _, _ = dp.grid_scan(x[:, None], labels, w, [grid], ["above"], 0.1)
    steps = 200
    sched = 0.1 * np.geomspace(1.0, 0.1, steps)[:, None]
    th, hist = dp.optimise_cuts(x[:, None], labels, w, [0.0], ["above"], sched, steps=steps, rel_unc=0.1)
    z_relaxed = float(dp.relaxed_cut_significance(th, x[:, None], labels, w, None, ["above"], 0.1))
    assert z_relaxed == pytest.approx(z.max(), rel=0.02)
    assert hist["thresholds"].shape == (steps, 1) and hist["z"][-1] > hist["z"][0]
    with pytest.raises(ValueError, match="temperatures"):
        dp.optimise_cuts(x[:, None], labels, w, [0.0], ["above"], np.ones((3, 1)), steps=5)


def test_analysis_features(real_jets):
    from jetkit import datasets, neos, substructure

    d = datasets.JetDataset(real_jets["particles"][95:105], real_jets["mask"][95:105], real_jets["jets"][95:105],
                            real_jets["labels"][95:105], real_jets["n_constituents"][95:105])
    f = neos.analysis_features(d)
    assert f.shape == (10, len(neos.FEATURE_NAMES)) and f.dtype == np.float32
    np.testing.assert_allclose(f[:, 0], d.jets[:, 3], rtol=1e-6)
    np.testing.assert_allclose(f[:, 2], np.asarray(substructure.tau32(d.particles, d.mask)), rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(f[:, 4], d.n_constituents)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # from ipympl's toolbar, not ours
def test_cut_explorer_uses_a_live_ipympl_canvas_under_the_widget_backend(real_jets, monkeypatch):
    import matplotlib
    import matplotlib.pyplot as plt
    from ipympl.backend_nbagg import Canvas

    from jetkit.widgets.cuts import CutExplorer

    mass = real_jets["jets"][:, 3].astype(np.float64)
    top = real_jets["labels"] == 1
    previous = plt.get_backend()
    plt.switch_backend("module://ipympl.backend_nbagg")
    try:
        monkeypatch.setattr(matplotlib, "get_backend", lambda: "widget")  # as %matplotlib widget reports it
        ex = CutExplorer(mass[top], mass[~top], keep="above", cut=120.0, xlabel="jet mass [GeV]")
        assert isinstance(ex.fig.canvas, Canvas) and ex.children[-1] is ex.fig.canvas
        drawn = []
        monkeypatch.setattr(ex.fig.canvas, "draw_idle", lambda: drawn.append(True))
        ex.cut_slider.value = 150.0
        assert drawn and ex.state["cut"] == 150.0
        plt.close(ex.fig)
    finally:
        monkeypatch.undo()
        plt.switch_backend(previous)
