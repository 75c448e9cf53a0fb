"""Figures of merit: classification (ROC, AUC, background rejection, results tables),
anomaly detection (efficiencies at fixed background rate) and generative models (W1, FPD, KPD
with bootstrap errors, arXiv:2211.10295).

>>> from jetkit import metrics
>>> metrics.auc(labels, scores), metrics.background_rejection(labels, scores, 0.5)
>>> metrics.generative.evaluate((p_true, m_true), {"flow": (p_gen, m_gen)})

The per-topic ``evaluate``/``format_table`` pairs live in their modules:
:mod:`~jetkit.metrics.classification`, :mod:`~jetkit.metrics.anomaly`,
:mod:`~jetkit.metrics.generative`.
"""

from jetkit.metrics import anomaly, classification, generative
from jetkit.metrics.classification import (accuracy, auc, background_rejection, background_rejection_error,
                                           results_table, roc_curve, signal_efficiency_at)
from jetkit.metrics.generative import bootstrap, fpd, kpd, w1, w1m, w1p

__all__ = ["accuracy", "anomaly", "auc", "background_rejection", "background_rejection_error", "bootstrap",
           "classification", "fpd", "generative", "kpd", "results_table", "roc_curve", "signal_efficiency_at", "w1", "w1m", "w1p"]
