"""Checks of notebook 04 (generative models): W1 and the Fréchet distance by hand."""

from __future__ import annotations

from jetkit.exercises import _core as exercises
from jetkit.metrics.generative import w1

__all__ = []


@exercises.register("04_w1_by_hand", hint="For two samples of the same size, sort both and "
                    "average the absolute differences of the sorted values.")
def _check_w1_by_hand(answer, u, v) -> bool:
    return exercises.check_close(answer, w1(u, v), rtol=1e-4, atol=1e-9)


@exercises.register("04_fpd_gaussians", hint="In one dimension the covariance is sigma^2 and "
                    "Tr(S_x + S_y - 2 sqrt(S_x S_y)) becomes a perfect square.")
def _check_fpd_gaussians(answer, mu_x, sigma_x, mu_y, sigma_y) -> bool:
    return exercises.check_close(answer, (mu_x - mu_y) ** 2 + (sigma_x - sigma_y) ** 2, rtol=1e-4)
