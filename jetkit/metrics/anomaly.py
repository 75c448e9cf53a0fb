"""Anomaly-detection figures of merit: per score, the AUC, the signal efficiency at fixed
background efficiencies and the significance improvement eps_S / sqrt(eps_B) (scores are
"larger = more anomalous")."""

from __future__ import annotations

import numpy as np

from jetkit.metrics.classification import auc, signal_efficiency_at

__all__ = ["EPS_B", "evaluate", "format_table", "significance_improvement"]


EPS_B = (1e-1, 1e-2, 1e-3)


def evaluate(labels, score_dict: dict, *, name: str = "", eps_b=EPS_B) -> list[dict]:
    """One row per score: AUC and the signal efficiency at each background efficiency in
    ``eps_b`` (labels: 1 = signal/anomaly, 0 = background)."""
    labels = np.asarray(labels)
    rows = []
    for key, s in score_dict.items():
        row = {"model": name, "score": key, "AUC": auc(labels, s)}
        for e in eps_b:
            row[f"eS@{e:g}"] = signal_efficiency_at(labels, s, e)
        rows.append(row)
    return rows


def significance_improvement(labels, scores, eps_b: float) -> float:
    """Significance improvement eps_S / sqrt(eps_B) of a cut that keeps the background fraction
    ``eps_b`` (the figure of merit of the LHC Olympics, arXiv:2101.08320): how much a cut on the
    score multiplies s / sqrt(b). eps_S is :func:`signal_efficiency_at` (interpolated on the
    ROC); labels 1 = signal, 0 = background; ``eps_b`` in (0, 1]."""
    return signal_efficiency_at(labels, scores, eps_b) / float(np.sqrt(eps_b))


def format_table(rows: list[dict], digits: int = 2) -> str:
    """Plain-text table of :func:`evaluate` rows, values rounded to ``digits``."""
    if not rows:
        return ""
    keys = list(rows[0])
    cells = [[f"{r[k]:.{digits}f}" if isinstance(r[k], float) else str(r[k]) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths))  # noqa: E731
    return "\n".join([line(keys), line(["-" * w for w in widths]), *map(line, cells)])
