"""Learned heterogeneous precision (jetkit.fpga.hgq): the quantizer is ap_fixed at the rounded
width, the EBOPs estimate is the cost model's count, gradients reach the bit widths, training
with an EBOPs penalty removes bits, and the export is bit-exact (emulation and hls4ml C sim)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from jetkit import fpga, train
from jetkit.fpga import FixedType, HGQMLP, hgq_loss
from jetkit.fpga import hgq
from jetkit.fpga.hls import gxx_available


def _model(members=2, hidden=(8,), seed=0, **kwargs):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(300, 16)) * np.linspace(0.5, 2, 16)).astype(np.float32)
    model = HGQMLP(16, 5, hidden, members=members, rngs=nnx.Rngs(seed), **kwargs)
    model.calibrate(x)
    return model, x


def _spread_bits(model, seed=1):
    """Random per-weight fractional bits in [-2, 6] and per-layer input bits, so the tests see
    pruned weights, coarse and fine grids."""
    rng = np.random.default_rng(seed)
    for p in model.weight_f:
        p.set_value(jnp.asarray(rng.uniform(-2, 6, p.get_value().shape) / model.bit_scale, jnp.float32))
    a = rng.uniform(1, 5, model.act_f.get_value().shape) / model.bit_scale
    model.act_f.set_value(jnp.asarray(a, jnp.float32))


@settings(max_examples=30, deadline=None)
@given(st.integers(-3, 10), st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_quantizer_equals_fixed_type_at_the_rounded_width(f, integer, seed):
    assume(integer + f >= 1)
    rng = np.random.default_rng(seed)
    x = np.r_[rng.normal(0, 2.0 ** (integer - 1), 64), np.arange(-16, 17) / 8.0].astype(np.float32)
    f_trained = np.float32(f + rng.uniform(-0.49, 0.49))  # rounds to f
    q = np.asarray(hgq._hq(jnp.asarray(x), jnp.float32(f_trained), integer, -10, 20))
    t = FixedType(integer + f, integer, rounding="RND", overflow="SAT")
    np.testing.assert_array_equal(q, t.values(t.codes(x)))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(-(2**23), 2**23), min_size=1, max_size=40))
def test_effective_bits_match_the_cost_model(codes):
    np.testing.assert_array_equal(np.asarray(hgq.effective_bits_jax(np.array(codes, np.int32))),
                                  fpga.cost.effective_bits(codes))


def test_ebops_equal_the_cost_model_at_integer_widths():
    model, x = _model(members=3, hidden=(12, 8))
    _spread_bits(model)
    ebops = np.asarray(hgq.total_ebops(model))
    for e in range(3):
        net = model.export(e)
        assert ebops[e] == fpga.cost.estimate(net).ebops
        assert [t.width for t in [net.input_type] + [la.result_type for la in net.layers[:-1]]] \
            == model.input_widths(e)
    assert 0 < fpga.sparsity(model.export(0)) < 1  # some weights rounded away, not all


def test_export_is_bit_exact_with_the_model_and_keeps_each_weight_on_its_grid():
    model, x = _model(members=2, hidden=(12, 8))
    _spread_bits(model)
    logits = model.predict(x)
    for e in range(2):
        net = model.export(e)
        assert fpga.float32_exact(net)
        np.testing.assert_array_equal(fpga.emulate(net, x), logits[:, e])
        f = np.round(np.clip(np.asarray(model.weight_f[0].get_value())[e] * model.bit_scale,
                             *hgq.F_RANGE))
        np.testing.assert_array_equal(model.fractional_bits(e)[0], f)
        w = net.layers[0].weight
        np.testing.assert_array_equal(w * 2.0 ** f, np.round(w * 2.0 ** f))  # its own grid
        assert [b.sum() for b in model.bit_widths(e)] == [
            fpga.cost.effective_bits(la.weight_codes).sum() for la in net.layers]


def test_zero_bits_prune_and_masked_layers_cost_nothing():
    model, x = _model(members=1)
    for p in model.weight_f:
        p.set_value(jnp.full(p.get_value().shape, -4.0 / model.bit_scale))
    assert float(hgq.total_ebops(model)[0]) == 0.0
    net = model.export(0)
    assert fpga.sparsity(net) == 1.0 and fpga.cost.estimate(net).n_mult == 0
    assert np.all(model.bit_widths(0)[0] == 0)


def test_gradients_reach_the_bit_widths():
    model, x = _model(members=2)
    y = np.arange(len(x)) % 5
    model.set_beta([0.0, 1e-3], ramp_steps=1)
    model.step.set_value(jnp.int32(1))  # ramp finished: full beta
    model.train()
    grads = nnx.jit(nnx.grad(hgq_loss))(model, (jnp.asarray(x), jnp.asarray(y)))
    gw = np.asarray(grads.weight_f[0].get_value())
    ga = np.asarray(grads.act_f.get_value())
    assert np.all(np.isfinite(gw)) and np.abs(gw[0]).sum() > 0 and np.abs(ga[0]).sum() > 0
    # with a large beta the EBOPs term dominates: every surviving weight wants fewer bits
    live = np.asarray(model.bit_widths(1)[0]) > 0
    assert np.mean(gw[1][live] > 0) > 0.95


def test_training_with_an_ebops_penalty_removes_bits():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2048, 16)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int32) + 2 * (x[:, 2] > 0)
    model = HGQMLP(16, 4, (16,), members=2, rngs=nnx.Rngs(0))
    model.calibrate(x)
    model.set_beta([0.0, 1e-4], ramp_steps=100)
    before = np.asarray(hgq.total_ebops(model))
    train.fit(model, (x, y), loss_fn=hgq_loss, epochs=8, batch_size=128, learning_rate=3e-3,
              restore_best=False, progress=False)
    after = np.asarray(hgq.total_ebops(model))
    assert after[1] < 0.5 * before[1] and after[1] < 0.5 * after[0]
    acc = (model.predict(x).argmax(-1) == y[:, None]).mean(axis=0)
    assert acc[0] > 0.8 and acc[1] > 0.7  # both still solve the task (chance: 0.25)


def test_errors():
    model, x = _model(members=1)
    with pytest.raises(ValueError, match="shape"):
        model(jnp.zeros((3, 15)))
    with pytest.raises(ValueError, match="member"):
        model.export(1)
    with pytest.raises(ValueError, match="beta"):
        model.set_beta(-1.0, 10)
    with pytest.raises(ValueError, match="finite"):
        model.calibrate(np.full((4, 16), np.nan))
    with pytest.raises(ValueError, match="bit_scale"):
        HGQMLP(16, 5, members=1, bit_scale=0, rngs=nnx.Rngs(0))


@pytest.mark.skipif(not gxx_available(), reason="hls4ml compile() needs g++")
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_hls4ml_c_simulation_is_bit_exact(tmp_path):
    from jetkit.fpga import hls

    model, x = _model(members=1, hidden=(8,))
    _spread_bits(model, seed=3)
    net = model.export(0)
    hls_model = hls.convert(net, tmp_path / "prj", backend="Vitis")
    hls.compile(hls_model)
    agreement = hls.compare(hls.predict(hls_model, x), fpga.emulate(net, x))
    assert agreement["values_equal"] == 1.0, agreement


def test_from_float_copies_the_weights():
    from jetkit.models import MLP

    mlp = MLP(16, 5, hidden=(8,), rngs=nnx.Rngs(2))
    model = HGQMLP.from_float(mlp, members=2, weight_frac=12, act_frac=12)
    x = np.random.default_rng(0).normal(size=(50, 16)).astype(np.float32)
    model.calibrate(x)
    ref = np.asarray(jax.jit(mlp)(x))
    np.testing.assert_allclose(model.predict(x)[:, 1], ref, atol=2e-2)
