"""Truth matching: which parton a jet comes from (arXiv:1902.09914 conventions).

A top jet contains the top and its three decay quarks within dR < R; a W/Z jet the boson and
both daughters; a quark/gluon jet is labelled by its nearest hard parton.
"""

from __future__ import annotations

import numpy as np

from jetkit.data.specs import LIGHT_QUARKS, R_JET

__all__ = ["match_jet", "truth_objects"]



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
