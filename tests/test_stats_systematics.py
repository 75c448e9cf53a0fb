"""Systematics in a learned analysis: the JES shift, shape yields, the profiled significance, the
neos loss with nuisances, and the evaluation and cut tuning of notebook 01's section 5."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from flax import nnx

from jetkit import physics, stats
from jetkit.data import JetDataset
from jetkit.models.mlp import MLP
from jetkit.stats import neos, systematics


def _mass(p, mask):
    return np.asarray(physics.invariant_mass(physics.particles_to_p4(p, mask), mask))


def _jets(n=40, seed=0) -> JetDataset:
    rng = np.random.default_rng(seed)
    p = np.zeros((n, 16, 3), np.float32)
    p[:, :10, 0] = rng.uniform(5, 100, (n, 10))
    p[:, :10, 1:] = rng.normal(0, 0.2, (n, 10, 2))
    mask = p[..., 0] > 0
    jets = np.stack([p[..., 0].sum(1), np.zeros(n), np.zeros(n), _mass(p, mask)], 1)
    return JetDataset(particles=p, mask=mask, jets=jets.astype(np.float32), labels=np.zeros(n, np.int32),
                      n_constituents=mask.sum(1).astype(np.int32), class_names=("qcd",))


def test_energy_scale_moves_the_mass_not_the_ratios():
    jets = _jets()
    shifted = systematics.energy_scale(jets, 1.05)
    mass = _mass(shifted.particles, shifted.mask)
    np.testing.assert_allclose(mass, 1.05 * _mass(jets.particles, jets.mask), rtol=1e-4)
    np.testing.assert_allclose(shifted.jets[:, 3], 1.05 * jets.jets[:, 3], rtol=1e-6)
    np.testing.assert_allclose(physics.tau21(shifted.particles, shifted.mask), physics.tau21(jets.particles, jets.mask),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(physics.d2(shifted.particles, shifted.mask), physics.d2(jets.particles, jets.mask),
                               rtol=1e-4)
    assert np.array_equal(jets.particles[..., 0] > 0, shifted.mask)  # nothing else touched
    for bad in (0.0, -1.0, np.nan):
        with pytest.raises(ValueError, match="factor"):
            systematics.energy_scale(jets, bad)


def test_variation_weights_normalise_to_the_nominal_yield():
    w = systematics.variation_weights(400, 1500.0)
    assert w.shape == (400,) and np.isclose(w.sum(), 1500.0)
    with pytest.raises(ValueError):
        systematics.variation_weights(0, 1500.0)


def _toy(seed=0, n=2000):
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.5).astype(int)
    scores = np.clip(rng.normal(0.3 + 0.4 * labels, 0.2), 0, 1)
    down = np.clip(rng.normal(0.28, 0.2, n), 0, 1)
    up = np.clip(rng.normal(0.34, 0.2, n), 0, 1)
    w = neos.event_weights(labels, 50.0, 1000.0)
    wv = systematics.variation_weights(n, 1000.0)
    return scores, labels, w, down, wv, up, wv


def test_hard_shape_yields_are_numpy_histograms_and_soft_ones_approach_them():
    scores, labels, w, down, wd, up, wu = _toy()
    edges = np.linspace(0, 1, 6)
    s, b, bd, bu = systematics.shape_yields(scores, labels, w, down, wd, up, wu, edges)
    np.testing.assert_allclose(s, np.histogram(scores[labels == 1], edges, weights=w[labels == 1])[0], rtol=1e-4)
    np.testing.assert_allclose(b, np.histogram(scores[labels == 0], edges, weights=w[labels == 0])[0], rtol=1e-4)
    np.testing.assert_allclose(bd, np.histogram(down, edges, weights=wd)[0], rtol=1e-4)
    soft = systematics.shape_yields(scores, labels, w, down, wd, up, wu, edges, bandwidth=1e-3)
    for h, ref in zip(soft, (s, b, bd, bu)):
        np.testing.assert_allclose(h, ref, rtol=0.02, atol=0.5)


def test_profiled_significance_without_nuisances_is_the_binned_asimov_significance():
    s, b = np.array([1.0, 5.0, 20.0]), np.array([400.0, 60.0, 15.0])
    np.testing.assert_allclose(systematics.profiled_significance(s, b), stats.binned_significance(s, b), rtol=1e-4)
    # a "variation" equal to the nominal changes nothing; a real one and a normsys cost significance
    np.testing.assert_allclose(systematics.profiled_significance(s, b, b, b), stats.binned_significance(s, b), rtol=1e-4)
    z_shape = systematics.profiled_significance(s, b, 0.8 * b, 1.2 * b)
    z_norm = systematics.profiled_significance(s, b, norm_unc=0.2)
    assert z_shape < stats.binned_significance(s, b) and z_norm < stats.binned_significance(s, b)
    # a +-20% histosys that scales every bin is the same nuisance as a +-20% normsys (to first order)
    np.testing.assert_allclose(z_shape, z_norm, rtol=0.02)


def test_profiled_neos_loss_trains_and_knows_the_systematic():
    rng = np.random.default_rng(1)
    n = 600
    y = (rng.random(n) < 0.5).astype(np.int32)
    x = rng.normal(size=(n, 2)).astype(np.float32) + y[:, None] * np.array([1.5, 1.5], np.float32)
    x_dn, x_up = x[y == 0].copy(), x[y == 0].copy()
    x_dn[:, 0] -= 0.5  # the systematic moves feature 0 only
    x_up[:, 0] += 0.5
    w = neos.event_weights(y, 50.0, 1000.0)
    wv = systematics.variation_weights(len(x_dn), 1000.0)
    edges = np.linspace(0, 1, 4)
    batch = (x, y, w, x_dn, wv, x_up, wv)
    loss = functools.partial(systematics.profiled_neos_loss, edges=edges, bandwidth=0.1, norm_unc=0.1,
                             min_background_mc=5)
    model = MLP(2, 1, hidden=(8,), rngs=nnx.Rngs(0))
    losses = neos.fit_full_batch(model, loss, batch, steps=150, learning_rate=1e-2)
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    # without the shape term the loss is larger (more negative) at the same weights
    no_shape = functools.partial(loss, shape=False)
    assert float(no_shape(model, batch)) < float(loss(model, batch))


def test_evaluate_and_evaluate_cut_agree_on_one_bin():
    scores, labels, w, down, wd, up, wu = _toy()
    t = 0.6
    p, pd, pu = scores > t, down > t, up > t
    one_bin = systematics.evaluate(scores[p], labels[p], w[p], down[pd], wd[pd], up[pu], wu[pu], np.array([0.0, 1.0]), 0.2)
    cut = systematics.evaluate_cut(scores > t, labels, w, down > t, wd, up > t, wu, 0.2)
    for key in ("z", "z_norm", "z_shape"):
        np.testing.assert_allclose(one_bin[key], cut[key], rtol=1e-5)
    assert cut["z_shape"] <= cut["z_norm"] <= cut["z"]
    assert cut["n_b_mc"][0] == min((scores[labels == 0] > t).sum(), (down > t).sum(), (up > t).sum())
    with pytest.raises(ValueError, match="no background"):
        systematics.evaluate_cut(scores > 2, labels, w, down > t, wd, up > t, wu, 0.2)
    table = systematics.format_table({"cut": cut}, 0.2, "FSR")
    assert "cut" in table and "20% norm." in table and "+ FSR" in table


def test_best_cut_is_the_brute_force_optimum():
    scores, labels, w, down, wd, up, wu = _toy(seed=3)
    t, z = systematics.best_cut(scores, labels, w, down, wd, up, wu, 0.2, min_background_mc=20, n_thresholds=50)
    grid = np.quantile(scores.astype(np.float32), np.linspace(0, 1, 50, endpoint=False)).astype(np.float32)
    best = -np.inf
    for g in grid:
        if min((scores[labels == 0] > g).sum(), (down > g).sum(), (up > g).sum()) < 20:
            continue
        best = max(best, systematics.evaluate_cut(scores > g, labels, w, down > g, wd, up > g, wu, 0.2)["z_shape"])
    np.testing.assert_allclose(z, best, rtol=1e-3)
    assert np.isclose(systematics.evaluate_cut(scores > t, labels, w, down > t, wd, up > t, wu, 0.2)["z_shape"], z,
                      rtol=1e-3)
    with pytest.raises(ValueError, match="min_background_mc"):
        systematics.best_cut(scores, labels, w, down, wd, up, wu, 0.2, min_background_mc=10**6)
