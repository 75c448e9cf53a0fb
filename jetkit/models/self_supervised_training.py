"""How the shipped JetCLR checkpoint is pre-trained, and the few-label studies it is judged by.

    python -m jetkit.models.self_supervised_training pretrain --out data/checkpoints/jetclr_top_qcd.npz
    python -m jetkit.models.self_supervised_training evaluate --out jetclr_results.json
    python -m jetkit.models.self_supervised_training evaluate --out draws350.json --sizes 350 --seeds 0 1 2 3 4 5 --methods probe scratch

``pretrain`` trains a :class:`~jetkit.models.self_supervised.ContrastiveModel` with ``train.fit``
on the particles and masks of the top_qcd training split (35 000 jets; the labels are never
loaded into the training data) and saves it with :func:`jetkit.train.save_checkpoint`.
``evaluate`` runs the few-label and transfer studies (:func:`few_label_study`, :func:`transfer_study`,
:func:`invariance`) and writes them as JSON; with ``--sizes``, ``--seeds`` or ``--methods`` it runs
only the few-label study, with those settings. Everything is deterministic (fixed seeds).
What the probe is measured against besides training from scratch: :mod:`jetkit.models.self_supervised_references`.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import time

import numpy as np
import optax
from flax import nnx

from jetkit.models.self_supervised import (ContrastiveModel, balanced_subset, contrastive_loss, linear_probe,
                                           probe_features, representations, tagger_inputs)

__all__ = ["PRETRAIN", "build", "few_label_study", "invariance", "load", "main", "pretrain", "transfer_study",
           "write_results"]

PRETRAIN = {"dataset": "top_qcd", "split_seed": 0, "model_seed": 0, "dim": 64, "heads": 4, "n_blocks": 2,
            "n_class_blocks": 1, "projection": [64, 32], "temperature": 0.1, "size": 32, "epochs": 32,
            "batch_size": 256, "learning_rate": 1e-3, "warmup_epochs": 1, "weight_decay": 1e-4,
            "val_jets": 2000, "augmentation": {"resolution": 0.2}}
# augmentation: options replacing AUGMENTATION's. The views add a 20 % pT smearing to JetCLR's symmetries:
# without it the two views share every pairwise angle, the NT-Xent task is too easy (loss 0.16) and
# the linear probe at 350 labels reaches 0.952 instead of 0.972 (dim 48, benchmarks/jetclr_views.py).
# dim 64 and 32 epochs (32 min on 2 cores) lift it to 0.973 (six label draws); 96 wide (24 epochs) it stays 0.973
# one few-label recipe for fine-tuning and training from scratch (AdamW, fixed step budget): only the start
# differs. The rate is the from-scratch baseline's best of 1e-4, 3e-4 and 1e-3 (six draws of 350 labels:
# 0.950, 0.953, 0.947), so the pretrained encoder is compared with the strongest of these baselines
FEW_LABEL = {"steps": 600, "batch_size": 32, "learning_rate": 3e-4, "weight_decay": 1e-2}


def build(meta: dict) -> ContrastiveModel:
    """The (untrained) model of a checkpoint's metadata (a :data:`PRETRAIN`-like dict)."""
    c = {**PRETRAIN, **meta}
    return ContrastiveModel(c["dim"], c["heads"], c["n_blocks"], c["n_class_blocks"], tuple(c["projection"]),
                            c["temperature"], c["size"], c["augmentation"], rngs=nnx.Rngs(c["model_seed"]),
                            seed=c["model_seed"])


def load(path: str | None = None) -> ContrastiveModel:
    """The model of a checkpoint saved by :func:`pretrain` (built from its metadata, its weights
    loaded); ``None``: the shipped ``data/checkpoints/jetclr_top_qcd.npz``."""
    from jetkit import train

    if path is None:
        from jetkit.data.specs import DATA_DIR

        path = str(DATA_DIR / "checkpoints" / "jetclr_top_qcd.npz")
    with np.load(path) as f:
        meta = json.loads(str(f["__metadata__"]))
    model = build(meta)
    train.load_checkpoint(model, path)
    return model


def _splits(name: str = "top_qcd", seed: int = 0):
    from jetkit import data

    return data.split(data.load(name), seed=seed)


def pretrain(out: str | None = None, epochs: int | None = None, overrides: dict | None = None,
             minutes: float = 1e9) -> tuple[ContrastiveModel, dict]:
    """Contrastive pre-training on unlabeled top_qcd jets (:data:`PRETRAIN`, some of its settings
    replaced by ``overrides``, e.g. ``{"batch_size": 1024}``); returns the model and its metadata
    (settings, losses, wall time) and saves both to ``out`` if given (after every epoch, so a run
    stopped after the epoch that passes ``minutes`` keeps its checkpoint)."""
    from jetkit import train

    unknown = set(overrides or {}) - set(PRETRAIN)
    if unknown:
        raise ValueError(f"unknown pre-training settings {sorted(unknown)}; choose from {sorted(PRETRAIN)}")
    c = {**PRETRAIN, **(overrides or {})}
    c["epochs"] = int(epochs or c["epochs"])
    tr, va, _ = _splits(c["dataset"], c["split_seed"])
    unlabeled = (tr.particles, tr.mask)  # no labels: contrastive_loss could not read them
    val = (va.particles[:c["val_jets"]], va.mask[:c["val_jets"]])
    model = build(c)
    steps = c["epochs"] * (len(tr.particles) // c["batch_size"])
    warmup = min(c["warmup_epochs"] * (len(tr.particles) // c["batch_size"]), steps // 2)
    schedule = optax.warmup_cosine_decay_schedule(0.0, c["learning_rate"], warmup, steps)
    from jetkit import parallel

    c["device"] = parallel.device_name()
    t0 = time.perf_counter()

    def record(epoch, model, history):  # the metadata, and the checkpoint after every epoch
        c.update(train_loss=[round(x, 4) for x in history.train_loss], val_loss=[round(x, 4) for x in history.val_loss],
                 seconds=round(time.perf_counter() - t0, 1), epochs_done=epoch + 1)
        if out:
            train.save_checkpoint(model, out, c)
        return time.perf_counter() - t0 > 60 * minutes

    train.fit(model, unlabeled, val, loss_fn=contrastive_loss, epochs=c["epochs"],
              batch_size=c["batch_size"], optimizer=optax.adamw(schedule, weight_decay=c["weight_decay"]),
              seed=c["model_seed"], description="contrastive pre-training", on_epoch=record)
    if out:  # the epoch of lowest validation loss, restored by fit
        train.save_checkpoint(model, out, c)
    return model, c


@functools.cache
def _adamw(lr: float, weight_decay: float) -> optax.GradientTransformation:
    """One optimiser object per setting: the compiled training epoch is reused across runs."""
    return optax.adamw(lr, weight_decay=weight_decay)


def _fit_tagger(encoder, inputs, labels, seed: int) -> None:
    from jetkit import train

    r = FEW_LABEL
    batch = min(r["batch_size"], len(labels))
    epochs = math.ceil(r["steps"] / (len(labels) // batch))
    train.fit(encoder, (*inputs, labels), loss_fn=train.cross_entropy_loss, epochs=epochs, batch_size=batch,
              optimizer=_adamw(r["learning_rate"], r["weight_decay"]), seed=seed, progress=False)


def _auc(labels, scores) -> float:
    from jetkit import metrics

    if np.ndim(scores) == 1:
        return float(metrics.auc(labels, scores))
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores, multi_class="ovr"))


def _scores(encoder, inputs) -> np.ndarray:
    from jetkit import train

    logits = train.predict(encoder, *inputs)
    if logits.shape[1] == 1:
        return logits[:, 0]
    from scipy.special import softmax

    return softmax(np.asarray(logits, np.float64), axis=1)


def few_label_study(model: ContrastiveModel, sizes=(100, 350, 1000, 3500), seeds=(0, 1), *, methods=None,
                    dataset: str = "top_qcd", test_jets: int | None = None) -> dict:
    """Test AUC against the number of labelled jets n, for (a) ``"probe"``: :func:`linear_probe` on
    the frozen encoder's :func:`probe_features` (``"probe_cls"``: on the representation h alone), (b) ``"fine_tune"``: the pretrained encoder with a new
    head trained on the n jets, (c) ``"scratch"``: the same encoder trained from random weights.
    The n jets are a class-balanced draw (:func:`balanced_subset`, one per seed) from the
    training split; the AUC is on the test split (one-vs-rest for more than two classes).
    Returns ``{method: {n: [auc per seed]}}``."""
    methods = tuple(methods or ("probe", "fine_tune", "scratch"))
    if not set(methods) <= {"probe", "probe_cls", "fine_tune", "scratch"}:
        raise ValueError(f"methods are 'probe', 'probe_cls', 'fine_tune', 'scratch'; got {methods}")
    tr, _, te = _splits(dataset, PRETRAIN["split_seed"])
    n_test = len(te.labels) if test_jets is None else int(test_jets)
    y_test = te.labels[:n_test]
    n_classes = 1 if len(np.unique(tr.labels)) == 2 else len(np.unique(tr.labels))
    frozen = {"probe": probe_features, "probe_cls": representations}  # probes: what each reads
    probes = [m for m in frozen if m in methods]
    f_test = {m: frozen[m](model, te.particles[:n_test], te.mask[:n_test]) for m in probes}
    trained = [m for m in ("fine_tune", "scratch") if m in methods]  # methods that train a tagger
    x_test = tagger_inputs(te.particles[:n_test], te.mask[:n_test], model.size) if trained else None
    out = {m: {} for m in methods}
    for n in sizes:
        for m in methods:
            out[m][int(n)] = []
        for seed in seeds:
            idx = balanced_subset(tr.labels, int(n), seed=seed)
            y = tr.labels[idx]
            for m in probes:
                f = frozen[m](model, tr.particles[idx], tr.mask[idx])
                out[m][int(n)].append(_auc(y_test, linear_probe(f, y, f_test[m], seed=seed)))
            if trained:
                x = tagger_inputs(tr.particles[idx], tr.mask[idx], model.size)
                target = y.astype(np.float32) if n_classes == 1 else y.astype(np.int32)
            for m in trained:  # the same recipe; only the start (pre-trained or random) differs
                encoder = model.new_encoder(n_classes, seed=1000 + seed, pretrained=m == "fine_tune")
                _fit_tagger(encoder, x, target, seed)
                out[m][int(n)].append(_auc(y_test, _scores(encoder, x_test)))
            print(dataset, n, seed, {m: round(out[m][int(n)][-1], 4) for m in methods}, flush=True)
    return out


def transfer_study(model: ContrastiveModel, sizes=(500, 2500), seeds=(0, 1)) -> dict:
    """The top_qcd representation on jet5 (5 classes, g q t w z): the linear probe against the
    encoder trained from scratch on the same few labels (macro one-vs-rest AUC)."""
    return few_label_study(model, sizes, seeds, methods=("probe", "scratch"), dataset="jet5", test_jets=5000)


def invariance(model: ContrastiveModel, n: int = 2000, seed: int = 0) -> dict:
    """Mean cosine similarity of a test jet's representation to that of an augmented version of
    it (:func:`~jetkit.models.self_supervised.view`), and of random pairs of test jets (:func:`~jetkit.models.contrastive.representation_similarity`)."""
    import jax

    from jetkit.models.contrastive import representation_similarity
    from jetkit.models.self_supervised import view

    _, _, te = _splits(PRETRAIN["dataset"], PRETRAIN["split_seed"])
    p, m = te.particles[:n], te.mask[:n]
    pa, ma = view(jax.random.PRNGKey(seed), p, m, dict(model.augmentation))
    h, ha = representations(model, p, m), representations(model, np.asarray(pa), np.asarray(ma))
    s = representation_similarity(h, ha, seed=seed)
    return {"augmented": round(s.paired, 4), "random_pairs": round(s.random, 4), "jets": n}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m jetkit.models.self_supervised_training", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["pretrain", "evaluate"])
    parser.add_argument("--out", required=True, help="checkpoint (.npz) for pretrain, JSON for evaluate")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--minutes", type=float, default=1e9, help="pretrain: stop after the epoch that passes this")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=JSON",
                        help="pretrain: override settings of PRETRAIN, e.g. --set batch_size=1024 'augmentation={\"resolution\": 0.2}'")
    parser.add_argument("--checkpoint", default=None, help="evaluate this checkpoint (default: data/checkpoints/jetclr_top_qcd.npz)")
    parser.add_argument("--sizes", nargs="+", type=int, default=None,
                        help="evaluate: only the few-label study, at these label counts (e.g. --sizes 350)")
    parser.add_argument("--seeds", nargs="+", type=int, default=None,
                        help="evaluate: only the few-label study, with these label draws (e.g. --seeds 0 1 2 3 4 5)")
    parser.add_argument("--methods", nargs="+", default=None, choices=["probe", "probe_cls", "fine_tune", "scratch"],
                        help="evaluate: only the few-label study, of these methods (e.g. --methods probe scratch)")
    args = parser.parse_args(argv)
    only_few_label = any(x is not None for x in (args.sizes, args.seeds, args.methods))
    if args.command == "pretrain":
        if only_few_label:
            parser.error("--sizes, --seeds and --methods belong to evaluate")
        try:
            overrides = {key: json.loads(value) for key, value in (item.split("=", 1) for item in args.set)}
        except ValueError:
            parser.error(f"--set takes KEY=JSON pairs, got {args.set}")
        _, meta = pretrain(args.out, args.epochs, overrides, args.minutes)
        print(f"saved {args.out}: final losses {meta['train_loss'][-1]} / {meta['val_loss'][-1]}, {meta['seconds']} s")
        return
    model = load(args.checkpoint)
    t0 = time.perf_counter()
    chosen = {k: v for k, v in (("sizes", args.sizes), ("seeds", args.seeds)) if v is not None}  # else its defaults
    few = few_label_study(model, **chosen, methods=args.methods or ("probe", "probe_cls", "fine_tune", "scratch"))
    if only_few_label:  # e.g. six label draws at 350 labels: {"few_label": ..., "recipe": ...}
        results = {"few_label": few, "recipe": FEW_LABEL}
    else:
        results = {"invariance": invariance(model), "few_label": few, "transfer_jet5": transfer_study(model),
                   "recipe": FEW_LABEL}
    write_results(results, args.out, t0)


def write_results(results: dict, out: str, t0: float) -> None:
    """Add the seconds since ``t0`` (``time.perf_counter``) to ``results``, write them to the JSON
    file ``out`` and print them (the output of the studies' command lines)."""
    results["seconds"] = round(time.perf_counter() - t0, 1)
    with open(out, "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
    print(json.dumps(results, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
