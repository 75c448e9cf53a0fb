"""Jet images: pT-weighted pixel grids in (d_eta, d_phi), built after the standard
preprocessing of :mod:`jetkit.physics.preprocessing`.

A jet image is a 2-D histogram of the constituents' positions relative to the jet axis, each
weighted by its pT [GeV] (arXiv:1407.5675). Preprocessing removes the symmetries that carry no
information about the jet's origin (arXiv:1511.05190, 1701.08784); it is done on the constituent
coordinates *before* pixelation, which avoids the interpolation artefacts of rotating pixels:

1. :func:`center`: translate so the pT-weighted centroid (or the leading constituent) is at 0;
2. :func:`rotate`: turn the principal axis of the pT-weighted cloud to the vertical (d_phi) axis;
3. :func:`flip`: reflect so the half with more pT is on the right (d_eta > 0) and on top
   (d_phi > 0);
4. :func:`normalise`: divide the image by its sum, so the pixels add up to 1.

Pixel convention: ``image[..., j, i]`` holds the pT in d_eta bin ``i`` (columns) and d_phi bin
``j`` (rows), with ``npix`` bins of equal width on [-extent, extent] for both. So
``plt.imshow(image, origin="lower", extent=(-extent, extent, -extent, extent))`` draws d_eta on
the x axis and d_phi on the y axis; "vertical" means along d_phi. Constituents outside the window
are dropped.

Every function takes padded arrays ``particles`` (..., P, 3) = (pT [GeV], d_eta, d_phi) with a
``mask`` (..., P) (``None``: pT > 0), works on any number of leading batch axes, and is jit-able
(``npix``, ``extent`` and the option flags must be Python values).
"""

from __future__ import annotations

import functools
import operator

import jax
import jax.numpy as jnp
import numpy as np

from jetkit.physics.preprocessing import _center_method, _flags, _prepare, _preprocess
from jetkit.validation import check_particles

__all__ = ["average_image", "jet_image", "normalise", "pixel_edges"]


# --------------------------------------------------------------------------------------------
# Argument handling
# --------------------------------------------------------------------------------------------


def _check_grid(npix, extent) -> tuple[int, float]:
    try:
        npix_int = operator.index(npix)
    except TypeError:
        raise ValueError(f"npix must be an integer number of pixels, got {npix!r}") from None
    if npix_int < 1:
        raise ValueError(f"npix must be >= 1 pixel per axis, got {npix_int}")
    try:
        extent_f = float(extent)
    except (TypeError, ValueError):
        raise ValueError(
            f"extent must be a number (half-width in d_eta/d_phi), got {extent!r}"
        ) from None
    if not extent_f > 0 or not np.isfinite(extent_f):
        raise ValueError(
            f"extent is the half-width of the image in d_eta and d_phi and must be a finite "
            f"number > 0 (e.g. 0.8 for anti-kT R = 0.8 jets), got {extent!r}"
        )
    return npix_int, extent_f


# --------------------------------------------------------------------------------------------
# Pixelation
# --------------------------------------------------------------------------------------------


def pixel_edges(npix: int = 32, extent: float = 0.8) -> np.ndarray:
    """The ``npix + 1`` bin edges shared by d_eta and d_phi: ``linspace(-extent, extent)``."""
    npix, extent = _check_grid(npix, extent)
    return np.linspace(-extent, extent, npix + 1)


def _pixelate(p, m, npix: int, extent: float):
    batch_shape = p.shape[:-2]
    n = p.shape[-2]
    p = p.reshape(-1, n, 3)
    m = m.reshape(-1, n)
    nb = p.shape[0]
    scale = npix / (2.0 * extent)
    x, y = p[..., 1], p[..., 2]
    # Bins are [lo, hi) except the last, which also takes the right edge (like np.histogram2d).
    ix = jnp.floor((x + extent) * scale).astype(jnp.int32)
    iy = jnp.floor((y + extent) * scale).astype(jnp.int32)
    ix = jnp.where(x == extent, npix - 1, ix)
    iy = jnp.where(y == extent, npix - 1, iy)
    inside = m & (x >= -extent) & (x <= extent) & (y >= -extent) & (y <= extent)
    inside = inside & (ix >= 0) & (ix < npix) & (iy >= 0) & (iy < npix)
    flat = (jnp.arange(nb, dtype=jnp.int32)[:, None] * npix + iy) * npix + ix
    flat = jnp.where(inside, flat, 0)
    w = jnp.where(inside, p[..., 0], 0.0)
    img = jnp.zeros(nb * npix * npix, p.dtype).at[flat.ravel()].add(w.ravel())
    return img.reshape(*batch_shape, npix, npix)


def _normalise(image):
    total = image.sum(axis=(-2, -1), keepdims=True)
    return image / jnp.where(total > 0, total, 1.0)


@functools.partial(jax.jit, static_argnames=("npix", "extent"))
def _image_core(p, m, flags, npix, extent):
    p = _preprocess(p, m, flags.at[3].set(0))
    img = _pixelate(p, m, npix, extent)
    return jnp.where(flags[3] > 0, _normalise(img), img)


def jet_image(
    particles,
    mask=None,
    npix: int = 32,
    extent: float = 0.8,
    *,
    center: bool | str = False,
    rotate: bool = False,
    flip: bool = False,
    normalise: bool = False,
):
    """pT-weighted jet images (..., npix, npix) [GeV per pixel, or fractions if normalised].

    Args:
        particles: (..., P, 3) = (pT [GeV], d_eta, d_phi) relative to the jet axis.
        mask: (..., P) bool, or ``None`` for pT > 0.
        npix: pixels per axis (>= 1).
        extent: half-width of the window in d_eta and d_phi (> 0; 0.8 matches R = 0.8 jets).
        center, rotate, flip: preprocessing of the coordinates before pixelation (see
            :func:`preprocess`); all off by default.
        normalise: divide by the pixel sum so every image sums to 1 (an image with nothing
            inside the window stays all zeros).

    Returns:
        float32 array (..., npix, npix), ``image[..., j, i]`` = pT in d_phi bin j, d_eta bin i.

    Raises:
        ValueError: bad particle/mask shapes or values (see ``check_particles``), ``npix < 1``,
            ``extent <= 0`` or an unknown ``center`` option.
    """
    npix, extent = _check_grid(npix, extent)
    method = _center_method(center)
    p, m = _prepare(particles, mask)
    return _image_core(p, m, _flags(method, rotate, flip, normalise), npix, extent)


def normalise(image):
    """Divide images (..., H, W) by their pixel sum so each sums to 1 (all-zero images stay 0)."""
    image = jnp.asarray(image)
    if image.ndim < 2:
        raise ValueError(f"image must have shape (..., height, width), got {image.shape}")
    if jnp.issubdtype(image.dtype, jnp.integer):
        image = image.astype(jnp.float32)
    return _normalise(image)


def average_image(
    particles,
    mask=None,
    labels=None,
    npix: int = 32,
    extent: float = 0.8,
    *,
    n_classes: int | None = None,
    center: bool | str = "centroid",
    rotate: bool = True,
    flip: bool = True,
    normalise: bool = True,
    batch_size: int = 1024,
) -> np.ndarray:
    """Mean jet image, overall or per class, computed in batches (memory stays ~batch_size
    images, so the whole dataset fits on a 2 GB Binder machine).

    Defaults follow the usual "average image" plots: every jet preprocessed and normalised, so
    each jet counts equally.

    Args:
        particles, mask: as in :func:`jet_image`.
        labels: (N,) integer class labels, or ``None`` for one average over all jets.
        n_classes: number of classes (default ``labels.max() + 1``).
        center, rotate, flip, normalise: passed to :func:`jet_image`.
        batch_size: jets per jit call (the last batch is padded with empty jets).

    Returns:
        numpy float32 (npix, npix) without labels, else (n_classes, npix, npix); a class with
        no jets gives an all-zero image.
    """
    npix, extent = _check_grid(npix, extent)
    method = _center_method(center)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    particles, mask = check_particles(particles, mask)
    particles = np.asarray(particles)
    mask = np.asarray(mask, dtype=bool)
    if particles.ndim != 3:
        raise ValueError(
            f"particles must have shape (n_jets, n_particles, 3), got {particles.shape}"
        )
    n = particles.shape[0]
    if labels is None:
        lab = np.zeros(n, dtype=np.int32)
        k = 1
    else:
        lab = np.asarray(labels)
        if lab.shape != (n,) or not np.issubdtype(lab.dtype, np.integer):
            raise ValueError(
                f"labels must be integers of shape ({n},), got {lab.dtype} {lab.shape}"
            )
        if n and lab.min() < 0:
            raise ValueError("labels must be >= 0")
        k = int(n_classes) if n_classes is not None else (int(lab.max()) + 1 if n else 1)
        if n and lab.max() >= k:
            raise ValueError(f"labels go up to {lab.max()} but n_classes = {k}")
    flags = _flags(method, rotate, flip, normalise)
    sums = np.zeros((k, npix * npix), dtype=np.float64)
    counts = np.bincount(lab, minlength=k)[:k].astype(np.float64)
    bs = batch_size  # every batch is padded to this size: one compiled function per dataset
    for start in range(0, n, bs):
        pb = particles[start : start + bs]
        mb = mask[start : start + bs]
        lb = lab[start : start + bs]
        pad = bs - len(lb)
        if pad:  # pad with empty jets so every batch reuses one compiled function
            pb = np.concatenate([pb, np.zeros((pad,) + pb.shape[1:], pb.dtype)])
            mb = np.concatenate([mb, np.zeros((pad,) + mb.shape[1:], bool)])
        img = _image_core(jnp.asarray(pb, dtype=jnp.float32), jnp.asarray(mb), flags, npix, extent)
        img = np.asarray(img, dtype=np.float64).reshape(bs, -1)[: len(lb)]
        sums += np.eye(k)[lb].T @ img
    mean = sums / np.maximum(counts, 1.0)[:, None]
    mean = mean.reshape(k, npix, npix).astype(np.float32)
    return mean[0] if labels is None else mean
