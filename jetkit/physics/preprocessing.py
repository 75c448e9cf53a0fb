"""Preprocessing of constituent coordinates before pixelation (arXiv:1511.05190, 1701.08784).

It removes the symmetries that carry no information about the jet's origin, on the constituent
coordinates *before* pixelation, which avoids the interpolation artefacts of rotating pixels:

1. :func:`center`: translate so the pT-weighted centroid (or the leading constituent) is at 0;
2. :func:`rotate`: turn the principal axis of the pT-weighted cloud to the vertical (d_phi) axis;
3. :func:`flip`: reflect so the half with more pT is on the right (d_eta > 0) and on top
   (d_phi > 0).

Functions take padded ``particles`` (..., P, 3) = (pT [GeV], d_eta, d_phi) with a ``mask``
(..., P) (``None``: pT > 0), any number of leading batch axes, and are jit-able.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jetkit.validation import check_particles

__all__ = ["center", "flip", "preprocess", "rotate"]

_CENTER_METHODS = ("centroid", "leading")


def _center_method(value) -> str | None:
    """Map the ``center`` option (False/None, True, "centroid", "leading") to a method name."""
    if value is None or value is False:
        return None
    if value is True:
        return "centroid"
    if isinstance(value, str) and value in _CENTER_METHODS:
        return value
    raise ValueError(f"center must be False, True, 'centroid' or 'leading'; got {value!r}")


def _prepare(particles, mask):
    """Validate; return jax arrays (float particles, bool mask). Masked entries are zeroed inside
    the jitted functions, so padding never leaks (not even NaN)."""
    if not hasattr(particles, "shape"):
        particles = np.asarray(particles, dtype=np.float32)
    particles, mask = check_particles(particles, mask)
    dtype = jnp.promote_types(jnp.result_type(particles), jnp.float32)
    if isinstance(particles, np.ndarray) or not hasattr(particles, "dtype"):
        p = jnp.asarray(np.asarray(particles, dtype=dtype))
    else:
        p = jnp.asarray(particles).astype(dtype)
    m = jnp.asarray(mask)
    if m.dtype != bool:
        m = m.astype(bool)
    return p, m


def _weights(p, m):
    return jnp.where(m, p[..., 0], 0.0)


def _with_xy(p, m, x, y):
    """Replace (d_eta, d_phi) of unmasked constituents; masked ones stay zero."""
    x = jnp.where(m, x, 0.0)
    y = jnp.where(m, y, 0.0)
    return jnp.stack([p[..., 0], x, y], axis=-1)


def _center(p, m, method: str = "centroid"):
    w = _weights(p, m)
    x, y = p[..., 1], p[..., 2]
    if method == "leading":
        lead = jnp.argmax(w, axis=-1)[..., None]
        cx = jnp.take_along_axis(x, lead, axis=-1)
        cy = jnp.take_along_axis(y, lead, axis=-1)
    else:
        total = w.sum(axis=-1, keepdims=True)
        safe = jnp.where(total > 0, total, 1.0)
        cx = (w * x).sum(axis=-1, keepdims=True) / safe
        cy = (w * y).sum(axis=-1, keepdims=True) / safe
    return _with_xy(p, m, x - cx, y - cy)


def _rotate(p, m):
    w = _weights(p, m)
    x, y = p[..., 1], p[..., 2]
    total = w.sum(axis=-1, keepdims=True)
    safe = jnp.where(total > 0, total, 1.0)
    mx = (w * x).sum(axis=-1, keepdims=True) / safe
    my = (w * y).sum(axis=-1, keepdims=True) / safe
    dx, dy = x - mx, y - my
    cxx = (w * dx * dx).sum(axis=-1) / safe[..., 0]
    cyy = (w * dy * dy).sum(axis=-1) / safe[..., 0]
    cxy = (w * dx * dy).sum(axis=-1) / safe[..., 0]
    # Principal (major) axis at angle theta from the d_eta axis. An isotropic cloud (a single
    # constituent, or equal eigenvalues) has no principal axis: leave it unrotated.
    a, b = 2.0 * cxy, cxx - cyy
    scale = cxx + cyy
    degenerate = jnp.abs(a) + jnp.abs(b) <= 1e-6 * scale + 1e-30
    theta = 0.5 * jnp.arctan2(jnp.where(degenerate, 0.0, a), jnp.where(degenerate, 1.0, b))
    alpha = jnp.where(degenerate, 0.0, 0.5 * jnp.pi - theta)[..., None]
    c, s = jnp.cos(alpha), jnp.sin(alpha)
    xr = c * x - s * y
    yr = s * x + c * y
    # The axis has no direction; choose the one along which the pT-weighted skewness is >= 0,
    # so the result does not depend on how the input was oriented.
    du = yr - (s * mx + c * my)  # rotated vertical coordinate relative to the rotated centroid
    skew = (w * du**3).sum(axis=-1, keepdims=True)
    sign = jnp.where(degenerate[..., None] | (skew >= 0), 1.0, -1.0)
    return _with_xy(p, m, sign * xr, sign * yr)


def _flip(p, m):
    w = _weights(p, m)
    x, y = p[..., 1], p[..., 2]
    sx = jnp.where((w * (x < 0)).sum(-1) > (w * (x > 0)).sum(-1), -1.0, 1.0)[..., None]
    sy = jnp.where((w * (y < 0)).sum(-1) > (w * (y > 0)).sum(-1), -1.0, 1.0)[..., None]
    return _with_xy(p, m, sx * x, sy * y)


_CODES = {None: 0, "centroid": 1, "leading": 2}


def _preprocess(p, m, flags):
    """All steps with run-time switches ``flags`` = (center code, rotate, flip, normalise), so
    one compiled function serves every combination of options (the steps are cheap)."""
    code, do_rotate, do_flip, do_norm = (flags[..., i] for i in range(4))
    p = jnp.where(m[..., None], p, 0.0)
    p = jnp.where(code == 1, _center(p, m, "centroid"), p)
    p = jnp.where(code == 2, _center(p, m, "leading"), p)
    p = jnp.where(do_rotate > 0, _rotate(p, m), p)
    p = jnp.where(do_flip > 0, _flip(p, m), p)
    w = _weights(p, m)
    total = w.sum(axis=-1, keepdims=True)
    z = p.at[..., 0].set(w / jnp.where(total > 0, total, 1.0))
    return jnp.where(do_norm > 0, z, p)


def _flags(center_method, rotate, flip, normalise):
    return np.array([_CODES[center_method], bool(rotate), bool(flip), bool(normalise)], np.int32)


_preprocess_jit = jax.jit(_preprocess)


def center(particles, mask=None, method: str = "centroid"):
    """Translate each jet so its pT-weighted centroid (``method="centroid"``) or its leading
    constituent (``"leading"``) sits at (d_eta, d_phi) = (0, 0).

    Returns particles (..., P, 3) with new coordinates; pT and the mask are unchanged and masked
    entries are zeroed."""
    method = _center_method(method)
    if method is None:
        raise ValueError("method must be 'centroid' or 'leading'")
    p, m = _prepare(particles, mask)
    return _preprocess_jit(p, m, _flags(method, False, False, False))


def rotate(particles, mask=None):
    """Rotate each jet about (0, 0) so the principal axis of its pT-weighted constituent cloud
    (major eigenvector of the pT-weighted covariance of (d_eta, d_phi)) is vertical (along
    d_phi).

    The axis's direction is fixed by making the pT-weighted third moment along it >= 0, so the
    result does not depend on the input's orientation. Jets without a principal axis (one
    constituent, or an isotropic cloud) are returned unrotated. Call :func:`center` first to
    rotate about the centroid."""
    p, m = _prepare(particles, mask)
    return _preprocess_jit(p, m, _flags(None, True, False, False))


def flip(particles, mask=None):
    """Reflect d_eta -> -d_eta if more pT lies at d_eta < 0 than at d_eta > 0, and likewise for
    d_phi, so the half with more pT is always on the right and on top."""
    p, m = _prepare(particles, mask)
    return _preprocess_jit(p, m, _flags(None, False, True, False))


def preprocess(
    particles,
    mask=None,
    *,
    center: bool | str = "centroid",
    rotate: bool = True,
    flip: bool = True,
    normalise: bool = False,
):
    """The standard preprocessing chain on constituent coordinates: center, rotate, flip (in that
    order), each optional.

    Args:
        particles: (..., P, 3) = (pT [GeV], d_eta, d_phi).
        mask: (..., P) bool, or ``None`` for pT > 0.
        center: ``"centroid"`` (or ``True``), ``"leading"``, or ``False``.
        rotate: principal axis to the vertical, see :func:`rotate`.
        flip: more pT to the right and to the top, see :func:`flip`.
        normalise: replace pT by the momentum fraction z_i = pT_i / sum pT, so an image of the
            result sums to 1 when the jet fits in the window.

    Returns:
        particles (..., P, 3) with transformed coordinates (masked entries zeroed).
    """
    method = _center_method(center)
    p, m = _prepare(particles, mask)
    return _preprocess_jit(p, m, _flags(method, rotate, flip, normalise))
