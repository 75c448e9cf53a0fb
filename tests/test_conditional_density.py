"""The background density at fixed mass: the mixture density network (normalisation, closed
form, training, determinism), its inputs (permutation- and padding-blind) and its checks."""

from __future__ import annotations

import numpy as np
import pytest
from flax import nnx

from jetkit import physics, train
from jetkit.models import conditional_density as cd
from jetkit.models.conditional_density import MixtureDensity

P = 12  # leading constituents kept in these tests: small triple sums compile fast


def test_log_prob_is_a_normalised_density_in_the_units_of_x():
    """Integrated over x on a fine grid, exp(log p(x | c)) is 1 at any context, including the
    Jacobian of the built-in standardisation."""
    model = MixtureDensity(1, 1, components=3, hidden=(8,), x_stats=([2.0], [0.5]), context_stats=([1.0], [3.0]),
                           rngs=nnx.Rngs(0))
    grid = np.linspace(-30, 30, 60001, dtype=np.float32)[:, None]
    for c in (-2.0, 0.5, 4.0):
        density = np.exp(np.asarray(model.log_prob(grid, np.full_like(grid, c))))
        assert np.trapezoid(density, grid[:, 0]) == pytest.approx(1.0, abs=1e-3)


def test_log_prob_matches_the_mixture_in_closed_form():
    model = MixtureDensity(2, 1, components=4, hidden=(8,), x_stats=([1.0, -1.0], [2.0, 0.5]), rngs=nnx.Rngs(1))
    rng = np.random.default_rng(0)
    x, c = rng.normal(size=(5, 2)).astype(np.float32), rng.normal(size=(5, 1)).astype(np.float32)
    log_w, mu, log_s = (np.asarray(a, np.float64) for a in model.mixture(c))
    z = (x - [1.0, -1.0]) / np.array([2.0, 0.5])
    sigma = np.exp(log_s)
    gauss = np.exp(-0.5 * ((z[:, None, :] - mu) / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)
    expected = np.log(np.sum(np.exp(log_w) * gauss.prod(-1), axis=-1)) - np.log(2.0 * 0.5)
    np.testing.assert_allclose(np.asarray(model.log_prob(x, c)), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.exp(log_w).sum(-1), 1.0, rtol=1e-6)


def test_mixture_density_checks_its_inputs():
    with pytest.raises(ValueError, match=">= 1"):
        MixtureDensity(0, 1, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="x_stats"):
        MixtureDensity(2, 1, x_stats=([0.0, 0.0], [1.0, 0.0]), rngs=nnx.Rngs(0))
    model = MixtureDensity(2, 1, hidden=(4,), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="expected x"):
        model.log_prob(np.zeros((3, 3)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="expected x"):
        model.log_prob(np.zeros((3, 2)), np.zeros((4, 1)))
    with pytest.raises(ValueError, match="MixtureDensity"):
        cd.anomaly_score(nnx.Linear(1, 1, rngs=nnx.Rngs(0)), np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        cd.anomaly_score(MixtureDensity(1, 1, rngs=nnx.Rngs(0)), np.array([0.0, np.nan]), np.zeros(2))


def _line(n, seed):
    """Background on a line: x = 2 c + 0.1 noise, with c uniform in [0, 3]."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(0, 3, n).astype(np.float32)
    return (2 * c + 0.1 * rng.normal(size=n)).astype(np.float32), c


@pytest.fixture(scope="module")
def line_model():
    x, c = _line(2000, 0)
    return cd.fit_background_density(x, c, components=2, hidden=(16,), epochs=25, batch_size=200,
                                     learning_rate=1e-2, patience=5, seed=0)


def test_fit_learns_the_conditional_and_scores_off_it(line_model):
    """A jet off the background line at *its own* context scores higher than one on it, even
    when its x value is common in the background overall (x = 3 is typical for c = 1.5)."""
    model, history = line_model
    assert history.val_loss[history.best_epoch] < history.val_loss[0]
    s = cd.anomaly_score(model, [2.0, 3.0, 3.0], [1.0, 1.5, 0.5])  # on, on, off the line
    assert s[2] > s[0] + 5 and s[2] > s[1] + 5
    x, c = _line(500, 1)
    assert np.median(cd.anomaly_score(model, x, c)) < s[2]
    # a learned width close to the true 0.1: the NLL per jet is near that of N(0, 0.1)
    assert -np.mean(np.asarray(model.log_prob(x[:, None], c[:, None]))) == pytest.approx(
        0.5 * np.log(2 * np.pi * 0.01) + 0.5, abs=0.3)


def test_fit_is_deterministic(line_model):
    model, _ = line_model
    x, c = _line(2000, 0)
    again, _ = cd.fit_background_density(x, c, components=2, hidden=(16,), epochs=25, batch_size=200,
                                         learning_rate=1e-2, patience=5, seed=0)
    probe = np.linspace(0, 6, 7)
    np.testing.assert_array_equal(cd.anomaly_score(model, probe, probe / 2), cd.anomaly_score(again, probe, probe / 2))


def test_fit_checks_its_inputs():
    with pytest.raises(ValueError, match="same jets"):
        cd.fit_background_density(np.zeros(10), np.zeros(9))
    with pytest.raises(ValueError, match="NaN"):
        cd.fit_background_density(np.r_[np.zeros(9), np.inf], np.zeros(10))
    with pytest.raises(ValueError, match="val_fraction"):
        cd.fit_background_density(np.zeros(10), np.zeros(10), val_fraction=1.0)
    with pytest.raises(ValueError, match="more jets"):
        cd.fit_background_density(np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match=r"\(N,\) or \(N, D\)"):
        cd.fit_background_density(np.zeros((2, 2, 2)), np.zeros(2))


@pytest.fixture(scope="module")
def jets5(real_jets5):
    """The fixture's jet5 jets cut to their P leading constituents, and their masses."""
    return (real_jets5["particles"][:, :P].astype(np.float32), real_jets5["mask"][:, :P],
            real_jets5["jets"][:, 3].astype(np.float64), real_jets5["labels"], list(real_jets5["class_names"]))


def test_two_prong_inputs_are_n2_and_log_mass(jets5):
    p, m, mass, labels, names = jets5
    x, c = cd.two_prong_inputs(p, m, mass)
    assert x.shape == c.shape == (len(p), 1) and x.dtype == c.dtype == np.float32
    np.testing.assert_allclose(x[:, 0], np.asarray(physics.n2(p, m, beta=1.0)), rtol=1e-6)
    np.testing.assert_allclose(c[:, 0], np.log(mass), rtol=1e-6)
    # physics: W jets are two-prong, so their N2 is lower than that of quark jets
    assert np.median(x[labels == names.index("w"), 0]) < np.median(x[labels == names.index("q"), 0])
    # batching (the last batch padded to the same shape) changes nothing
    np.testing.assert_allclose(cd.two_prong_inputs(p, m, mass, batch=128)[0], x, rtol=1e-6)


def test_score_is_permutation_invariant_and_blind_to_padding(jets5, line_model):
    """Shuffling the constituents, filling the padding with garbage and adding padded slots
    leave the inputs, and so the score of any model, unchanged."""
    p, m, mass = jets5[:3]
    n = len(p)
    rng = np.random.default_rng(0)
    wide_p = np.concatenate([p, np.zeros((n, 4, 3), np.float32)], 1)  # 4 extra padded slots
    wide_m = np.concatenate([m, np.zeros((n, 4), bool)], 1)
    garbage = wide_p.copy()
    garbage[~wide_m] = rng.uniform(1, 500, size=(int((~wide_m).sum()), 3))
    perm = np.stack([rng.permutation(P + 4) for _ in range(n)])
    shuffled_p = np.take_along_axis(garbage, perm[..., None], axis=1)
    shuffled_m = np.take_along_axis(wide_m, perm, axis=1)
    x0, c0 = cd.two_prong_inputs(p, m, mass)
    x1, c1 = cd.two_prong_inputs(shuffled_p, shuffled_m, mass)
    np.testing.assert_allclose(x1, x0, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(c1, c0)
    model, _ = line_model  # any MixtureDensity with one feature and one context
    np.testing.assert_allclose(cd.anomaly_score(model, x1, c1), cd.anomaly_score(model, x0, c0), rtol=1e-5, atol=1e-5)


def test_two_prong_inputs_checks(jets5):
    p, m, mass = jets5[:3]
    with pytest.raises(ValueError, match="positive"):
        cd.two_prong_inputs(p, m, np.where(np.arange(len(mass)) == 0, 0.0, mass))
    with pytest.raises(ValueError, match="expected particles"):
        cd.two_prong_inputs(p, m, mass[:-1])
    with pytest.raises(ValueError, match="expected particles"):
        cd.two_prong_inputs(p[..., :2], m, mass)


def test_model_round_trips_through_a_checkpoint(line_model, tmp_path):
    model, _ = line_model
    path = train.save_checkpoint(model, tmp_path / "mdn.npz")
    fresh = MixtureDensity(1, 1, components=2, hidden=(16,), rngs=nnx.Rngs(7))
    train.load_checkpoint(fresh, path)
    probe = np.linspace(0, 6, 5)
    np.testing.assert_array_equal(cd.anomaly_score(fresh, probe, probe), cd.anomaly_score(model, probe, probe))
