"""How the shipped flow-matching checkpoints of gluon jets are trained (fixed seeds).

``python -m jetkit.models.generative_training [--with-mass]`` retrains
``data/checkpoints/flow_matching_gluon[_mass].npz`` (Adam, cosine learning-rate decay, an
exponential moving average of the weights); :func:`build_flow` rebuilds the architecture to
load them into.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jetkit.models.generative import (FlowMatcher, Standardiser, flow_matching_loss, model_inputs,
                                      sample_conditions, sample_flow, sample_multiplicity)

__all__ = ["CHECKPOINT", "CHECKPOINTS", "PRETRAIN", "build_flow", "gluon_splits", "pretrain"]


#: Everything that defines the shipped flow-matching checkpoint.
PRETRAIN = {"class_name": "g", "split_seed": 0, "hidden": (256, 256, 256), "n_freq": 8,
            "model_seed": 0, "batch_size": 256, "learning_rate": 1e-3, "steps": 12_000, "ema": 0.999,
            "with_mass": False}


#: Checkpoint file names (in data/checkpoints/) without and with the mass condition.
CHECKPOINTS = {False: "flow_matching_gluon.npz", True: "flow_matching_gluon_mass.npz"}


CHECKPOINT = CHECKPOINTS[False]


def gluon_splits(class_name: str = "g", seed: int = 0):
    """(train, val, test) :class:`~jetkit.data.JetDataset` of one jet5 class and the
    :class:`Standardiser` fitted on its training part."""
    from jetkit import data as datasets

    d = datasets.load("jet5", classes=[class_name])
    splits = datasets.split(d, seed=seed)
    return splits, Standardiser.fit(splits.train.particles, splits.train.mask)


def build_flow(config: dict | None = None) -> FlowMatcher:
    """A :class:`FlowMatcher` with the architecture of ``config`` (default :data:`PRETRAIN`)."""
    c = {**PRETRAIN, **(config or {})}
    return FlowMatcher(90, tuple(c["hidden"]), c["n_freq"], 2 if c["with_mass"] else 1,
                       rngs=nnx.Rngs(c["model_seed"]), seed=c["model_seed"])


def pretrain(out: str | None = None, steps: int | None = None, with_mass: bool = False,
             log_every: int = 2000) -> FlowMatcher:
    """Train the flow-matching model of :data:`PRETRAIN` (Adam, cosine learning-rate decay,
    exponential moving average of the weights) and save the EMA weights with :func:`jetkit.train.save_checkpoint`. Deterministic (fixed seeds)."""
    import optax

    from jetkit import train
    from jetkit.metrics import generative as generative_metrics

    c = dict(PRETRAIN, steps=steps or PRETRAIN["steps"], with_mass=bool(with_mass))
    (tr, va, _), st = gluon_splits(c["class_name"], c["split_seed"])
    data = model_inputs(tr.particles, tr.mask, st, with_mass=c["with_mass"])
    model = build_flow(c)
    sched = optax.cosine_decay_schedule(c["learning_rate"], c["steps"])
    opt = nnx.Optimizer(model, optax.adam(sched), wrt=nnx.Param)

    ema = jax.tree_util.tree_map(jnp.copy, nnx.state(model, nnx.Param))

    @nnx.jit
    def step(m, o, ema, batch):
        loss, grads = nnx.value_and_grad(flow_matching_loss)(m, batch)
        o.update(m, grads)
        new = jax.tree_util.tree_map(lambda e, p: c["ema"] * e + (1 - c["ema"]) * p, ema,
                                     nnx.state(m, nnx.Param))
        return loss, new

    rng = np.random.default_rng(c["model_seed"])
    n, bs, t0 = len(data[0]), c["batch_size"], time.perf_counter()
    if c["with_mass"]:
        mult, cond = sample_conditions(tr.particles, tr.mask, len(va), st, seed=1)
    else:
        mult, cond = sample_multiplicity(tr.mask, len(va), seed=1), None
    for s in range(c["steps"]):
        idx = rng.choice(n, bs, replace=False)
        loss, ema = step(model, opt, ema, tuple(a[idx] for a in data))
        if (s + 1) % log_every == 0 or s + 1 == c["steps"]:
            raw = jax.tree_util.tree_map(jnp.copy, nnx.state(model, nnx.Param))
            nnx.update(model, ema)
            w = [generative_metrics.w1m(*sample_flow(model, mult, st, seed=1, steps=k, cond=cond),
                                        va.particles, va.mask) for k in (16, 32)]
            nnx.update(model, raw)
            print(f"step {s + 1}: loss {float(loss):.2f}  W1M(val, EMA, 16/32 ODE steps) "
                  f"{w[0]:.2f}/{w[1]:.2f} GeV  {time.perf_counter() - t0:.0f} s", flush=True)
    nnx.update(model, ema)  # the exponential moving average of the weights samples better
    if out:
        train.save_checkpoint(model, out, {k: list(v) if isinstance(v, tuple) else v
                                           for k, v in c.items()})
    return model


if __name__ == "__main__":
    import argparse
    from pathlib import Path

    parser = argparse.ArgumentParser(description="train the flow-matching model of gluon jets (the shipped checkpoint)")
    parser.add_argument("--with-mass", action="store_true", help="condition on the jet mass too")
    parser.add_argument("--out", help="default: data/checkpoints/" + " or ".join(CHECKPOINTS.values()))
    parser.add_argument("--steps", type=int, default=PRETRAIN["steps"])
    args = parser.parse_args()
    out = Path(args.out or Path(__file__).resolve().parents[2] / "data" / "checkpoints" /
               CHECKPOINTS[args.with_mass])
    out.parent.mkdir(parents=True, exist_ok=True)
    pretrain(str(out), args.steps, args.with_mass)
