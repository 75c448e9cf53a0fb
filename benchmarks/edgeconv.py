"""EdgeConv training throughput: the straightforward ParticleNet-lite against the kit's factored
EdgeConv, on the top_qcd jets (CPU; the machine's cores, e.g. 2 on Binder).

    python benchmarks/edgeconv.py                 # throughput only (a few seconds per model)
    python benchmarks/edgeconv.py --accuracy      # also train each for the same epochs and
                                                  # report the test AUC (several minutes)

Throughput = jets per second of *training steps* (forward + backward + Adam), measured after
compilation, batch 256, 32 leading constituents per jet (``--particles``).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import jax
import numpy as np
import optax
from flax import nnx

from jetkit import data, metrics, train
from jetkit.models import gnn
from jetkit.models.inputs import particle_features


def throughput(model, x, m, y, batch_size=256, steps=8) -> float:
    opt = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)

    @nnx.jit
    def step(model, opt, xb, mb, yb):
        loss, g = nnx.value_and_grad(train.cross_entropy_loss)(model, (xb, mb, yb))
        opt.update(model, g)
        return loss

    batches = [(x[i * batch_size:(i + 1) * batch_size], m[i * batch_size:(i + 1) * batch_size],
                y[i * batch_size:(i + 1) * batch_size]) for i in range(steps + 1)]
    jax.block_until_ready(step(model, opt, *batches[0]))  # compile
    t0 = time.perf_counter()
    for b in batches[1:]:
        loss = step(model, opt, *b)
    jax.block_until_ready(loss)
    return steps * batch_size / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accuracy", action="store_true")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--n-train", type=int, default=20000)
    ap.add_argument("--particles", type=int, default=32, help="leading constituents per jet")
    args = ap.parse_args()
    tr, va, te = data.split(data.load("top_qcd"), seed=0)
    P = args.particles
    tr, va, te = (dataclasses.replace(d, particles=d.particles[:, :P], mask=d.mask[:, :P]) for d in (tr, va, te))
    x = np.asarray(particle_features(tr.particles, tr.mask))
    m, y = tr.mask, tr.labels.astype(np.float32)
    builders = {"straightforward ParticleNet-lite": gnn.naive_particlenet_lite,
                "factored EdgeConv (kit)": gnn.fast_edgeconv,
                "factored EdgeConv, max aggregation": gnn.max_edgeconv}
    print(f"devices: {jax.devices()}, cores: {jax.local_device_count()} x CPU")
    rows = []
    for name, build in builders.items():
        model = build(nnx.Rngs(0))
        n_par = sum(p.size for p in jax.tree_util.tree_leaves(nnx.state(model, nnx.Param)))
        jps = throughput(model, x, m, y)
        row = {"model": name, "params": n_par, "train jets/s": round(jps)}
        if args.accuracy:
            model = build(nnx.Rngs(0))
            n = args.n_train
            h = train.fit(model, (x[:n], m[:n], y[:n]),
                          (np.asarray(particle_features(va.particles, va.mask)), va.mask,
                           va.labels.astype(np.float32)),
                          loss_fn=train.cross_entropy_loss, epochs=args.epochs, batch_size=256,
                          learning_rate=2e-3, seed=0, progress=False)
            s = train.predict(model, np.asarray(particle_features(te.particles, te.mask)), te.mask)[:, 0]
            row.update({"test AUC": round(metrics.auc(te.labels, s), 4),
                        "1/eB@0.3": round(metrics.background_rejection(te.labels, s, 0.3)),
                        "fit s": round(h.seconds)})
        rows.append(row)
        print(row, flush=True)
    print(f"speed-up of the factored EdgeConv over the straightforward one: "
          f"{rows[1]['train jets/s'] / rows[0]['train jets/s']:.1f}x")
    print(f"speed-up of max aggregation over the factored EdgeConv (mean): "
          f"{rows[2]['train jets/s'] / rows[1]['train jets/s']:.1f}x")


if __name__ == "__main__":
    main()
