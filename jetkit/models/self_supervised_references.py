"""What the few-label linear probe of the JetCLR representation is measured against, besides the
encoder trained from scratch: the same probe on other features of the same jets.

    python -m jetkit.models.self_supervised_references --out references.json --sizes 100 350 1000 3500 --seeds 0 1 2 3 4 5

:func:`probe_references` runs :func:`~jetkit.models.self_supervised.linear_probe` with the label
draws of :func:`~jetkit.models.self_supervised_training.few_label_study` on the features of a
supervised zoo tagger and on the 14 expert observables, and the JetCLR probe with every training
label. The zoo card of ``jetclr_top_qcd`` records the result (``test_metrics.references``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from flax import nnx

from jetkit.models import self_supervised_training as recipe
from jetkit.models.self_supervised import (ContrastiveModel, _batched, balanced_subset, encoder_features,
                                           linear_probe, probe_features)

__all__ = ["main", "probe_references"]

_encoder_features = nnx.jit(encoder_features)


def _tagger_features(encoder, prepare, particles, mask, batch_size: int = 256) -> np.ndarray:
    """:func:`~jetkit.models.self_supervised.encoder_features` of a supervised ParT-lite tagger, the
    features :func:`probe_features` reads, batched as :func:`probe_features` is:
    ``prepare(particles, mask)`` makes the tagger's (x, mask, pair) inputs."""
    return _batched(lambda tagger, p, m: _encoder_features(tagger, *prepare(p, m)), encoder, particles, mask,
                    batch_size, 2 * encoder.dim)


def probe_references(model: ContrastiveModel, sizes=(350,), seeds=(0, 1), *, reference: str = "part_top_qcd") -> dict:
    """What the few-label linear probe of ``model`` on top_qcd is measured against, beyond training
    from scratch (the same :func:`linear_probe`, the label draws of the few-label study):

    - ``"all_labels"``: the probe of ``model``'s :func:`probe_features` with every label of the
      training split, the limit of this representation as the labels grow;
    - ``"supervised_features"``: the probe on the same features of the zoo tagger ``reference``
      (a ParT-lite trained *with* all the training labels), a representation that already knows
      the task: the ceiling of what pre-training could give at n labels;
    - ``"expert_observables"``: the probe on the 14 expert observables
      (:func:`~jetkit.physics.expert_features`: mass, N-subjettiness ratios, C2, D2, ...), the
      physicist's hand-made representation, and ``"with_expert_observables"``: on ``model``'s features
      and those 14 together.

    Returns ``{"all_labels": {"jets", "auc"}, "supervised_features": {"model", "probe": {n: [auc per seed]}},
    "expert_observables": {n: [...]}, "with_expert_observables": {n: [...]}}``."""
    from jetkit import zoo
    from jetkit.physics import expert_features

    dataset = recipe.PRETRAIN["dataset"]
    if dataset != zoo.describe(reference)["zoo"]["dataset"]:
        raise ValueError(f"the reference {reference!r} was not trained on {dataset}")
    tr, _, te = recipe._splits(dataset, recipe.PRETRAIN["split_seed"])
    f_train, f_test = probe_features(model, tr.particles, tr.mask), probe_features(model, te.particles, te.mask)
    out = {"all_labels": {"jets": len(tr.labels),
                          "auc": recipe._auc(te.labels, linear_probe(f_train, tr.labels, f_test))}}
    tagger, prepare = zoo.load(reference)
    if not hasattr(tagger, "encode"):
        raise ValueError(f"the reference {reference!r} is not a particle transformer (it has no encode)")
    g_test = _tagger_features(tagger, prepare, te.particles, te.mask)
    e_train, e_test = expert_features(tr)[0], expert_features(te)[0]
    features = {"supervised_features": lambda idx: (_tagger_features(tagger, prepare, tr.particles[idx], tr.mask[idx]),
                                                    g_test),
                "expert_observables": lambda idx: (e_train[idx], e_test),
                "with_expert_observables": lambda idx: (np.c_[f_train[idx], e_train[idx]], np.c_[f_test, e_test])}
    studies = {k: {} for k in features}
    for n in sizes:
        for seed in seeds:
            idx = balanced_subset(tr.labels, int(n), seed=seed)
            for k, fn in features.items():
                h, h_test = fn(idx)
                auc = recipe._auc(te.labels, linear_probe(h, tr.labels[idx], h_test, seed=seed))
                studies[k].setdefault(int(n), []).append(auc)
        print("references", n, {k: round(float(np.mean(v[int(n)])), 4) for k, v in studies.items()}, flush=True)
    out["supervised_features"] = {"model": reference, "probe": studies.pop("supervised_features")}
    return {**out, **studies}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m jetkit.models.self_supervised_references", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="JSON file of the results")
    parser.add_argument("--checkpoint", default=None,
                        help="the JetCLR checkpoint (default: data/checkpoints/jetclr_top_qcd.npz)")
    parser.add_argument("--sizes", nargs="+", type=int, default=[350], help="label counts (default 350)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1], help="label draws (default 0 1)")
    parser.add_argument("--reference", default="part_top_qcd", help="the supervised zoo tagger (default part_top_qcd)")
    args = parser.parse_args(argv)
    model = recipe.load(args.checkpoint)
    t0 = time.perf_counter()
    recipe.write_results({"references": probe_references(model, args.sizes, args.seeds, reference=args.reference)},
                         args.out, t0)


if __name__ == "__main__":
    main()
