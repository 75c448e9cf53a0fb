"""Contrastive losses (jetkit.models.contrastive): NT-Xent of SimCLR (arXiv:2002.05709) as used by
JetCLR (arXiv:2108.04253) against hand computations, its symmetries and limits, gradients and
errors; representation similarity and alignment/uniformity (arXiv:2005.10242)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jetkit.models.contrastive import alignment_and_uniformity, normalize, nt_xent, representation_similarity
from jetkit.physics import augmentations as aug

SETTINGS = settings(max_examples=20, deadline=None)
B, D = 4, 3


def nt_xent_reference(z1, z2, tau):
    """NT-Xent written out anchor by anchor in float64, straight from the SimCLR paper."""
    z = np.concatenate([z1, z2]).astype(np.float64)
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    n, b = len(z), len(z1)
    total = 0.0
    for i in range(n):
        pos = (i + b) % n
        num = math.exp(z[i] @ z[pos] / tau)
        den = sum(math.exp(z[i] @ z[k] / tau) for k in range(n) if k != i)
        total += -math.log(num / den)
    return total / n


def random_pair(seed, b=B, d=D):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(b, d)).astype(np.float32), rng.normal(size=(b, d)).astype(np.float32)


def test_known_value_by_hand():
    # views a1 = (1, 0), a2 = (0, 1), b1 = (2, 0), b2 = (0, 3): each positive has cos = 1 and both
    # negatives cos = 0, so every anchor scores -1/tau + log(e^(1/tau) + 2) = log(1 + 2 e^(-1/tau))
    z1 = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    z2 = np.array([[2.0, 0.0], [0.0, 3.0]], np.float32)
    for tau in (0.1, 0.5, 1.0):
        np.testing.assert_allclose(float(nt_xent(z1, z2, tau)), math.log(1 + 2 * math.exp(-1 / tau)), rtol=1e-6)
    # swap the second views: the positives are now orthogonal and the negatives aligned (cos 1, 0)
    tau = 0.5
    np.testing.assert_allclose(float(nt_xent(z1, z2[::-1], tau)), math.log(2 + math.exp(1 / tau)), rtol=1e-6)


def test_known_value_diagonal_views():
    # z1 = (1, 0), (0, 1); z2 = (1, 1), (-1, 1): cosines 0 or +-1/sqrt2, worked out per anchor
    z1 = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    z2 = np.array([[1.0, 1.0], [-1.0, 1.0]], np.float32)
    c, tau = 1 / math.sqrt(2), 0.2
    # anchor 0 (1,0): pos (1,1)/sqrt2 = c; negatives (0,1) -> 0 and (-1,1)/sqrt2 -> -c
    a0 = -c / tau + math.log(math.exp(c / tau) + 1 + math.exp(-c / tau))
    # anchor 1 (0,1): pos (-1,1)/sqrt2 = c; negatives (1,0) -> 0, (1,1)/sqrt2 -> c
    a1 = -c / tau + math.log(math.exp(c / tau) + 1 + math.exp(c / tau))
    # anchor 2 (1,1)/sqrt2: pos (1,0) -> c; negatives (0,1) -> c, (-1,1)/sqrt2 -> 0
    a2 = a1
    # anchor 3 (-1,1)/sqrt2: pos (0,1) -> c; negatives (1,0) -> -c, (1,1)/sqrt2 -> 0
    a3 = a0
    expected = (a0 + a1 + a2 + a3) / 4
    np.testing.assert_allclose(float(nt_xent(z1, z2, tau)), expected, rtol=1e-6)
    np.testing.assert_allclose(expected, nt_xent_reference(z1, z2, tau), rtol=1e-12)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), tau=st.floats(0.05, 5.0))
def test_matches_reference_and_bounds(seed, tau):
    z1, z2 = random_pair(seed)
    loss = float(nt_xent(z1, z2, tau))
    np.testing.assert_allclose(loss, nt_xent_reference(z1, z2, tau), rtol=2e-5, atol=1e-5)
    # the positive is one of the terms of the denominator (>= 0); cosines lie in [-1, 1]
    assert -1e-6 <= loss <= 2 / tau + math.log(2 * B - 1) + 1e-5


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1))
def test_symmetries(seed):
    z1, z2 = random_pair(seed)
    loss = float(nt_xent(z1, z2))
    perm = np.random.default_rng(seed).permutation(B)
    np.testing.assert_allclose(float(nt_xent(z1[perm], z2[perm])), loss, rtol=1e-5)  # batch order
    np.testing.assert_allclose(float(nt_xent(z2, z1)), loss, rtol=1e-5)  # which view is first
    np.testing.assert_allclose(float(nt_xent(3.0 * z1, 0.5 * z2)), loss, rtol=1e-5)  # only directions count
    # permuting only one view breaks the pairing and changes the loss
    shifted = np.roll(np.arange(B), 1)
    assert abs(float(nt_xent(z1, z2[shifted])) - loss) > 1e-6


def test_aligned_views_beat_random_ones():
    z = np.eye(B, dtype=np.float32)  # aligned views, orthogonal jets
    tau = 0.1
    aligned = float(nt_xent(z, z, tau))
    np.testing.assert_allclose(aligned, math.log(1 + (2 * B - 2) * math.exp(-1 / tau)), rtol=1e-5)
    assert aligned < 1e-3
    losses = [float(nt_xent(*random_pair(s, d=16), tau)) for s in range(5)]
    assert min(losses) > 1.0 and min(losses) > 100 * aligned
    # all rows equal: positives and negatives cannot be told apart, log(2B - 1) at any temperature
    same = np.ones((B, D), np.float32)
    for t in (0.05, 1.0, 20.0):
        np.testing.assert_allclose(float(nt_xent(same, same, t)), math.log(2 * B - 1), rtol=1e-6)


def test_temperature_scaling():
    z = np.eye(B, dtype=np.float32)
    taus = [0.05, 0.1, 0.3, 1.0, 3.0]
    losses = [float(nt_xent(z, z, t)) for t in taus]
    assert all(a < b for a, b in zip(losses, losses[1:]))  # sharper logits: aligned views win more
    z1, z2 = random_pair(1)
    np.testing.assert_allclose(float(nt_xent(z1, z2, 1e5)), math.log(2 * B - 1), rtol=1e-4)  # tau -> inf
    # tau -> 0: tau * loss -> mean over anchors of (hardest negative cosine - positive cosine)^+
    u = np.concatenate([z1, z2]).astype(np.float64)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    cos = u @ u.T
    pos = cos[np.arange(2 * B), (np.arange(2 * B) + B) % (2 * B)]
    hardest = np.where(np.eye(2 * B, dtype=bool), -np.inf, cos).max(axis=1)
    limit = np.mean(np.maximum(hardest - pos, 0.0))
    tau = 1e-3
    np.testing.assert_allclose(tau * float(nt_xent(z1, z2, tau)), limit, atol=tau * math.log(2 * B))


def test_gradients_are_finite_and_pull_positives_together():
    z1, z2 = random_pair(3)
    z1[0] = 0.0  # a zero projection: normalised safely, no NaN
    g1, g2 = jax.grad(nt_xent, argnums=(0, 1))(jnp.asarray(z1), jnp.asarray(z2))
    assert np.all(np.isfinite(g1)) and np.all(np.isfinite(g2))
    np.testing.assert_array_equal(normalize(np.zeros((2, 3))), 0.0)
    # a small step down the gradient lowers the loss
    z1, z2 = random_pair(4)
    loss, (g1, g2) = jax.value_and_grad(nt_xent, argnums=(0, 1))(jnp.asarray(z1), jnp.asarray(z2))
    assert float(nt_xent(z1 - 1e-3 * g1, z2 - 1e-3 * g2)) < float(loss)


def test_jit_matches_eager():
    z1, z2 = random_pair(5)
    np.testing.assert_allclose(jax.jit(nt_xent)(z1, z2, 0.2), nt_xent(z1, z2, 0.2), rtol=1e-6)


@pytest.mark.parametrize(
    "args",
    [
        (np.ones((4, 3)), np.ones((4, 2))),  # different dimensions
        (np.ones((4, 3)), np.ones((3, 3))),  # different batch sizes
        (np.ones(3), np.ones(3)),  # no batch axis
        (np.ones((1, 3)), np.ones((1, 3))),  # B = 1: no negatives
        (np.ones((4, 3)), np.ones((4, 3)), 0.0),
        (np.ones((4, 3)), np.ones((4, 3)), -0.1),
        (np.ones((4, 3)), np.ones((4, 3)), float("nan")),
        (np.full((4, 3), np.nan), np.ones((4, 3))),
    ],
)
def test_nt_xent_bad_input(args):
    with pytest.raises(ValueError):
        nt_xent(*args)


def test_representation_similarity():
    h = np.eye(6, dtype=np.float32)  # orthogonal jets
    sim = representation_similarity(h, 2.0 * h)
    assert sim.paired == pytest.approx(1.0) and sim.random == pytest.approx(0.0)  # never pairs i with i
    a, b = random_pair(6, b=64, d=32)
    assert representation_similarity(a, b, seed=1) == representation_similarity(a, b, seed=1)
    assert representation_similarity(a, b, seed=1).random != representation_similarity(a, b, seed=2).random
    noisy = a + 0.1 * b  # a slightly distorted view of each jet
    sim = representation_similarity(a, noisy)
    assert sim.paired > 0.98 and abs(sim.random) < 0.1
    with pytest.raises(ValueError):
        representation_similarity(a, b[:10])
    with pytest.raises(ValueError):
        representation_similarity(a[:1], b[:1])


def test_rotation_invariant_features_are_similar_across_views():
    # the radial pT profile of a jet ignores rotations about its axis: two rotated views of each
    # jet have (nearly) the same profile, different jets do not
    rng = np.random.default_rng(0)
    n, p = 32, 16
    pt = -np.sort(-rng.exponential(30.0, size=(n, p)) - 0.5, axis=1)
    spread = rng.uniform(0.05, 0.4, size=(n, 1, 1))
    jets = np.concatenate([pt[..., None], rng.normal(0, 1, (n, p, 2)) * spread], axis=-1).astype(np.float32)

    def profile(x):
        x = np.asarray(x, np.float64)
        r = np.hypot(x[..., 1], x[..., 2])
        w = x[..., 0] / x[..., 0].sum(1, keepdims=True)
        h = np.stack([(w * r**k).sum(1) for k in (1, 2, 3)], axis=1)
        return h / h.mean(0) - 1.0  # centred: unrelated jets are not all similar

    v1, _ = aug.rotate(jax.random.key(1), jets, None)
    v2, _ = aug.rotate(jax.random.key(2), jets, None)
    sim = representation_similarity(profile(v1), profile(v2))
    assert sim.paired > 0.999 and sim.random < 0.9


def test_alignment_and_uniformity():
    z = np.eye(B, dtype=np.float32)
    align, unif = alignment_and_uniformity(z, z)
    assert float(align) == pytest.approx(0.0, abs=1e-7)
    # 2B rows: B identical pairs (distance 0), the other pairs orthogonal (squared distance 2)
    n_pairs = 2 * B * (2 * B - 1) // 2
    expected = math.log((B * 1.0 + (n_pairs - B) * math.exp(-2.0 * 2.0)) / n_pairs)
    np.testing.assert_allclose(float(unif), expected, rtol=1e-5)
    same = np.ones((B, D), np.float32)
    np.testing.assert_allclose(alignment_and_uniformity(same, same)[1], 0.0, atol=1e-6)  # collapsed
    z1, z2 = random_pair(7)
    u1, u2 = z1 / np.linalg.norm(z1, axis=1, keepdims=True), z2 / np.linalg.norm(z2, axis=1, keepdims=True)
    np.testing.assert_allclose(alignment_and_uniformity(z1, z2)[0], np.mean(np.sum((u1 - u2) ** 2, 1)), rtol=1e-5)
    g = jax.grad(lambda a: alignment_and_uniformity(a, a, alpha=1.0)[0])(jnp.asarray(z1))
    assert np.all(np.isfinite(g))
    with pytest.raises(ValueError):
        alignment_and_uniformity(z1, z2, t=0.0)
