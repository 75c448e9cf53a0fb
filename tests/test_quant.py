"""Fixed-point quantizers (ap_fixed semantics), QAT model, pruning, integer emulation, cost model."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jetkit import exercises, fpga
from jetkit.models import MLP
from jetkit.fpga import FixedType, QMLP, QuantConfig, quantize
from jetkit.train import fit

# ap_fixed<4,3>: one fractional bit (grid step 0.5), codes -8..7, values -4 .. 3.5.
# Inputs a quarter, a half (ties) and three quarters of a step past a grid point, both signs.
X = [1.125, 1.25, 1.375, -1.125, -1.25, -1.375, 1.5, -1.75, 0.75, -0.75]
ROUNDING_TABLE = {  # hand-computed from the AMD/Xilinx UG1399 definitions
    "TRN":         [1.0, 1.0, 1.0, -1.5, -1.5, -1.5, 1.5, -2.0, 0.5, -1.0],
    "TRN_ZERO":    [1.0, 1.0, 1.0, -1.0, -1.0, -1.0, 1.5, -1.5, 0.5, -0.5],
    "RND":         [1.0, 1.5, 1.5, -1.0, -1.0, -1.5, 1.5, -1.5, 1.0, -0.5],
    "RND_ZERO":    [1.0, 1.0, 1.5, -1.0, -1.0, -1.5, 1.5, -1.5, 0.5, -0.5],
    "RND_INF":     [1.0, 1.5, 1.5, -1.0, -1.5, -1.5, 1.5, -2.0, 1.0, -1.0],
    "RND_MIN_INF": [1.0, 1.0, 1.5, -1.0, -1.5, -1.5, 1.5, -2.0, 0.5, -1.0],
    "RND_CONV":    [1.0, 1.0, 1.5, -1.0, -1.0, -1.5, 1.5, -2.0, 1.0, -1.0],
}
# ap_fixed<4,4> (integers -8..7) with TRN: overflow modes
X_OVF = [7.0, 8.0, 9.0, 17.0, -8.0, -9.0, -20.0, 3.0]
OVERFLOW_TABLE = {
    "WRAP":     [7.0, -8.0, -7.0, 1.0, -8.0, 7.0, -4.0, 3.0],
    "SAT":      [7.0, 7.0, 7.0, 7.0, -8.0, -8.0, -8.0, 3.0],
    "SAT_ZERO": [7.0, 0.0, 0.0, 0.0, -8.0, 0.0, 0.0, 3.0],
    "SAT_SYM":  [7.0, 7.0, 7.0, 7.0, -7.0, -7.0, -7.0, 3.0],
}


@pytest.mark.parametrize("mode", fpga.ROUNDING_MODES)
def test_rounding_modes_match_hand_computed_values(mode):
    t = FixedType(4, 3, rounding=mode, overflow="SAT")
    assert np.asarray(t.quantize(jnp.array(X))).tolist() == ROUNDING_TABLE[mode]
    assert t.values(t.codes(X)).tolist() == ROUNDING_TABLE[mode]


@pytest.mark.parametrize("mode", fpga.OVERFLOW_MODES)
def test_overflow_modes_match_hand_computed_values(mode):
    t = FixedType(4, 4, overflow=mode)
    assert np.asarray(t.quantize(jnp.array(X_OVF))).tolist() == OVERFLOW_TABLE[mode]
    assert t.codes(X_OVF).tolist() == OVERFLOW_TABLE[mode]


def test_unsigned_and_fractional_types():
    u = FixedType(4, 2, signed=False, rounding="RND", overflow="SAT")  # 0 .. 3.75 in 0.25 steps
    assert u.values(u.codes([-1.0, 0.1, 0.125, 3.8, 9.0])).tolist() == [0.0, 0.0, 0.25, 3.75, 3.75]
    w = FixedType(4, 2, signed=False, overflow="WRAP")
    assert w.values(w.codes([4.0, 4.25, -0.25])).tolist() == [0.0, 0.25, 3.75]
    t = FixedType(6, -1)  # 7 fractional bits, range [-1/4, 1/4)
    assert (t.min_value, t.max_value, t.lsb) == (-0.25, 0.25 - 2**-7, 2**-7)
    big = FixedType(4, 6)  # negative fractional bits: steps of 4; 100 = 25 steps wraps to -7
    assert big.values(big.codes([5.0, -7.0, 100.0])).tolist() == [4.0, -8.0, -28.0]


def test_type_names_round_trip_and_errors():
    for t in (FixedType(6, 2), FixedType(8, 3, rounding="RND", overflow="SAT"),
              FixedType(5, 1, signed=False, rounding="RND_CONV", overflow="SAT_SYM")):
        assert FixedType.parse(str(t)) == t
    assert str(FixedType(6, 2, rounding="RND", overflow="SAT")) == "ap_fixed<6,2,AP_RND,AP_SAT>"
    assert FixedType.parse("fixed<16,6,RND,SAT,0>") == FixedType(16, 6, rounding="RND", overflow="SAT")
    with pytest.raises(ValueError, match="rounding mode"):
        FixedType(6, 2, rounding="ROUND")
    with pytest.raises(ValueError, match="overflow mode"):
        quantize(jnp.ones(3), 6, 2, overflow="CLIP")
    with pytest.raises(ValueError, match="width"):
        FixedType(0, 0)
    with pytest.raises(ValueError, match="cannot read"):
        FixedType.parse("float<6,2>")
    with pytest.raises(ValueError, match="NaN"):
        FixedType(6, 2).codes([1.0, np.nan])


@pytest.mark.parametrize("rounding", fpga.ROUNDING_MODES)
@pytest.mark.parametrize("overflow", fpga.OVERFLOW_MODES)
def test_idempotent_on_grid_and_jax_equals_numpy(rounding, overflow):
    x = np.random.default_rng(1).normal(0, 6, 3000).astype(np.float32)
    t = FixedType(7, 3, rounding=rounding, overflow=overflow)
    q = np.asarray(t.quantize(jnp.asarray(x)))
    assert np.array_equal(q, t.values(t.codes(x)))  # float32 JAX path == float64 numpy path
    assert np.array_equal(np.asarray(t.quantize(jnp.asarray(q))), q)  # q(q(x)) == q(x)
    assert np.all(np.ldexp(q, t.fractional) == np.round(np.ldexp(q, t.fractional)))  # on grid
    assert q.min() >= t.min_value and q.max() <= t.max_value


def test_saturation_and_straight_through_gradient():
    t = FixedType(6, 2, rounding="RND", overflow="SAT")  # [-2, 1.9375]
    x = jnp.array([-10.0, -2.0, 0.3, 1.9, 5.0])
    assert np.asarray(t.quantize(x)).tolist() == [-2.0, -2.0, 0.3125, 1.875, 1.9375]
    grad = jax.grad(lambda v: t.quantize(v).sum())(x)
    assert np.asarray(grad).tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]  # clipped STE
    wrap = FixedType(6, 2, overflow="WRAP")
    assert np.asarray(jax.grad(lambda v: wrap.quantize(v).sum())(x)).tolist() == [1.0] * 5
    assert np.asarray(t.quantize(x, ste=False)).tolist() == np.asarray(t.quantize(x)).tolist()


def test_dynamic_precision_does_not_recompile():
    traces = []

    @jax.jit
    def f(x, w, i):
        traces.append(1)
        return quantize(x, w, i, rounding="RND", overflow="SAT")

    x = jnp.linspace(-3, 3, 101)
    for w, i in ((8, 3), (6, 2), (4, 1)):
        expected = FixedType(w, i, rounding="RND", overflow="SAT").quantize(x)
        assert np.array_equal(f(x, w, i), expected)
    assert len(traces) == 1


def test_requantize_codes_is_the_float_cast():
    rng = np.random.default_rng(2)
    acc = rng.integers(-(2**20), 2**20, 5000)
    for rounding in fpga.ROUNDING_MODES:
        for overflow in fpga.OVERFLOW_MODES:
            t = FixedType(6, 3, rounding=rounding, overflow=overflow)
            for from_frac in (9, 3, 1):  # shift right, no shift, shift left
                expected = t.codes(np.ldexp(acc.astype(np.float64), -from_frac))
                assert np.array_equal(fpga.requantize_codes(acc, from_frac, t), expected)


def test_integer_bits_for():
    assert [fpga.integer_bits_for(v) for v in (0.9, 1.0, 0.3, 5.0, 0.0)] == [1, 2, 0, 4, 1]
    for v in (0.01, 0.49, 0.51, 3.99, 100.0):
        t = FixedType(16, fpga.integer_bits_for(v))
        assert t.max_value >= v - t.lsb and v < 2 ** (t.integer - 1) <= 2 * v + 1e-12


# --------------------------------------------------------------------------------------------
# QAT model, emulation, pruning
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def features():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1500, 16)).astype(np.float32) * np.linspace(0.5, 3, 16, dtype=np.float32)
    y = (x[:, :5] * rng.normal(size=5)).argmax(axis=1) % 5
    return x, y.astype(np.int32)


@pytest.fixture(scope="module")
def qmodel(features):
    x, _ = features
    mlp = MLP(16, 5, (32, 16), rngs=nnx.Rngs(0))
    model = QMLP.from_float(mlp, members=5)  # 4, 6, 8, 16 bits and one float member
    for e, bits in enumerate((4, 6, 8, 16)):
        model.configure(QuantConfig(bits), member=e)
    model.configure(QuantConfig(quantized=False), member=4)
    return mlp, model


def test_from_float_unquantized_member_equals_float_mlp(qmodel, features):
    mlp, model = qmodel
    x, _ = features
    expected = np.asarray(mlp(jnp.asarray(x)))
    np.testing.assert_allclose(model.predict(x)[:, 4], expected, rtol=1e-5, atol=1e-5)


def test_integer_emulation_equals_fake_quant_model(qmodel, features):
    _, model = qmodel
    x, _ = features
    logits = model.predict(x)
    for e in range(4):
        net = model.export(e)
        emulated = fpga.emulate(net, x)
        if fpga.float32_exact(net):
            assert np.array_equal(emulated, logits[:, e]), f"member {e}"
        else:  # 16 bits: float32 accumulation may round; nearly all values still agree
            assert np.mean(emulated == logits[:, e]) > 0.99
            np.testing.assert_allclose(emulated, logits[:, e], atol=4 * net.layers[-1].result_type.lsb)
    assert [fpga.float32_exact(model.export(e)) for e in range(4)] == [True, True, False, False]


def test_emulation_is_integer_arithmetic_of_the_types(qmodel, features):
    _, model = qmodel
    x, _ = features
    net = model.export(1)
    codes, frac = fpga.emulate_codes(net, x[:50])
    assert codes.dtype == np.int64 and frac == net.layers[-1].result_type.fractional
    # hand-rolled float64 reference of the same firmware semantics
    h = net.input_type.values(net.input_type.codes(x[:50]))
    for layer in net.layers:
        h = layer.result_type.values(layer.result_type.codes(h @ layer.weight + layer.bias))
        h = np.maximum(h, 0) if layer.activation else h
    assert np.array_equal(np.ldexp(codes.astype(float), -frac), h)
    with pytest.raises(ValueError, match="shape"):
        fpga.emulate(net, x[:, :5])
    with pytest.raises(ValueError, match="NaN"):
        fpga.emulate(net, np.full((2, 16), np.nan))
    with pytest.raises(ValueError, match="NaN"):
        model.predict(np.full((2, 16), np.nan))


def test_configure_resolves_integer_bits_and_validates(qmodel, features):
    _, model = qmodel
    x, _ = features
    in_type, types = model.types(1)  # QuantConfig(6): weights ap_fixed<6,1>, activations <6,3>
    assert str(in_type) == "ap_fixed<12,4,AP_RND,AP_SAT>"
    assert [str(t["weight"]) for t in types] == ["ap_fixed<6,1,AP_RND,AP_SAT>"] * 3
    assert [str(t["result"]) for t in types] == ["ap_fixed<6,3,AP_RND,AP_SAT>"] * 2 + [
        "ap_fixed<16,6,AP_RND,AP_SAT>"]
    assert [model.types(e)[1][0]["result"].integer for e in range(4)] == [2, 3, 4, 6]  # "half"
    sub = model.select([1])
    sub.configure(QuantConfig(6, weight_int="auto", act_int="auto"), calibration=x)
    _, types = sub.types(0)
    for j, t in enumerate(types):
        w = sub.effective_weights(0)[j]
        assert np.abs(w).max() < 2 ** (t["weight"].integer - 1) <= 2 * np.abs(w).max()
    hidden = sub.float_activations(x, 0)[0]
    top = np.quantile(np.maximum(hidden, 0), 0.9999)
    assert top < 2 ** (types[0]["result"].integer - 1) <= 2 * top
    sub.configure(QuantConfig(6, act_int=[2, 4]))
    assert [t["result"].integer for t in sub.types(0)[1]] == [2, 4, 6]
    with pytest.raises(ValueError, match="calibration"):
        model.configure(QuantConfig(6, act_int="auto"), member=0)
    with pytest.raises(ValueError, match="one value per layer"):
        model.configure(QuantConfig(6, act_int=[2, 3, 4]), member=0)
    with pytest.raises(ValueError, match="integer or one of"):
        model.configure(QuantConfig(6, weight_int="half"), member=0)
    with pytest.raises(ValueError, match="member"):
        model.configure(QuantConfig(6), member=7)
    with pytest.raises(ValueError, match="bits"):
        QuantConfig(1)
    with pytest.raises(ValueError, match="not quantized"):
        QMLP(16, 5, rngs=nnx.Rngs(0)).export(0)


def test_qat_and_pruning_train_to_target_sparsity(features):
    x, y = features
    model = QMLP(16, 5, (32, 16), members=3, rngs=nnx.Rngs(1))
    model.configure(QuantConfig(6))
    steps = 4 * (len(x) // 128)
    model.schedule_pruning([0.0, 0.5, 0.8], begin_step=0, end_step=steps // 2)
    hist = fit(model, (x, y), loss_fn=fpga.ensemble_loss, epochs=4, batch_size=128,
               progress=False, learning_rate=3e-3)
    assert hist.train_loss[-1] < hist.train_loss[0]
    assert int(model.step.get_value()) == steps
    for e, target in enumerate((0.0, 0.5, 0.8)):
        for mask in model.masks:
            m = np.asarray(mask.get_value()[e])
            assert abs((m == 0).mean() - target) < 1.0 / m.size + 1e-9
        net = model.export(e)
        n_weights = sum(layer.weight.size for layer in net.layers)
        # pruned (floor(target * n) per layer) plus weights that round to zero
        assert fpga.sparsity(net) >= target - len(net.layers) / n_weights
    # eval mode neither moves the schedule nor changes the masks
    model.predict(x)
    assert int(model.step.get_value()) == steps
    # the exported (pruned) network still equals the fake-quantized model bit for bit
    assert np.array_equal(fpga.emulate(model.export(2), x), model.predict(x)[:, 2])
    with pytest.raises(ValueError, match="sparsity"):
        model.schedule_pruning(1.0, 0, 10)


def test_select_copies_members(qmodel, features):
    _, model = qmodel
    x, _ = features
    order = [4, 2, 0, 1, 3]  # same shape as the original: no new compilation
    sub = model.select(order)
    assert sub.members == 5
    np.testing.assert_array_equal(sub.predict(x), model.predict(x)[:, order])


def test_standardizer_and_folding(features):
    x, _ = features
    raw = x * 40 + 7
    s = fpga.Standardizer.fit(raw)
    z = s(raw)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-4)
    w, b = np.random.default_rng(3).normal(size=(16, 8)), np.random.default_rng(4).normal(size=8)
    wf, bf = s.fold(w, b)
    np.testing.assert_allclose(raw.astype(np.float64) @ wf + bf, z.astype(np.float64) @ w + b,
                               rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="NaN"):
        fpga.Standardizer.fit(np.full((3, 2), np.nan))
    with pytest.raises(ValueError, match="features"):
        s(raw[:, :3])
    with pytest.raises(ValueError, match="NaN"):
        s(np.where(raw > 50, np.nan, raw))


# --------------------------------------------------------------------------------------------
# Cost model
# --------------------------------------------------------------------------------------------


def test_effective_bits_and_csd():
    assert fpga.cost.effective_bits([0, 1, 5, 12, -8, 7, -6]).tolist() == [0, 1, 3, 2, 1, 3, 2]
    assert fpga.cost.csd_digits([0, 1, 7, 5, 15, -3, 11]).tolist() == [0, 1, 2, 2, 2, 2, 3]


def test_cost_falls_with_bits_and_sparsity(qmodel, features):
    _, model = qmodel
    costs = [fpga.cost.estimate(model.export(e)) for e in range(4)]  # 4, 6, 8, 16 bits
    ebops = [c.ebops for c in costs]
    assert ebops == sorted(ebops) and ebops[0] < ebops[-1] / 4
    assert costs[0].dsp == 0 and costs[-1].dsp > 0  # narrow products go to LUTs
    net = model.export(1)
    assert costs[1].n_mult == sum(int(np.count_nonzero(layer.weight)) for layer in net.layers)
    by_hand = 0
    b_a = net.input_type.width
    for layer in net.layers:
        by_hand += int((b_a * fpga.cost.effective_bits(layer.weight_codes)).sum())
        b_a = layer.result_type.width - 1
    assert costs[1].ebops == by_hand
    assert costs[1].latency_ns == costs[1].latency_cycles * 5.0 and costs[1].latency_cycles > 4
    assert set(costs[1].as_dict()) >= {"EBOPs", "DSP", "LUT", "latency [ns]"}


def test_pareto_front():
    cost = [10, 20, 30, 15, 40, 30]
    acc = [0.5, 0.7, 0.6, 0.7, 0.8, 0.75]
    assert fpga.cost.pareto_front(cost, acc).tolist() == [0, 3, 5, 4]
    with pytest.raises(ValueError):
        fpga.cost.pareto_front([1, 2], [0.5])


# --------------------------------------------------------------------------------------------
# Exercises of notebook 05
# --------------------------------------------------------------------------------------------


def test_fixed_point_exercise(capsys):
    def good(x, w, i):
        s = 2.0 ** (w - i)
        return np.clip(np.floor(x * s + 0.5), -(2 ** (w - 1)), 2 ** (w - 1) - 1) / s

    def half_even(x, w, i):
        s = 2.0 ** (w - i)
        return np.clip(np.round(x * s), -(2 ** (w - 1)), 2 ** (w - 1) - 1) / s

    def no_saturation(x, w, i):
        s = 2.0 ** (w - i)
        return np.floor(x * s + 0.5) / s

    assert exercises.check("05_fixed_point", good)
    assert capsys.readouterr().out.startswith("✅")
    assert not exercises.check("05_fixed_point", half_even)
    assert "halfway" in capsys.readouterr().out
    assert not exercises.check("05_fixed_point", no_saturation)
    assert "outside the range" in capsys.readouterr().out
    assert not exercises.check("05_fixed_point", 3.0)


def test_cheapest_tagger_exercise(capsys):
    results = {"a": (0.80, 100), "b": (0.795, 50), "c": (0.70, 10), "d": (0.792, 60)}
    assert exercises.check("05_cheapest_tagger", "b", results, 0.80)
    assert not exercises.check("05_cheapest_tagger", "c", results, 0.80)
    assert "more than one point" in capsys.readouterr().out.splitlines()[-1]
    assert not exercises.check("05_cheapest_tagger", "d", results, 0.80)
    out = capsys.readouterr().out
    assert "fewer EBOPs" in out and "50" not in out
    assert not exercises.check("05_cheapest_tagger", "zz", results, 0.80)
