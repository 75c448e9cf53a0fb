"""Which augmented views make a good JetCLR representation? Pre-train with other views, then probe.

    python benchmarks/jetclr_views.py --views '{"resolution": 0.2}' --epochs 20 --out views_smear02.json

For each ``--views`` setting (JSON options replacing :data:`jetkit.models.self_supervised.AUGMENTATION`),
pre-train with the zoo recipe (:func:`jetkit.models.self_supervised_training.pretrain`, 35 000
unlabeled top_qcd jets, seeds fixed) for ``--epochs``, then run the linear probe of the few-label
study (:func:`~jetkit.models.self_supervised_training.few_label_study`, ``probe`` and
``probe_cls``, 350 and 1000 labels, draws 0 and 1, all 7500 test jets) and the invariance
measure. ``--checkpoint`` probes an existing checkpoint instead (e.g. the zoo's). The JSON
(written after every setting) holds the test AUCs, the final NT-Xent losses and the wall time.
One CPU-heavy job: 20 epochs take about 20 min on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from jetkit.models import self_supervised_training as recipe


def probe(model, sizes=(350, 1000), seeds=(0, 1)) -> dict:
    """Probe test AUCs ``{method: {n: [per draw]}}`` and the invariance of one pre-trained model."""
    study = recipe.few_label_study(model, sizes, seeds, methods=("probe", "probe_cls"))
    return {"few_label": study, "invariance": recipe.invariance(model)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--views", nargs="*", default=[], help="JSON augmentation options, one run each")
    parser.add_argument("--checkpoint", nargs="*", default=[], help="probe these checkpoints as they are")
    parser.add_argument("--epochs", type=int, default=recipe.PRETRAIN["epochs"])
    parser.add_argument("--ckpt-dir", default="/tmp", help="where the pre-trained checkpoints go")
    parser.add_argument("--out", required=True, help="results JSON")
    args = parser.parse_args(argv)
    results = {}
    for path in args.checkpoint:
        results[f"checkpoint {path}"] = probe(recipe.load(path))
        Path(args.out).write_text(json.dumps(results, indent=1, sort_keys=True))
    for views in args.views:
        options = json.loads(views)
        name = "_".join(f"{k}{v}" for k, v in sorted(options.items())) or "default"
        t0 = time.perf_counter()
        model, meta = recipe.pretrain(str(Path(args.ckpt_dir) / f"jetclr_{name}.npz"), args.epochs,
                                      {"augmentation": options})
        results[views] = {**probe(model), "epochs": args.epochs, "pretrain_seconds": meta["seconds"],
                          "loss": [meta["train_loss"][-1], meta["val_loss"][-1]],
                          "seconds": round(time.perf_counter() - t0, 1)}
        Path(args.out).write_text(json.dumps(results, indent=1, sort_keys=True))
        print(views, json.dumps(results[views]["few_label"]), flush=True)


if __name__ == "__main__":
    main()
