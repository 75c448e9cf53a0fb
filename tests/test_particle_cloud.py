"""Particle-cloud flow matching (jetkit.models.particle_cloud): permutation equivariance of the
velocity field, blindness to padding, a loss that ignores padded slots and takes no labels, a
short training run on real gluon jets, the sampler's masks and seeds, the shared-per-particle
standardiser, a checkpoint round trip, and errors on bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from hypothesis import given, settings
from hypothesis import strategies as st

from jetkit import train
from jetkit.models import generative_training as training
from jetkit.models import particle_cloud as pc

N, P = 3, 8


def _model(seed: int = 0) -> pc.ParticleCloudFlow:
    """A small velocity field (dim 16) for the fast checks."""
    return pc.ParticleCloudFlow(dim=16, heads=2, n_blocks=2, rngs=nnx.Rngs(seed), seed=seed)


@nnx.jit
def _forward(model, x, mask, t, n_frac):
    return model(x, mask, t, n_frac)


def _out(model, x, mask, t, n_frac):
    return np.asarray(_forward(model, x, mask, t, n_frac))


def _random_cloud(seed: int, n: int = N, p: int = P):
    """Random standardised clouds x (n, p, 3) with junk in the padded slots, a mask with at
    least one real particle per jet (padding anywhere, not only at the end), t and n_frac."""
    rng = np.random.default_rng(seed)
    mask = rng.random((n, p)) < 0.6
    mask[np.arange(n), rng.integers(0, p, n)] = True
    x = rng.normal(0.0, 1.0, (n, p, 3)).astype(np.float32)
    x[~mask] = rng.normal(0.0, 30.0, (int((~mask).sum()), 3))
    t = rng.uniform(0.0, 1.0, n).astype(np.float32)
    n_frac = (mask.sum(1, keepdims=True) / p).astype(np.float32)
    return x, mask, t, n_frac


@pytest.fixture(scope="module")
def model():
    return _model()


@pytest.fixture(scope="module")
def gluons():
    """256 real gluon jets (jet5, 30 slots) from the training split; 40 of them are cut to 1 ...
    14 constituents so that the mask has padding. Returns (particles, mask, std)."""
    (tr, _, _), _ = training.gluon_splits()
    p, m = tr.particles[:256].astype(np.float32), tr.mask[:256].copy()
    m[:40] &= np.arange(30)[None] < np.arange(1, 41)[:, None] // 3 + 1
    p = np.where(m[..., None], p, 0.0).astype(np.float32)
    return p, m, pc.CloudStandardiser.fit(p, m)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_velocity_is_permutation_equivariant(model, seed):
    x, mask, t, n_frac = _random_cloud(seed)
    out = _out(model, x, mask, t, n_frac)
    perm = np.stack([np.random.default_rng([seed, i]).permutation(P) for i in range(N)])
    xp = np.take_along_axis(x, perm[..., None], 1)
    mp = np.take_along_axis(mask, perm, 1)
    np.testing.assert_allclose(_out(model, xp, mp, t, n_frac), np.take_along_axis(out, perm[..., None], 1),
                               atol=1e-5)
    real = out[mask]
    assert np.abs(real - real.mean(0)).max() > 1e-3  # particles get different velocities


def test_padding_is_zero_and_ignored(model):
    x, mask, t, n_frac = _random_cloud(7)
    assert (~mask).any()
    out = _out(model, x, mask, t, n_frac)
    assert np.all(out[~mask] == 0) and np.all(np.isfinite(out))
    # junk (huge values and NaN) in the padded slots changes nothing at the real ones
    for junk in (1e4, np.nan):
        xj = x.copy()
        xj[~mask] = junk
        np.testing.assert_allclose(_out(model, xj, mask, t, n_frac), out, atol=1e-6)
    # 5 extra empty slots full of junk, at the end and in front
    extra = np.random.default_rng(0).normal(0, 50, (N, 5, 3)).astype(np.float32)
    no = np.zeros((N, 5), bool)
    np.testing.assert_allclose(_out(model, np.concatenate([x, extra], 1), np.concatenate([mask, no], 1),
                                    t, n_frac)[:, :P], out, atol=1e-5)
    np.testing.assert_allclose(_out(model, np.concatenate([extra, x], 1), np.concatenate([no, mask], 1),
                                    t, n_frac)[:, 5:], out, atol=1e-5)
    # but a real particle does talk to the others (attention), and t conditions the output
    j = int(np.argmax(mask.sum(1)))
    assert mask[j].sum() >= 2
    a, b = np.flatnonzero(mask[j])[:2]
    xm = x.copy()
    xm[j, a] += 1.0
    moved = _out(model, xm, mask, t, n_frac)
    assert np.abs(moved[j, b] - out[j, b]).max() > 1e-4
    np.testing.assert_allclose(np.delete(moved, j, 0), np.delete(out, j, 0), atol=1e-6)  # jets apart
    assert np.abs(_out(model, x, mask, 1 - t, n_frac) - out)[mask].max() > 1e-4


def _loss(model, batch, key=None) -> float:
    """cloud_flow_loss on a clone, so the model's noise key is not advanced; ``key`` sets it."""
    m = nnx.clone(model)
    if key is not None:
        m.noise.set_value(key)
    return float(pc.cloud_flow_loss(m, batch))


def test_masked_slots_carry_no_loss_and_no_labels(model):
    x, mask, t, n_frac = _random_cloud(3)
    x = np.where(mask[..., None], x, 0.0).astype(np.float32)
    base = _loss(model, (x, mask, n_frac))
    assert np.isfinite(base) and base > 0
    for junk in (1e3, -50.0, np.nan):
        xj = x.copy()
        xj[~mask] = junk
        assert _loss(model, (xj, mask, n_frac)) == pytest.approx(base, rel=1e-6)
    xr = x.copy()
    xr[mask] += 1.0  # the real slots do count
    assert abs(_loss(model, (xr, mask, n_frac)) - base) > 1e-3
    # the noise key advances: two calls on the model itself draw different noise
    live = nnx.clone(model)
    assert float(pc.cloud_flow_loss(live, (x, mask, n_frac))) != float(pc.cloud_flow_loss(live, (x, mask, n_frac)))
    with pytest.raises(ValueError, match="batch must be"):
        pc.cloud_flow_loss(model, (x, mask, n_frac, np.zeros(N, np.float32)))
    with pytest.raises(ValueError, match="batch must be"):
        pc.cloud_flow_loss(model, (x, mask))


def test_training_on_real_gluon_jets_lowers_the_loss(gluons):
    p, m, std = gluons
    data = pc.cloud_inputs(p, m, std)
    x, mask, n_frac = data
    assert x.shape == (256, 30, 3) and np.all(x[~mask] == 0)
    np.testing.assert_allclose(n_frac[:, 0], m.sum(1) / 30)
    model = _model(seed=1)
    key = jax.random.PRNGKey(123)
    before = _loss(model, data, key)
    hist = train.fit(model, data, loss_fn=pc.cloud_flow_loss, epochs=6, batch_size=32, learning_rate=3e-3,
                     progress=False)
    after = _loss(model, data, key)
    assert hist.train_loss[-1] < hist.train_loss[0]
    assert after < 0.85 * before, (before, after)


def test_sampling_masks_order_and_seeds(gluons):
    _, _, std = gluons
    model = _model(seed=2)
    mult = np.array([30, 1, 12, 29, 7])
    out, mask = pc.sample_cloud(model, mult, std, n_slots=30, seed=0, steps=4)
    assert out.shape == (5, 30, 3) and mask.shape == (5, 30) and mask.dtype == bool
    np.testing.assert_array_equal(mask.sum(1), mult)
    assert np.all(out[~mask] == 0) and np.all(np.isfinite(out))
    assert np.all(out[..., 0][mask] > 0)
    for i in range(len(mult)):
        assert np.all(np.diff(out[i, mask[i], 0]) <= 0)  # pT-sorted within the real slots
    same, same_mask = pc.sample_cloud(model, mult, std, n_slots=30, seed=0, steps=4)
    np.testing.assert_array_equal(same, out)
    np.testing.assert_array_equal(same_mask, mask)
    other, _ = pc.sample_cloud(model, mult, std, n_slots=30, seed=1, steps=4)
    assert np.abs(other - out)[mask].max() > 1e-3
    # batches of 2 (the last one padded with an empty jet) give the same jets
    small, small_mask = pc.sample_cloud(model, mult, std, n_slots=30, seed=0, steps=4, batch_size=2)
    np.testing.assert_array_equal(small_mask, mask)
    np.testing.assert_allclose(small, out, rtol=1e-4, atol=1e-5)
    for bad in ([0, 3], [31], []):
        with pytest.raises(ValueError, match="multiplicity"):
            pc.sample_cloud(model, np.array(bad, int), std, n_slots=30, steps=4)
    with pytest.raises(ValueError, match="steps"):
        pc.sample_cloud(model, mult, std, n_slots=30, steps=0)


def test_standardiser_round_trip_and_one_map_for_all_slots(gluons):
    p, m, std = gluons
    assert std.mean.shape == (3,) and std.std.shape == (3,)
    junk = np.where(m[..., None], p, -7.0)  # negative pT in padding is fine: it is masked
    x = std.transform(junk, m)
    np.testing.assert_array_equal(x, std.transform(p, m))
    assert np.all(x[~m] == 0)
    np.testing.assert_allclose(x[m].mean(0), 0, atol=1e-4)  # standardised over all real particles
    np.testing.assert_allclose(x[m].std(0), 1, atol=1e-3)
    back = std.inverse(x, m)
    np.testing.assert_allclose(back[m], p[m], rtol=1e-5, atol=1e-6)
    assert np.all(back[~m] == 0)
    # permuting every jet's slots (padding in among the particles): same standardiser, same map
    rng = np.random.default_rng(0)
    perm = np.stack([rng.permutation(30) for _ in range(len(p))])
    pp, mp = np.take_along_axis(p, perm[..., None], 1), np.take_along_axis(m, perm, 1)
    sp = pc.CloudStandardiser.fit(pp, mp)
    np.testing.assert_allclose(sp.mean, std.mean, rtol=1e-6)
    np.testing.assert_allclose(sp.std, std.std, rtol=1e-6)
    np.testing.assert_array_equal(std.transform(pp, mp), np.take_along_axis(x, perm[..., None], 1))
    with pytest.raises(ValueError, match="no real particle"):
        pc.CloudStandardiser.fit(p, np.zeros_like(m))
    with pytest.raises(ValueError, match="pT > 0"):
        pc.cloud_inputs(np.where(m[..., None], -p, 0.0), m, std)


def test_checkpoint_round_trip(tmp_path, model):
    x, mask, t, n_frac = _random_cloud(11)
    path = train.save_checkpoint(model, tmp_path / "c.npz", {"dim": 16, "note": "test"})
    fresh = _model(seed=5)
    assert np.abs(_out(fresh, x, mask, t, n_frac) - _out(model, x, mask, t, n_frac)).max() > 1e-4
    assert train.load_checkpoint(fresh, path) == {"dim": 16, "note": "test"}
    np.testing.assert_array_equal(_out(fresh, x, mask, t, n_frac), _out(model, x, mask, t, n_frac))
    batch = (np.where(mask[..., None], x, 0.0), mask, n_frac)
    assert _loss(fresh, batch) == _loss(model, batch)  # the noise key comes back too
    with pytest.raises(ValueError, match="does not fit"):
        train.load_checkpoint(pc.ParticleCloudFlow(dim=16, heads=2, n_blocks=3, rngs=nnx.Rngs(0)), path)


def test_errors_for_bad_sizes_and_shapes(model):
    with pytest.raises(ValueError, match="multiple of heads"):
        pc.ParticleCloudFlow(dim=30, heads=4, rngs=nnx.Rngs(0))
    for kw in ({"dim": 0}, {"heads": 0}, {"n_blocks": 0}, {"ffn_ratio": 0}, {"n_freq": -1}):
        with pytest.raises(ValueError, match=">= 1"):
            pc.ParticleCloudFlow(**kw, rngs=nnx.Rngs(0))
    x, mask, t, n_frac = _random_cloud(0)
    with pytest.raises(ValueError, match="x must have shape"):
        model(x[..., :2], mask, t, n_frac)
    with pytest.raises(ValueError, match="x must have shape"):
        model(x[0], mask[0], t[:1], n_frac[:1])
    with pytest.raises(ValueError, match="mask must have shape"):
        model(x, mask[:, :5], t, n_frac)


def test_reflow_pairs_are_the_flows_own_endpoints(gluons):
    _, _, std = gluons
    model = _model(seed=3)
    mult = np.array([30, 4, 17])
    x0, x1, mask, n_frac = pc.reflow_pairs(model, mult, n_slots=30, seed=5, steps=3)
    assert x0.shape == x1.shape == (3, 30, 3) and mask.shape == (3, 30)
    np.testing.assert_array_equal(mask.sum(1), mult)
    np.testing.assert_allclose(n_frac[:, 0], mult / 30)
    assert np.all(x0[~mask] == 0) and np.all(x1[~mask] == 0)  # padding gets no noise and stays zero
    # x1 is where the sampler carries the same noise: the same jets, before sorting and unscaling
    jets, jets_mask = pc.sample_cloud(model, mult, std, n_slots=30, seed=5, steps=3)
    mine, _ = pc._pt_sorted(std.inverse(x1, mask), mask)
    np.testing.assert_allclose(mine, jets, rtol=1e-5, atol=1e-6)
    # a zero-step flow would return the noise; the real one moves it
    assert np.abs(x1 - x0)[mask].mean() > 1e-3


def test_reflow_loss_is_the_flow_loss_on_fixed_pairs(model):
    x, mask, t, n_frac = _random_cloud(7)
    rng = np.random.default_rng(1)
    x0 = np.where(mask[..., None], rng.normal(size=x.shape), 0.0).astype(np.float32)
    x1 = np.where(mask[..., None], x, 0.0).astype(np.float32)
    key = jax.random.PRNGKey(9)
    m = nnx.clone(model)
    m.noise.set_value(key)
    loss = float(nnx.jit(pc.reflow_loss)(m, (x0, x1, mask, n_frac)))
    # by hand: the time the loss draws is the first draw of the model's noise key
    tt = np.asarray(jax.random.uniform(jax.random.split(key)[1], (N,)))
    xt = (1 - tt[:, None, None]) * x0 + tt[:, None, None] * x1
    v = _out(model, xt.astype(np.float32), mask, tt, n_frac)
    expected = (mask[..., None] * (v - (x1 - x0)) ** 2).sum() / (3 * mask.sum())
    assert loss == pytest.approx(expected, rel=1e-5)
    # padded slots carry no loss, whatever they hold
    junk0, junk1 = x0.copy(), x1.copy()
    junk0[~mask], junk1[~mask] = np.nan, 1e4
    m.noise.set_value(key)
    assert float(nnx.jit(pc.reflow_loss)(m, (junk0, junk1, mask, n_frac))) == pytest.approx(loss, rel=1e-6)
    with pytest.raises(ValueError, match="batch must be"):
        pc.reflow_loss(model, (x1, mask, n_frac))


def test_euler_and_midpoint_solvers(gluons):
    """A straight field (v = x1 - x0 exactly) is followed exactly by one Euler step; the midpoint
    rule and Euler agree as the steps shrink; unknown solvers are refused."""
    _, _, std = gluons
    model = _model(seed=4)
    mult = np.array([30, 9])
    mid, mask = pc.sample_cloud(model, mult, std, n_slots=30, seed=0, steps=64)
    eul, _ = pc.sample_cloud(model, mult, std, n_slots=30, seed=0, steps=64, solver="euler")
    rough, _ = pc.sample_cloud(model, mult, std, n_slots=30, seed=0, steps=2, solver="euler")
    assert np.abs(eul - mid)[mask].max() < np.abs(rough - mid)[mask].max()

    class Straight(nnx.Module):  # constant velocity: the exact path is x0 + t * c
        def __call__(self, x, mask, t, n_frac):
            return jnp.where(mask[..., None], 0.5, 0.0) * jnp.ones_like(x)

    x0, mask, n_frac = pc._noise(mult, 30, seed=0)
    one = pc._solve(Straight(), x0, mask, n_frac, 1, "euler", 16)
    np.testing.assert_allclose(one, np.where(mask[..., None], x0 + 0.5, 0.0), atol=1e-6)
    with pytest.raises(ValueError, match="solver"):
        pc.sample_cloud(model, mult, std, n_slots=30, steps=2, solver="rk4")


def test_trajectories_end_where_the_sampler_ends_and_path_bend_measures_curvature(gluons):
    _, _, std = gluons
    model = _model(seed=6)
    mult = np.array([30, 5, 18])
    xs, mask = pc.trajectories(model, mult, n_slots=30, seed=2, steps=4)
    assert xs.shape == (5, 3, 30, 3) and mask.shape == (3, 30)
    assert np.all(xs[:, ~mask] == 0)  # padding stays zero along the whole path
    x0, _, _ = pc._noise(mult, 30, seed=2)
    np.testing.assert_array_equal(xs[0], x0)
    jets, _ = pc.sample_cloud(model, mult, std, n_slots=30, seed=2, steps=4)
    np.testing.assert_allclose(pc._pt_sorted(std.inverse(xs[-1], mask), mask)[0], jets, rtol=1e-5, atol=1e-6)
    # a straight line has bend 0; a known detour of 0.3 in one coordinate has bend 0.3
    line = np.linspace(0, 1, 5)[:, None, None, None] * np.ones((1, 3, 30, 3))
    assert pc.path_bend(line * mask[None, ..., None], mask) == pytest.approx(0.0, abs=1e-12)
    detour = line.copy()
    detour[2, ..., 0] += 0.3
    assert pc.path_bend(detour, mask) == pytest.approx(0.3)
    for bad in (xs[:4], xs[0]):
        with pytest.raises(ValueError, match="K even"):
            pc.path_bend(bad, mask)
    with pytest.raises(ValueError, match="no real particle"):
        pc.path_bend(xs, np.zeros_like(mask))
