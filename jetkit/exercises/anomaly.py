"""Checks of notebook 03 (anomaly detection): R_z by hand and a 1 % background threshold."""

from __future__ import annotations

import numpy as np

from jetkit.exercises import _core as exercises
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
