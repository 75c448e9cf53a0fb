"""Jets: the shipped datasets (load, verify, split, batch) and the Pythia 8 + FastJet
generator that makes them.

>>> from jetkit import data
>>> jets = data.load("top_qcd")                       # verifies the sha256 in data/MANIFEST.json
>>> train, val, test = data.split(jets, seed=0)

Modules: :mod:`~jetkit.data.datasets` (``JetDataset``, load, split, batches),
:mod:`~jetkit.data.specs` (what defines each dataset), :mod:`~jetkit.data.truth` (truth
matching), :mod:`~jetkit.data.events` (one seeded chunk of Pythia events), :mod:`~jetkit.data.files`
(atomic ``.npz`` writes, sha256, manifest), :mod:`~jetkit.data.executors` (where chunks run:
local processes or a Dask cluster) and :mod:`~jetkit.data.generate` (whole datasets; the CLI
``python -m jetkit.data.generate NAME``). Generation needs the ``gen`` extra, Dask the ``scale``
extra.
"""

from jetkit.data.datasets import (JetDataset, Splits, available, batches, load, one_vs_background,
                                  regenerate_command, split)
from jetkit.data.specs import DATA_DIR, DATASETS, DatasetSpec, ProcessSpec, chunk_seed

__all__ = ["DATASETS", "DATA_DIR", "DatasetSpec", "JetDataset", "ProcessSpec", "Splits", "available",
           "batches", "chunk_seed", "load", "one_vs_background", "regenerate_command", "split"]
