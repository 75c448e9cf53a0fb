"""The zoo's top taggers on the whole top_qcd test split (split seed 0), beside the tau32 + mass
cut: AUC, accuracy, 1/eps_B at eps_S = 0.3 and 0.5 with binomial errors and the number of QCD
jets passing, parameters, inference jets/s (CPU, after compilation), training time.

    python benchmarks/taggers.py
    python benchmarks/taggers.py --data-dir /tmp/fresh      # freshly generated jets

``--data-dir`` takes the folder of ``python -m jetkit.data.generate top_qcd --seed S --out-dir D``
(another base seed: jets the zoo never saw); then every jet in it is a test jet.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import numpy as np

from jetkit import data, metrics, physics, zoo
from jetkit.data.files import read_manifest
from jetkit.models import diagnostics

TAGGERS = ("mlp7_top_qcd", "expert_mlp_top_qcd", "expert_bdt_top_qcd", "cnn_top_qcd", "deepsets_top_qcd",
           "edgeconv_top_qcd", "particlenet_top_qcd", "part_top_qcd", "lorentznet_top_qcd")


def test_jets(data_dir: Path | None):
    """The shipped test split, or every jet of the freshly generated top_qcd file in ``data_dir``
    (``generate`` names it e.g. top_qcd_seed7_n1500 in that folder's MANIFEST.json)."""
    if data_dir is None:
        return data.split(data.load("top_qcd"), seed=0).test
    names = [n for n in read_manifest(data_dir) if n.startswith("top_qcd")]
    if len(names) != 1:
        raise ValueError(f"expected one top_qcd file in {data_dir}/MANIFEST.json, found {names}")
    return data.load(names[0], data_dir)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, default=None, help="freshly generated top_qcd (default: test split)")
    args = ap.parse_args(argv)
    te = test_jets(args.data_dir)
    print(f"{len(te)} test jets {te.counts()}, {jax.local_device_count()} device(s)")
    t0 = time.perf_counter()
    cut = physics.tau32_mass_scores(te.jets[:, 3], np.asarray(physics.tau32(te.particles, te.mask)))
    rows = [metrics.classification.evaluate("tau32 + mass window (cut)", te.labels, cut, threshold=None,
                                            jets_per_s=len(te) / (time.perf_counter() - t0))]
    shared = {}  # the expert MLP's and BDT's observables are computed once
    for name in TAGGERS:
        if name in zoo.available():
            rows.append(diagnostics.evaluate_zoo_tagger(name, te, cache=shared)[0])
    print(metrics.results_table(rows))


if __name__ == "__main__":
    main()
