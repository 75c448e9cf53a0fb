"""What defines each shipped dataset: processes, kinematic windows, sizes and seeds.

A dataset is a :class:`DatasetSpec` (pT window, |eta| cut, constituents kept, jets per class,
base seed) over :class:`ProcessSpec` classes (the Pythia process and the truth match that
defines the class). Chunk ``k`` of class ``c`` always uses the seed :func:`chunk_seed`
``(base_seed, c, k)``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

__all__ = ["DATA_DIR", "DATASETS", "HLF_RECIPE", "LIGHT_QUARKS", "R_JET", "DatasetSpec", "ProcessSpec", "chunk_seed",
           "pythia_settings"]

R_JET = 0.8  # anti-kT radius used for every dataset
DATA_DIR = Path(__file__).resolve().parents[2] / "data"
#: How the ``hlf`` columns of a dataset with ``with_hlf`` are computed (recorded in the MANIFEST).
HLF_RECIPE = ("the 16 hls4ml features (jetkit.physics.hls4ml_features, arXiv:1804.06913) of "
              "every jet computed in float32 on all its constituents, before the truncation to "
              "n_constituents")


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
    # A shape systematic for differentiable analyses: QCD jets of top_qcd's window with the final-state
    # shower's renormalisation scale halved and doubled (the usual FSR variation; Pythia's
    # TimeShower:renormMultFac multiplies the scale at which alpha_s of every emission is taken).
    "top_qcd_fsr": DatasetSpec(
        name="top_qcd_fsr",
        classes=(
            ProcessSpec("qcd_fsr_down", _QCD + ("TimeShower:renormMultFac = 0.5",), "any"),
            ProcessSpec("qcd_fsr_up", _QCD + ("TimeShower:renormMultFac = 2.0",), "any"),
        ),
        pt_min=550.0,
        pt_max=650.0,
        eta_max=2.0,
        n_per_class=4_000,
        n_constituents=64,
        base_seed=20_220_305,
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
