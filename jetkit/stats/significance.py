"""Discovery significances of counting experiments, in JAX (differentiable, float32-safe).

- Asimov discovery significance (Cowan, Cranmer, Gross, Vitells, arXiv:1007.1727, eq. 97):
  ``Z = sqrt(2 ((s + b) ln(1 + s/b) - s))``; with a background uncertainty ``sigma_b``
  (the background is a nuisance constrained by an auxiliary measurement):
  ``Z = sqrt(2 [(s+b) ln((s+b)(b+sb^2) / (b^2+(s+b) sb^2)) - b^2/sb^2 ln(1 + sb^2 s/(b(b+sb^2)))])``.
  Both are evaluated in a cancellation-free form (a series for s << b), so float32 is enough.
- Binned significance: independent bins add in quadrature, ``Z^2 = sum_i Z_i^2``, each with
  ``sigma_b,i = rel_unc * b_i`` (a background prediction known to a relative precision per bin).

Negative yields, empty background bins or NaN raise a ``ValueError`` when the inputs are concrete.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jetkit.stats._checks import _check_yields
from jetkit.validation import is_concrete

__all__ = ["asimov_significance", "binned_significance"]


def _safe_sqrt(z2):
    positive = z2 > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, z2, 1.0)), 0.0)


def _half_z2_over_b(u, b, var):
    """Z^2 / (2 b) as a function of u = s/b, b and var = sigma_b^2, written with
    v = var/(b + var), w = 1 - v = b/(b + var) and k = var/b, each computed without cancellation.

    Exact form ``(1+u) ln(1 + u w/(1+uv)) - ln(1 + uv)/k``; for small u the series
    ``sum_{n>=2} (-1)^n (1 - v^(n-1)) u^n / (n(n-1))`` avoids the cancellation between the terms."""
    v = var / (b + var)
    w = b / (b + var)
    k = var / b
    small = u < 0.05
    us = jnp.where(small, u, 0.0)
    log_v = jnp.log1p(-jnp.minimum(w, 1.0))  # ln v (= -inf when var = 0, harmless below)
    series = sum((-1) ** n * -jnp.expm1((n - 1) * log_v) * us**n / (n * (n - 1)) for n in range(2, 8))
    ul = jnp.where(small, 1.0, u)
    # ln(1 + u v) / k -> u w as k -> 0 (no uncertainty)
    has_k = k > 1e-12
    second = jnp.where(has_k, jnp.log1p(ul * v) / jnp.where(has_k, k, 1.0), ul * w)
    exact = (1 + ul) * jnp.log1p(ul * w / (1 + ul * v)) - second
    return jnp.where(small, series, exact)


@jax.jit
def _asimov(s, b, var):
    return _safe_sqrt(2.0 * b * jnp.maximum(_half_z2_over_b(s / b, b, var), 0.0))


def asimov_significance(s, b, sigma_b=None):
    """Median discovery significance Z for ``s`` expected signal and ``b`` expected background
    events (elementwise; arXiv:1007.1727).

    Without ``sigma_b``: ``Z = sqrt(2((s+b) ln(1+s/b) - s))``, which tends to ``s/sqrt(b)`` for
    ``s << b``. With an absolute background uncertainty ``sigma_b`` (same units as ``b``) the
    profiled formula, which tends to ``s/sqrt(b + sigma_b^2)`` for ``s << b`` and to the first
    formula as ``sigma_b -> 0``.

    Raises ValueError (for concrete inputs) on negative yields or b = 0 (an empty bin)."""
    _check_yields(s, b, sigma_b)
    s, b = jnp.asarray(s), jnp.asarray(b)
    dtype = jnp.result_type(s.dtype, b.dtype, jnp.float32)
    var = jnp.zeros((), dtype) if sigma_b is None else jnp.square(jnp.asarray(sigma_b, dtype))
    return _asimov(s.astype(dtype), b.astype(dtype), var)


def binned_significance(s, b, rel_unc: float = 0.0, *, b_floor: float = 0.0):
    """Combined significance of independent bins: ``sqrt(sum_i Z_i^2)`` with
    ``Z_i = asimov_significance(s_i, b_i, rel_unc * b_i)``.

    ``rel_unc`` is the relative uncertainty on the background prediction of each bin (0: none).
    ``b_floor`` (>= 0) is added to every background yield; a small floor keeps a training loss
    finite when a bin runs empty (leave it at 0 to evaluate). Raises ValueError on negative
    yields, on empty background bins (with ``b_floor = 0``), or on ``rel_unc < 0``."""
    if is_concrete(rel_unc) and not float(rel_unc) >= 0:
        raise ValueError(f"rel_unc must be >= 0, got {rel_unc!r}")
    s, b = jnp.asarray(s), jnp.asarray(b)
    if s.shape != b.shape:
        raise ValueError(f"s and b must have the same shape (one yield per bin), got {s.shape}, {b.shape}")
    b = b + b_floor
    z = asimov_significance(s, b, None if is_concrete(rel_unc) and float(rel_unc) == 0 else rel_unc * b)
    return _safe_sqrt(jnp.sum(jnp.square(z)))
