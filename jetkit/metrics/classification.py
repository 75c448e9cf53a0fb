"""Figures of merit for taggers (docs/DESIGN.md §5): ROC curve, AUC, accuracy, background rejection.

All functions take numpy-compatible ``labels`` (1 = signal, 0 = background) and ``scores``
(larger = more signal-like) and return plain floats or numpy arrays. Later notebooks add
generative-model metrics (W1, FPD, KPD) here.
"""

from __future__ import annotations

import numpy as np

__all__ = ["accuracy", "auc", "background_rejection", "background_rejection_error", "evaluate", "results_table", "roc_curve",
           "signal_efficiency_at"]


def _check(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if labels.shape != scores.shape:
        raise ValueError(f"labels and scores differ in length: {labels.shape} vs {scores.shape}")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores contain NaN or infinite values")
    if not set(np.unique(labels).tolist()) <= {0, 1, False, True}:
        raise ValueError("labels must be 0 (background) or 1 (signal); select two classes first")
    labels = labels.astype(bool)
    if labels.all() or not labels.any():
        raise ValueError("need both signal (1) and background (0) examples")
    return labels, scores


def roc_curve(labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Background efficiency (false-positive rate), signal efficiency (true-positive rate) and
    thresholds, one point per distinct score, starting at (0, 0). Same as scikit-learn's
    ``roc_curve(..., drop_intermediate=False)``."""
    labels, scores = _check(labels, scores)
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(y)[last_of_tie]
    fps = (last_of_tie + 1) - tps
    tpr = np.r_[0.0, tps / y.sum()]
    fpr = np.r_[0.0, fps / (~y).sum()]
    return fpr, tpr, np.r_[np.inf, s[last_of_tie]]


def auc(labels, scores) -> float:
    """Area under the ROC curve (probability that a random signal outscores a random
    background; ties count one half)."""
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(np.trapezoid(tpr, fpr))


def signal_efficiency_at(labels, scores, background_efficiency: float) -> float:
    """Signal efficiency at a given background efficiency (linear interpolation on the ROC)."""
    if not 0 < background_efficiency <= 1:
        raise ValueError(f"background_efficiency must be in (0, 1], got {background_efficiency}")
    fpr, tpr, _ = roc_curve(labels, scores)
    # several ROC points can share one fpr: keep the best (last) tpr of each before interpolating
    last = np.r_[fpr[1:] != fpr[:-1], True]
    return float(np.interp(background_efficiency, fpr[last], tpr[last]))


def background_rejection(labels, scores, signal_efficiency: float) -> float:
    """Background rejection 1/eps_B at a working point of signal efficiency eps_S
    (e.g. 0.3 or 0.5, as in the top-tagging comparison arXiv:1902.09914).

    eps_B is interpolated on the ROC curve; returns ``inf`` when no background passes."""
    if not 0 < signal_efficiency <= 1:
        raise ValueError(f"signal_efficiency must be in (0, 1], got {signal_efficiency}")
    fpr, tpr, _ = roc_curve(labels, scores)
    # first point reaching the target signal efficiency, interpolated within its segment
    i = int(np.searchsorted(tpr, signal_efficiency, side="left"))
    if tpr[i] == signal_efficiency or i == 0:
        eps_b = fpr[i]
    else:
        frac = (signal_efficiency - tpr[i - 1]) / (tpr[i] - tpr[i - 1])
        eps_b = fpr[i - 1] + frac * (fpr[i] - fpr[i - 1])
    return float(np.inf) if eps_b == 0 else float(1.0 / eps_b)


def background_rejection_error(labels, scores, signal_efficiency: float) -> tuple[float, float, float]:
    """``(1/eps_B, its binomial standard error, background jets passing)`` at eps_S.

    eps_B = k / N_B is a binomial fraction of the N_B background jets, so sigma(eps_B) =
    sqrt(eps_B (1 - eps_B) / N_B) and sigma(1/eps_B) = sigma(eps_B) / eps_B^2. The number
    passing, k = eps_B N_B, says how much a rejection rests on: 1/eps_B = 1000 from 7 jets is
    mostly noise. ``(inf, inf, 0)`` when no background passes."""
    labels = np.asarray(labels).reshape(-1)
    n_b = int(np.sum(labels == 0))
    rejection = background_rejection(labels, scores, signal_efficiency)
    if not np.isfinite(rejection):
        return float("inf"), float("inf"), 0.0
    eps_b = 1.0 / rejection
    sigma = np.sqrt(eps_b * (1.0 - eps_b) / n_b) / eps_b**2
    return float(rejection), float(sigma), float(eps_b * n_b)


def accuracy(labels, predictions) -> float:
    """Fraction of correct predictions. ``predictions`` are class indices, or scores/logits of
    shape (N, C) (argmax taken)."""
    labels = np.asarray(labels).reshape(-1)
    predictions = np.asarray(predictions)
    if predictions.ndim == 2:
        predictions = predictions.argmax(axis=1)
    if predictions.shape != labels.shape:
        raise ValueError(f"labels and predictions differ in shape: {labels.shape} vs {predictions.shape}")
    return float(np.mean(predictions == labels))


def evaluate(name: str, labels, scores, *, threshold: float | None = 0.0, n_params: int = 0,
             train_s: float = float("nan"), jets_per_s: float = float("nan")) -> dict:
    """One row of the results table: AUC, accuracy (score > ``threshold``; ``None`` = the
    best threshold on these jets, for cut-based taggers), 1/eps_B at eps_S = 0.3 and 0.5."""
    labels, scores = np.asarray(labels), np.asarray(scores, np.float64)
    if threshold is None:
        s = np.sort(scores)
        cand = s[:: max(1, len(s) // 500)]
        acc = max(accuracy(labels, scores > t) for t in cand)
    else:
        acc = accuracy(labels, scores > threshold)
    (rej30, err30, n30), (rej50, err50, n50) = (background_rejection_error(labels, scores, e) for e in (0.3, 0.5))
    return {"model": name, "auc": auc(labels, scores), "acc": acc,
            "rej30": rej30, "rej30_err": err30, "n_bkg30": n30,
            "rej50": rej50, "rej50_err": err50, "n_bkg50": n50,
            "params": int(n_params), "train_s": float(train_s), "jets_per_s": float(jets_per_s)}


def _cell(v) -> str:
    return f"{v:>9}" if isinstance(v, str) else f"{v:9.1f}"


def _rejection_cell(r: dict, key: str) -> str:
    """'1/eps_B +- error (background jets passing)' where :func:`evaluate` gave them."""
    value, err, n = r[key], r.get(key + "_err"), r.get("n_bkg" + key[3:])
    if err is None or not np.isfinite(value):
        return f"{value:>17.0f}" if np.isfinite(value) else f"{'inf (0 pass)':>17}"
    return f"{f'{value:.0f}±{err:.0f} ({n:.0f})':>17}"


def results_table(rows: list[dict]) -> str:
    """A fixed-width text table of :func:`evaluate` rows (``train_s`` may be a string, e.g.
    "2.1+pre" for a fine-tuned pretrained model). Rejections read '1/eps_B ± binomial error
    (number of background jets passing)'."""
    head = (f"{'model':<28}{'AUC':>7}{'acc':>7}{'1/eB@.3 ± (n)':>17}{'1/eB@.5 ± (n)':>17}"
            f"{'params':>9}{'train s':>9}{'jets/s':>9}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['model']:<28}{r['auc']:7.4f}{r['acc']:7.3f}{_rejection_cell(r, 'rej30')}"
                     f"{_rejection_cell(r, 'rej50')}{r['params']:9d}{_cell(r['train_s'])}{r['jets_per_s']:9.0f}")
    return "\n".join(lines)
