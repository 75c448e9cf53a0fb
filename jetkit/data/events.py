"""One chunk of jets: Pythia 8 events clustered with FastJet anti-kT, truth-matched,
converted to padded ``(pT [GeV], d_eta, d_phi)`` constituents relative to the jet axis.

Pythia 8 (``pythia8mc``, Monash 2013 tune defaults, pp at 13 TeV, ISR/FSR, multi-parton
interactions and hadronisation on) generates the hard process of one class; all visible
final-state particles (neutrinos excluded) are clustered with anti-kT, R = 0.8, E-scheme
(scikit-hep ``fastjet``, awkward interface).
"""

from __future__ import annotations

import math
import time

import numpy as np

from jetkit.data.specs import DATASETS, R_JET, DatasetSpec, ProcessSpec, chunk_seed, pythia_settings
from jetkit.data.truth import match_jet, truth_objects

__all__ = ["all_constituent_features", "clean_padding", "generate_chunk", "generate_event",
           "jet_arrays"]



_BANNER_DONE = False


def _fastjet():
    """The ``fastjet`` module, with its one-time C++ banner ("#---- FastJet release ... Please
    cite ...") swallowed: the first clustering runs with file descriptor 1 pointed at /dev/null.
    The citation (Cacciari, Salam, Soyez, arXiv:1111.6097) is given in the docs instead."""
    global _BANNER_DONE
    import awkward as ak
    import fastjet

    if not _BANNER_DONE:
        import os
        import sys

        sys.stdout.flush()
        saved = os.dup(1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 1)
            one = ak.Array([{"px": 1.0, "py": 0.0, "pz": 0.0, "E": 1.0}])
            fastjet.ClusterSequence(one, fastjet.JetDefinition(fastjet.antikt_algorithm, R_JET)).inclusive_jets()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(devnull)
        _BANNER_DONE = True
    return fastjet


def _pt_eta_phi(px, py, pz):
    pt = np.hypot(px, py)
    eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=pt > 0))
    phi = np.arctan2(py, px)
    return pt, eta, phi


def _wrap_phi(phi):
    """Wrap angles to (-pi, pi]."""
    wrapped = np.mod(phi + np.pi, 2 * np.pi) - np.pi
    return np.where(wrapped == -np.pi, np.pi, wrapped)


def jet_arrays(cons_p4: np.ndarray, n_constituents: int):
    """Jet kinematics and the padded constituent array of one jet.

    ``cons_p4``: (n, 4) constituent (px, py, pz, E) [GeV] from the clustering. Constituents are
    stored massless, (pT, eta, phi), so the jet four-vector is defined as the sum of the
    *massless* constituents: then every quantity recomputed from the shipped arrays (mass,
    axis) agrees with ``jets``. (With true hadron masses the mass of a light QCD jet at
    600 GeV differs by up to ~30 %: E_i changes by ~m_i^2 / 2|p_i|.)

    Returns ``jet`` = (pT, eta, phi, m), ``particles`` (n_constituents, 3) = (pT, d_eta, d_phi)
    of the leading constituents sorted by pT (zero-padded), and the full multiplicity ``n``."""
    px, py, pz, _ = cons_p4.T
    pt, eta, phi = _pt_eta_phi(px, py, pz)
    massless = np.stack([px, py, pt * np.sinh(eta), pt * np.cosh(eta)], axis=1)
    jpx, jpy, jpz, je = massless.sum(axis=0)
    jpt, jeta, jphi = _pt_eta_phi(np.array([jpx]), np.array([jpy]), np.array([jpz]))
    jm = math.sqrt(max(je * je - jpx * jpx - jpy * jpy - jpz * jpz, 0.0))
    order = np.argsort(-pt, kind="stable")[:n_constituents]
    particles = np.zeros((n_constituents, 3), dtype=np.float64)
    k = len(order)
    particles[:k, 0] = pt[order]
    particles[:k, 1] = eta[order] - jeta[0]
    particles[:k, 2] = _wrap_phi(phi[order] - jphi[0])
    jet = np.array([jpt[0], jeta[0], jphi[0], jm])
    return jet, particles, len(pt)


def _pythia(spec: DatasetSpec, process: ProcessSpec, seed: int):
    """An initialised Pythia instance for one class and seed."""
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in pythia_settings(spec, process, seed):
        if not pythia.readString(line):
            raise RuntimeError(f"Pythia rejected setting {line!r}")
    if not pythia.init():
        raise RuntimeError(f"Pythia failed to initialise for {spec.name}/{process.name}")
    return pythia


def _visible_p4(event) -> list[tuple[float, float, float, float]]:
    """(px, py, pz, E) [GeV] of the visible final-state particles (neutrinos dropped)."""
    return [(p.px(), p.py(), p.pz(), p.e()) for p in event if p.isFinal() and p.isVisible()]


def generate_event(dataset: str = "top_qcd", class_name: str = "top", seed: int = 1,
                   jet_pt_min: float = 20.0, max_events: int = 100) -> dict:
    """One whole Pythia event of a dataset's class, clustered with anti-kT R = 0.8: for event
    displays. Returns the first event with a jet that passes the dataset's window and truth
    match, as ``pt``, ``eta``, ``phi`` of every visible particle, ``jet_index`` (index of the
    particle's jet with pT > ``jet_pt_min`` [GeV], else -1), ``jets`` (n, 4) = (pT, eta, phi, m)
    sorted by pT, ``selected`` (n,) whether each jet would enter the dataset, and ``seed``."""
    import awkward as ak

    fastjet = _fastjet()

    spec = DATASETS[dataset]
    names = [p.name for p in spec.classes]
    if class_name not in names:
        raise ValueError(f"unknown class {class_name!r}; {dataset} has {names}")
    process = spec.classes[names.index(class_name)]
    pythia = _pythia(spec, process, seed)
    jetdef = fastjet.JetDefinition(fastjet.antikt_algorithm, R_JET)
    for _ in range(max_events):
        if not pythia.next():
            continue
        p4 = np.array(_visible_p4(pythia.event))
        truth = truth_objects(pythia.event)
        ev = ak.Array([{"px": x, "py": y, "pz": z, "E": e} for x, y, z, e in p4])
        cs = fastjet.ClusterSequence(ev, jetdef)
        index = cs.constituent_index(min_pt=jet_pt_min)
        jets, jet_index = [], np.full(len(p4), -1)
        for members in index.to_list():
            jet, _, _ = jet_arrays(p4[members], 1)
            jets.append(jet)
        order = np.argsort([-j[0] for j in jets], kind="stable")
        for rank, j in enumerate(order):
            jet_index[index.to_list()[j]] = rank
        jets = np.array(jets).reshape(-1, 4)[order]
        selected = np.array([
            spec.pt_min <= j[0] <= spec.pt_max and abs(j[1]) < spec.eta_max
            and match_jet(process.match, j[1], j[2], truth) for j in jets
        ], dtype=bool)
        if selected.any():
            pt, eta, phi = _pt_eta_phi(*p4[:, :3].T)
            return {"pt": pt, "eta": eta, "phi": phi, "jet_index": jet_index, "jets": jets,
                    "selected": selected, "seed": seed}
    raise RuntimeError(f"no selected {class_name} jet in {max_events} events (seed {seed})")


def clean_padding(particles: np.ndarray) -> np.ndarray:
    """Zero every row whose stored pT is 0, so padding is exactly zero. A handful of
    constituents (about 1 jet in 500) have pT < 6e-8 GeV, which underflows float16 to 0: they
    become padding, consistent with ``mask = pT > 0``."""
    particles = particles.copy()
    particles[particles[..., 0] == 0] = 0
    return particles


def generate_chunk(dataset: str | DatasetSpec, class_index: int, chunk_index: int) -> dict:
    """Generate one chunk (``events_per_chunk`` Pythia events) of one class.

    Deterministic: the same arguments give the same arrays. Returns a dict with
    ``particles`` (n, P, 3) float16, ``jets`` (n, 4) float32, ``n_constituents`` (n,) int16,
    for datasets ``with_hlf`` also ``hlf`` (n, 16) float32 (on all constituents, see
    :data:`~jetkit.data.specs.HLF_RECIPE`), ``n_events`` and ``seconds`` (wall time, for throughput reports)."""
    import awkward as ak

    fastjet = _fastjet()

    spec = DATASETS[dataset] if isinstance(dataset, str) else dataset
    process = spec.classes[class_index]
    t0 = time.perf_counter()
    pythia = _pythia(spec, process, chunk_seed(spec.base_seed, class_index, chunk_index))
    rows, counts, truths = [], [], []
    for _ in range(spec.events_per_chunk):
        if not pythia.next():
            continue
        visible = _visible_p4(pythia.event)
        rows.extend(visible)
        counts.append(len(visible))
        truths.append(truth_objects(pythia.event) if process.match != "any" else None)

    p4 = np.array(rows, dtype=np.float64).reshape(-1, 4)
    events = ak.unflatten(
        ak.zip({"px": p4[:, 0], "py": p4[:, 1], "pz": p4[:, 2], "E": p4[:, 3]}), counts
    )
    jetdef = fastjet.JetDefinition(fastjet.antikt_algorithm, R_JET)
    cs = fastjet.ClusterSequence(events, jetdef)
    cons = cs.constituents(min_pt=spec.pt_min)
    jets_per_event = ak.num(cons, axis=1).to_numpy()
    n_cons = ak.flatten(ak.num(cons, axis=2)).to_numpy()
    flat = np.stack(
        [ak.flatten(cons[f], axis=None).to_numpy() for f in ("px", "py", "pz", "E")], axis=1
    )
    offsets = np.concatenate([[0], np.cumsum(n_cons)])

    out_particles, out_jets, out_n, out_full = [], [], [], []
    j = 0
    for i_ev, n_jets in enumerate(jets_per_event):
        for _ in range(n_jets):
            n_all = int(offsets[j + 1] - offsets[j])
            jet, every, mult = jet_arrays(flat[offsets[j] : offsets[j + 1]],
                                          max(n_all, spec.n_constituents))
            j += 1
            if not (spec.pt_min <= jet[0] <= spec.pt_max and abs(jet[1]) < spec.eta_max):
                continue
            if not match_jet(process.match, jet[1], jet[2], truths[i_ev]):
                continue
            out_particles.append(every[: spec.n_constituents])
            out_full.append(every[:mult])
            out_jets.append(jet)
            out_n.append(mult)
    particles = np.array(out_particles, dtype=np.float16).reshape(-1, spec.n_constituents, 3)
    out = {
        "particles": clean_padding(particles),
        "jets": np.array(out_jets, dtype=np.float32).reshape(-1, 4),
        "n_constituents": np.array(out_n, dtype=np.int16),
    }
    if spec.with_hlf:
        out["hlf"] = all_constituent_features(out_full)
    out["n_events"] = len(counts)
    out["seconds"] = time.perf_counter() - t0
    return out


def all_constituent_features(jets: list[np.ndarray], pad: int = 32, batch: int = 64) -> np.ndarray:
    """The 16 hls4ml features (N, 16) float32 of jets given as (n_i, 3) arrays of *all* their
    constituents (pT [GeV], d_eta, d_phi). Computed in batches of ``batch`` jets zero-padded to a
    multiple of ``pad`` constituents (copies of its last jet fill the last batch), so a whole
    dataset compiles a handful of shapes."""
    from jetkit.physics.hlf import hls4ml_features

    out = []
    for start in range(0, len(jets), batch):
        part = jets[start : start + batch]
        part = part + [part[-1]] * (batch - len(part))
        n_real = min(batch, len(jets) - start)
        width = pad * max(1, math.ceil(max(len(p) for p in part) / pad))
        arr = np.zeros((batch, width, 3), np.float32)
        for i, p in enumerate(part):
            arr[i, : len(p)] = p
        out.append(np.asarray(hls4ml_features(arr, arr[..., 0] > 0))[:n_real])
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 16), np.float32)
