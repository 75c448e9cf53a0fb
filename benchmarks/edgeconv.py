"""EdgeConv training throughput: the straightforward ParticleNet-lite against the kit's factored
EdgeConv (mean and max aggregation), on the top_qcd jets (CPU; the machine's cores, e.g. 2 on
Binder), and the max-aggregation EdgeConv trained data-parallel over one CPU device per core.

    python benchmarks/edgeconv.py                 # throughput only (a few seconds per model)
    python benchmarks/edgeconv.py --accuracy      # also train each for the same epochs and
                                                  # report the test AUC (several minutes)
    python benchmarks/edgeconv.py --accuracy --seeds 3   # mean and spread of the AUC over seeds

Throughput = jets per second of *training steps* (forward + backward + Adam), measured after
compilation (best of three passes over 16 batches), batch 256, 32 leading constituents per jet
(``--particles``), k = 8 neighbours (``--k``). The data-parallel row shards each batch over
``--devices`` CPU devices (``XLA_FLAGS=--xla_force_host_platform_device_count``, one per core by
default; the model is the same, so its AUC is the max-aggregation row's).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time


def _devices_from_argv(argv) -> int:
    """--devices must take effect before jax is imported."""
    for i, a in enumerate(argv):
        if a.startswith("--devices="):
            return int(a.split("=", 1)[1])
        if a == "--devices" and i + 1 < len(argv):
            return int(argv[i + 1])
    return os.cpu_count() or 1


N_DEVICES = _devices_from_argv(sys.argv)
if N_DEVICES > 1 and "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_force_host_platform_device_count={N_DEVICES}").strip()

import jax  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from flax import nnx  # noqa: E402

from jetkit import data, metrics, parallel, train  # noqa: E402
from jetkit.models import gnn  # noqa: E402
from jetkit.models.inputs import particle_features  # noqa: E402


def throughput(model, x, m, y, batch_size=256, steps=16, data_parallel=False) -> float:
    """Training jets per second: best of three timed passes over ``steps`` batches."""
    opt = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)

    @nnx.jit
    def step(model, opt, xb, mb, yb):
        loss, g = nnx.value_and_grad(train.cross_entropy_loss)(model, (xb, mb, yb))
        opt.update(model, g)
        return loss

    put = jax.device_put
    if data_parallel:
        batch_sharding, replicated = parallel.placement(batch_size)
        nnx.update((model, opt), parallel.replicate(nnx.state((model, opt)), replicated))
        put = lambda a: jax.device_put(a, batch_sharding)  # noqa: E731
    batches = [tuple(put(a[i * batch_size:(i + 1) * batch_size]) for a in (x, m, y)) for i in range(steps)]
    for _ in range(2):  # compile (the second call sees the placement the first one returned)
        jax.block_until_ready(step(model, opt, *batches[0]))
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        for b in batches:
            loss = step(model, opt, *b)
        jax.block_until_ready(loss)
        best = min(best, time.perf_counter() - t0)
    return steps * batch_size / best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accuracy", action="store_true")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--n-train", type=int, default=20000)
    ap.add_argument("--seeds", type=int, default=1, help="trainings per model for the AUC (mean, spread)")
    ap.add_argument("--particles", type=int, default=32, help="leading constituents per jet")
    ap.add_argument("--k", type=int, default=8, help="neighbours per node")
    ap.add_argument("--devices", type=int, default=N_DEVICES, help="CPU devices of the data-parallel row")
    args = ap.parse_args()
    tr, va, te = data.split(data.load("top_qcd"), seed=0)
    P = args.particles
    tr, va, te = (dataclasses.replace(d, particles=d.particles[:, :P], mask=d.mask[:, :P]) for d in (tr, va, te))
    x = np.asarray(particle_features(tr.particles, tr.mask))
    m, y = tr.mask, tr.labels.astype(np.float32)
    builders = {"straightforward ParticleNet-lite": gnn.naive_particlenet_lite,
                "factored EdgeConv, mean (kit)": gnn.fast_edgeconv,
                "factored EdgeConv, max": gnn.max_edgeconv}
    print(f"devices: {jax.devices()}, k = {args.k}, P = {P}, batch 256")
    rows = []
    for name, build in builders.items():
        model = build(nnx.Rngs(0), k=args.k)
        n_par = sum(p.size for p in jax.tree_util.tree_leaves(nnx.state(model, nnx.Param)))
        row = {"model": name, "params": n_par, "devices": 1, "train jets/s": round(throughput(model, x, m, y))}
        if args.accuracy:
            aucs, rejections, seconds = [], [], []
            for seed in range(args.seeds):
                model = build(nnx.Rngs(seed), k=args.k)
                n = args.n_train
                h = train.fit(model, (x[:n], m[:n], y[:n]),
                              (np.asarray(particle_features(va.particles, va.mask)), va.mask,
                               va.labels.astype(np.float32)),
                              loss_fn=train.cross_entropy_loss, epochs=args.epochs, batch_size=256,
                              learning_rate=2e-3, seed=seed, progress=False)
                s = train.predict(model, np.asarray(particle_features(te.particles, te.mask)), te.mask)[:, 0]
                aucs.append(metrics.auc(te.labels, s))
                rejections.append(metrics.background_rejection(te.labels, s, 0.3))
                seconds.append(h.seconds)
            row.update({"test AUC": round(float(np.mean(aucs)), 4),
                        "AUC spread over seeds": round(float(np.std(aucs, ddof=1)), 4) if args.seeds > 1 else None,
                        "1/eB@0.3": round(float(np.mean(rejections))), "fit s": round(float(np.mean(seconds)))})
        rows.append(row)
        print(row, flush=True)
    if jax.device_count() > 1:
        model = gnn.max_edgeconv(nnx.Rngs(0), k=args.k)
        row = {"model": "factored EdgeConv, max, data-parallel", "devices": jax.device_count(),
               "train jets/s": round(throughput(model, x, m, y, data_parallel=True))}
        rows.append(row)
        print(row, flush=True)
    base = rows[1]["train jets/s"]
    print(f"speed-up of the factored EdgeConv (mean) over the straightforward one: "
          f"{base / rows[0]['train jets/s']:.1f}x")
    for row in rows[2:]:
        print(f"speed-up of '{row['model']}' ({row['devices']} device(s)) over the factored EdgeConv (mean): "
              f"{row['train jets/s'] / base:.1f}x")


if __name__ == "__main__":
    main()
