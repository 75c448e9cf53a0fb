"""Real jets from Pythia 8 + FastJet: the generator behind every shipped dataset.

Pipeline for one *chunk* (a fixed number of events with its own seed):

1. Pythia 8 (``pythia8mc``, Monash 2013 tune defaults, pp at 13 TeV, ISR/FSR, multi-parton
   interactions and hadronisation on) generates the hard process of one class.
2. All visible final-state particles (neutrinos excluded) are clustered with FastJet anti-kT,
   R = 0.8, E-scheme (scikit-hep ``fastjet``, awkward interface).
3. Jets inside the pT window and ``|eta| < eta_max`` are kept if they pass the class's truth
   matching (see :func:`match_jet`), converted to ``(pT [GeV], d_eta, d_phi)`` of their leading
   constituents relative to the jet axis, sorted by pT and zero-padded.

A dataset is the concatenation of chunks ``0, 1, 2, ...`` of every class, truncated to the
requested number of jets per class. Chunk ``k`` of class ``c`` always uses the seed
:func:`chunk_seed` ``(base_seed, c, k)``, so the output is byte-identical whether the chunks run
serially or in parallel (``--jobs``), and an interrupted run resumes from its finished chunks.

CLI::

    python -m jetkit.generate top_qcd --jobs 2
    python -m jetkit.generate jet5 --jobs 2
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import shlex
import sys
import tempfile
import time
import zipfile
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from importlib import metadata
from pathlib import Path

import numpy as np

R_JET = 0.8  # anti-kT radius used for every dataset
DATA_DIR = Path(__file__).resolve().parent.parent / "data"
# A fixed timestamp for every zip member makes the shipped .npz files byte-reproducible.
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)


@dataclasses.dataclass(frozen=True)
class ProcessSpec:
    """One jet class: the Pythia process that makes it and the truth match that defines it."""

    name: str
    pythia: tuple[str, ...]
    match: str  # "any" | "top" | "w" | "z" | "quark" | "gluon"
    # Partonic pT-hat window as multiples of the jet pT window edges. QCD jets lose pT out of
    # cone, so their window starts below the jet window; a boosted resonance's jet carries
    # almost all of its pT, so a tighter window wastes fewer events without sculpting.
    pthat_factors: tuple[float, float] = (0.9, 1.2)


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """Everything that defines a dataset; recorded in ``data/MANIFEST.json``."""

    name: str
    classes: tuple[ProcessSpec, ...]
    pt_min: float  # GeV
    pt_max: float  # GeV
    eta_max: float
    n_per_class: int
    n_constituents: int
    base_seed: int
    events_per_chunk: int = 400
    with_hlf: bool = False

    def pthat_range(self, process: ProcessSpec) -> tuple[float, float]:
        """Partonic pT-hat window [GeV] of one class."""
        lo, hi = process.pthat_factors
        return lo * self.pt_min, hi * self.pt_max


_HADRONIC_W = ("24:onMode = off", "24:onIfAny = 1 2 3 4 5")
_HADRONIC_Z = ("23:onMode = off", "23:onIfAny = 1 2 3 4 5")
_TTBAR = ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on") + _HADRONIC_W
_QCD = ("HardQCD:all = on",)
_W_JET = ("WeakBosonAndParton:qqbar2Wg = on", "WeakBosonAndParton:qg2Wq = on") + _HADRONIC_W
_Z_JET = (
    "WeakBosonAndParton:qqbar2gmZg = on",
    "WeakBosonAndParton:qg2gmZq = on",
    "WeakZ0:gmZmode = 2",
) + _HADRONIC_Z

_RESONANCE = (0.95, 1.1)

DATASETS: dict[str, DatasetSpec] = {
    # Modelled on the top-tagging reference dataset (arXiv:1902.09914).
    "top_qcd": DatasetSpec(
        name="top_qcd",
        classes=(ProcessSpec("qcd", _QCD, "any"), ProcessSpec("top", _TTBAR, "top", _RESONANCE)),
        pt_min=550.0,
        pt_max=650.0,
        eta_max=2.0,
        n_per_class=25_000,
        n_constituents=64,
        base_seed=20_190_914,
    ),
    # JetNet-style five classes (arXiv:2106.11535) with the hls4ml features (arXiv:1804.06913).
    "jet5": DatasetSpec(
        name="jet5",
        classes=(
            ProcessSpec("g", _QCD, "gluon"),
            ProcessSpec("q", _QCD, "quark"),
            ProcessSpec("t", _TTBAR, "top", _RESONANCE),
            ProcessSpec("w", _W_JET, "w", _RESONANCE),
            ProcessSpec("z", _Z_JET, "z", _RESONANCE),
        ),
        pt_min=900.0,
        pt_max=1100.0,
        eta_max=2.0,
        n_per_class=10_000,
        n_constituents=30,
        base_seed=20_210_622,
        with_hlf=True,
    ),
}

LIGHT_QUARKS = (1, 2, 3, 4)  # d, u, s, c: the "q" class of jet5


def chunk_seed(base_seed: int, class_index: int, chunk_index: int) -> int:
    """Pythia seed of one chunk, in Pythia's allowed range [1, 900 000 000].

    Derived by hashing, so neighbouring chunks and classes get unrelated streams."""
    digest = hashlib.sha256(f"{base_seed}:{class_index}:{chunk_index}".encode()).digest()
    return 1 + int.from_bytes(digest[:8], "little") % 899_999_999


def pythia_settings(spec: DatasetSpec, process: ProcessSpec, seed: int) -> list[str]:
    """The full list of Pythia ``readString`` lines for one chunk."""
    lo, hi = spec.pthat_range(process)
    return [
        "Beams:eCM = 13000.",
        *process.pythia,
        f"PhaseSpace:pTHatMin = {lo:g}",
        f"PhaseSpace:pTHatMax = {hi:g}",
        "Random:setSeed = on",
        f"Random:seed = {seed}",
        "Next:numberCount = 0",
        "Next:numberShowEvent = 0",
        "Next:numberShowInfo = 0",
        "Next:numberShowProcess = 0",
        "Print:quiet = on",
    ]


# --------------------------------------------------------------------------------------------
# Truth matching
# --------------------------------------------------------------------------------------------


def _delta_r(eta1, phi1, eta2, phi2):
    dphi = (np.asarray(phi1) - np.asarray(phi2) + np.pi) % (2 * np.pi) - np.pi
    return np.hypot(np.asarray(eta1) - np.asarray(eta2), dphi)


def _last_copy(event, i: int) -> int:
    return int(event[i].iBotCopyId())


def truth_objects(event) -> dict[str, list]:
    """Truth-level objects of one Pythia event used for matching.

    Returns ``{"top": [[(eta, phi) of t, b, q, q'], ...], "w": [[W, q, q'], ...],
    "z": [[Z, q, q'], ...], "partons": [(eta, phi, pdg_id), ...]}`` where partons are the
    outgoing partons of the hardest subprocess (Pythia status 23)."""
    out: dict[str, list] = {"top": [], "w": [], "z": [], "partons": []}
    for p in event:
        if 81 <= p.statusAbs() <= 89:
            break  # hadronisation starts: the partonic part of the record is behind us
        aid = p.idAbs()
        if p.statusAbs() == 23 and (aid <= 5 or aid == 21):
            out["partons"].append((p.eta(), p.phi(), p.id()))
        if aid not in (6, 23, 24) or p.iBotCopyId() != p.index():
            continue
        daughters = [event[d] for d in p.daughterList()]
        if aid == 6:
            ws = [d for d in daughters if d.idAbs() == 24]
            bs = [d for d in daughters if d.idAbs() == 5]
            if len(ws) != 1 or len(bs) != 1:
                continue
            w = event[_last_copy(event, ws[0].index())]
            qs = [event[d] for d in w.daughterList()]
            if len(qs) == 2 and all(q.idAbs() <= 5 for q in qs):
                out["top"].append([(x.eta(), x.phi()) for x in (p, bs[0], *qs)])
        else:
            if len(daughters) == 2 and all(d.idAbs() <= 5 for d in daughters):
                out["w" if aid == 24 else "z"].append([(x.eta(), x.phi()) for x in (p, *daughters)])
    return out


def match_jet(match: str, jet_eta: float, jet_phi: float, truth: dict[str, list]) -> bool:
    """Whether a jet at (eta, phi) carries the truth label ``match``.

    top / w / z: the resonance and all its decay quarks lie within dR < 0.8 of the jet axis.
    quark / gluon: the closest outgoing hard parton within dR < 0.8 is a light quark (d, u, s, c)
    or a gluon. any: every jet (the QCD background of ``top_qcd``)."""
    if match == "any":
        return True
    if match in ("top", "w", "z"):
        for objects in truth[match]:
            eta, phi = np.array(objects).T
            if np.all(_delta_r(jet_eta, jet_phi, eta, phi) < R_JET):
                return True
        return False
    if match in ("quark", "gluon"):
        if not truth["partons"]:
            return False
        eta, phi, pid = np.array(truth["partons"]).T
        dr = _delta_r(jet_eta, jet_phi, eta, phi)
        best = int(np.argmin(dr))
        if dr[best] >= R_JET:
            return False
        aid = abs(int(pid[best]))
        return aid == 21 if match == "gluon" else aid in LIGHT_QUARKS
    raise ValueError(f"unknown truth match {match!r}")


# --------------------------------------------------------------------------------------------
# One chunk
# --------------------------------------------------------------------------------------------


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
    import fastjet

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
    ``n_events`` and ``seconds`` (wall time, for throughput reports)."""
    import awkward as ak
    import fastjet

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

    out_particles, out_jets, out_n = [], [], []
    j = 0
    for i_ev, n_jets in enumerate(jets_per_event):
        for _ in range(n_jets):
            jet, particles, mult = jet_arrays(flat[offsets[j] : offsets[j + 1]], spec.n_constituents)
            j += 1
            if not (spec.pt_min <= jet[0] <= spec.pt_max and abs(jet[1]) < spec.eta_max):
                continue
            if not match_jet(process.match, jet[1], jet[2], truths[i_ev]):
                continue
            out_particles.append(particles)
            out_jets.append(jet)
            out_n.append(mult)
    particles = np.array(out_particles, dtype=np.float16).reshape(-1, spec.n_constituents, 3)
    return {
        "particles": clean_padding(particles),
        "jets": np.array(out_jets, dtype=np.float32).reshape(-1, 4),
        "n_constituents": np.array(out_n, dtype=np.int16),
        "n_events": len(counts),
        "seconds": time.perf_counter() - t0,
    }


# --------------------------------------------------------------------------------------------
# Files: atomic, byte-reproducible .npz
# --------------------------------------------------------------------------------------------


def save_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays as a compressed .npz that is byte-identical for identical arrays.

    Written to a temporary file in the same folder and renamed into place (atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            for key in sorted(arrays):
                info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                with zf.open(info, "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.asarray(arrays[key]), allow_pickle=False)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; shipped files are world-readable
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _chunk_path(cache: Path, spec: DatasetSpec, c: int, k: int) -> Path:
    return cache / spec.name / f"{spec.classes[c].name}-{k:05d}.npz"


def _run_chunk(args) -> tuple[int, int, int, float]:
    spec, c, k, path = args
    chunk = generate_chunk(spec, c, k)
    save_npz(
        path,
        {
            "particles": chunk["particles"],
            "jets": chunk["jets"],
            "n_constituents": chunk["n_constituents"],
            "n_events": np.int64(chunk["n_events"]),
            "seconds": np.float64(chunk["seconds"]),
        },
    )
    return c, k, len(chunk["jets"]), chunk["seconds"]


def _load_chunk(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


# --------------------------------------------------------------------------------------------
# A whole dataset
# --------------------------------------------------------------------------------------------


def _package_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for pkg in ("pythia8mc", "fastjet", "awkward", "numpy", "jax", "jetkit"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def run_chunks(spec: DatasetSpec, cache: Path, jobs: int = 1, progress: bool = True) -> dict:
    """Run (or resume) chunks of every class until each has ``n_per_class`` jets.

    Returns ``{class_index: [chunk paths in order]}`` covering at least the requested jets,
    plus timing statistics under the key ``"stats"``."""
    from tqdm.auto import tqdm

    n_cls = len(spec.classes)
    counts: dict[int, dict[int, int]] = {c: {} for c in range(n_cls)}
    seconds = {c: 0.0 for c in range(n_cls)}
    events = {c: 0 for c in range(n_cls)}
    for c in range(n_cls):  # resume: finished chunks on disk count already
        k = 0
        while (path := _chunk_path(cache, spec, c, k)).exists():
            chunk = _load_chunk(path)
            counts[c][k] = len(chunk["jets"])
            seconds[c] += float(chunk["seconds"])
            events[c] += int(chunk["n_events"])
            k += 1

    def jets_in_prefix(c: int) -> int:
        total, k = 0, 0
        while k in counts[c]:
            total += counts[c][k]
            k += 1
        return total

    submitted = {c: set(counts[c]) for c in range(n_cls)}
    bar = tqdm(total=spec.n_per_class * n_cls, desc=f"{spec.name} jets", disable=not progress)
    bar.update(sum(min(jets_in_prefix(c), spec.n_per_class) for c in range(n_cls)))
    wall0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        running = {}
        while True:
            # Keep every worker busy with the next chunks of classes that are still short.
            for c in range(n_cls):
                have = jets_in_prefix(c)
                if have >= spec.n_per_class:
                    continue
                done = [counts[c][k] for k in counts[c]]
                rate = max(np.mean(done), 1.0) if done else 50.0
                in_flight = len(submitted[c]) - len(counts[c])
                need = math.ceil((spec.n_per_class - have) / rate) - in_flight
                while need > 0 and len(running) < 2 * jobs:
                    k = 0
                    while k in submitted[c]:
                        k += 1
                    submitted[c].add(k)
                    fut = pool.submit(_run_chunk, (spec, c, k, _chunk_path(cache, spec, c, k)))
                    running[fut] = (c, k)
                    need -= 1
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                c, k = running.pop(fut)
                before = min(jets_in_prefix(c), spec.n_per_class)
                _, _, n, secs = fut.result()
                counts[c][k] = n
                seconds[c] += secs
                events[c] += _load_chunk(_chunk_path(cache, spec, c, k))["n_events"].item()
                bar.update(min(jets_in_prefix(c), spec.n_per_class) - before)
    bar.close()
    chunk_paths = {}
    for c in range(n_cls):
        paths, total, k = [], 0, 0
        while total < spec.n_per_class:
            paths.append(_chunk_path(cache, spec, c, k))
            total += counts[c][k]
            k += 1
        chunk_paths[c] = paths
    stats = {
        "wall_seconds": time.perf_counter() - wall0,
        "cpu_seconds_per_class": seconds,
        "events_per_class": events,
    }
    return {"chunks": chunk_paths, "stats": stats}


def assemble(spec: DatasetSpec, chunk_paths: dict[int, list[Path]]) -> dict[str, np.ndarray]:
    """Concatenate chunks class by class, truncate to ``n_per_class``, add labels and (for
    datasets with ``with_hlf``) the 16 hls4ml-style high-level features."""
    parts = {"particles": [], "jets": [], "n_constituents": [], "labels": []}
    for c, paths in chunk_paths.items():
        chunks = [_load_chunk(p) for p in paths]
        for key in ("particles", "jets", "n_constituents"):
            parts[key].append(np.concatenate([ch[key] for ch in chunks])[: spec.n_per_class])
        parts["labels"].append(np.full(spec.n_per_class, c, dtype=np.int8))
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    arrays["mask"] = arrays["particles"][..., 0] > 0
    arrays["class_names"] = np.array([p.name for p in spec.classes])
    if spec.with_hlf:
        from jetkit.substructure import HLF_NAMES

        arrays["hlf"] = hls4ml_features_batched(
            arrays["particles"].astype(np.float32), arrays["mask"], arrays["n_constituents"]
        )
        arrays["hlf_names"] = np.array(HLF_NAMES)
    return arrays


def hls4ml_features_batched(particles, mask, multiplicity, batch: int = 2048) -> np.ndarray:
    """The 16 high-level features for many jets, in batches (bounded memory)."""
    from jetkit.substructure import hls4ml_features

    out = []
    for i in range(0, len(particles), batch):
        sl = slice(i, i + batch)
        out.append(np.asarray(hls4ml_features(particles[sl], mask[sl], multiplicity[sl])))
    return np.concatenate(out).astype(np.float32)


def write_manifest_entry(name: str, path: Path, spec: DatasetSpec, arrays: dict, command: str,
                         stats: dict, chunks_used: dict[int, int]) -> None:
    """Record sha256, size, versions, settings, seeds and counts of one dataset."""
    manifest_path = path.parent / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    entry = {
        "file": path.name,
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "command": command,
        "versions": _package_versions(),
        "settings": {
            "generator": "Pythia 8 (Monash 2013 defaults), pp 13 TeV, ISR/FSR/MPI/hadronisation on",
            "clustering": f"FastJet anti-kT R={R_JET}, E-scheme, visible final-state particles",
            "jet_four_vector": "sum of the constituents taken massless (pT, eta, phi)",
            "pt_window_gev": [spec.pt_min, spec.pt_max],
            "eta_max": spec.eta_max,
            "n_constituents": spec.n_constituents,
            "events_per_chunk": spec.events_per_chunk,
            "classes": {
                p.name: {
                    "pythia": list(p.pythia),
                    "truth_match": p.match,
                    "pthat_window_gev": list(spec.pthat_range(p)),
                }
                for p in spec.classes
            },
        },
        "seeds": {
            "base_seed": spec.base_seed,
            "chunk_seed": "jetkit.generate.chunk_seed(base_seed, class_index, chunk_index)",
            "chunks_used": {spec.classes[c].name: n for c, n in chunks_used.items()},
        },
        "counts": {p.name: int((arrays["labels"] == c).sum()) for c, p in enumerate(spec.classes)},
        "generation": {
            "events": {spec.classes[c].name: int(v) for c, v in stats["events_per_class"].items()},
            "cpu_seconds": {
                spec.classes[c].name: round(v, 1) for c, v in stats["cpu_seconds_per_class"].items()
            },
        },
    }
    manifest[name] = entry
    text = json.dumps(dict(sorted(manifest.items())), indent=2) + "\n"
    tmp = manifest_path.with_suffix(".json.tmp")
    tmp.write_text(text)
    os.replace(tmp, manifest_path)


def generate_dataset(name: str, out_dir: Path = DATA_DIR, jobs: int = 1, cache: Path | None = None,
                     overrides: dict | None = None, output: str | None = None,
                     command: str | None = None, progress: bool = True) -> Path:
    """Generate (or resume) one dataset, write ``<output>.npz`` and its MANIFEST entry."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {sorted(DATASETS)}")
    spec = dataclasses.replace(DATASETS[name], **(overrides or {}))
    output = output or name
    cache = Path(cache) if cache else out_dir / ".cache" / output
    run = run_chunks(spec, cache, jobs=jobs, progress=progress)
    arrays = assemble(spec, run["chunks"])
    path = Path(out_dir) / f"{output}.npz"
    save_npz(path, arrays)
    write_manifest_entry(
        output, path, spec, arrays, command or f"python -m jetkit.generate {name}", run["stats"],
        {c: len(p) for c, p in run["chunks"].items()},
    )
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jetkit.generate", description="Generate jets with Pythia 8 + FastJet."
    )
    parser.add_argument("dataset", choices=[*DATASETS, "all"])
    parser.add_argument("--jobs", type=int, default=1, help="parallel worker processes")
    parser.add_argument("--seed", type=int, default=None, help="base seed (default: the dataset's)")
    parser.add_argument("--n-per-class", type=int, default=None)
    parser.add_argument("--pt-min", type=float, default=None, help="jet pT window low edge [GeV]")
    parser.add_argument("--pt-max", type=float, default=None, help="jet pT window high edge [GeV]")
    parser.add_argument("--eta-max", type=float, default=None)
    parser.add_argument("--out-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--output", default=None, help="file stem (default: the dataset name)")
    parser.add_argument("--cache", type=Path, default=None, help="folder for finished chunks")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    overrides = {
        k: v
        for k, v in {
            "base_seed": args.seed,
            "n_per_class": args.n_per_class,
            "pt_min": args.pt_min,
            "pt_max": args.pt_max,
            "eta_max": args.eta_max,
        }.items()
        if v is not None
    }
    names = list(DATASETS) if args.dataset == "all" else [args.dataset]
    for name in names:
        argv_str = " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
        argv_str = argv_str.replace("all", name, 1) if args.dataset == "all" else argv_str
        path = generate_dataset(
            name, args.out_dir, jobs=args.jobs, cache=args.cache, overrides=overrides,
            output=args.output if len(names) == 1 else None,
            command=f"python -m jetkit.generate {argv_str}",
        )
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
