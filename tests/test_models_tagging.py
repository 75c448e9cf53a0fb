"""Tagging models of notebook 02: symmetries (permutation, padding, Lorentz boosts), the factored
EdgeConv, the pretrained checkpoint, multi-device training and the exercise checks."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jetkit import exercises, metrics, physics, train
from jetkit.models import diagnostics
from jetkit.physics import kinematics
from jetkit.models import DeepSets, EdgeConvNet, JetCNN, LorentzInvariantNet, gnn
from jetkit.models.inputs import particle_features

ROOT = Path(__file__).resolve().parent.parent
CKPT = ROOT / "data" / "checkpoints" / "edgeconv_top_qcd.npz"


def _jets(n=6, p=12, seed=0):
    """Random padded jets (pT, d_eta, d_phi) with multiplicities 1..p and a mask."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, p + 1, size=n)
    counts[:2] = [p, 3][: n]
    mask = np.arange(p)[None] < counts[:, None]
    parts = np.stack([rng.exponential(20.0, (n, p)) + 1.0, rng.normal(0, 0.3, (n, p)),
                      rng.normal(0, 0.3, (n, p))], -1).astype(np.float32)
    parts = np.where(mask[..., None], parts, 0.0).astype(np.float32)
    return parts, mask


def _models():
    return {
        "deepsets": DeepSets(phi=(16, 16), rho=(16,), rngs=nnx.Rngs(0)),
        "edgeconv": EdgeConvNet(blocks=((4, (8,), (8,)), (4, (8,), ())), head=(8,), rngs=nnx.Rngs(0)),
        "edgeconv_naive": EdgeConvNet(blocks=((4, (8, 8), ()), (4, (8, 8), ())), head=(8,),
                                      factored=False, rngs=nnx.Rngs(0)),
        "edgeconv_max": EdgeConvNet(blocks=((4, (8,), (8,)), (4, (8,), ())), head=(8,), aggregation="max",
                                    rngs=nnx.Rngs(0)),
    }


@pytest.mark.parametrize("name", ["deepsets", "edgeconv", "edgeconv_naive", "edgeconv_max"])
def test_permutation_invariance(name):
    model = _models()[name]
    parts, mask = _jets()
    x = particle_features(parts, mask)
    assert diagnostics.permutation_check(model, np.asarray(x), mask, seed=1) < 1e-4


@pytest.mark.parametrize("name", ["deepsets", "edgeconv", "edgeconv_naive", "edgeconv_max"])
def test_padding_does_not_change_outputs(name):
    model = _models()[name]
    parts, mask = _jets()
    x = np.asarray(particle_features(parts, mask))
    ref = np.asarray(model(jnp.asarray(x), mask))
    # more padded slots, filled with junk that the mask says to ignore
    junk = np.random.default_rng(3).normal(size=(len(x), 7, x.shape[-1])).astype(np.float32)
    x2 = np.concatenate([x, junk], 1)
    x2[:, : x.shape[1]][~mask] = 5.0
    mask2 = np.concatenate([mask, np.zeros((len(x), 7), bool)], 1)
    np.testing.assert_allclose(np.asarray(model(jnp.asarray(x2), mask2)), ref, atol=1e-5)


def test_model_outputs_depend_on_the_jet():
    parts, mask = _jets()
    x = particle_features(parts, mask)
    for model in _models().values():
        out = np.asarray(model(x, mask))
        assert out.shape == (len(parts), 1) and np.isfinite(out).all() and np.ptp(out) > 0


def test_knn_never_picks_padding_or_self():
    parts, mask = _jets(n=8, p=10, seed=4)
    idx, valid = gnn.knn(jnp.asarray(parts[..., 1:]), jnp.asarray(mask), 4)
    idx, valid = np.asarray(idx), np.asarray(valid)
    for b in range(len(parts)):
        for i in np.flatnonzero(mask[b]):
            chosen = idx[b, i][valid[b, i]]
            assert mask[b, chosen].all() and i not in chosen
            assert len(chosen) == min(4, mask[b].sum() - 1)
            d = np.hypot(*(parts[b, :, 1:] - parts[b, i, 1:]).T)
            d[~mask[b]] = np.inf
            d[i] = np.inf
            np.testing.assert_allclose(np.sort(d[chosen]), np.sort(d)[: len(chosen)], rtol=1e-5)


def test_factored_edge_layer_equals_concatenated():
    naive = gnn.EdgeConv(5, (8, 8), 4, factored=False, rngs=nnx.Rngs(0))
    fact = gnn.EdgeConv(5, (8, 8), 4, factored=True, rngs=nnx.Rngs(1))
    kernel, bias = naive.edge.kernel.get_value(), naive.edge.bias.get_value()
    w_c, w_n = gnn.factor_edge_weights(kernel)
    fact.center.kernel.set_value(w_c)
    fact.center.bias.set_value(bias)
    fact.neighbour.kernel.set_value(w_n)
    for a, b in [(fact.edge_layers[0], naive.edge_layers[0]), (fact.norm, naive.norm),
                 (fact.shortcut, naive.shortcut)]:
        nnx.update(a, nnx.state(b))
    parts, mask = _jets()
    x = particle_features(parts, mask)
    coords = x[..., 2:4]
    np.testing.assert_allclose(np.asarray(fact(x, coords, jnp.asarray(mask))),
                               np.asarray(naive(x, coords, jnp.asarray(mask))), atol=1e-5)


def test_max_aggregation_never_builds_messages_but_equals_them():
    """max_j relu(c_i + n_j) = relu(c_i + max_j n_j): the fast max path equals the explicit max
    over the (B, P, k, C) messages, and jets with fewer than two constituents give zeros."""
    parts, mask = _jets(p=10)
    x = particle_features(parts, mask)
    conv = gnn.EdgeConv(5, (8,), 4, aggregation="max", rngs=nnx.Rngs(3))
    idx, valid = gnn.knn(x[..., 2:4], jnp.asarray(mask), 4)
    explicit = jnp.max(jnp.where(valid[..., None], nnx.relu(conv.edge_messages(x, idx)), -jnp.inf), axis=2)
    explicit = jnp.where(jnp.any(valid, axis=2)[..., None], explicit, 0.0)
    np.testing.assert_allclose(np.asarray(conv.aggregate(x, idx, valid)), np.asarray(explicit), rtol=1e-6, atol=1e-6)
    grads = jax.grad(lambda m: jnp.sum(m.aggregate(x, idx, valid)))(conv)
    assert all(np.all(np.isfinite(g)) for g in jax.tree_util.tree_leaves(nnx.state(grads)))
    with pytest.raises(ValueError, match="aggregation"):
        gnn.EdgeConv(5, (8,), 4, aggregation="sum", rngs=nnx.Rngs(0))


def test_winning_neighbour_and_its_gradient_match_argmax_and_take_along_axis():
    """The packed-key winner equals an argmax over the gathered values, and the flat-scatter
    gradient of take_per_channel equals the one of jnp.take_along_axis."""
    rng = np.random.default_rng(11)
    parts, mask = _jets(n=6, p=12, seed=6)
    x = jnp.asarray(particle_features(parts, mask))
    idx, valid = gnn.knn(x[..., 2:4], jnp.asarray(mask), 5)
    values = jnp.asarray(rng.normal(size=(6, 12, 7)).astype(np.float32))
    win = np.asarray(gnn.winning_neighbour(values, idx, valid))
    cand = np.where(np.asarray(valid)[..., None], np.asarray(gnn.gather_neighbours(values, idx)), -np.inf)
    ref = np.take_along_axis(np.asarray(idx), np.argmax(cand, axis=2), axis=2)
    has = np.asarray(valid).any(axis=2)
    np.testing.assert_array_equal(win[has], ref[has])
    w = jnp.asarray(rng.normal(size=values.shape).astype(np.float32))
    g_fast = jax.grad(lambda v: jnp.sum(w * gnn.take_per_channel(v, jnp.asarray(win))))(values)
    g_ref = jax.grad(lambda v: jnp.sum(w * jnp.take_along_axis(v, jnp.asarray(win), axis=1)))(values)
    np.testing.assert_allclose(np.asarray(g_fast), np.asarray(g_ref), atol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        gnn.take_per_channel(values, jnp.asarray(win)[:, :3])


def test_lorentz_model_is_boost_invariant():
    parts, mask = _jets(n=6, p=12, seed=5)
    p4 = kinematics.particles_to_p4(parts, mask)
    model = LorentzInvariantNet(channels=8, node=(8,), head=(8,), rngs=nnx.Rngs(0))
    ref = np.asarray(model(p4, mask))
    for beta in ([0.0, 0.0, 0.6], [0.5, -0.3, 0.2], [-0.7, 0.1, 0.0]):
        boosted = kinematics.boost(p4, jnp.asarray(beta, jnp.float32))
        assert not np.allclose(np.asarray(boosted), np.asarray(p4), atol=1.0)
        np.testing.assert_allclose(np.asarray(model(boosted, mask)), ref, atol=2e-3)
    assert diagnostics.permutation_check(model, np.asarray(p4), mask) < 1e-4


def test_lorentz_model_sees_more_than_invariants_of_one_frame():
    """Not invariant under a change that is no Lorentz transformation (scaling one particle)."""
    parts, mask = _jets(n=4, p=8, seed=6)
    p4 = np.asarray(kinematics.particles_to_p4(parts, mask))
    model = LorentzInvariantNet(channels=8, node=(8,), head=(8,), rngs=nnx.Rngs(0))
    p4b = p4.copy()
    p4b[:, 0] *= 3.0
    assert np.abs(np.asarray(model(p4b, mask)) - np.asarray(model(p4, mask))).max() > 1e-3


def test_cnn_shapes_and_bad_size():
    model = JetCNN(npix=16, channels=(4, 4), hidden=8, rngs=nnx.Rngs(0))
    assert model(jnp.ones((3, 16, 16)) / 256).shape == (3, 1)
    with pytest.raises(ValueError, match="divisible"):
        JetCNN(npix=10, channels=(4, 4), rngs=nnx.Rngs(0))


def test_tau32_mass_scores_rank_window_first():
    s = physics.tau32_mass_scores(np.array([170.0, 100.0, 180.0]), np.array([0.9, 0.1, 0.5]))
    assert list(np.argsort(-s)) == [2, 0, 1]


def test_evaluate_matches_metrics():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    s = rng.normal(size=2000) + 1.5 * y
    row = metrics.classification.evaluate("x", y, s)
    assert row["auc"] == pytest.approx(metrics.auc(y, s))
    assert row["rej50"] == pytest.approx(metrics.background_rejection(y, s, 0.5))
    assert "x" in metrics.results_table([row])


def test_checkpoint_loads_and_tags(tmp_path):
    manifest = json.loads((CKPT.parent / "MANIFEST.json").read_text())
    entry = manifest[CKPT.stem]
    assert hashlib.sha256(CKPT.read_bytes()).hexdigest() == entry["sha256"]
    assert CKPT.stat().st_size < 500_000
    model = gnn.fast_edgeconv(nnx.Rngs(1))
    meta = train.load_checkpoint(model, CKPT)
    assert meta["n_particles"] == 32 and "pretrain_gnn.py" in entry["command"]
    from jetkit import data
    test = data.split(data.load("top_qcd"), seed=0).test[:600]
    n = meta["n_particles"]
    scores = train.predict(model, particle_features(test.particles[:, :n], test.mask[:, :n]),
                           test.mask[:, :n])[:, 0]
    assert metrics.auc(test.labels, scores) > 0.9
    # round trip: save and reload gives identical outputs
    train.save_checkpoint(model, tmp_path / "c.npz", meta)
    other = gnn.fast_edgeconv(nnx.Rngs(7))
    assert train.load_checkpoint(other, tmp_path / "c.npz") == meta
    x, m = particle_features(test.particles[:50, :n], test.mask[:50, :n]), test.mask[:50, :n]
    np.testing.assert_array_equal(np.asarray(other(x, m)), np.asarray(model(x, m)))


MULTI_DEVICE = textwrap.dedent("""
    import jax, numpy as np
    from flax import nnx
    from jetkit import train
    from jetkit.models import EdgeConvNet
    from jetkit.models.inputs import particle_features
    assert jax.device_count() == 4, jax.devices()
    rng = np.random.default_rng(0)
    n, p = 256, 10
    mask = np.arange(p)[None] < rng.integers(2, p + 1, n)[:, None]
    y = rng.integers(0, 2, n)
    parts = np.stack([rng.exponential(20.0, (n, p)) + 1, rng.normal(0, 0.2 + 0.2 * y[:, None], (n, p)),
                      rng.normal(0, 0.3, (n, p))], -1) * mask[..., None]
    x = np.asarray(particle_features(parts.astype(np.float32), mask))
    out = []
    for dp in (False, True):
        m = EdgeConvNet(blocks=((4, (8,), (8,)), (4, (8,), ())), head=(8,), rngs=nnx.Rngs(0))
        h = train.fit(m, (x, mask, y.astype(np.float32)), loss_fn=train.cross_entropy_loss,
                      epochs=3, batch_size=64, data_parallel=dp, progress=False)
        out.append(h.train_loss)
    print(out)
    assert out[0][-1] < out[0][0]
    np.testing.assert_allclose(out[0], out[1], rtol=1e-4)
""")


def test_gnn_data_parallel_matches_single_device():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", MULTI_DEVICE], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_exercise_checks(capsys):
    from jetkit.models.deepsets import masked_sum
    assert exercises.check("02_pooling", masked_sum)
    assert not exercises.check("02_pooling", lambda h, m: h.sum(-2))
    assert not exercises.check("02_pooling", lambda h, m: jnp.where(m[..., None], h, 0).mean(-2))
    parts, mask = _jets(n=1, p=10, seed=8)
    coords, m = parts[0, :, 1:], mask[0]
    idx, _ = gnn.knn(jnp.asarray(coords)[None], jnp.asarray(m)[None], 3)
    assert exercises.check("02_knn", np.asarray(idx[0]), coords, m, 3)
    assert not exercises.check("02_knn", np.zeros((10, 3), int), coords, m, 3)
    y = np.array([0, 1] * 500)
    s = np.random.default_rng(0).normal(size=1000) + y
    assert exercises.check("02_rejection", metrics.background_rejection(y, s, 0.5), y, s)
    assert not exercises.check("02_rejection", metrics.background_rejection(y, s, 0.3), y, s)
    out = capsys.readouterr().out
    assert "✅" in out and "❌" in out


def test_fit_and_evaluate_scores_the_test_jets_and_times_inference():
    from jetkit.models import MLP

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4)).astype(np.float32)
    y = (x[:, 0] + 0.3 * rng.normal(size=300) > 0).astype(np.float32)
    model = MLP(4, 1, (8,), rngs=nnx.Rngs(0))
    row, scores = diagnostics.fit_and_evaluate("mlp", model, (x[:200],), y[:200], (x[200:],), y[200:],
                                               epochs=20, batch_size=50, learning_rate=1e-2, seed=0)
    np.testing.assert_allclose(scores, train.predict(model, x[200:])[:, 0], atol=1e-6)
    assert row["auc"] > 0.8 and row["jets_per_s"] > 0 and row["params"] == 4 * 8 + 8 + 8 + 1
    assert diagnostics.inference_throughput(model, x, n=64, batch_size=1000) > 0  # batch larger than n
    with pytest.raises(ValueError, match="n and batch_size"):
        diagnostics.inference_throughput(model, x, n=0)
