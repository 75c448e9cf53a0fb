"""Jet augmentations for self-supervised (contrastive) learning, as in JetCLR (arXiv:2108.04253).

A contrastive model sees two randomly augmented *views* of each jet and learns a representation
that is the same for both. The augmentations encode what should not matter:

- symmetries: :func:`rotate` (about the jet axis) and :func:`translate` (in the (eta, phi) plane);
- infrared and collinear (IRC) safety: :func:`collinear_split` (one constituent -> two collinear
  ones, same total four-vector) and :func:`add_soft` (extra soft constituents);
- detector effects: :func:`smear_pt` (a relative pT resolution).

:func:`augment` composes them into the JetCLR recipe. Every function takes an explicit
``jax.random`` key, padded ``particles`` (N, P, 3) = (pT [GeV], d_eta, d_phi [rad]) relative to
the jet axis and a ``mask`` (N, P) (``None``: pT > 0), and returns ``(particles, mask)`` of the
same shape: padded entries exactly 0, ``mask == (pT > 0)``, and sorted by pT descending whenever
pT changes. The (d_eta, d_phi) plane is treated as flat (no phi wrapping), a good approximation
for jets of radius R = 0.8 about their axis. All functions are jit-able; shapes are always
checked and values whenever the inputs are concrete (:mod:`jetkit.validation`). The jet
four-vector is :func:`jetkit.physics.kinematics.jet_p4`.

>>> key = jax.random.key(0)
>>> view1, m1 = augment(jax.random.fold_in(key, 1), particles, mask)
>>> view2, m2 = augment(jax.random.fold_in(key, 2), particles, mask)
"""

from __future__ import annotations

import math
import operator

import jax
import jax.numpy as jnp
import numpy as np

from jetkit.validation import check_batch, check_positive, is_concrete

__all__ = ["JET_RADIUS", "add_soft", "augment", "check_options", "collinear_split", "rotate", "smear_pt", "translate"]

JET_RADIUS = 0.8  # anti-kT jet radius of the shipped datasets
_LOG_CLIP = 10.0  # |ln(smearing factor)| <= 10, so a smeared pT never underflows to 0


# ------------------------------------------------------------------------------------------------
# input checks
# ------------------------------------------------------------------------------------------------


def _prepare(particles, mask):
    """Validated float (>= float32) particles and bool mask as JAX arrays."""
    if not hasattr(particles, "shape"):
        particles = np.asarray(particles, dtype=np.float32)
    p, m = check_batch(particles, mask)
    return p.astype(jnp.promote_types(p.dtype, jnp.float32)), m


def _scalar(value, name: str, *, allow_zero: bool = False):
    """Check a float parameter (when concrete): a finite scalar, > 0 (or >= 0 if ``allow_zero``)."""
    if np.ndim(value) != 0:
        raise ValueError(f"{name} must be a scalar, got shape {np.shape(value)}")
    if is_concrete(value):
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"{name} must be finite, got {value!r}")
        if allow_zero:
            if v < 0:
                raise ValueError(f"{name} must be >= 0 (0 switches it off), got {value!r}")
        else:
            check_positive(v, name)
    return value


def _count(value, name: str, *, allow_zero: bool = False) -> int:
    """Check an integer parameter: a Python int >= 1 (or >= 0 if ``allow_zero``)."""
    try:
        if isinstance(value, bool):
            raise TypeError
        n = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if n < (0 if allow_zero else 1):
        raise ValueError(f"{name} must be >= {0 if allow_zero else 1}, got {n}")
    return n


# ------------------------------------------------------------------------------------------------
# jitted cores on validated arrays
# ------------------------------------------------------------------------------------------------


def _finish(p, m):
    """mask := mask & (pT > 0), padded entries set to exactly 0."""
    m = m & (p[..., 0] > 0)
    return jnp.where(m[..., None], p, jnp.zeros((), p.dtype)), m


def _sort_top(p, m, size: int):
    """Sort candidates by pT descending (padding last, stable) and keep the first ``size``."""
    order = jnp.argsort(jnp.where(m, -p[..., 0], jnp.inf), axis=-1, stable=True)[..., :size]
    p = jnp.take_along_axis(p, order[..., None], axis=-2)
    m = jnp.take_along_axis(m, order, axis=-1)
    return _finish(p, m)


def _rotate_core(key, p, m, turn=1.0):
    """Rotate by 2 pi u turn, u uniform in [0, 1) (turn = 0: exactly the identity)."""
    u = jax.random.uniform(key, m.shape[:1], p.dtype)[:, None]
    theta = 2 * jnp.pi * u * jnp.asarray(turn, p.dtype)
    c, s = jnp.cos(theta), jnp.sin(theta)
    x, y = p[..., 1], p[..., 2]
    return _finish(jnp.stack([p[..., 0], c * x - s * y, s * x + c * y], axis=-1), m)


def _translate_core(key, p, m, width):
    shift = jnp.asarray(width, p.dtype) * jax.random.normal(key, (m.shape[0], 1, 2), p.dtype)
    return _finish(p.at[..., 1:].add(shift), m)


def _collinear_core(key, p, m, n_split):
    key_pick, key_z = jax.random.split(key)
    size = m.shape[-1]
    n = m.sum(axis=-1, keepdims=True)
    k = jnp.minimum(jnp.minimum(n_split, n), size - n)  # per jet: asked, available, free slots
    u = jax.random.uniform(key_pick, m.shape, p.dtype)
    rank = jnp.argsort(jnp.argsort(jnp.where(m, u, 2.0), axis=-1), axis=-1)  # random order of reals
    split = m & (rank < k)
    eps = jnp.finfo(p.dtype).eps
    z = jnp.clip(jax.random.uniform(key_z, m.shape, p.dtype), eps, 1.0 - eps)
    pt = p[..., 0]
    kept = p.at[..., 0].set(jnp.where(split, z * pt, pt))
    new = jnp.where(split[..., None], p.at[..., 0].set((1.0 - z) * pt), 0.0)
    cand = jnp.concatenate([kept, new], axis=-2)
    return _sort_top(cand, jnp.concatenate([m, split], axis=-1), size)


def _soft_core(key, p, m, n_soft, pt_max, radius):
    # draw P candidates (the most free slots a jet can have), so n_soft is not a static shape
    k_pt, k_r, k_a = jax.random.split(key, 3)
    size = m.shape[-1]
    pt = jnp.asarray(pt_max, p.dtype) * (1.0 - jax.random.uniform(k_pt, m.shape, p.dtype))  # (0, pt_max]
    r = jnp.asarray(radius, p.dtype) * jnp.sqrt(jax.random.uniform(k_r, m.shape, p.dtype))  # uniform in the disc
    a = jax.random.uniform(k_a, m.shape, p.dtype, 0.0, 2 * jnp.pi)
    soft = jnp.stack([pt, r * jnp.cos(a), r * jnp.sin(a)], axis=-1)
    free = size - m.sum(axis=-1, keepdims=True)
    valid = jnp.arange(size) < jnp.minimum(n_soft, free)
    cand = jnp.concatenate([p, jnp.where(valid[..., None], soft, 0.0)], axis=-2)
    return _sort_top(cand, jnp.concatenate([m, valid], axis=-1), size)


def _smear_core(key, p, m, resolution):
    sigma = jnp.asarray(resolution, p.dtype)
    log_f = jnp.clip(sigma * jax.random.normal(key, m.shape, p.dtype) - 0.5 * sigma**2, -_LOG_CLIP, _LOG_CLIP)
    return _sort_top(p.at[..., 0].multiply(jnp.exp(log_f)), m, m.shape[-1])


@jax.jit
def _augment_core(key, p, m, turn, width, n_split, n_soft, pt_max, radius, resolution):
    """Every step with run-time parameters: a step whose parameter is 0 is exactly the identity
    (up to re-sorting), so one compiled function serves every combination of options."""
    # fixed subkeys, so switching one step off leaves the randomness of the others unchanged
    k_split, k_soft, k_smear, k_rot, k_trans = jax.random.split(key, 5)
    p, m = _finish(p, m)
    p, m = _collinear_core(k_split, p, m, n_split)
    p, m = _soft_core(k_soft, p, m, n_soft, pt_max, radius)
    p, m = _smear_core(k_smear, p, m, resolution)
    p, m = _rotate_core(k_rot, p, m, turn)
    return _translate_core(k_trans, p, m, width)


_rotate_jit = jax.jit(_rotate_core)
_translate_jit = jax.jit(_translate_core)
_collinear_jit = jax.jit(_collinear_core)
_soft_jit = jax.jit(_soft_core)
_smear_jit = jax.jit(_smear_core)


# ------------------------------------------------------------------------------------------------
# public functions
# ------------------------------------------------------------------------------------------------


def rotate(key: jax.Array, particles, mask=None) -> tuple[jax.Array, jax.Array]:
    """Rotate each jet by a random angle in [0, 2 pi) about its axis, in the (d_eta, d_phi) plane
    (JetCLR, arXiv:2108.04253).

    pT, the mask and every pairwise Delta R are unchanged. Returns ``(particles, mask)``."""
    p, m = _prepare(particles, mask)
    return _rotate_jit(key, p, m)


def translate(key: jax.Array, particles, mask=None, width: float = 0.1) -> tuple[jax.Array, jax.Array]:
    """Shift all constituents of each jet by one random (d_eta, d_phi) offset drawn from a normal
    distribution of standard deviation ``width`` [rad] (JetCLR's translation, arXiv:2108.04253;
    JetCLR draws it uniformly, scaled by the jet's extent).

    pT, the mask and every pairwise Delta R are unchanged. Returns ``(particles, mask)``."""
    _scalar(width, "width")
    p, m = _prepare(particles, mask)
    return _translate_jit(key, p, m, width)


def collinear_split(key: jax.Array, particles, mask=None, n_split: int = 8) -> tuple[jax.Array, jax.Array]:
    """Split up to ``n_split`` randomly chosen constituents of each jet into two collinear ones with
    pT fractions z and 1 - z (z uniform in (0, 1)) at the same (d_eta, d_phi) (JetCLR,
    arXiv:2108.04253).

    The new constituents take free padded slots; a jet with k free slots splits at most k. The
    result is sorted by pT descending. IRC safe: the jet four-vector (sum of the massless
    constituents), the scalar pT sum [GeV] and the pT-weighted centroid are unchanged, and the
    multiplicity grows by min(n_split, n_constituents, free slots). Returns ``(particles, mask)``."""
    n_split = _count(n_split, "n_split")
    p, m = _prepare(particles, mask)
    return _collinear_jit(key, p, m, n_split)


def add_soft(
    key: jax.Array, particles, mask=None, n_soft: int = 4, pt_max: float = 1.0, radius: float = JET_RADIUS
) -> tuple[jax.Array, jax.Array]:
    """Add ``n_soft`` soft constituents to each jet (fewer if it has fewer free padded slots), with
    pT uniform in (0, ``pt_max``] [GeV] at positions uniform in the disc Delta R <= ``radius``
    about the jet axis (JetCLR's soft splittings, arXiv:2108.04253).

    The jet pT changes by at most n_soft * pt_max [GeV]; the result is sorted by pT descending.
    Returns ``(particles, mask)``."""
    n_soft = _count(n_soft, "n_soft")
    _scalar(pt_max, "pt_max")
    _scalar(radius, "radius")
    p, m = _prepare(particles, mask)
    return _soft_jit(key, p, m, n_soft, pt_max, radius)


def smear_pt(key: jax.Array, particles, mask=None, resolution: float = 0.1) -> tuple[jax.Array, jax.Array]:
    """Multiply each constituent's pT by an independent log-normal factor exp(sigma n - sigma^2/2)
    (n standard normal, sigma = ``resolution``; mean 1, relative spread ~sigma), a detector-like pT
    resolution. |ln factor| is clipped at 10, so pT stays > 0.

    JetCLR's 'distortion' (arXiv:2108.04253) smears the *positions* of soft constituents instead;
    this is its pT analogue. The result is sorted by pT descending. Returns ``(particles, mask)``."""
    _scalar(resolution, "resolution")
    p, m = _prepare(particles, mask)
    return _smear_jit(key, p, m, resolution)


def check_options(*, rotation: bool = True, width: float = 0.1, n_split: int = 8, n_soft: int = 4,
                  pt_max: float = 1.0, radius: float = JET_RADIUS, resolution: float = 0.0) -> None:
    """Raise ``ValueError`` unless the options are valid for :func:`augment` (same keywords and
    defaults): counts are integers >= 0, ``width`` and ``resolution`` finite and >= 0,
    ``pt_max`` and ``radius`` finite and > 0. Nothing is compiled or computed."""
    _count(n_split, "n_split", allow_zero=True)
    _count(n_soft, "n_soft", allow_zero=True)
    for name, value in (("width", width), ("resolution", resolution)):
        _scalar(value, name, allow_zero=True)
    _scalar(pt_max, "pt_max")
    _scalar(radius, "radius")


def augment(
    key: jax.Array,
    particles,
    mask=None,
    *,
    rotation: bool = True,
    width: float = 0.1,
    n_split: int = 8,
    n_soft: int = 4,
    pt_max: float = 1.0,
    radius: float = JET_RADIUS,
    resolution: float = 0.0,
) -> tuple[jax.Array, jax.Array]:
    """One random view of each jet in the JetCLR recipe (arXiv:2108.04253).

    Steps, in order (each uses its own subkey of ``key``, so switching one off leaves the others'
    randomness unchanged):

    1. :func:`collinear_split` of up to ``n_split`` constituents (0: off);
    2. :func:`add_soft`: ``n_soft`` constituents of pT <= ``pt_max`` [GeV] within ``radius`` (0: off);
    3. :func:`smear_pt` with relative resolution ``resolution`` (default 0: off; not a symmetry);
    4. :func:`rotate` about the jet axis (``rotation``);
    5. :func:`translate` by a normal offset of width ``width`` [rad] (0: off).

    Steps 1 and 2 leave IRC-safe observables (exactly, resp. up to O(pt_max)) unchanged; 4 and 5
    are (approximate) symmetries of jets in the (eta, phi) plane. A contrastive loss on two views
    teaches the representation to ignore them. Returns
    ``(particles, mask)``, padded entries 0, sorted by pT descending."""
    check_options(rotation=rotation, width=width, n_split=n_split, n_soft=n_soft, pt_max=pt_max, radius=radius,
                  resolution=resolution)
    p, m = _prepare(particles, mask)
    return _augment_core(key, p, m, float(bool(rotation)), width, int(n_split), int(n_soft), pt_max, radius,
                         resolution)
