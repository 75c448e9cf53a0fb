"""LorentzNet (jetkit.models.lorentznet, arXiv:2201.08187): Lorentz invariance of the output and
equivariance of the four-vector update under random boosts and rotations, permutation
invariance, padding blindness, degenerate jets, finite gradients, a short training run on real
jets, and errors on bad input.

Everything runs in float32 (the global JAX config is left alone). The boosts have |beta| <= 0.5;
the measured float32 change of the logits of the test model under them is below 5e-5, and the
tests allow 2e-4 (logits of the untrained model are O(0.1))."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from hypothesis import given, settings
from hypothesis import strategies as st

from jetkit import train
from jetkit.models.diagnostics import count_params
from jetkit.models.lorentznet import (BEAMS, LGEB, SCALE, SUM_POOL_NORM, LorentzNet, _edge_layer_norm,
                                      lorentznet_inputs, node_invariants, psi)
from jetkit.physics.kinematics import boost, minkowski_dot

N, P, HIDDEN = 8, 16, 16
ATOL = 2e-4  # logits, float32, |beta| <= 0.5
seeds = st.integers(0, 2**32 - 1)


def _model(seed: int = 0, **kw) -> LorentzNet:
    """A small LorentzNet (hidden 16, two blocks: one with the x update, one without)."""
    return LorentzNet(**{"hidden": HIDDEN, "n_blocks": 2, **kw}, rngs=nnx.Rngs(seed))


@nnx.jit
def _forward(model, p4, mask):
    return model(p4, mask)


def _out(model, p4, mask):
    return np.asarray(_forward(model, p4, mask))


@nnx.jit
def _block(block, h, x, mask):
    return block(h, x, mask)


def _lorentz(seed: int, max_beta: float = 0.5):
    """A random proper rotation followed by a boost of random direction with |beta| <= max_beta,
    as a function of four-vectors (..., 4) [GeV] (float32, via kinematics.boost)."""
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    d = rng.normal(size=3)
    beta = (d / np.linalg.norm(d) * rng.uniform(0.05, max_beta)).astype(np.float32)

    def transform(p4):
        p = np.asarray(p4, np.float64)
        rotated = np.concatenate([p[..., :3] @ q.T, p[..., 3:]], axis=-1).astype(np.float32)
        return np.asarray(boost(rotated, np.broadcast_to(beta, rotated.shape[:-1] + (3,))))

    return transform


@pytest.fixture(scope="module")
def jets(real_jets):
    """8 real jets (4 QCD, 4 top), the hardest 16 constituents, cut to 16, 9, 3, 1, 16, 12, 5
    and 2 constituents so that they carry padding (one jet has a single constituent)."""
    idx = np.r_[0:4, -4:0]
    keep = np.arange(P)[None] < np.array([16, 9, 3, 1, 16, 12, 5, 2])[:, None]
    p4, mask = lorentznet_inputs(real_jets["particles"][idx, :P], real_jets["mask"][idx, :P] & keep)
    assert mask.sum(1)[3] == 1 and not mask.all()
    return p4, mask


@pytest.fixture(scope="module")
def model():
    return _model(seed=1)


def test_inputs_are_massless_four_vectors_of_the_jet(real_jets):
    p4, mask = lorentznet_inputs(real_jets["particles"][:4], real_jets["mask"][:4])
    assert p4.dtype == np.float32 and p4.shape == (4, 64, 4) and mask.dtype == bool
    assert np.all(p4[~mask] == 0)
    pt = real_jets["particles"][:4, :, 0]
    np.testing.assert_allclose(np.hypot(p4[..., 0], p4[..., 1])[mask], pt[mask], rtol=1e-5)
    m2 = np.asarray(minkowski_dot(p4, p4))[mask]
    assert np.all(np.abs(m2) <= 1e-5 * p4[..., 3][mask] ** 2)  # massless up to float32 rounding
    # the jet mass from the summed four-vectors: a few tens to a few hundred GeV
    jet = p4.astype(np.float64).sum(1)
    mass = np.sqrt(jet[:, 3] ** 2 - (jet[:, :3] ** 2).sum(-1))
    assert np.all((mass > 5) & (mass < 400)), mass


def test_psi_and_node_invariants():
    a = jnp.array([-1e4, -1.0, 0.0, 0.5, 1e4])
    np.testing.assert_allclose(psi(a), np.sign(a) * np.log1p(np.abs(a)), rtol=1e-6)
    g = jax.vmap(jax.grad(psi))(a)
    np.testing.assert_allclose(g, [1 / (1 + 1e4), 0.5, 0.0, 1 / 1.5, 1 / (1 + 1e4)], rtol=1e-5)
    # two back-to-back massless vectors of 1 (in units of the scale): x_i . J = 2, x_i . x_i = 0
    x = jnp.array([[[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, -1.0, 1.0], [5.0, 5.0, 5.0, 5.0]]])
    s = node_invariants(x, jnp.array([[True, True, False]]))
    np.testing.assert_allclose(s[0], [[np.log(3.0), 0.0], [np.log(3.0), 0.0], [0.0, 0.0]], atol=1e-6)


@settings(max_examples=12, deadline=None)
@given(seeds)
def test_output_is_invariant_under_boosts_and_rotations(jets, model, seed):
    p4, mask = jets
    out = _out(model, p4, mask)
    lam = _lorentz(seed)
    moved = lam(p4)
    assert np.abs(moved - p4).max() > 10.0  # the jets really moved (GeV)
    np.testing.assert_allclose(_out(model, moved, mask), out, atol=ATOL)
    assert np.ptp(out) > 10 * ATOL  # the jets are told apart at all


def test_non_lorentz_transformations_change_the_output(jets, model):
    """The invariance test can fail: a map that is no Lorentz transformation changes the jet
    masses and so the output."""
    p4, mask = jets
    out = _out(model, p4, mask)
    stretched = p4 * np.array([1.0, 1.0, 1.0, 1.2], np.float32)  # E -> 1.2 E: masses change
    assert np.abs(_out(model, stretched, mask) - out).max() > 10 * ATOL


@settings(max_examples=10, deadline=None)
@given(seeds)
def test_block_updates_four_vectors_equivariantly(jets, seed):
    """block(h, Lambda x) = (h', Lambda x') for (h', x') = block(h, x); with c = 1 the x update
    is of the size of x, so the check sees it (c = 1e-3 in the model)."""
    p4, mask = jets
    block = LGEB(HIDDEN, c_weight=1.0, rngs=nnx.Rngs(seed % 1000))
    rng = np.random.default_rng(seed)
    h = np.where(mask[..., None], rng.normal(size=(N, P, HIDDEN)), 0.0).astype(np.float32)
    x = p4 / SCALE
    lam = _lorentz(seed)
    h1, x1 = (np.asarray(a) for a in _block(block, h, x, mask))
    h2, x2 = (np.asarray(a) for a in _block(block, h, lam(x), mask))
    assert np.abs(x1 - x).max() > 1e-2 * np.abs(x).max()  # the four-vectors did move
    np.testing.assert_allclose(x2, lam(x1), atol=1e-4 * np.abs(x1).max())
    np.testing.assert_allclose(h2, h1, atol=1e-4 * np.abs(h1).max())  # the scalars are invariant


def test_block_keeps_padded_slots_exactly_zero(jets):
    p4, mask = jets
    block = LGEB(HIDDEN, c_weight=1.0, rngs=nnx.Rngs(0))
    rng = np.random.default_rng(0)
    h = np.where(mask[..., None], rng.normal(size=(N, P, HIDDEN)), 0.0).astype(np.float32)
    x = p4 / SCALE
    h1, x1 = (np.asarray(a) for a in _block(block, h, x, mask))
    assert np.all(h1[~mask] == 0) and np.all(x1[~mask] == 0)
    assert np.all(np.isfinite(h1)) and np.all(np.isfinite(x1))
    # big junk in the padded slots of the inputs reaches nothing
    hj = np.where(mask[..., None], h, 1e3).astype(np.float32)
    xj = np.where(mask[..., None], x, -1e3).astype(np.float32)
    h2, x2 = (np.asarray(a) for a in _block(block, hj, xj, mask))
    np.testing.assert_array_equal(h2, h1)
    np.testing.assert_array_equal(x2, x1)
    # the single-constituent jet has no neighbour: its x stays, its h is still updated
    np.testing.assert_array_equal(x1[3, 0], x[3, 0])
    # without phi_x (the last block) x is returned unchanged
    last = LGEB(HIDDEN, update_x=False, rngs=nnx.Rngs(0))
    np.testing.assert_array_equal(np.asarray(_block(last, h, x, mask)[1]), x)


@settings(max_examples=10, deadline=None)
@given(seeds)
def test_permutation_invariance(jets, model, seed):
    p4, mask = jets
    out = _out(model, p4, mask)
    rng = np.random.default_rng(seed)
    perm = np.stack([rng.permutation(P) for _ in range(N)])  # padding moves in among the particles
    pp, mp = np.take_along_axis(p4, perm[..., None], 1), np.take_along_axis(mask, perm, 1)
    np.testing.assert_allclose(_out(model, pp, mp), out, atol=5e-5)  # float32 sums in another order


def test_padding_blindness(jets, model):
    p4, mask = jets
    out = _out(model, p4, mask)
    junk = p4.copy()
    junk[~mask] = np.nan
    junk[~mask & (np.arange(P) % 2 == 0)] = 1e4
    np.testing.assert_array_equal(_out(model, junk, mask), out)
    extra = 8  # eight more empty slots
    wide = np.concatenate([p4, np.zeros((N, extra, 4), np.float32)], 1)
    wmask = np.concatenate([mask, np.zeros((N, extra), bool)], 1)
    np.testing.assert_allclose(_out(model, wide, wmask), out, atol=1e-6)
    # the one-constituent jet does not care in which slot its constituent sits
    moved, mmask = p4.copy(), mask.copy()
    moved[3, 7], moved[3, 0], mmask[3] = p4[3, 0], 1e3, np.arange(P) == 7
    np.testing.assert_allclose(_out(model, moved, mmask), out, atol=1e-6)


def test_gradients_are_finite_for_single_constituent_empty_and_padded_jets(jets, model):
    p4, mask = jets
    mask = mask.copy()
    mask[7] = False  # an empty jet as well
    p4 = np.where(mask[..., None], p4, 0.0).astype(np.float32)
    y = np.r_[np.zeros(4), np.ones(4)].astype(np.float32)

    def loss(m, x):
        return train.cross_entropy_loss(m, (x, mask, y))

    value, (g_model, g_p4) = nnx.jit(nnx.value_and_grad(loss, argnums=(0, 1)))(model, p4)
    leaves = jax.tree_util.tree_leaves(nnx.state(g_model, nnx.Param))
    assert np.isfinite(float(value))
    assert all(np.all(np.isfinite(np.asarray(g))) for g in leaves)
    assert all(float(jnp.abs(g).max()) > 0 for g in leaves)  # every parameter takes part
    g_p4 = np.asarray(g_p4)
    assert np.all(np.isfinite(g_p4)) and np.all(g_p4[~mask] == 0)
    assert np.all(np.isfinite(_out(model, p4, mask)))


def test_parameter_count_and_shapes(jets, model):
    p4, mask = jets

    def n_params(**kw) -> int:  # shapes only: nothing is initialised
        abstract = nnx.eval_shape(lambda: LorentzNet(**kw, rngs=nnx.Rngs(0)))
        return sum(math.prod(p.shape) for p in jax.tree_util.tree_leaves(nnx.state(abstract, nnx.Param)))

    assert n_params() == 45_607  # the default size in the class docstring
    assert n_params() < 100_000
    assert n_params(n_classes=5) == 45_574 + 5 * 33
    assert n_params(hidden=HIDDEN, n_blocks=2) == count_params(model)
    # extra node scalars and several classes: shapes only
    wide = _model(n_scalars=3, n_classes=4)
    scalars = np.ones((N, P, 3), np.float32)
    shape = jax.eval_shape(lambda a, b, c: wide(a, b, c), p4, mask, scalars).shape
    assert shape == (N, 4)
    assert jax.eval_shape(lambda a, b: model.embed(a, b), p4, mask).shape == (N, HIDDEN)


def test_short_training_on_real_jets_lowers_the_loss(real_jets):
    p4, mask = lorentznet_inputs(real_jets["particles"][:, :P], real_jets["mask"][:, :P])
    names = list(real_jets["class_names"])
    y = (real_jets["labels"] == names.index("top")).astype(np.float32)
    assert 0.3 < y.mean() < 0.7
    model = _model(seed=0)
    hist = train.fit(model, (p4, mask, y), loss_fn=train.cross_entropy_loss, epochs=12, batch_size=32,
                     learning_rate=3e-3, progress=False)
    assert np.all(np.isfinite(hist.train_loss))
    assert hist.train_loss[-1] < 0.9 * hist.train_loss[0], hist.train_loss


def test_errors_for_bad_input(jets, model):
    p4, mask = jets
    with pytest.raises(ValueError, match="p4 must have shape"):
        model(p4[..., :3], mask)
    with pytest.raises(ValueError, match="p4 must have shape"):
        model(p4[0], mask[0])
    with pytest.raises(ValueError, match="mask must have shape"):
        model(p4, mask[:, :5])
    with pytest.raises(ValueError, match="n_scalars=0"):
        model(p4, mask, np.ones((N, P, 2), np.float32))
    with pytest.raises(ValueError, match="scalars must have shape"):
        _model(n_scalars=2)(p4, mask)
    with pytest.raises(ValueError, match="scalars must have shape"):
        _model(n_scalars=2)(p4, mask, np.ones((N, P, 3), np.float32))
    bad = p4.copy()
    bad[0, 0, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model(bad, mask)
    with pytest.raises(ValueError, match=">= 1"):
        LorentzNet(n_blocks=0, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="scale"):
        LorentzNet(scale=0.0, rngs=nnx.Rngs(0))
    parts = np.ones((2, 5, 3), np.float32)
    with pytest.raises(ValueError, match="shape"):
        lorentznet_inputs(np.ones((2, 5, 4), np.float32))
    with pytest.raises(ValueError, match="shape"):
        lorentznet_inputs(parts[0])
    with pytest.raises(ValueError, match="mask"):
        lorentznet_inputs(parts, np.ones((2, 4), bool))
    with pytest.raises(ValueError, match="negative"):
        lorentznet_inputs(-parts, np.ones((2, 5), bool))


def _beam_model(seed: int = 0, **kw) -> LorentzNet:
    """A small model as the zoo recipe: beam nodes, four-vectors in GeV, sum pooling."""
    return _model(seed, beams=True, scale=1.0, pooling="sum", **kw)


@nnx.jit
def _forward_ref(model, p4, mask, reference):
    return model(p4, mask, reference=reference)


@settings(max_examples=8, deadline=None)
@given(seeds)
def test_beams_model_is_covariant_when_the_beams_move_with_the_jet(jets, seed):
    """With beam nodes the net is Lorentz covariant: boost and rotate the jet *and* the beams
    and the output stays (moving the jet alone changes it: next test). In
    GeV units the invariants reach ~1e5 GeV^2, so float32 allows a larger change (measured
    below 5e-4 over 40 random transformations, logits O(0.5))."""
    p4, mask = jets
    model = _beam_model(seed % 1000)
    out = np.asarray(_forward_ref(model, p4, mask, BEAMS))
    np.testing.assert_allclose(out, _out(model, p4, mask), atol=1e-6)  # BEAMS is the default reference
    lam = _lorentz(seed)
    np.testing.assert_allclose(np.asarray(_forward_ref(model, lam(p4), mask, lam(BEAMS))), out, atol=1e-3)


def test_beams_break_the_symmetry_to_the_lab_frame(jets):
    """A boost along the beam axis (beta = 0.9) of the jet alone changes the output ~10x more
    than the float32 error of boosting the jet and the beams together (measured 0.015 vs 4e-4)."""
    p4, mask = jets
    model = _beam_model(1)
    out = np.asarray(_forward_ref(model, p4, mask, BEAMS))

    def zboost(x):
        return np.asarray(boost(x, np.broadcast_to(np.float32([0, 0, 0.9]), x.shape[:-1] + (3,))))

    alone = np.abs(np.asarray(_forward_ref(model, zboost(p4), mask, BEAMS)) - out).max()
    both = np.abs(np.asarray(_forward_ref(model, zboost(p4), mask, zboost(BEAMS))) - out).max()
    assert both < 2e-3 and alone > 5 * both and alone > 5e-3, (alone, both)
    plain = _model(1)  # without beams a z boost changes nothing
    np.testing.assert_allclose(_out(plain, zboost(p4), mask), _out(plain, p4, mask), atol=ATOL)


def test_beams_model_is_invariant_under_rotations_about_the_beam_axis(jets):
    p4, mask = jets
    model = _beam_model(3)
    out = _out(model, p4, mask)
    phi = 1.1
    rot = np.array([[np.cos(phi), -np.sin(phi), 0, 0], [np.sin(phi), np.cos(phi), 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    turned = (p4.astype(np.float64) @ rot.T).astype(np.float32)
    np.testing.assert_allclose(_out(model, turned, mask), out, atol=1e-3)
    assert np.ptp(out) > 1e-2


def test_sum_pooling_keeps_the_multiplicity_and_ignores_padding(jets):
    p4, mask = jets
    model = _beam_model(1)
    out = _out(model, p4, mask)
    wide = np.concatenate([p4, np.zeros((N, 8, 4), np.float32)], 1)
    wmask = np.concatenate([mask, np.zeros((N, 8), bool)], 1)
    np.testing.assert_allclose(_out(model, wide, wmask), out, atol=1e-5)
    junk = np.where(mask[..., None], p4, 1e4).astype(np.float32)
    np.testing.assert_array_equal(_out(model, junk, mask), out)
    # the beams add 2 x hidden weights to the embedding (one-hot flag), nothing else
    assert count_params(model) == count_params(_model(1)) + 2 * HIDDEN
    # sum and mean pooling differ (the sum grows with the number of constituents)
    emb_sum = np.asarray(model.embed(p4, mask))
    emb_mean = np.asarray(_model(1, beams=True, scale=1.0, pooling="mean").embed(p4, mask))
    n = mask.sum(1, keepdims=True) + 2  # the two beams are nodes too
    np.testing.assert_allclose(emb_sum * SUM_POOL_NORM / n, emb_mean, rtol=1e-4, atol=1e-6)


def test_errors_for_bad_beams_and_pooling(jets, model):
    p4, mask = jets
    with pytest.raises(ValueError, match="beams=True"):
        model(p4, mask, reference=BEAMS)
    with pytest.raises(ValueError, match="reference must have shape"):
        _beam_model()(p4, mask, reference=BEAMS[:1])
    with pytest.raises(ValueError, match="pooling"):
        LorentzNet(pooling="max", rngs=nnx.Rngs(0))


@pytest.mark.parametrize("eps", [1.0, 1e-5])
def test_edge_layer_norm_is_flax_layer_norm(eps):
    norm = nnx.LayerNorm(HIDDEN, epsilon=eps, rngs=nnx.Rngs(0))
    rng = np.random.default_rng(0)
    norm.scale.value = jnp.asarray(rng.normal(size=HIDDEN), jnp.float32)
    norm.bias.value = jnp.asarray(rng.normal(size=HIDDEN), jnp.float32)
    v = jnp.asarray(rng.normal(size=(2, 5, 5, HIDDEN)) * 3 + 1, jnp.float32)
    np.testing.assert_allclose(_edge_layer_norm(norm, v), norm(v), rtol=1e-5, atol=1e-5)
