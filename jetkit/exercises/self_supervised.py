"""Checks of notebook 06 (self-supervised representations): the NT-Xent loss of one batch by
hand, and the cosine similarity of a jet's representation to its augmented view."""

from __future__ import annotations

import numpy as np

from jetkit.exercises import _core as exercises
from jetkit.models.contrastive import nt_xent

__all__ = []


@exercises.register(
    "06_nt_xent",
    hint="stack the two views into 2B unit vectors, take all cosine similarities divided by the "
    "temperature, and for every row i compute -s(i, partner) + log of the sum of exp(s(i, j)) over "
    "all j except i itself; average over the 2B rows.",
)
def _check_nt_xent(answer, z1, z2, temperature: float) -> bool:
    expected = float(nt_xent(z1, z2, temperature))
    try:
        value = float(np.asarray(answer).item())
    except (TypeError, ValueError):
        return exercises.fail("the answer should be one number: the mean loss over the 2B views")
    if not np.isfinite(value):
        return exercises.fail(f"your loss is {value}: subtract the largest logit before exp, or use "
                              "scipy.special.logsumexp")
    b = len(np.asarray(z1))
    if np.isclose(value, np.log(2 * b - 1), rtol=1e-3) and not np.isclose(expected, value, rtol=1e-3):
        return exercises.fail("log(2B - 1) is the loss of a batch whose views are all equal: did you "
                              "normalise the rows and divide by the temperature?")
    if not np.isclose(value, expected, rtol=1e-3, atol=1e-5):
        return exercises.fail("normalise every row to unit length, leave the row itself out of "
                              "the sum (but keep its partner in it), and average over both views")
    return exercises.ok(f"NT-Xent = {value:.4f}, the same as jetkit.models.contrastive.nt_xent")


@exercises.register(
    "06_similarity",
    hint="divide every representation by its length; the cosine similarity of two rows is then their "
    "dot product. Average it over the jets (row i of one array with row i of the other).",
)
def _check_similarity(answer, h, h_augmented) -> bool:
    a, b = np.asarray(h, np.float64), np.asarray(h_augmented, np.float64)
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    expected = float(np.mean(np.sum(a * b, axis=1)))
    try:
        value = float(np.asarray(answer).item())
    except (TypeError, ValueError):
        return exercises.fail("the answer should be one number: the mean cosine similarity over the jets")
    if abs(value) > 1 + 1e-6:
        return exercises.fail("a cosine similarity lies between -1 and 1: normalise the rows first")
    if not np.isclose(value, expected, atol=1e-4):
        return exercises.fail("compare each jet with its *own* augmented view (row i with row i), "
                              "after normalising both rows")
    return exercises.ok(f"mean cosine similarity {value:.3f} between a jet and its augmented view")
