"""jetkit.stats cuts: relaxed cuts and selections against their hard limits, the brute-force grid
scan against an explicit loop, and optimise_cuts against the grid optimum."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import SETTINGS, z_closed
from jetkit import stats


# ------------------------------------------------------------------------------ relaxed cuts


@SETTINGS
@given(x=st.floats(-100, 100), c=st.floats(-100, 100), keep=st.sampled_from(["above", "below"]))
def test_relaxed_cut_becomes_the_hard_cut_as_temperature_goes_to_zero(x, c, keep):
    if abs(x - c) < 1e-3:
        return
    hard = float(stats.hard_cut(x, c, keep))
    errors = [abs(float(stats.relaxed_cut(x, c, t, keep)) - hard) for t in (abs(x - c), abs(x - c) / 5, abs(x - c) / 50)]
    assert errors[0] > errors[1] > errors[2] or errors[2] == 0.0
    assert errors[2] < 1e-6


@SETTINGS
@given(x=st.floats(-10, 10), c=st.floats(-10, 10), t=st.floats(1e-3, 10))
def test_relaxed_cut_sides_are_complementary(x, c, t):
    above, below = float(stats.relaxed_cut(x, c, t, "above")), float(stats.relaxed_cut(x, c, t, "below"))
    assert above + below == pytest.approx(1.0, abs=1e-6)
    assert 0.0 <= above <= 1.0
    assert float(stats.relaxed_cut(c, c, t)) == pytest.approx(0.5)


def test_relaxed_selection_and_window():
    rng = np.random.default_rng(1)
    m, tau = rng.uniform(50, 300, 500), rng.uniform(0, 1, 500)
    features = np.stack([m, m, tau], axis=1)
    keep = ("above", "below", "below")
    hard = np.asarray(stats.relaxed_selection(features, np.array([140.0, 200.0, 0.6]), None, keep))
    np.testing.assert_array_equal(hard, ((m > 140) & (m < 200) & (tau < 0.6)).astype(float))
    cold = np.asarray(stats.relaxed_selection(features, np.array([140.0, 200.0, 0.6]), np.array([1e-4, 1e-4, 1e-6]), keep))
    np.testing.assert_allclose(cold, hard, atol=1e-6)
    np.testing.assert_allclose(np.asarray(stats.relaxed_window(m, 140.0, 200.0, 5.0)),
                               np.asarray(stats.relaxed_selection(features[:, :2], np.array([140.0, 200.0]),
                                                               np.array([5.0, 5.0]), keep[:2])), rtol=1e-6)
    with pytest.raises(ValueError, match="one threshold"):
        stats.relaxed_selection(features, np.array([1.0, 2.0]), None, keep)


@pytest.mark.parametrize("t", [0.0, -1.0, np.nan])
def test_bad_temperature_raises(t):
    with pytest.raises(ValueError, match="temperature"):
        stats.relaxed_cut(np.ones(3), 0.5, t)


def test_bad_keep_raises():
    with pytest.raises(ValueError, match="keep"):
        stats.relaxed_cut(np.ones(3), 0.5, 0.1, keep="inside")


def test_gradient_flows_through_relaxed_cut_but_not_hard_cut():
    x = jnp.linspace(0, 1, 101)
    soft = jax.grad(lambda c: stats.relaxed_cut(x, c, 0.05).sum())(0.5)
    hard = jax.grad(lambda c: stats.hard_cut(x, c).sum())(0.5)
    assert float(soft) < 0 and float(hard) == 0.0


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
    z, s, b = stats.grid_scan(np.stack([m, m, tau], 1), labels, w, grids, keep, 0.1)
    z_min, _, _ = stats.grid_scan(np.stack([m, m, tau], 1), labels, w, grids, keep, 0.1, min_background_mc=30)
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
    z1, s1, b1 = stats.grid_scan(np.array([[1.0], [2.0]]), [1, 0], [1.0, 1.0], [np.array([1.0, 2.0])], ["above"])
    assert s1.tolist() == [0.0, 0.0] and b1.tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match="increasing"):
        stats.grid_scan(m[:, None], labels, w, [np.array([2.0, 1.0])], ["above"])


# ------------------------------------------------------------------------------ gradient ascent


def test_optimise_cuts_finds_the_grid_optimum():
    """On a toy with one cut the relaxed gradient ascent lands where the brute-force scan does."""
    rng = np.random.default_rng(6)
    labels = np.r_[np.ones(2000), np.zeros(2000)].astype(np.int32)
    x = np.where(labels == 1, rng.normal(1.0, 0.5, 4000), rng.normal(-0.5, 1.0, 4000)).astype(np.float32)
    w = np.where(labels == 1, 0.05, 1.0)
    grid = np.linspace(-1, 2.5, 351)
    z, _, _ = stats.grid_scan(x[:, None], labels, w, [grid], ["above"], 0.1)
    steps = 200
    sched = 0.1 * np.geomspace(1.0, 0.1, steps)[:, None]
    th, hist = stats.optimise_cuts(x[:, None], labels, w, [0.0], ["above"], sched, steps=steps, rel_unc=0.1)
    z_relaxed = float(stats.relaxed_cut_significance(th, x[:, None], labels, w, None, ["above"], 0.1))
    assert z_relaxed == pytest.approx(z.max(), rel=0.02)
    assert hist["thresholds"].shape == (steps, 1) and hist["z"][-1] > hist["z"][0]
    with pytest.raises(ValueError, match="temperatures"):
        stats.optimise_cuts(x[:, None], labels, w, [0.0], ["above"], np.ones((3, 1)), steps=5)
