"""Shared fixtures: small samples of *real* Pythia jets for tests.

``real_jets`` takes the first jets of each class from the shipped ``data/top_qcd.npz`` when it is
there, and otherwise generates one small chunk per class with Pythia 8 + FastJet (a few seconds),
so unit tests never depend on a random stand-in.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parent.parent / "data"


def _sample(name: str, per_class: int) -> dict[str, np.ndarray]:
    path = DATA / f"{name}.npz"
    if path.exists():
        with np.load(path) as f:
            labels = f["labels"]
            idx = np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in np.unique(labels)])
            out = {k: f[k][idx] for k in ("particles", "mask", "jets", "labels", "n_constituents")}
            out["class_names"] = f["class_names"]
            out["particles"] = out["particles"].astype(np.float32)
            return out
    from jetkit.data.generate import DATASETS, generate_chunk

    spec = dataclasses.replace(DATASETS[name], events_per_chunk=per_class)
    parts = []
    for c in range(len(spec.classes)):
        chunk = generate_chunk(spec, c, 0)
        chunk["labels"] = np.full(len(chunk["jets"]), c, dtype=np.int8)
        parts.append(chunk)
    out = {k: np.concatenate([p[k] for p in parts]) for k in ("particles", "jets", "labels", "n_constituents")}
    out["particles"] = out["particles"].astype(np.float32)
    out["mask"] = out["particles"][..., 0] > 0
    out["class_names"] = np.array([p.name for p in spec.classes])
    return out


@pytest.fixture(scope="session")
def real_jets() -> dict[str, np.ndarray]:
    """About 100 top and 100 QCD jets (pT 550-650 GeV, up to 64 constituents) as numpy arrays:
    particles (N, 64, 3) float32 = (pT [GeV], d_eta, d_phi), mask, jets (N, 4), labels,
    n_constituents, class_names."""
    return _sample("top_qcd", 100)


@pytest.fixture(scope="session")
def real_jets5() -> dict[str, np.ndarray]:
    """A few dozen jets of each jet5 class (g, q, t, w, z; pT ~ 1 TeV; 30 constituents)."""
    return _sample("jet5", 60)


@pytest.fixture(autouse=True)
def _static_matplotlib_backend():
    """Importing ipympl anywhere switches matplotlib's backend for the whole process; give
    every test the static Agg backend so widget tests do not depend on test order."""
    import matplotlib

    if matplotlib.get_backend().lower() in ("widget", "ipympl") or "ipympl" in matplotlib.get_backend():
        matplotlib.use("Agg")
    yield
