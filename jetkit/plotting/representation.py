"""Figures and tables of few-label studies of learned jet representations.

>>> study = {"probe": {100: [0.93, 0.94], 1000: [0.96, 0.96]}, "scratch": {100: [0.80, 0.85], 1000: [0.94, 0.95]}}
>>> few_label_curve(ax, study)            # mean over label draws, error bar = their spread
>>> print(few_label_table(study))         # one row per method, one column per number of labels

A study is ``{method: {n_labels: [metric per label draw]}}`` as returned by
:func:`jetkit.models.self_supervised_training.few_label_study` (keys may be strings after JSON).
"""

from __future__ import annotations

import numpy as np

__all__ = ["few_label_curve", "few_label_table"]


def _rows(study: dict) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """method -> (n, mean, half spread), sorted by n."""
    if not isinstance(study, dict) or not study:
        raise ValueError("study must be a non-empty dict {method: {n_labels: [values]}}")
    rows = {}
    for method, by_n in study.items():
        if not by_n:
            raise ValueError(f"method {method!r} has no results")
        n = np.array(sorted(int(k) for k in by_n))
        values = [np.asarray(by_n[k] if k in by_n else by_n[str(k)], float) for k in n]
        if any(v.size == 0 for v in values):
            raise ValueError(f"method {method!r} has an empty list of results")
        rows[method] = (n, np.array([v.mean() for v in values]), np.array([(v.max() - v.min()) / 2 for v in values]))
    return rows


def few_label_curve(ax, study: dict, *, names: dict | None = None, ylabel: str = "test AUC"):
    """Metric against the number of labelled jets (log x axis), one line per method: the mean
    over label draws, the error bar half the spread between the draws."""
    for method, (n, mean, spread) in _rows(study).items():
        ax.errorbar(n, mean, yerr=spread, marker="o", capsize=3, label=(names or {}).get(method, method))
    ax.set_xscale("log")
    ax.set_xlabel("labelled training jets")
    ax.set_ylabel(ylabel)
    ax.legend()
    return ax


def few_label_table(study: dict, *, metric: str = "test AUC", digits: int = 3) -> str:
    """A plain-text table: methods as rows, numbers of labels as columns, mean ± half spread."""
    rows = _rows(study)
    ns = sorted({int(k) for n, _, _ in rows.values() for k in n})
    width = max(12, *(len(m) for m in rows))
    head = f"{metric + ' by labels':<{width}}" + "".join(f"{n:>16d}" for n in ns)
    lines = [head]
    for method, (n, mean, spread) in rows.items():
        cells = {int(k): f"{m:.{digits}f} ± {s:.{digits}f}" for k, m, s in zip(n, mean, spread)}
        lines.append(f"{method:<{width}}" + "".join(f"{cells.get(k, '-'):>16}" for k in ns))
    return "\n".join(lines)
