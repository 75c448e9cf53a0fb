"""Converged top_qcd taggers for the model zoo: one command per model, trained on the training split
(split seed 0) with AdamW and a one-cycle cosine schedule, the epoch with the best validation AUC
kept (arXiv:1902.09914 compares taggers the same way).

    python -m jetkit.models.tagger_training --model deepsets      # each <= 30 min on 2 CPU cores
    python -m jetkit.models.tagger_training --model particlenet
    python -m jetkit.models.tagger_training --model lorentznet
    python -m jetkit.models.tagger_training --model part
    JETKIT_SCALE=full python -m jetkit.models.tagger_training --model part   # bigger, for a GPU

After every epoch the validation AUC is measured; a better epoch is written to
``data/checkpoints/<name>_top_qcd.npz`` with its settings and recorded in the manifest
(:func:`jetkit.zoo.record`), so a run stopped by ``--minutes`` keeps its best epoch. Batches are
sharded over all devices (one per CPU core after ``import jetkit``; ``--devices 1`` for one).

The recipes (sizes, inputs) are in :mod:`jetkit.models.taggers`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import optax
from flax import nnx

from jetkit.models.taggers import BDT_BUILDER, FEATURE_INPUTS, TAGGERS, build, inputs, jet_observables, recipe_kwargs, scale_full

__all__ = ["DATA_EFFICIENCY", "data_efficiency", "describe_in_zoo", "main", "train_tagger"]

CKPT_DIR = Path(__file__).resolve().parents[2] / "data" / "checkpoints"
#: The shipped results of :func:`data_efficiency` (test AUC against the number of training jets).
DATA_EFFICIENCY = CKPT_DIR / "data_efficiency_top_qcd.json"


def train_tagger(name: str, *, epochs: int | None = None, minutes: float = 1e9, seed: int = 0,
                 n_train: int | None = None, n_val: int | None = None, out: Path | None = None, command: str = "",
                 data_parallel: bool = True, overrides: dict | None = None,
                 log: Callable[[str], None] = print) -> dict:
    """Train the recipe ``name`` of :data:`TAGGERS` (``overrides`` replace some of its builder's
    keyword arguments, e.g. ``{"dropout": 0.1}``); returns the best epoch's metadata."""
    import jax

    from jetkit import data, metrics, parallel, train, zoo

    if name not in TAGGERS:
        raise ValueError(f"unknown tagger {name!r}; choose from {sorted(TAGGERS)}")
    recipe = TAGGERS[name]
    kwargs = {**recipe_kwargs(name), **(overrides or {})}
    epochs = int(epochs or recipe.epochs)
    meta = {"builder": recipe.builder, "kwargs": kwargs, "inputs": recipe.inputs,
            "n_particles": recipe.n_particles, "seed": seed, "split_seed": 0, "epochs_planned": epochs,
            "learning_rate": recipe.learning_rate, "batch_size": recipe.batch_size,
            "n_train": n_train, "n_val": n_val, "scale": "full" if scale_full() else "cpu",
            "device": parallel.device_name()}
    tr, va, _ = data.split(data.load("top_qcd"), seed=0)
    if n_train is not None:
        tr = tr[np.arange(min(n_train, len(tr)))]
    if n_val is not None:
        va = va[np.arange(min(n_val, len(va)))]
    scaler = None
    if recipe.inputs in FEATURE_INPUTS:  # standardised with the training split's mean and spread
        obs = jet_observables(recipe.inputs, tr)
        scaler = (obs.mean(0).tolist(), np.maximum(obs.std(0), 1e-12).tolist())
        meta.update(scaler_mean=scaler[0], scaler_scale=scaler[1])
    prepare = inputs(recipe.inputs, recipe.n_particles, scaler)
    x_tr, x_va = prepare(tr), prepare(va)
    if recipe.builder == BDT_BUILDER:
        return _train_bdt(meta, x_tr, tr.labels, x_va, va.labels, out or CKPT_DIR / f"{name}_top_qcd.npz", command, log)
    model = build(meta)
    n_par = sum(int(np.prod(p.shape)) for p in jax.tree_util.tree_leaves(nnx.state(model, nnx.Param)))
    meta["params"] = n_par
    steps = len(tr) // recipe.batch_size
    schedule = optax.cosine_onecycle_schedule(epochs * steps, recipe.learning_rate, pct_start=0.1)
    tx = optax.adamw(schedule, weight_decay=1e-4)
    parallel = (data_parallel and jax.device_count() > 1 and recipe.batch_size % jax.device_count() == 0
                and _shardable(recipe.inputs))
    out = Path(out or CKPT_DIR / f"{name}_top_qcd.npz")
    log(f"{name}: {n_par} parameters, {len(tr)} training jets, {epochs} epochs, "
        f"{jax.device_count() if parallel else 1} device(s)")
    best = {"val_auc": -1.0}
    t0 = time.perf_counter()

    def on_epoch(epoch, model, history):  # one pass over the validation jets gives its loss and AUC
        logits = np.asarray(train.predict(model, *x_va)).reshape(-1)
        val_loss = float(optax.sigmoid_binary_cross_entropy(logits, va.labels.astype(logits.dtype)).mean())
        val_auc = float(metrics.auc(va.labels, logits))
        elapsed = time.perf_counter() - t0
        log(f"epoch {epoch}: loss {history.train_loss[-1]:.4f} val loss {val_loss:.4f} "
            f"val AUC {val_auc:.5f} ({elapsed / 60:.1f} min)")
        if val_auc > best["val_auc"]:
            best.update(meta, epoch=epoch, val_auc=round(val_auc, 6), train_seconds=round(elapsed, 1))
            train.save_checkpoint(model, out, best)
            if command:
                zoo.record(out, command)
        return elapsed > 60 * minutes

    train.fit(model, (*x_tr, tr.labels.astype(np.float32)),
              loss_fn=train.cross_entropy_loss, epochs=epochs, batch_size=recipe.batch_size,
              optimizer=tx, seed=seed, restore_best=False, data_parallel=parallel, progress=False,
              on_epoch=on_epoch, description=name)
    total = (time.perf_counter() - t0) / 60
    log(f"best epoch {best.get('epoch')}: val AUC {best['val_auc']:.5f}; total {total:.1f} min")
    return best


def _shardable(inputs: str) -> bool:
    """Whether a recipe trains data-parallel over the CPU devices: not the CNN ("images"), whose
    cross-device all-reduce of convolution gradients deadlocks in XLA:CPU (jax 0.10.2)."""
    return inputs != "images"


def _train_bdt(meta: dict, x_tr: tuple, y_tr, x_va: tuple, y_va, out: Path, command: str,
               log: Callable[[str], None]) -> dict:
    """Boost the recipe's trees (:func:`jetkit.models.bdt.fit`, the tree count picked by the
    validation AUC) and save them like a network: checkpoint, metadata, manifest entry."""
    from jetkit import train, zoo
    from jetkit.models import bdt

    kwargs = meta["kwargs"]
    t0 = time.perf_counter()
    model, info = bdt.fit(x_tr[0], y_tr, x_va[0], y_va, n_trees=kwargs["n_trees"], max_depth=kwargs["max_depth"],
                          learning_rate=meta["learning_rate"], seed=meta["seed"])
    elapsed = time.perf_counter() - t0
    n_nodes = int(model.feature.shape[1])
    meta = {**meta, "kwargs": {"n_trees": info["n_trees"], "max_depth": model.max_depth, "n_nodes": n_nodes},
            "n_trees_fitted": kwargs["n_trees"], "epoch": info["n_trees"], "val_auc": round(info["val_auc"], 6),
            "train_seconds": round(elapsed, 1), "params": 2 * info["n_trees"] * n_nodes}
    log(f"BDT: {info['n_trees']} of {kwargs['n_trees']} trees kept, val AUC {info['val_auc']:.5f} ({elapsed / 60:.1f} min)")
    train.save_checkpoint(model, out, meta)
    if command:
        zoo.record(out, command)
    return meta


def data_efficiency(models: tuple[str, ...], sizes: tuple[int, ...], out: Path | None = DATA_EFFICIENCY,
                    minutes: float = 8.0, epochs: int | None = None, matched_steps: bool = False,
                    log: Callable[[str], None] = print) -> dict:
    """Test AUC against the number of training jets: every recipe of ``models`` trained on the
    first n jets of the training split for each n in ``sizes`` (the epoch with the best
    validation AUC kept, each run capped at ``minutes``), scored on the whole test split; the
    zoo's model trained on all jets gives the last point. Each run trains its recipe's epochs
    (``epochs`` overrides them, for quick checks); with ``matched_steps`` the zoo model's epochs
    times (training jets / n), i.e. as many optimizer steps as the zoo model took, so a small
    training set is not also a short training. Writes JSON to ``out`` after every point,
    keeping the rows of models already there and not in ``models``."""
    import tempfile

    from jetkit import data, metrics, train, zoo

    splits = data.split(data.load("top_qcd"), seed=0)
    test = splits.test
    shipped = Path(out) if out is not None and Path(out).exists() else None
    kept = json.loads(shipped.read_text()) if shipped else {}  # other models' rows and notes stay
    results = kept.get("models", {})
    protocol = ("steps: each point trains as many optimizer steps as the zoo model (its epochs x training jets / n)"
                if matched_steps else "epochs: each point trains its recipe's epochs")

    def write() -> dict:
        report = {**kept, "dataset": "top_qcd", "split_seed": 0, "test_jets": len(test), "models": results,
                  "protocol": protocol,
                  "command": "python -m jetkit.models.tagger_training --data-efficiency " + " ".join(sorted(results))
                  + " --sizes " + " ".join(map(str, sizes)) + (" --matched-steps" if matched_steps else "")}
        if out is not None:  # after every point, so a stopped run keeps what it measured
            Path(out).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
        return report

    for name in models:
        rows = results[name] = {}
        entry = zoo.describe(f"{name}_top_qcd")
        for n in sizes:
            n_epochs = epochs
            if matched_steps and TAGGERS[name].builder != BDT_BUILDER:
                n_epochs = math.ceil((epochs or entry["metadata"]["epochs_planned"]) * len(splits.train) / n)
            with tempfile.TemporaryDirectory() as tmp:
                best = train_tagger(name, n_train=n, minutes=minutes, epochs=n_epochs, out=Path(tmp) / "m.npz",
                                    log=lambda line: log(f"{name} n={n}: {line}"))
                model = build(best)
                train.load_checkpoint(model, Path(tmp) / "m.npz")
            scaler = (best["scaler_mean"], best["scaler_scale"]) if "scaler_mean" in best else None
            scores = train.predict(model, *inputs(best["inputs"], best["n_particles"], scaler)(test)).reshape(-1)
            rows[str(n)] = {"test_auc": round(float(metrics.auc(test.labels, scores)), 5), "val_auc": best["val_auc"],
                            "epoch": best["epoch"], "epochs_planned": best["epochs_planned"],
                            "train_seconds": best["train_seconds"], "device": best["device"]}
            write()
        rows[str(len(splits.train))] = {
            "test_auc": entry["zoo"]["test_metrics"]["auc"], "val_auc": entry["metadata"]["val_auc"],
            "epoch": entry["metadata"]["epoch"], "train_seconds": entry["metadata"]["train_seconds"], "zoo": True}
        log(f"{name}: " + ", ".join(f"{k} jets AUC {v['test_auc']:.4f}" for k, v in rows.items()))
        report = write()
    return report


_SUMMARIES = {
    "mlp7": "MLP on 7 jet observables (mass, multiplicity, girth, pT_D, z_lead, C2, D2)",
    "expert_bdt": "gradient-boosted decision trees (scikit-learn) on the 14 expert observables",
    "expert_mlp": "MLP on 14 expert observables (the 7, WTA tau1/21/32/43, mMDT mass, C2/D2 at beta 2)",
    "cnn": "CNN on 32 x 32 jet images (3 conv + pool blocks, dense head)",
    "deepsets": "Deep Sets / Particle Flow Network (per-particle MLP, masked sum over particles, jet-level MLP)",
    "particlenet": "ParticleNet-style EdgeConv (3 blocks, max aggregation, kNN in feature space after the first)",
    "lorentznet": "LorentzNet: Lorentz-group-equivariant message passing on the constituents' four-vectors",
    "part": "ParT-lite: particle self-attention with pairwise (ln dR, ln kT, ln z, ln m2) biases, class attention",
}


def describe_in_zoo(name: str, zoo_dir: Path = CKPT_DIR) -> dict:
    """Write the ``"zoo"`` section of a trained tagger's manifest entry: what it is, its inputs and
    training, the test-split metrics and the check (AUC on the first 2000 test jets); returns it."""
    from jetkit import data, metrics, train, zoo

    entry_name = f"{name}_top_qcd"
    meta = zoo.describe(entry_name, zoo_dir)["metadata"]
    model, prepare = zoo.load(entry_name, zoo_dir)
    test = data.split(data.load("top_qcd"), seed=0).test
    scores = train.predict(model, *prepare(test)).reshape(-1)
    (r30, e30, n30), (r50, e50, n50) = (metrics.background_rejection_error(test.labels, scores, e) for e in (0.3, 0.5))
    section = {
        "summary": f"{_SUMMARIES[name]}, {meta['params']} parameters",
        "builder": f"jetkit.models.taggers.build(metadata): {meta['builder']}(**kwargs)",
        "inputs": f"jetkit.models.taggers.inputs({meta['inputs']!r}, {meta['n_particles']}) of the constituents",
        "dataset": "top_qcd",
        "split": "jetkit.data.split(top_qcd, seed=0).train (35 000 jets); val (7 500) picks the epoch",
        "epochs": (f"best validation AUC at epoch {meta['epoch']} of a {meta['epochs_planned']}-epoch one-cycle "
                   f"cosine (AdamW, lr {meta['learning_rate']}, batch {meta['batch_size']})"),
        "wall_time": (f"{meta['train_seconds'] / 60:.1f} min to the best epoch on {meta.get('device', '2 CPU cores')}"
                      + (" (data-parallel)" if _shardable(meta["inputs"]) and "CPU" in meta.get("device", "CPU")
                         else "")),
    }
    if meta["builder"] == BDT_BUILDER:
        section.update(
            epochs=(f"the first {meta['epoch']} of {meta['n_trees_fitted']} boosted trees (best validation AUC; depth "
                    f"{meta['kwargs']['max_depth']}, learning rate {meta['learning_rate']}, subsample 0.8)"),
            wall_time=f"{meta['train_seconds'] / 60:.1f} min to fit on one CPU core (scikit-learn)")
    section |= {
        "val_metrics": {"auc": meta["val_auc"]},
        "test_metrics": {"jets": len(test), "auc": round(float(metrics.auc(test.labels, scores)), 5),
                         "rej30": [round(r30, 1), round(e30, 1), round(n30, 1)],
                         "rej50": [round(r50, 1), round(e50, 1), round(n50, 1)],
                         "rej_format": "[1/eps_B, binomial error, QCD jets passing]"},
        "check": {"what": "AUC on the first 2000 jets of jetkit.data.split(top_qcd, seed=0).test",
                  "value": round(zoo.check(entry_name, zoo_dir), 6)},
    }
    path = Path(zoo_dir) / "MANIFEST.json"
    manifest = json.loads(path.read_text())
    manifest[entry_name]["zoo"] = section
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return section


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=sorted(TAGGERS), help="the recipe to train into the zoo")
    ap.add_argument("--data-efficiency", nargs="+", choices=sorted(TAGGERS), metavar="MODEL",
                    help="instead: test AUC against training jets for these recipes (writes " + DATA_EFFICIENCY.name + ")")
    ap.add_argument("--sizes", nargs="+", type=int, default=[1000, 3000, 10000], help="with --data-efficiency")
    ap.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    ap.add_argument("--minutes", type=float, default=1e9, help="stop after the epoch that passes this")
    ap.add_argument("--n-train", type=int, default=None, help="first N training jets (data-efficiency runs)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--devices", type=int, default=None, help="1: no data parallelism")
    ap.add_argument("--set", nargs="+", default=[], metavar="KEY=JSON",
                    help="override builder arguments of the recipe, e.g. --set dropout=0.1")
    ap.add_argument("--matched-steps", action="store_true",
                    help="with --data-efficiency: as many optimizer steps at every size as the zoo model took")
    ap.add_argument("--results", type=Path, default=DATA_EFFICIENCY, help="with --data-efficiency: the JSON to write")
    ap.add_argument("--score-test", action="store_true",
                    help="instead: save every zoo tagger's scores of the whole test split (evaluate_zoo_tagger checks them)")
    args = ap.parse_args(argv)
    if args.score_test:
        from jetkit import data
        from jetkit.models.diagnostics import ZOO_SCORES, save_zoo_scores

        test = data.split(data.load("top_qcd"), seed=0).test
        print(save_zoo_scores([f"{name}_top_qcd" for name in sorted(TAGGERS)], test, ZOO_SCORES))
        return
    if args.data_efficiency:
        data_efficiency(tuple(args.data_efficiency), tuple(args.sizes), out=args.results, epochs=args.epochs,
                        minutes=8.0 if args.minutes == 1e9 else args.minutes, matched_steps=args.matched_steps)
        return
    if args.model is None:
        ap.error("give --model NAME or --data-efficiency NAME ...")
    command = "python -m jetkit.models.tagger_training " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        overrides = {key: json.loads(value) for key, value in (item.split("=", 1) for item in args.set)}
    except ValueError:
        ap.error(f"--set takes KEY=JSON pairs, got {args.set}")
    train_tagger(args.model, epochs=args.epochs, minutes=args.minutes, seed=args.seed, n_train=args.n_train,
                 out=args.out, command=command if args.out is None else "",
                 data_parallel=args.devices != 1, overrides=overrides)
    if args.out is None:
        print(describe_in_zoo(args.model))


if __name__ == "__main__":
    main()
