"""The training loop: it learns, it is reproducible, it stops early, it saves and loads, and
data-parallel training over several devices follows the single-device trajectory."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from flax import nnx

from jetkit import metrics, train
from jetkit.models import MLP


def _two_blobs(n=2000, seed=0):
    """Two overlapping Gaussian classes in 4-D: a learnable toy problem for the loop itself."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(0, 1, (n, 4)).astype(np.float32) + 1.2 * y[:, None]
    return x, y.astype(np.int32)


def test_fit_learns_and_reports():
    x, y = _two_blobs()
    model = MLP(4, 2, (16,), rngs=nnx.Rngs(0))
    hist = train.fit(model, (x[:1500], y[:1500]), (x[1500:], y[1500:]), loss_fn=train.cross_entropy_loss,
                     epochs=5, batch_size=100, learning_rate=1e-2, progress=False)
    assert len(hist.train_loss) == len(hist.val_loss) == 5
    assert hist.train_loss[-1] < hist.train_loss[0]
    scores = train.predict(model, x[1500:])
    assert metrics.auc(y[1500:], scores[:, 1] - scores[:, 0]) > 0.9
    assert hist.steps == 75 and hist.jets_per_second > 0


def test_same_seed_same_run_and_other_seed_differs():
    x, y = _two_blobs()
    runs = []
    for seed in (0, 0, 1):
        model = MLP(4, 2, (8,), rngs=nnx.Rngs(0))
        runs.append(train.fit(model, (x, y), loss_fn=train.cross_entropy_loss, epochs=2,
                              batch_size=128, seed=seed, progress=False).train_loss)
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_early_stopping_restores_the_best_epoch():
    x, y = _two_blobs(400)
    model = MLP(4, 2, (64, 64), rngs=nnx.Rngs(0))
    hist = train.fit(model, (x[:100], y[:100]), (x[100:], y[100:]), loss_fn=train.cross_entropy_loss,
                     epochs=200, batch_size=20, learning_rate=3e-2, patience=3, progress=False)
    assert hist.stopped_early and len(hist.val_loss) < 200
    restored = train.evaluate(model, (x[100:], y[100:]), train.cross_entropy_loss)
    assert restored == pytest.approx(min(hist.val_loss), rel=1e-5)


def test_on_epoch_sees_every_epoch_and_can_stop_training():
    x, y = _two_blobs(600)
    seen = []

    def on_epoch(epoch, model, history):
        seen.append((epoch, len(history.val_loss), float(train.evaluate(model, (x[500:], y[500:]),
                                                                         train.cross_entropy_loss))))
        return epoch == 2  # e.g. a time limit

    model = MLP(4, 2, (8,), rngs=nnx.Rngs(0))
    hist = train.fit(model, (x[:500], y[:500]), (x[500:], y[500:]), loss_fn=train.cross_entropy_loss,
                     epochs=10, batch_size=50, restore_best=False, progress=False, on_epoch=on_epoch)
    assert [(e, n) for e, n, _ in seen] == [(0, 1), (1, 2), (2, 3)]
    assert hist.stopped_early and len(hist.train_loss) == 3
    assert [v for *_, v in seen] == pytest.approx(hist.val_loss, rel=1e-5)  # the model after that epoch


def test_checkpoint_round_trip(tmp_path):
    x, _ = _two_blobs(50)
    model = MLP(4, 3, (8,), rngs=nnx.Rngs(0))
    path = train.save_checkpoint(model, tmp_path / "m.npz", {"epochs": 3})
    other = MLP(4, 3, (8,), rngs=nnx.Rngs(1))
    assert not np.allclose(train.predict(other, x), train.predict(model, x))
    assert train.load_checkpoint(other, path) == {"epochs": 3}
    np.testing.assert_array_equal(train.predict(other, x), train.predict(model, x))
    with pytest.raises(ValueError, match="shape|fit"):
        train.load_checkpoint(MLP(4, 3, (9,), rngs=nnx.Rngs(0)), path)
    with pytest.raises(FileNotFoundError):
        train.load_checkpoint(other, tmp_path / "nope.npz")


def test_bad_arguments():
    x, y = _two_blobs(50)
    model = MLP(4, 2, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="patience"):
        train.fit(model, (x, y), loss_fn=train.cross_entropy_loss, patience=2, progress=False)
    with pytest.raises(ValueError, match="first axis"):
        train.fit(model, (x, y[:10]), loss_fn=train.cross_entropy_loss, progress=False)
    with pytest.raises(ValueError, match="larger"):
        train.fit(model, (x, y), loss_fn=train.cross_entropy_loss, batch_size=100, progress=False)


MULTI_DEVICE = textwrap.dedent("""
    import jax, numpy as np
    from flax import nnx
    from jetkit import train
    from jetkit.models import MLP
    assert jax.device_count() == 8, jax.devices()
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 1024).astype(np.int32)
    x = (rng.normal(0, 1, (1024, 4)) + y[:, None]).astype(np.float32)
    out = []
    for dp in (False, True):
        m = MLP(4, 2, (16,), rngs=nnx.Rngs(0))
        h = train.fit(m, (x, y), loss_fn=train.cross_entropy_loss, epochs=3, batch_size=64,
                      data_parallel=dp, progress=False)
        out.append(h.train_loss)
    print(out)
    np.testing.assert_allclose(out[0], out[1], rtol=1e-4)
""")


def test_data_parallel_matches_single_device():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", MULTI_DEVICE], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


def _stepwise_losses(model, data, epochs, batch_size, lr, seed=0):
    """Reference: one jitted optimiser step per batch, batches gathered on the host."""
    import jax
    import jax.numpy as jnp
    import optax

    opt = nnx.Optimizer(model, optax.adam(lr), wrt=nnx.Param)

    @nnx.jit
    def step(m, o, batch):
        loss, grads = nnx.value_and_grad(train.cross_entropy_loss)(m, batch)
        o.update(m, grads)
        return loss

    n, out = len(data[0]), []
    for epoch in range(epochs):
        order = np.random.default_rng(seed + epoch).permutation(n)
        losses = [step(model, opt, jax.tree_util.tree_map(lambda a: a[order[s * batch_size:(s + 1) * batch_size]], data))
                  for s in range(n // batch_size)]
        out.append(float(jnp.mean(jnp.stack(losses))))
    return out


@pytest.mark.parametrize("loop", ["scan", "step"])
def test_compiled_epoch_follows_the_stepwise_loop(loop):
    """One compiled program per epoch (scan), or one compiled step per batch on the pure state,
    visits the same batches in the same order as a Python loop of single nnx steps, so the loss
    trajectory is the same up to float rounding."""
    x, y = _two_blobs(1000)
    ref = _stepwise_losses(MLP(4, 2, (16,), rngs=nnx.Rngs(0)), (x, y), 3, 64, 1e-2)
    hist = train.fit(MLP(4, 2, (16,), rngs=nnx.Rngs(0)), (x, y), loss_fn=train.cross_entropy_loss,
                     epochs=3, batch_size=64, learning_rate=1e-2, loop=loop, progress=False)
    np.testing.assert_allclose(hist.train_loss, ref, rtol=1e-5)
    with pytest.raises(ValueError, match="loop"):
        train.fit(MLP(4, 2, (16,), rngs=nnx.Rngs(0)), (x, y), loss_fn=train.cross_entropy_loss, loop="fast",
                  progress=False)


_TRACES: list[tuple] = []


class _CountingMLP(nnx.Module):
    """An MLP that records every trace (Python runs once per trace, not once per call)."""

    def __init__(self):
        self.net = MLP(4, 2, (8,), rngs=nnx.Rngs(0))

    def __call__(self, x):
        _TRACES.append(tuple(x.shape))
        return self.net(x)


def test_predict_compiles_once_and_pads_the_last_batch():
    x, _ = _two_blobs(1000)
    model = _CountingMLP()
    _TRACES.clear()
    out = train.predict(model, x, batch_size=300)          # batches of 300, 300, 300, 100 (padded)
    assert out.shape == (1000, 2)
    np.testing.assert_allclose(out, np.asarray(model.net(x)), rtol=1e-5, atol=1e-6)
    assert set(_TRACES) == {(300, 4)}                     # one input shape for every batch
    first = len(_TRACES)
    train.predict(model, x, batch_size=300)
    assert len(_TRACES) - first <= 1                      # the abstract shape check only: no recompile


def test_predict_names_both_widths_when_inputs_do_not_fit():
    x, _ = _two_blobs(50)
    model = MLP(4, 2, (8,), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"width 5.*expects 4"):
        train.predict(model, np.concatenate([x, x[:, :1]], axis=1))
    with pytest.raises(ValueError, match="at least one"):
        train.predict(model, x[:0])
