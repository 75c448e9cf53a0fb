"""Shared fixtures: small samples of *real* Pythia jets for tests.

``real_jets`` takes the first jets of each class from the shipped ``data/top_qcd.npz`` when it is
there, and otherwise generates one small chunk per class with Pythia 8 + FastJet (a few seconds),
so unit tests never depend on a random stand-in.

Below the fixtures are plain helpers that several test modules import (``from conftest import
...``): the FastJet/fjcontrib reference machinery shared by the clustering and substructure tests,
small random and hand-made jets of one fixed shape, and Cowan et al.'s closed-form significance.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st

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
    from jetkit.data.events import generate_chunk
    from jetkit.data.specs import DATASETS

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


# ------------------------------------------------------------------------------------------------
# FastJet / fjcontrib references (test_clustering and the substructure tests)
# ------------------------------------------------------------------------------------------------

RTOL = 1e-4  # required agreement with fjcontrib (relative)
SD_ATOL = 1e-4  # GeV: FastJet's mass of a single massless constituent is +-1e-5 rounding noise


def reference_subset(jets: dict[str, np.ndarray], n_per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """(particles, mask) of the first ``n_per_class`` jets of each class of a ``real_jets`` sample."""
    labels = jets["labels"]
    idx = np.concatenate([np.flatnonzero(labels == c)[:n_per_class] for c in np.unique(labels)])
    return jets["particles"][idx], jets["mask"][idx]


def fastjet_events(particles, mask):
    """One awkward "event" per jet: massless (px, py, pz, E) [GeV] in float64 in the jet frame."""
    import awkward as ak

    p = np.asarray(particles, np.float64)
    m = np.asarray(mask, bool)
    pt, eta, phi = p[..., 0][m], p[..., 1][m], p[..., 2][m]
    flat = {"px": pt * np.cos(phi), "py": pt * np.sin(phi), "pz": pt * np.sinh(eta), "E": pt * np.cosh(eta)}
    return ak.unflatten(ak.zip(flat), m.sum(axis=1))


def one_jet_per_event(particles, mask):
    """ClusterSequence in which each event's jet is one anti-kT (R = 10) jet: the whole input."""
    fastjet = pytest.importorskip("fastjet")
    return fastjet.ClusterSequence(
        fastjet_events(particles, mask), fastjet.JetDefinition(fastjet.antikt_algorithm, 10.0)
    )


def rel_diff(ours, ref, atol=0.0):
    """|ours - ref| / |ref| elementwise, zero where |ours - ref| <= atol."""
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    return np.abs(ours - ref) / np.maximum(np.abs(ref), 1e-300) * (np.abs(ours - ref) > atol)


# ------------------------------------------------------------------------------------------------
# random and hand-made jets (float32, one (B, P) shape so each jitted function compiles once)
# ------------------------------------------------------------------------------------------------

B, P = 3, 16
seeds = st.integers(0, 2**32 - 1)


def random_jets(seed: int):
    """B jets padded to P with between 2 and P constituents, pT [GeV] and angles continuous."""
    rng = np.random.default_rng(seed)
    n = rng.integers(2, P + 1, size=B)
    mask = np.arange(P)[None, :] < n[:, None]
    pt = rng.exponential(40.0, size=(B, P)) + 0.5
    ang = np.clip(rng.normal(0.0, 0.3, size=(B, P, 2)), -0.8, 0.8)
    particles = np.concatenate([pt[..., None], ang], axis=-1)
    return np.where(mask[..., None], particles, 0.0).astype(np.float32), mask


def embed_jet(*rows):
    """A hand-made jet, rows of (pT [GeV], eta, phi), in row 0 of a (B, P) batch of random jets."""
    particles, mask = random_jets(0)
    particles[0] = 0.0
    particles[0, : len(rows)] = rows
    mask[0] = np.arange(P) < len(rows)
    return particles, mask


def delta_r(a, b):
    """Angular distance of two (pT, eta, phi) rows."""
    dphi = abs(a[2] - b[2])
    return np.hypot(a[1] - b[1], min(dphi, 2 * np.pi - dphi))


# three constituents (pT [GeV], eta, phi) of the hand-made substructure jets, and the float32
# tolerance of the closed forms computed from them
A_, B_, C_ = [300.0, 0.1, -0.2], [100.0, -0.15, 0.25], [50.0, 0.3, 0.35]
REL = 2e-5


# ------------------------------------------------------------------------------------------------
# jetkit.stats
# ------------------------------------------------------------------------------------------------

SETTINGS = settings(max_examples=40, deadline=None)


def z_closed(s, b, sb=None):
    """Cowan et al. (arXiv:1007.1727) in float64, straight from the paper."""
    s, b = np.float64(s), np.float64(b)
    if sb is None:
        return np.sqrt(2 * ((s + b) * np.log(1 + s / b) - s))
    v = np.float64(sb) ** 2
    return np.sqrt(2 * ((s + b) * np.log((s + b) * (b + v) / (b * b + (s + b) * v))
                        - b * b / v * np.log(1 + v * s / (b * (b + v)))))
