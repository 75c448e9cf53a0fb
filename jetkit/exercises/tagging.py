"""Checks of notebook 02 (jet tagging): masked pooling, kNN graph, background rejection."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jetkit import metrics
from jetkit.exercises import _core as exercises
from jetkit.models.deepsets import masked_sum
from jetkit.models.gnn import knn

__all__ = []


@exercises.register("02_pooling", hint="Zero the padded rows (jnp.where with mask[..., None]) and "
                    "sum over the particle axis (axis=-2); the result has shape (B, C).")
def _check_pooling(pool) -> bool:
    rng = np.random.default_rng(2)
    h = rng.normal(size=(4, 10, 3)).astype(np.float32)
    mask = np.arange(10)[None, :] < np.array([[3], [10], [1], [6]])
    expected = np.asarray(masked_sum(h, mask))
    got = np.asarray(pool(jnp.asarray(h), jnp.asarray(mask)))
    if got.shape != expected.shape:
        return exercises.fail(f"the pooled array should have shape (batch, channels) = {expected.shape}, "
                              f"got {got.shape}.")
    junk = np.where(mask[..., None], h, 99.0).astype(np.float32)
    if not np.allclose(np.asarray(pool(jnp.asarray(junk), jnp.asarray(mask))), got, atol=1e-4):
        return exercises.fail("padded slots change your result: they must be ignored.")
    perm = rng.permutation(10)
    if not np.allclose(np.asarray(pool(jnp.asarray(h[:, perm]), jnp.asarray(mask[:, perm]))), got, atol=1e-4):
        return exercises.fail("shuffling the particles changes your result: it is not permutation invariant.")
    if not np.allclose(got, expected, rtol=1e-4, atol=1e-4):
        return exercises.fail("invariant, but not the masked *sum* the Deep Sets model uses.")
    return exercises.ok("permutation invariant, padding-blind, and equal to the masked sum.")


@exercises.register("02_knn", hint="Squared distances d[i, j] from the coordinates; put padded j "
                    "and j == i at +inf; jax.lax.top_k(-d, k) gives the k nearest.")
def _check_knn(answer, coords, mask, k) -> bool:
    answer = np.asarray(answer)
    coords, mask = np.asarray(coords, np.float32), np.asarray(mask, bool)
    if answer.shape != (len(coords), k):
        return exercises.fail(f"expected indices of shape (n_particles, k) = {(len(coords), k)}, got {answer.shape}.")
    idx, valid = knn(jnp.asarray(coords)[None], jnp.asarray(mask)[None], k)
    idx, valid = np.asarray(idx[0]), np.asarray(valid[0])
    padded = set(np.flatnonzero(~mask).tolist())
    for i in np.flatnonzero(mask):
        if not valid[i].all() or set(answer[i].tolist()) == set(idx[i].tolist()):
            continue
        if padded & set(answer[i].tolist()):
            return exercises.fail("a padded slot was chosen as a neighbour.")
        if i in answer[i]:
            return exercises.fail("a particle is its own neighbour: exclude j == i.")
        return exercises.fail(f"particle {i} has the wrong neighbours.")
    return exercises.ok()


@exercises.register("02_rejection", hint="Find the score threshold that keeps half of the top jets "
                    "(or read eps_B off metrics.roc_curve at tpr = 0.5), then 1/eps_B.")
def _check_rejection(answer, labels, scores) -> bool:
    return exercises.check_close(answer, metrics.background_rejection(labels, scores, 0.5), rtol=0.03)
