"""jetkit.stats.neos: event weights, standardisation, summary yields and evaluation, neos and BCE
training on a toy, and the analysis features of real jets."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from jetkit import stats


def _toy(n=600, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.r_[np.ones(n // 2), np.zeros(n // 2)].astype(np.int32)
    x = rng.normal(0, 1, (n, 2)).astype(np.float32) + labels[:, None] * np.array([1.5, 0.5], np.float32)
    return x, labels


def test_event_weights_and_standardise():
    from jetkit.stats import neos

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
    from jetkit.stats import neos

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
    assert r["z"] == pytest.approx(float(stats.binned_significance(np.asarray(s), np.asarray(b))), rel=1e-5)
    with pytest.raises(ValueError, match="empty background"):
        neos.evaluate(np.where(labels == 1, 0.9, 0.1), labels, w, edges, 0.2)


def test_neos_and_bce_training_on_a_toy():
    """The neos loss goes down and the trained score reaches a higher Z with sigma_b than the
    untrained network; the BCE loss is the textbook cross-entropy."""
    import functools

    from flax import nnx

    from jetkit.stats import neos
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


def test_analysis_features(real_jets):
    from jetkit import data, physics
    from jetkit.stats import neos

    d = data.JetDataset(real_jets["particles"][95:105], real_jets["mask"][95:105], real_jets["jets"][95:105],
                            real_jets["labels"][95:105], real_jets["n_constituents"][95:105])
    f = neos.analysis_features(d)
    assert f.shape == (10, len(neos.FEATURE_NAMES)) and f.dtype == np.float32
    np.testing.assert_allclose(f[:, 0], d.jets[:, 3], rtol=1e-6)
    np.testing.assert_allclose(f[:, 2], np.asarray(physics.tau32(d.particles, d.mask)), rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(f[:, 4], d.n_constituents)
