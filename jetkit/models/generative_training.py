"""How the shipped generators of gluon jets are trained (fixed seeds).

``python -m jetkit.models.generative_training [--with-mass]`` retrains
``data/checkpoints/flow_matching_gluon[_mass].npz`` (the MLP flows on the flattened list) and
``python -m jetkit.models.generative_training --model cloud`` retrains
``data/checkpoints/particle_cloud_gluon.npz`` (the permutation-invariant set generator of
:mod:`jetkit.models.particle_cloud`); ``--model reflow`` then makes
``data/checkpoints/particle_cloud_gluon_reflow.npz`` from it (the same network after one reflow,
sampled with 3 midpoint steps instead of 16). All use Adam, cosine learning-rate decay and an
exponential moving average of the weights; :func:`build_flow` and :func:`build_cloud` rebuild
the architectures to load them into.
"""

from __future__ import annotations

import json
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jetkit.models.generative import (FlowMatcher, Standardiser, flow_matching_loss, model_inputs,
                                      sample_conditions, sample_flow, sample_multiplicity)
from jetkit.models.particle_cloud import (CloudStandardiser, ParticleCloudFlow, cloud_flow_loss, cloud_inputs,
                                          reflow_loss, reflow_pairs, sample_cloud)

__all__ = ["CHECKPOINT", "CHECKPOINTS", "CLOUD_CHECKPOINT", "PRETRAIN", "PRETRAIN_CLOUD", "REFLOW_CHECKPOINT",
           "REFLOW_CLOUD", "build_cloud", "build_flow", "cloud_standardiser", "gluon_splits", "pretrain",
           "pretrain_cloud", "reflow_cloud"]


#: Everything that defines the shipped flow-matching checkpoint.
PRETRAIN = {"class_name": "g", "split_seed": 0, "hidden": (256, 256, 256), "n_freq": 8,
            "model_seed": 0, "batch_size": 256, "learning_rate": 1e-3, "steps": 12_000, "ema": 0.999,
            "with_mass": False}


#: Checkpoint file names (in data/checkpoints/) without and with the mass condition.
CHECKPOINTS = {False: "flow_matching_gluon.npz", True: "flow_matching_gluon_mass.npz"}


CHECKPOINT = CHECKPOINTS[False]

#: Everything that defines the shipped particle-cloud checkpoint (``ode_steps``: the midpoint
#: steps its samples are drawn with).
PRETRAIN_CLOUD = {"class_name": "g", "split_seed": 0, "dim": 64, "heads": 4, "n_blocks": 4, "ffn_ratio": 2,
                  "n_freq": 8, "model_seed": 0, "batch_size": 128, "learning_rate": 1e-3, "steps": 26_000,
                  "ema": 0.999, "ode_steps": 16}

CLOUD_CHECKPOINT = "particle_cloud_gluon.npz"

#: The reflowed ("rectified", arXiv:2209.03003) particle-cloud generator: the shipped set model
#: (the teacher) carries ``n_pairs`` noise draws to jets with ``teacher_ode_steps`` midpoint
#: steps; a copy of it is trained on those fixed pairs, so its paths are nearly straight and it
#: samples with ``ode_steps`` steps of the ``solver``.
REFLOW_CLOUD = {"teacher": CLOUD_CHECKPOINT, "teacher_ode_steps": 32, "n_pairs": 24_000, "pair_seed": 11,
                "model_seed": 1, "batch_size": 128, "learning_rate": 3e-4, "steps": 8_000, "ema": 0.999,
                "ode_steps": 3, "solver": "midpoint"}

REFLOW_CHECKPOINT = "particle_cloud_gluon_reflow.npz"


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


def build_cloud(config: dict | None = None) -> ParticleCloudFlow:
    """A :class:`ParticleCloudFlow` with the architecture of ``config`` (default :data:`PRETRAIN_CLOUD`)."""
    c = {**PRETRAIN_CLOUD, **(config or {})}
    return ParticleCloudFlow(c["dim"], c["heads"], c["n_blocks"], c["ffn_ratio"], c["n_freq"],
                             rngs=nnx.Rngs(c["model_seed"]), seed=c["model_seed"])


def cloud_standardiser(metadata: dict) -> CloudStandardiser:
    """The :class:`CloudStandardiser` stored in a particle-cloud checkpoint's metadata."""
    return CloudStandardiser(np.asarray(metadata["standardiser_mean"], np.float32),
                             np.asarray(metadata["standardiser_std"], np.float32))


def _train_with_ema(model: nnx.Module, loss_fn, data: tuple, c: dict, report, log_every: int) -> nnx.Module:
    """Adam with cosine learning-rate decay on random batches of ``data`` (``c["steps"]`` steps of
    ``c["batch_size"]``, seed ``c["model_seed"]``), keeping an exponential moving average (EMA)
    of the weights. Every ``log_every`` steps and at the end, ``report(step, loss, seconds)`` runs
    with the EMA weights in the model. Returns the model holding the EMA weights (they sample
    better than the raw ones)."""
    import optax

    sched = optax.cosine_decay_schedule(c["learning_rate"], c["steps"])
    opt = nnx.Optimizer(model, optax.adam(sched), wrt=nnx.Param)
    ema = jax.tree_util.tree_map(jnp.copy, nnx.state(model, nnx.Param))

    @nnx.jit
    def step(m, o, ema, batch):
        loss, grads = nnx.value_and_grad(loss_fn)(m, batch)
        o.update(m, grads)
        new = jax.tree_util.tree_map(lambda e, p: c["ema"] * e + (1 - c["ema"]) * p, ema,
                                     nnx.state(m, nnx.Param))
        return loss, new

    rng = np.random.default_rng(c["model_seed"])
    n, bs, t0 = len(data[0]), c["batch_size"], time.perf_counter()
    for s in range(c["steps"]):
        idx = rng.choice(n, bs, replace=False)
        loss, ema = step(model, opt, ema, tuple(a[idx] for a in data))
        if (s + 1) % log_every == 0 or s + 1 == c["steps"]:
            raw = jax.tree_util.tree_map(jnp.copy, nnx.state(model, nnx.Param))
            nnx.update(model, ema)
            report(s + 1, float(loss), time.perf_counter() - t0)
            nnx.update(model, raw)
    nnx.update(model, ema)
    return model


def _metadata(c: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in c.items()}


def pretrain(out: str | None = None, steps: int | None = None, with_mass: bool = False,
             log_every: int = 2000) -> FlowMatcher:
    """Train the flow-matching model of :data:`PRETRAIN` (Adam, cosine learning-rate decay,
    exponential moving average of the weights) and save the EMA weights with :func:`jetkit.train.save_checkpoint`. Deterministic (fixed seeds)."""
    from jetkit import train
    from jetkit.metrics import generative as generative_metrics

    c = dict(PRETRAIN, steps=steps or PRETRAIN["steps"], with_mass=bool(with_mass))
    (tr, va, _), st = gluon_splits(c["class_name"], c["split_seed"])
    data = model_inputs(tr.particles, tr.mask, st, with_mass=c["with_mass"])
    model = build_flow(c)
    if c["with_mass"]:
        mult, cond = sample_conditions(tr.particles, tr.mask, len(va), st, seed=1)
    else:
        mult, cond = sample_multiplicity(tr.mask, len(va), seed=1), None

    def report(step, loss, seconds):
        w = [generative_metrics.w1m(*sample_flow(model, mult, st, seed=1, steps=k, cond=cond),
                                    va.particles, va.mask) for k in (16, 32)]
        print(f"step {step}: loss {loss:.2f}  W1M(val, EMA, 16/32 ODE steps) "
              f"{w[0]:.2f}/{w[1]:.2f} GeV  {seconds:.0f} s", flush=True)

    _train_with_ema(model, flow_matching_loss, data, c, report, log_every)
    if out:
        train.save_checkpoint(model, out, _metadata(c))
    return model


def pretrain_cloud(out: str | None = None, steps: int | None = None, log_every: int = 4000) -> ParticleCloudFlow:
    """Train the particle-cloud generator of :data:`PRETRAIN_CLOUD` on the gluon training split
    (EMA weights, fixed seeds). At every report the EMA weights are evaluated on the validation
    jets (W1M, W1P, FPD) and, with ``out``, saved there, so a stopped run leaves a usable model."""
    from jetkit import train
    from jetkit.metrics import generative as generative_metrics

    c = dict(PRETRAIN_CLOUD, steps=steps or PRETRAIN_CLOUD["steps"])
    (tr, va, _), _ = gluon_splits(c["class_name"], c["split_seed"])
    st = CloudStandardiser.fit(tr.particles, tr.mask)
    c.update(standardiser_mean=st.mean.tolist(), standardiser_std=st.std.tolist(), n_slots=tr.mask.shape[1])
    model = build_cloud(c)
    mult = sample_multiplicity(tr.mask, len(va), seed=1)

    def report(step, loss, seconds):
        jets = sample_cloud(model, mult, st, n_slots=c["n_slots"], seed=1, steps=c["ode_steps"])
        row = generative_metrics.evaluate((va.particles, va.mask), {"model": jets}, n_boot=2)["model"]
        print(f"step {step}: loss {loss:.4f}  val W1M {row['W1M'][0]:.2f} GeV  W1P {row['W1P'][0]:.2f}  "
              f"FPD {row['FPD'][0]:.4f}  {seconds:.0f} s", flush=True)
        if out:
            train.save_checkpoint(model, out, _metadata(dict(c, steps_done=step, seconds=round(seconds))))

    _train_with_ema(model, cloud_flow_loss, cloud_inputs(tr.particles, tr.mask, st), c, report, log_every)
    return model


def reflow_cloud(out: str | None = None, steps: int | None = None, log_every: int = 2000) -> ParticleCloudFlow:
    """One reflow of the shipped set generator (:data:`REFLOW_CLOUD`): draw noise for
    ``n_pairs`` jets (multiplicities from the training split), let the teacher carry it to jets,
    fine-tune a copy of the teacher on those fixed pairs with :func:`reflow_loss` (EMA weights,
    fixed seeds). Reports the validation metrics with the few-step sampler and, with ``out``,
    saves the EMA weights there at every report."""
    from pathlib import Path

    from jetkit import train
    from jetkit.metrics import generative as generative_metrics

    teacher_path = Path(__file__).resolve().parents[2] / "data" / "checkpoints" / REFLOW_CLOUD["teacher"]
    with np.load(teacher_path) as f:
        base = json.loads(str(f["__metadata__"]))
    teacher = build_cloud(base)
    train.load_checkpoint(teacher, teacher_path)
    c = {**base, **REFLOW_CLOUD, "steps": steps or REFLOW_CLOUD["steps"], "teacher_steps": base["steps"]}
    (tr, va, _), _ = gluon_splits(c["class_name"], c["split_seed"])
    st = cloud_standardiser(c)
    t0 = time.perf_counter()
    pairs = reflow_pairs(teacher, sample_multiplicity(tr.mask, c["n_pairs"], seed=c["pair_seed"]),
                         n_slots=c["n_slots"], seed=c["pair_seed"], steps=c["teacher_ode_steps"])
    pair_seconds = time.perf_counter() - t0
    print(f"{c['n_pairs']} pairs from the teacher in {pair_seconds:.0f} s", flush=True)
    model = teacher  # the student starts from the teacher's weights
    model.noise.set_value(jax.random.PRNGKey(c["model_seed"]))
    mult = sample_multiplicity(tr.mask, len(va), seed=1)

    def report(step, loss, seconds):
        jets = sample_cloud(model, mult, st, n_slots=c["n_slots"], seed=1, steps=c["ode_steps"], solver=c["solver"])
        row = generative_metrics.evaluate((va.particles, va.mask), {"model": jets}, n_boot=2)["model"]
        print(f"step {step}: loss {loss:.4f}  val W1M {row['W1M'][0]:.2f} GeV  W1P {row['W1P'][0]:.2f}  "
              f"FPD {row['FPD'][0]:.4f}  ({c['ode_steps']} {c['solver']} steps)  {seconds:.0f} s", flush=True)
        if out:
            meta = dict(c, steps_done=step, seconds=round(seconds + pair_seconds), pair_seconds=round(pair_seconds))
            train.save_checkpoint(model, out, _metadata(meta))

    _train_with_ema(model, reflow_loss, pairs, c, report, log_every)
    return model


if __name__ == "__main__":
    import argparse
    from pathlib import Path

    parser = argparse.ArgumentParser(description="train a generator of gluon jets (the shipped checkpoints)")
    parser.add_argument("--model", choices=["flow", "cloud", "reflow"], default="flow",
                        help="flow: MLP flow on the flattened list; cloud: the particle-cloud set generator; "
                             "reflow: the set generator reflowed for few-step sampling (needs the cloud checkpoint)")
    parser.add_argument("--with-mass", action="store_true", help="flow only: condition on the jet mass too")
    parser.add_argument("--out", help="default: data/checkpoints/" + " or ".join(
        [*CHECKPOINTS.values(), CLOUD_CHECKPOINT, REFLOW_CHECKPOINT]))
    parser.add_argument("--steps", type=int, default=None, help="Adam steps (default: the recipe's)")
    args = parser.parse_args()
    if args.model != "flow" and args.with_mass:
        parser.error("--with-mass applies to the flow only: the set generator is conditioned on the multiplicity alone")
    name = {"cloud": CLOUD_CHECKPOINT, "reflow": REFLOW_CHECKPOINT}.get(args.model) or CHECKPOINTS[args.with_mass]
    out = Path(args.out or Path(__file__).resolve().parents[2] / "data" / "checkpoints" / name)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.model == "cloud":
        pretrain_cloud(str(out), args.steps)
    elif args.model == "reflow":
        reflow_cloud(str(out), args.steps)
    else:
        pretrain(str(out), args.steps or PRETRAIN["steps"], args.with_mass)
