"""Contrastive learning of jet representations: the NT-Xent loss and diagnostics of invariance.

JetCLR (arXiv:2108.04253) trains a network f on two augmented views of each jet
(:mod:`jetkit.physics.augmentations`) with the SimCLR / NT-Xent loss (arXiv:2002.05709): the
projections of the two views of one jet attract, those of different jets repel.

>>> loss = nt_xent(model(view1, mask1), model(view2, mask2), temperature=0.1)
>>> representation_similarity(h_view1, h_view2)    # paired vs random pairs of jets

:func:`alignment_and_uniformity` gives the two figures of merit of Wang & Isola
(arXiv:2005.10242). All functions work on (B, D) arrays; :func:`nt_xent` and
:func:`alignment_and_uniformity` are jit-able and differentiable. Inputs are checked
(``ValueError``) when they are concrete. Zero vectors are normalised safely (never NaN).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jetkit.validation import check_positive, is_concrete

__all__ = ["Similarity", "alignment_and_uniformity", "normalize", "nt_xent", "representation_similarity"]

_EPS = 1e-12  # smallest norm used to normalise; a zero vector stays zero (and its gradient finite)


class Similarity(NamedTuple):
    """Mean cosine similarity of paired rows (two views of the same jet) and of random pairs."""

    paired: float
    random: float


def _check_pair(a, b, names: tuple[str, str] = ("z1", "z2")) -> tuple[jax.Array, jax.Array]:
    """Two (B, D) arrays of the same shape with B >= 2, as float JAX arrays."""
    sa, sb = np.shape(a), np.shape(b)
    if len(sa) != 2 or sa != sb:
        raise ValueError(
            f"{names[0]} and {names[1]} must both have shape (batch, dim), the same for both (row i of each "
            f"is a view of jet i); got {sa} and {sb}."
        )
    if sa[0] < 2:
        raise ValueError(f"a contrastive batch needs at least 2 jets (negatives); got batch size {sa[0]}")
    a, b = jnp.asarray(a), jnp.asarray(b)
    dtype = jnp.promote_types(jnp.result_type(a, b), jnp.float32)
    a, b = a.astype(dtype), b.astype(dtype)
    if is_concrete(a, b) and not (np.all(np.isfinite(np.asarray(a))) and np.all(np.isfinite(np.asarray(b)))):
        raise ValueError(f"{names[0]} and {names[1]} must be finite (no NaN or inf)")
    return a, b


def _check_temperature(temperature) -> None:
    if np.ndim(temperature) != 0:
        raise ValueError(f"temperature must be a scalar, got shape {np.shape(temperature)}")
    if is_concrete(temperature):
        check_positive(float(temperature), "temperature")
        if not math.isfinite(float(temperature)):
            raise ValueError(f"temperature must be finite, got {temperature!r}")


def normalize(z: jax.Array) -> jax.Array:
    """Rows of ``z`` (..., D) scaled to unit L2 norm; a zero row stays zero (no NaN, finite
    gradient)."""
    z = jnp.asarray(z)
    sq = jnp.sum(z * z, axis=-1, keepdims=True)
    return z * jax.lax.rsqrt(jnp.maximum(sq, _EPS**2))


def nt_xent(z1: jax.Array, z2: jax.Array, temperature: float = 0.1) -> jax.Array:
    """NT-Xent (normalised temperature-scaled cross entropy) loss of SimCLR (arXiv:2002.05709),
    as used by JetCLR (arXiv:2108.04253).

    ``z1``, ``z2``: (B, D) projections of two views of the same B jets. The 2B rows are
    L2-normalised; s_ij = cos(z_i, z_j) / temperature. For each anchor i its positive is the other
    view of the same jet (i <-> i + B) and the other 2B - 2 views are negatives:

        loss = mean_i [ -s_i,pos(i) + log sum_{j != i} exp(s_ij) ]

    Returns a scalar; its minimum for perfectly aligned, maximally separated views is ~0 at low
    temperature, and it is log(2B - 1) when all rows are equal.

    Raises:
        ValueError: shapes differ or are not (B, D), B < 2, temperature <= 0, or NaN/inf input.
    """
    _check_temperature(temperature)
    z1, z2 = _check_pair(z1, z2)
    return _nt_xent(z1, z2, temperature)


@jax.jit
def _nt_xent(z1, z2, temperature):
    b = z1.shape[0]
    z = normalize(jnp.concatenate([z1, z2], axis=0))
    sim = (z @ z.T) / jnp.asarray(temperature, z.dtype)
    pos = jnp.concatenate([jnp.arange(b, 2 * b), jnp.arange(b)])
    positive = jnp.take_along_axis(sim, pos[:, None], axis=1)
    # -s_pos + log(e^s_pos + sum_neg e^s_neg) = log(1 + sum_neg e^(s_neg - s_pos)), written with
    # logaddexp so that a loss near 0 keeps its relative precision in float32
    idx = jnp.arange(2 * b)
    skip = (idx[:, None] == idx[None, :]) | (idx[None, :] == pos[:, None])
    negatives = jax.nn.logsumexp(jnp.where(skip, -jnp.inf, sim - positive), axis=1)
    return jnp.mean(jnp.logaddexp(0.0, negatives))


def _derangement(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j) with i != j everywhere: a random cyclic derangement of range(n)."""
    perm = np.random.default_rng(seed).permutation(n)
    return perm, np.roll(perm, -1)


def representation_similarity(h_a, h_b, *, seed: int = 0) -> Similarity:
    """Mean cosine similarity of the paired rows of ``h_a`` and ``h_b`` (B, D) (two views of jet
    i), and of random pairs (row i of ``h_a`` with row j != i of ``h_b``; a seeded random
    derangement).

    An invariant representation has ``paired`` close to 1 and clearly above ``random``.
    Returns a :class:`Similarity` of floats."""
    a, b = _check_pair(h_a, h_b, ("h_a", "h_b"))
    i, j = _derangement(a.shape[0], seed)
    paired, shuffled = _similarities(a, b, i, j)
    return Similarity(float(paired), float(shuffled))


@jax.jit
def _similarities(a, b, i, j):
    a, b = normalize(a), normalize(b)
    return jnp.mean(jnp.sum(a * b, axis=-1)), jnp.mean(jnp.sum(a[i] * b[j], axis=-1))


def alignment_and_uniformity(z1, z2, *, alpha: float = 2.0, t: float = 2.0) -> tuple[jax.Array, jax.Array]:
    """Alignment and uniformity of normalised representations (Wang & Isola, arXiv:2005.10242).

    alignment = mean_i ||u_i - v_i||^alpha over the paired rows (0 is perfect invariance);
    uniformity = log mean_{i<j} exp(-t ||x_i - x_j||^2) over all pairs of the 2B rows (lower is
    more uniform on the sphere; 0 when all rows coincide). Returns two scalars."""
    check_positive(alpha, "alpha")
    check_positive(t, "t")
    u, v = _check_pair(z1, z2)
    return _alignment_uniformity(u, v, alpha, t)


@jax.jit
def _alignment_uniformity(u, v, alpha, t):
    u, v = normalize(u), normalize(v)
    d2 = jnp.sum((u - v) ** 2, axis=-1)
    safe = jnp.where(d2 > 0, d2, 1.0)  # finite gradient at u == v for alpha < 2
    alignment = jnp.mean(jnp.where(d2 > 0, safe ** (alpha / 2), 0.0))
    x = jnp.concatenate([u, v], axis=0)
    sq = jnp.clip(2.0 - 2.0 * (x @ x.T), 0.0)  # ||x_i - x_j||^2 of unit vectors
    iu = np.triu_indices(x.shape[0], k=1)
    uniformity = jax.nn.logsumexp(-t * sq[iu]) - np.log(len(iu[0]))
    return alignment, uniformity
