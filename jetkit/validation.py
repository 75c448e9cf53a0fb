"""Input checks shared by every function that takes jets: a clear ``ValueError``, never a NaN.

Feature functions are jit-able, so they cannot raise on traced values. Each public function calls
:func:`check_particles` first: shapes are always checked; values (NaN, negative pT, empty jets)
are checked whenever the inputs are concrete arrays, which is the case in every notebook cell.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["check_batch", "check_beta", "check_cloud", "check_particles", "check_positive", "is_concrete"]


def is_concrete(*xs) -> bool:
    """True when no argument is a JAX tracer (we are not inside jit/vmap/grad)."""
    return not any(isinstance(x, jax.core.Tracer) for x in xs)


def check_particles(particles, mask=None, *, name: str = "particles", allow_empty: bool = False):
    """Validate a padded constituent array ``(..., P, 3)`` = (pT [GeV], d_eta, d_phi) and its mask.

    Returns ``(particles, mask)``; a missing mask is derived as ``pT > 0``.

    Raises:
        ValueError: wrong shape, mask shape mismatch, NaN or infinite values, negative pT, or a
            jet with no unmasked constituent (unless ``allow_empty``). The message says what was
            wrong and how to fix it.
    """
    shape = np.shape(particles)
    if len(shape) < 2 or shape[-1] != 3:
        raise ValueError(
            f"{name} must have shape (..., n_particles, 3) with columns (pT, d_eta, d_phi); "
            f"got shape {shape}. Stack the columns with jnp.stack([pt, deta, dphi], axis=-1)."
        )
    if mask is None:
        mask = particles[..., 0] > 0
    elif np.shape(mask) != shape[:-1]:
        raise ValueError(
            f"mask must have shape {shape[:-1]} (one flag per constituent of {name}); "
            f"got {np.shape(mask)}."
        )
    if is_concrete(particles, mask):
        p = np.asarray(particles)
        m = np.asarray(mask, dtype=bool)
        if not np.all(np.isfinite(p[m])):
            raise ValueError(
                f"{name} contains NaN or infinite values in unmasked constituents; "
                "clean the input (e.g. np.nan_to_num) or mask those entries."
            )
        if np.any(p[..., 0][m] < 0):
            raise ValueError(
                f"{name} has negative transverse momenta in unmasked constituents; "
                "pT must be >= 0 GeV (is column 0 really pT?)."
            )
        if not allow_empty and np.any(~m.any(axis=-1)):
            bad = np.argwhere(~m.any(axis=-1))[:5].tolist()
            raise ValueError(
                f"{name} has jets with no unmasked constituent (first indices: {bad}); "
                "drop empty jets before computing features."
            )
    return particles, mask


def check_positive(value: float, name: str) -> float:
    """Raise a ValueError unless ``value`` > 0."""
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return value


def check_beta(beta: float) -> float:
    """Raise a ValueError unless the angular exponent ``beta`` >= 0."""
    if not beta >= 0:
        raise ValueError(f"beta must be >= 0, got {beta!r}")
    return beta


def check_batch(particles, mask=None, **positive):
    """:func:`check_particles` for a batch (N, P, 3), plus ``name=value`` parameters that must be
    > 0 (e.g. ``r0=0.8``). Returns JAX arrays ``(particles, mask)``."""
    for name, value in positive.items():
        check_positive(value, name)
    particles, mask = check_particles(particles, mask)
    if np.ndim(particles) != 3:
        raise ValueError(
            f"particles must be a batch of shape (n_jets, n_particles, 3); got {np.shape(particles)}. "
            "Add a batch axis for a single jet: particles[None]."
        )
    return jnp.asarray(particles), jnp.asarray(mask, bool)


def check_cloud(particles, mask=None, *, positive_pt: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Validate a batch of particle clouds (N, P, 3) = (pT [GeV], d_eta, d_phi) for numpy code
    (generative models and their metrics). Returns float64 ``(particles, mask)`` with padded
    entries set to 0; a missing mask is ``pT > 0``.

    Raises ValueError on a wrong shape, a mask that does not fit, NaN/inf in unmasked entries,
    or (``positive_pt``) an unmasked particle with pT <= 0."""
    particles = np.asarray(particles, dtype=np.float64)
    if particles.ndim != 3 or particles.shape[-1] != 3:
        raise ValueError(f"particles must have shape (n_jets, n_particles, 3), got {particles.shape}")
    mask = particles[..., 0] > 0 if mask is None else np.asarray(mask, bool)
    if mask.shape != particles.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match particles {particles.shape[:2]}")
    if not np.all(np.isfinite(particles[mask])):
        raise ValueError("particles contain NaN or infinite values in unmasked entries")
    if positive_pt and np.any(particles[..., 0][mask] <= 0):
        raise ValueError("unmasked particles must have pT > 0")
    return np.where(mask[..., None], particles, 0.0), mask
