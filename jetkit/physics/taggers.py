"""Cut-based top tagging and the cheap jet observables that feed simple taggers.

- :func:`high_level_features`: seven observables per jet (mass, multiplicity, girth, pT_D,
  leading-constituent fraction, C2, D2);
- :func:`expert_features`: those seven and seven more that physicists use for top tagging
  (WTA N-subjettiness tau_1 and the ratios tau21, tau32, tau43; the mMDT soft-drop mass; C2, D2
  at beta = 2): how far physics knowledge alone goes;
- :func:`tau32_mass_scores`: the classic tagger, tau32 inside the top-mass window
  (arXiv:1011.2268, 1902.09914).

Scores are "larger = more top-like".
"""

from __future__ import annotations

import numpy as np

from jetkit.physics import energy_correlators, grooming, subjettiness

__all__ = ["EXPERT_FEATURE_NAMES", "JET_FEATURE_NAMES", "TOP_MASS_WINDOW", "expert_features", "high_level_features",
           "tau32_mass_scores"]

JET_FEATURE_NAMES = ("mass", "multiplicity", "girth", "pT_D", "z_lead", "C2", "D2")
EXPERT_FEATURE_NAMES = JET_FEATURE_NAMES + ("tau1_wta", "tau21_wta", "tau32_wta", "tau43_wta", "m_softdrop",
                                            "C2_beta2", "D2_beta2")


TOP_MASS_WINDOW = (140.0, 210.0)  # GeV


def high_level_features(d, batch: int = 2048) -> tuple[np.ndarray, tuple[str, ...]]:
    """Seven cheap jet observables of a JetDataset, (N, 7) float32, and their names:
    jet mass [GeV], constituent multiplicity (full, before truncation to 64), girth
    sum z_i dR_i, pT_D = sqrt(sum pT_i^2) / sum pT_i, leading-constituent fraction z_1, and the
    energy-correlator ratios C2, D2 (beta = 1, arXiv:1305.0007, 1409.6298)."""
    p, m = np.asarray(d.particles), np.asarray(d.mask)
    pt = np.where(m, p[..., 0], 0.0)
    z = pt / pt.sum(1, keepdims=True)
    dr = np.hypot(p[..., 1], p[..., 2])
    girth = (z * dr).sum(1)
    ptd = np.sqrt((pt**2).sum(1)) / pt.sum(1)
    c2s, d2s = [], []
    for s in range(0, len(pt), batch):
        c2s.append(np.asarray(energy_correlators.c2(p[s:s + batch], m[s:s + batch])))
        d2s.append(np.asarray(energy_correlators.d2(p[s:s + batch], m[s:s + batch])))
    cols = [d.jets[:, 3], d.n_constituents, girth, ptd, z[:, 0], np.concatenate(c2s), np.concatenate(d2s)]
    return np.stack(cols, 1).astype(np.float32), JET_FEATURE_NAMES


def expert_features(d, batch: int = 4096) -> tuple[np.ndarray, tuple[str, ...]]:
    """Fourteen observables of a JetDataset, (N, 14) float32, and their names
    (:data:`EXPERT_FEATURE_NAMES`): :func:`high_level_features`, then N-subjettiness with
    winner-take-all kT axes (beta = 1, arXiv:1011.2268, 1508.01516) tau_1 and the ratios
    tau21, tau32, tau43 (0 where the denominator is 0), the mMDT mass [GeV] (zcut 0.1,
    arXiv:1307.0007) and C2, D2 at beta = 2."""
    hlf, _ = high_level_features(d, batch)
    p, m = np.asarray(d.particles), np.asarray(d.mask)
    cols = []
    for s in range(0, len(p), batch):
        pb, mb = p[s:s + batch], m[s:s + batch]
        tau = np.asarray(subjettiness.nsubjettiness(pb, mb, (1, 2, 3, 4), axes="wta_kt"), np.float64)
        ratio = np.divide(tau[:, 1:], tau[:, :-1], out=np.zeros_like(tau[:, 1:]), where=tau[:, :-1] > 0)
        c = energy_correlators.correlators(pb, mb, 2.0, generalised=False)
        cols.append(np.column_stack([tau[:, 0], ratio, np.asarray(grooming.softdrop(pb, mb)[0]),
                                     np.asarray(c["c2"]), np.asarray(c["d2"])]))
    extra = np.concatenate(cols) if cols else np.zeros((0, 7))
    return np.concatenate([hlf, extra.astype(np.float32)], axis=1), EXPERT_FEATURE_NAMES


def tau32_mass_scores(mass, tau32, window=TOP_MASS_WINDOW) -> np.ndarray:
    """Score of the classic cut-based tagger: -tau32 inside the top-mass window [GeV]; jets
    outside the window rank below every jet inside it. Scanning a threshold on this score is
    scanning "mass in window and tau32 < cut"."""
    mass, tau32 = np.asarray(mass), np.asarray(tau32)
    inside = (mass > window[0]) & (mass < window[1])
    return np.where(inside, -tau32, -2.0 - tau32)
