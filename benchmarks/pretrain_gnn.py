"""Pretrain the kit's EdgeConv tagger on top_qcd (train split, seed 0) and save the checkpoint
that notebook 02 loads.

    python benchmarks/pretrain_gnn.py --epochs 24 --stop-after 14     # the shipped checkpoint

Deterministic: parameters from ``nnx.Rngs(0)``, batches shuffled with ``seed + epoch``, AdamW
with a cosine schedule over ``--epochs``. After every epoch the validation AUC is measured; the
best epoch is written to ``data/checkpoints/edgeconv_top_qcd.npz`` (metadata: epoch, val AUC,
settings) and its sha256 and command to ``data/checkpoints/MANIFEST.json``. ``--minutes`` /
``--stop-after`` stop early (the best checkpoint so far is kept), for slow machines; the shipped
checkpoint's exact command is in the manifest.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import numpy as np
import optax
from flax import nnx

from jetkit import data, metrics, train, zoo
from jetkit.models import gnn
from jetkit.models.inputs import particle_features

ROOT = Path(__file__).resolve().parent.parent
CKPT = ROOT / "data" / "checkpoints" / "edgeconv_top_qcd.npz"
N_PARTICLES = 32  # leading constituents the tagger sees


def inputs(d, n_particles=N_PARTICLES):
    """(features, mask) of the ``n_particles`` leading constituents of a JetDataset."""
    p, m = d.particles[:, :n_particles], d.mask[:, :n_particles]
    return np.asarray(particle_features(p, m)), m


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--minutes", type=float, default=1e9)
    ap.add_argument("--stop-after", type=int, default=None,
                    help="last epoch to run (0-based), keeping the cosine schedule of --epochs")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--out", type=Path, default=CKPT)
    args = ap.parse_args()
    tr, va, _ = data.split(data.load("top_qcd"), seed=0)
    x, m = inputs(tr)
    y = tr.labels.astype(np.float32)
    xv, mv = inputs(va)
    model = gnn.fast_edgeconv(nnx.Rngs(0))
    steps = len(y) // args.batch_size
    sched = optax.cosine_onecycle_schedule(args.epochs * steps, args.lr, pct_start=0.1)
    opt = nnx.Optimizer(model, optax.adamw(sched, weight_decay=1e-4), wrt=nnx.Param)

    @nnx.jit
    def step(model, opt, batch):
        loss, g = nnx.value_and_grad(train.cross_entropy_loss)(model, batch)
        opt.update(model, g)
        return loss

    best, t0 = -1.0, time.perf_counter()
    command = "python " + " ".join(["benchmarks/pretrain_gnn.py", *sys.argv[1:]])
    for epoch in range(args.epochs):
        model.train()
        order = np.random.default_rng(epoch).permutation(len(y))
        losses = []
        for s in range(steps):
            i = order[s * args.batch_size:(s + 1) * args.batch_size]
            losses.append(step(model, opt, (x[i], m[i], y[i])))
        val_auc = metrics.auc(va.labels, train.predict(model, xv, mv)[:, 0])
        elapsed = (time.perf_counter() - t0) / 60
        print(f"epoch {epoch}: loss {float(np.mean(losses)):.4f} val AUC {val_auc:.4f} "
              f"({elapsed:.1f} min)", flush=True)
        if val_auc > best:
            best = val_auc
            meta = {"epoch": epoch, "val_auc": round(val_auc, 5), "n_particles": N_PARTICLES,
                    "builder": "jetkit.models.gnn.fast_edgeconv", "seed": 0,
                    "epochs_planned": args.epochs, "lr": args.lr, "batch_size": args.batch_size}
            train.save_checkpoint(model, args.out, meta)
            zoo.record(args.out, command)
        if args.stop_after is not None and epoch >= args.stop_after:
            break
        if elapsed > args.minutes:
            print("time limit reached; keeping the best checkpoint", flush=True)
            break


if __name__ == "__main__":
    main()
