"""Checks of notebook 03 (anomaly detection): R_z by hand, a 1 % background threshold and the
significance improvement eps_S / sqrt(eps_B) of a score."""

from __future__ import annotations

import numpy as np

from jetkit.exercises import _core as exercises
from jetkit.metrics.anomaly import significance_improvement
from jetkit.models.autoencoders import rz_score

__all__ = []


@exercises.register(
    "03_rz",
    hint="R_z adds, over the latent dimensions of each jet, mu squared divided by the variance "
    "sigma^2 = exp(logvar); the result has one number per jet.",
)
def _check_rz(answer, mu, logvar) -> bool:
    expected = np.asarray(rz_score(mu, logvar))
    answer = np.asarray(answer, dtype=float)
    if answer.shape != expected.shape:
        return exercises.fail(f"expected one value per jet, shape {expected.shape}, got {answer.shape}")
    if not np.allclose(answer, expected, rtol=1e-4, atol=1e-5):
        return exercises.fail("the values differ: divide by the variance exp(logvar), not by the "
                              "standard deviation or by logvar, and sum over the last axis")
    return exercises.ok("R_z computed from the encoder alone: no decoder needed")


@exercises.register(
    "03_threshold",
    hint="take the quantile of the *background* scores that leaves the requested fraction above "
    "it (np.quantile with 1 - fraction).",
)
def _check_threshold(answer, background_scores, fraction: float = 0.01) -> bool:
    s = np.asarray(background_scores, dtype=float)
    try:
        t = float(answer)
    except (TypeError, ValueError):
        return exercises.fail("the answer should be one number: the score threshold")
    kept = float(np.mean(s > t))
    if abs(kept - fraction) > max(0.2 * fraction, 2.0 / len(s)):
        return exercises.fail(f"{kept:.4f} of the background passes your cut, not {fraction:g}")
    return exercises.ok(f"{kept:.4f} of the background passes the cut")


@exercises.register(
    "03_sic",
    hint="Find the score threshold that keeps the fraction eps_b of the background (a quantile of the "
    "background scores), take the fraction of signal jets above it (eps_S) and divide by sqrt(eps_b).",
)
def _check_sic(answer, labels, scores, eps_b) -> bool:
    labels = np.asarray(labels)
    expected = significance_improvement(labels, scores, eps_b)
    if answer is None:
        return exercises.fail("your answer is None: compute eps_S / sqrt(eps_B)")
    value = float(np.asarray(answer))
    eps_s = expected * np.sqrt(eps_b)
    if np.isclose(value, eps_s, rtol=0.03):
        return exercises.fail("that is eps_S itself: divide it by sqrt(eps_B)")
    if np.isclose(value, eps_s / eps_b, rtol=0.03):
        return exercises.fail("divide by the square root of eps_B, not by eps_B")
    if not np.isclose(value, expected, rtol=0.03):  # a quantile threshold vs the interpolated ROC
        return exercises.fail("the threshold must keep the fraction eps_b of the BACKGROUND jets "
                              "(labels == 0), and eps_S is counted among the signal jets (labels == 1)")
    return exercises.ok("a cut there multiplies s / sqrt(b) by this factor; above 1, the cut helps")
