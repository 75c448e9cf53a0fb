"""Particle Transformer lite (jetkit.models.transformer, arXiv:2202.03772): the pair features
against a numpy reference, permutation invariance, padding blindness, degenerate jets, gradients,
a short training run on real jets, and errors on bad input."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from hypothesis import given, settings
from hypothesis import strategies as st

from jetkit import data, metrics, train
from jetkit.models.diagnostics import count_params
from jetkit.models.inputs import N_FEATURES
from jetkit.models.transformer import (ParticleTransformer, pairwise_features,
                                       transformer_inputs)

N, P = 4, 12


def _random_particles(seed: int, n: int = N, p: int = P, wide_phi: bool = True):
    """Random padded jets (pT [GeV], d_eta, d_phi); with ``wide_phi`` some angles sit near +-pi
    so that the wrap of d_phi matters. Padded slots hold junk (not zeros)."""
    rng = np.random.default_rng(seed)
    mask = np.arange(p)[None] < rng.integers(1, p + 1, n)[:, None]
    pt = rng.exponential(30.0, (n, p)) + 0.1
    eta = rng.normal(0.0, 0.3, (n, p))
    phi = rng.uniform(-np.pi, np.pi, (n, p)) if wide_phi else rng.normal(0.0, 0.3, (n, p))
    parts = np.stack([pt, eta, phi], -1).astype(np.float32)
    junk = rng.normal(0.0, 50.0, parts.shape).astype(np.float32)
    return np.where(mask[..., None], parts, junk), mask


def _reference(parts, mask):
    """The ParT pair features in float64 numpy, straight from the definitions."""
    p = np.asarray(parts, np.float64)
    pt, eta, phi = p[..., 0], p[..., 1], p[..., 2]
    pa, pb = pt[:, :, None], pt[:, None, :]
    deta = eta[:, :, None] - eta[:, None, :]
    dphi = np.angle(np.exp(1j * (phi[:, :, None] - phi[:, None, :])))
    dr = np.sqrt(deta**2 + dphi**2)
    low = np.minimum(pa, pb)
    m2 = 2 * pa * pb * (np.cosh(deta) - np.cos(dphi))
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.stack([np.log(dr), np.log(low * dr), np.log(low / (pa + pb)), np.log(m2)], -1)
    valid = mask[:, :, None] & mask[:, None, :] & ~np.eye(p.shape[1], dtype=bool)
    return np.where(valid[..., None], f, 0.0)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_pairwise_features_match_numpy_and_are_symmetric(seed):
    parts, mask = _random_particles(seed)
    f = np.asarray(pairwise_features(parts, mask))
    assert f.shape == (N, P, P, 4) and f.dtype == np.float32
    np.testing.assert_allclose(f, _reference(parts, mask), rtol=1e-4, atol=2e-4)
    np.testing.assert_array_equal(f, f.transpose(0, 2, 1, 3))  # exactly symmetric
    diag = f[:, np.arange(P), np.arange(P)]
    assert np.all(diag == 0)
    pad = ~(mask[:, :, None] & mask[:, None, :])
    assert np.all(f[pad] == 0)


def test_pairwise_features_hand_made_pair_and_wrap():
    parts = np.zeros((1, 3, 3), np.float32)
    parts[0, 0] = [100.0, 0.1, 3.0]
    parts[0, 1] = [50.0, -0.2, -3.0]  # d_phi = 6 - 2 pi = -0.283 after the wrap
    mask = np.array([[True, True, False]])
    f = np.asarray(pairwise_features(parts, mask))[0, 0, 1]
    deta, dphi = 0.3, 6.0 - 2 * np.pi
    dr = np.hypot(deta, dphi)
    m2 = 2 * 100 * 50 * (np.cosh(deta) - np.cos(dphi))
    np.testing.assert_allclose(f, [np.log(dr), np.log(50 * dr), np.log(1 / 3), np.log(m2)], rtol=1e-5)
    # the mass of the pair is that of the summed massless four-vectors
    p4 = [pt * np.array([np.cos(ph), np.sin(ph), np.sinh(et), np.cosh(et)]) for pt, et, ph in parts[0, :2]]
    s = p4[0] + p4[1]
    np.testing.assert_allclose(np.exp(f[3]), s[3] ** 2 - s[0] ** 2 - s[1] ** 2 - s[2] ** 2, rtol=1e-4)


def test_pairwise_features_are_finite_for_degenerate_and_junk_inputs():
    parts = np.zeros((3, 4, 3), np.float32)
    parts[0, :2] = [[10.0, 0.1, 0.2], [10.0, 0.1, 0.2]]  # two collinear constituents: dR = 0
    parts[1, 0] = [5.0, 0.0, 0.0]
    parts[0, 3] = parts[1, 2] = [np.nan, np.inf, -np.inf]  # junk in padded slots
    mask = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]], bool)  # 2, 1 and 0 real
    f = np.asarray(pairwise_features(parts, mask))
    assert np.all(np.isfinite(f))
    np.testing.assert_allclose(f[0, 0, 1, [0, 3]], np.log(1e-8), rtol=1e-6)  # clipped, not -inf
    assert np.all(f[1:] == 0)


def _model(seed: int = 0, **kw) -> ParticleTransformer:
    """A small transformer (dim 16) for the fast checks."""
    return ParticleTransformer(N_FEATURES, **{"dim": 16, "heads": 2, "n_blocks": 2, "pair_hidden": 8, **kw},
                               rngs=nnx.Rngs(seed))


@nnx.jit
def _forward(model, x, mask, pair):
    return model(x, mask, pair)


@nnx.jit
def _embed(model, x, mask, pair):
    return model.embed(x, mask, pair)


def _out(model, x, mask, pair=None):
    return np.asarray(_forward(model, x, mask, pair))


IDX = np.r_[0:10, -10:0]  # 10 QCD and 10 top jets of the real_jets sample


@pytest.fixture(scope="module")
def jets(real_jets):
    """20 real top and QCD jets, the hardest 32 constituents; the top jets are cut to 1 ... 10
    constituents, so that they carry padding. Returns (particles, x, mask, pair)."""
    particles = real_jets["particles"][IDX, :32]
    keep = np.arange(32)[None] < np.r_[np.full(10, 32), np.arange(1, 11)][:, None]
    return (particles, *transformer_inputs(particles, real_jets["mask"][IDX, :32] & keep))


@pytest.fixture(scope="module")
def model():
    return _model(seed=1)


def _permute(x, mask, pair, perm):
    take = jax.vmap(lambda a, i: a[i])
    pair_p = jax.vmap(lambda a, i: a[i][:, i])(pair, perm)
    return np.asarray(take(x, perm)), np.asarray(take(mask, perm)), np.asarray(pair_p)


def test_permutation_invariance_with_the_pair_matrix(jets, model):
    particles, x, mask, pair = jets
    assert not mask.all() and mask.any(axis=1).all()
    out, z = _out(model, x, mask, pair), np.asarray(_embed(model, x, mask, pair))
    rng = np.random.default_rng(0)
    for _ in range(2):  # every slot shuffled, padding in among the real particles
        perm = np.stack([rng.permutation(32) for _ in range(len(x))])
        xp, mp, pp = _permute(x, mask, pair, perm)
        # permuting the pair matrix is the same as recomputing it from the permuted particles
        parts = np.take_along_axis(particles, perm[..., None], 1)
        np.testing.assert_allclose(pp, np.asarray(pairwise_features(parts, mp)), atol=1e-6)
        np.testing.assert_allclose(_out(model, xp, mp, pp), out, atol=1e-5)
        np.testing.assert_allclose(np.asarray(_embed(model, xp, mp, pp)), z, atol=1e-5)
    # only the real particles shuffled, padding left in place
    perm = np.stack([np.r_[rng.permutation(int(m.sum())), np.arange(int(m.sum()), 32)] for m in mask])
    np.testing.assert_allclose(_out(model, *_permute(x, mask, pair, perm)), out, atol=1e-5)
    assert np.abs(out - out.mean()).max() > 1e-4  # the jets are told apart at all


def test_padded_junk_particles_change_nothing(jets, model):
    _, x, mask, pair = jets
    out = _out(model, x, mask, pair)
    rng = np.random.default_rng(1)
    # 8 extra padded slots full of large random junk, in x and in every pair involving them
    extra = 8
    xj = np.concatenate([x, rng.normal(0, 100, (len(x), extra, N_FEATURES))], 1).astype(np.float32)
    mj = np.concatenate([mask, np.zeros((len(x), extra), bool)], 1)
    pj = rng.normal(0, 100, (len(x), 32 + extra, 32 + extra, 4)).astype(np.float32)
    pj[:, :32, :32] = pair
    np.testing.assert_allclose(_out(model, xj, mj, pj), out, atol=1e-5)
    # junk (NaN included) written into the existing padded slots and their pairs
    xn, pn = x.copy(), pair.copy()
    xn[~mask] = np.nan
    pn[~(mask[:, :, None] & mask[:, None, :])] = rng.normal(0, 100, 4)
    assert (~mask).any()
    np.testing.assert_allclose(_out(model, xn, mask, pn), out, atol=1e-5)


def test_single_particle_and_empty_jets_are_finite(jets, model):
    particles, _, mask, _ = jets
    parts, mask = particles.copy(), mask.copy()
    mask[0], mask[1] = np.arange(32) == 0, False  # one real particle; none at all
    x, m, pair = transformer_inputs(parts, mask)
    assert np.all(pair[0] == 0) and np.all(x[1] == 0)
    out = _out(model, x, m, pair)
    assert np.all(np.isfinite(out))
    # the one-particle jet does not care in which slot its particle sits, nor about the junk
    parts[0, 7], mask[0] = parts[0, 0], np.arange(32) == 7
    parts[0, :7] = 1e3
    moved = _out(model, *transformer_inputs(parts, mask))
    np.testing.assert_allclose(moved[0], out[0], atol=1e-5)
    np.testing.assert_allclose(moved[1:], out[1:], atol=1e-6)


def test_gradients_are_finite_and_nonzero(jets, model):
    _, x, mask, pair = jets
    x, mask = x.copy(), mask.copy()
    mask[10, 1:], mask[11] = False, False  # a one-particle jet and an empty one
    x[~mask] = 1e4  # big junk in padding
    y = np.r_[np.zeros(10), np.ones(10)].astype(np.float32)
    loss, grads = nnx.jit(nnx.value_and_grad(train.cross_entropy_loss))(model, (x, mask, pair, y))
    leaves = jax.tree_util.tree_leaves(grads)
    assert np.isfinite(float(loss))
    assert all(np.all(np.isfinite(np.asarray(g))) for g in leaves)
    assert all(float(jnp.abs(g).max()) > 0 for g in leaves)  # every parameter takes part


def test_embed_head_shapes_and_parameter_count(jets, model):
    _, x, mask, pair = jets
    def n_params(**kw) -> int:  # shapes only: nothing is initialised
        abstract = nnx.eval_shape(lambda: ParticleTransformer(N_FEATURES, **kw, rngs=nnx.Rngs(0)))
        return sum(math.prod(p.shape) for p in jax.tree_util.tree_leaves(nnx.state(abstract, nnx.Param)))

    assert n_params() == 205_029  # the default size in the docstring
    assert n_params(n_classes=5) == 204_964 + 5 * 65
    assert n_params(dim=16, heads=2, n_blocks=2, pair_hidden=8) == count_params(model)
    z = _embed(model, x, mask, pair)
    assert z.shape == (len(x), 16)
    np.testing.assert_allclose(np.asarray(model.head(z)), _out(model, x, mask, pair), atol=1e-6)
    # the interaction term is used: other pair features, other outputs
    assert np.abs(_out(model, x, mask, 0 * pair) - _out(model, x, mask, pair)).max() > 1e-3
    plain = _model(pair_hidden=0, n_classes=3)  # the ablation without interaction term
    assert _out(plain, x, mask).shape == (len(x), 3)
    # mask=None: every slot counts as a real particle
    full = np.ones(mask.shape, bool)
    np.testing.assert_allclose(_out(plain, x, None), _out(plain, x, full), atol=1e-6)


def test_training_on_real_jets_beats_random():
    ds = data.load("top_qcd", max_per_class=1000)
    x, mask, pair = transformer_inputs(ds.particles[:, :32], ds.mask[:, :32])
    y = (ds.labels == ds.class_names.index("top")).astype(np.float32)
    order = np.random.default_rng(0).permutation(len(y))
    tr, te = order[:1500], order[1500:]
    model = _model(dim=32, heads=4, n_blocks=2, pair_hidden=16)
    hist = train.fit(model, (x[tr], mask[tr], pair[tr], y[tr]), loss_fn=train.cross_entropy_loss,
                     epochs=3, batch_size=100, learning_rate=2e-3, progress=False)
    scores = train.predict(model, x[te], mask[te], pair[te])[:, 0]
    auc = metrics.auc(y[te], scores)
    assert hist.train_loss[-1] < hist.train_loss[0]
    assert auc > 0.85, auc


def test_errors_for_wrong_shapes(jets):
    _, x, mask, pair = jets
    parts = np.ones((2, 5, 3), np.float32)
    with pytest.raises(ValueError, match="shape"):
        pairwise_features(np.ones((2, 5, 4), np.float32))
    with pytest.raises(ValueError, match="shape"):
        pairwise_features(np.ones((5, 3), np.float32))
    with pytest.raises(ValueError, match="mask"):
        pairwise_features(parts, np.ones((2, 4), bool))
    with pytest.raises(ValueError, match="NaN"):
        pairwise_features(np.where(np.arange(3) == 1, np.nan, parts))
    with pytest.raises(ValueError, match="negative"):
        transformer_inputs(-parts, parts[..., 0] > 0)
    with pytest.raises(ValueError, match="shape"):
        transformer_inputs(np.ones((2, 5, 2), np.float32))
    model = _model()
    with pytest.raises(ValueError, match="x must have shape"):
        model(x[..., :3], mask, pair)
    with pytest.raises(ValueError, match="x must have shape"):
        model(x[0], mask[0], pair[0])
    with pytest.raises(ValueError, match="mask must have shape"):
        model(x, mask[:, :5], pair)
    with pytest.raises(ValueError, match="pair must have shape"):
        model(x, mask, pair[:, :5])
    with pytest.raises(ValueError, match="pair features"):
        model(x, mask)
    with pytest.raises(ValueError, match="pair_hidden=0"):
        _model(pair_hidden=0)(x, mask, pair)
    with pytest.raises(ValueError, match="multiple of heads"):
        ParticleTransformer(N_FEATURES, dim=30, heads=4, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=">= 1"):
        ParticleTransformer(N_FEATURES, n_classes=0, rngs=nnx.Rngs(0))


def test_dropout_acts_in_training_only_and_is_not_saved(jets, tmp_path):
    _, x, mask, pair = jets
    model = ParticleTransformer(dim=16, heads=2, n_blocks=1, pair_hidden=8, dropout=0.3, rngs=nnx.Rngs(0))
    model.train()
    first, second = np.asarray(model(x, mask, pair)), np.asarray(model(x, mask, pair))
    assert np.abs(first - second).max() > 1e-4  # a new mask per call
    model.eval()
    np.testing.assert_array_equal(_out(model, x, mask, pair), _out(model, x, mask, pair))
    train.save_checkpoint(model, tmp_path / "d.npz")
    plain = ParticleTransformer(dim=16, heads=2, n_blocks=1, pair_hidden=8, rngs=nnx.Rngs(1))  # no dropout
    train.load_checkpoint(plain, tmp_path / "d.npz")  # the checkpoint holds parameters, no random streams
    np.testing.assert_allclose(_out(plain, x, mask, pair), _out(model, x, mask, pair), atol=1e-6)
    for rate in (-0.1, 1.0):
        with pytest.raises(ValueError, match="dropout"):
            ParticleTransformer(dropout=rate, rngs=nnx.Rngs(0))
