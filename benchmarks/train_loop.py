"""Training-loop speed: the step-by-step loop jetkit used before (one jitted step per batch,
dispatched from Python) against ``jetkit.train.fit`` (one compiled program per epoch), on the
same models, data, batches and seeds.

    python benchmarks/train_loop.py              # both models, a table and `speed-up: N.Nx` (the MLP's)

Models: the 16 -> 64 -> 32 -> 32 -> 5 MLP on the jet5 hls4ml features (35k training jets, 20
epochs, batch 256) and the 32-wide Deep Sets (PFN) of the tagging lesson on top_qcd (32
constituents, 10k jets, 3 epochs, batch 256). Wall times include compilation, as a learner
sees them; the losses of the two loops are printed side by side (same seed -> same batches).
"refit" is a second ``fit`` of a fresh model of the same shape, as in a scan over seeds or signal
fractions: it reuses the compiled epoch (the default optimiser is one object per learning rate).
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jetkit import data, fpga, train
from jetkit.models import MLP, DeepSets
from jetkit.models.inputs import particle_features


def stepwise_fit(model, train_data, *, loss_fn, epochs, batch_size, learning_rate, seed=0):
    """The previous loop: a jitted step per batch, batches gathered on the host."""
    opt = nnx.Optimizer(model, optax.adam(learning_rate), wrt=nnx.Param)

    @nnx.jit
    def step(m, o, batch):
        loss, grads = nnx.value_and_grad(loss_fn)(m, batch)
        o.update(m, grads)
        return loss

    n = len(jax.tree_util.tree_leaves(train_data)[0])
    losses = []
    for epoch in range(epochs):
        model.train()
        order = np.random.default_rng(seed + epoch).permutation(n)
        ep = [step(model, opt, jax.tree_util.tree_map(lambda a: a[order[s * batch_size:(s + 1) * batch_size]],
                                                      train_data))
              for s in range(n // batch_size)]
        losses.append(float(jnp.mean(jnp.stack(ep))))
    model.eval()
    return losses


def cases():
    jet5 = data.load("jet5")
    tr5 = data.split(jet5, seed=0).train
    scaler = fpga.Standardizer.fit(tr5.hlf)
    x5 = np.asarray(scaler(tr5.hlf), np.float32)[:35_000]
    y5 = np.asarray(tr5.labels, np.int32)[:35_000]
    top = data.load("top_qcd")
    trt = data.split(top, seed=0).train[:10_000]
    xt = np.asarray(particle_features(trt.particles[:, :32], trt.mask[:, :32]))
    mt, yt = np.asarray(trt.mask[:, :32]), np.asarray(trt.labels, np.float32)
    yield ("MLP 16-64-32-32-5, jet5 hlf", lambda: MLP(16, 5, hidden=(64, 32, 32), rngs=nnx.Rngs(0)),
           (x5, y5), dict(epochs=20, batch_size=256, learning_rate=2e-3))
    yield ("Deep Sets 32, top_qcd P=32", lambda: DeepSets(phi=(32, 32, 32), rho=(32, 32), rngs=nnx.Rngs(0)),
           (xt, mt, yt), dict(epochs=3, batch_size=256, learning_rate=3e-3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.parse_args()
    print(f"devices: {jax.devices()}")
    print("| model | jets x epochs | old loop [s] | fit [s] | speed-up | refit [s] | final loss old / new |")
    print("|---|---:|---:|---:|---:|---:|---|")
    ratios = []
    for name, build, train_data, kw in cases():
        n = len(train_data[0])
        t0 = time.perf_counter()
        old = stepwise_fit(build(), train_data, loss_fn=train.cross_entropy_loss, **kw)
        t_old = time.perf_counter() - t0
        t0 = time.perf_counter()
        new = train.fit(build(), train_data, loss_fn=train.cross_entropy_loss, progress=False, seed=0,
                        **kw).train_loss
        t_new = time.perf_counter() - t0
        t0 = time.perf_counter()
        train.fit(build(), train_data, loss_fn=train.cross_entropy_loss, progress=False, seed=1, **kw)
        t_refit = time.perf_counter() - t0
        ratios.append(t_old / t_new)
        print(f"| {name} | {n} x {kw['epochs']} | {t_old:.1f} | {t_new:.1f} | {t_old / t_new:.1f}x "
              f"| {t_refit:.1f} | {old[-1]:.4f} / {new[-1]:.4f} |", flush=True)
    # the headline is the small MLP, whose old steps were dominated by Python dispatch (the goal
    # of the speed issue); the Deep Sets steps are compute-bound, so a compiled epoch gains less
    print(f"speed-up: {ratios[0]:.1f}x (small MLP, dispatch-bound); Deep Sets {ratios[1]:.1f}x (compute-bound)")


if __name__ == "__main__":
    main()
