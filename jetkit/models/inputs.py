"""Model inputs: per-constituent features for the set and graph taggers, and preprocessed jet
images for the image autoencoders (:func:`prepare_images`, :func:`to_image`).

Per-constituent features:

``particle_features(particles, mask)`` turns (pT [GeV], d_eta, d_phi) into five roughly unit-scale
numbers per constituent, zero on padding:

    0  (ln pT - 1.5) / 2        pT in GeV
    1  (ln z + 4) / 2           z = pT / sum pT (momentum fraction)
    2  d_eta / 0.4              relative to the jet axis
    3  d_phi / 0.4
    4  dR / 0.4                 distance to the jet axis

Columns 2 and 3 are the (d_eta, d_phi) plane that the first EdgeConv uses for its kNN graph.
:func:`rotate_features` (and the train-mode layer :class:`RandomRotation`) turns and mirrors that
plane: the jet augmentation of JetCLR (arXiv:2108.04253) applied to the features, so a tagger
can learn that a jet's orientation about its axis carries no label.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jetkit.physics import images

__all__ = ["COORDS", "N_FEATURES", "RandomRotation", "particle_features", "prepare_images", "rotate_features",
           "to_image"]

N_FEATURES = 5
COORDS = (2, 3)


def particle_features(particles, mask=None):
    """(..., P, 3) constituents -> (..., P, 5) float32 features (see the module docstring);
    padded slots (``mask`` False, or pT = 0 when ``mask`` is None) are all zeros."""
    p = jnp.asarray(particles, jnp.float32)
    if p.shape[-1] != 3:
        raise ValueError(f"particles must have shape (..., P, 3) = (pT, d_eta, d_phi), got {p.shape}")
    m = (p[..., 0] > 0) if mask is None else jnp.asarray(mask, bool)
    pt = jnp.where(m, p[..., 0], 1.0)
    total = jnp.sum(jnp.where(m, p[..., 0], 0.0), axis=-1, keepdims=True)
    z = pt / jnp.where(total > 0, total, 1.0)
    deta, dphi = p[..., 1], p[..., 2]
    dr = jnp.sqrt(deta**2 + dphi**2)
    f = jnp.stack([(jnp.log(pt) - 1.5) / 2, (jnp.log(z) + 4) / 2, deta / 0.4, dphi / 0.4, dr / 0.4], -1)
    return jnp.where(m[..., None], f, 0.0)


def prepare_images(data, mask=None, *, npix: int = 32, extent: float = 0.8, transform: str = "sqrt",
                   batch: int = 2048) -> np.ndarray:
    """Preprocessed jet images (centered, rotated, flipped, normalised to unit sum), then an
    intensity transform that lifts the soft pixels: ``"sqrt"`` (default), ``"log"``
    (log(1 + 1000 x) / log(1001)) or ``"none"``. Returns float32 (N, npix, npix).

    ``data`` is a :class:`~jetkit.data.JetDataset` or padded particles (N, P, 3) with
    ``mask``. Computed in batches so memory stays small."""
    if hasattr(data, "particles"):
        particles, mask = data.particles, data.mask
    else:
        particles = data
    if transform not in ("sqrt", "log", "none"):
        raise ValueError(f"transform must be 'sqrt', 'log' or 'none', got {transform!r}")
    particles = np.asarray(particles, np.float32)
    mask = particles[..., 0] > 0 if mask is None else np.asarray(mask, bool)
    if particles.ndim == 3 and particles.shape[1] < 64:  # one compiled shape for 30 and 64 slots
        pad = 64 - particles.shape[1]
        particles = np.pad(particles, ((0, 0), (0, pad), (0, 0)))
        mask = np.pad(mask, ((0, 0), (0, pad)))
    out = []
    for s in range(0, len(particles), batch):  # fixed batch shape: compiled once
        p, m = particles[s:s + batch], mask[s:s + batch]
        n = len(p)
        if n < batch and len(particles) > batch:
            p = np.concatenate([p, np.repeat(p[:1], batch - n, 0)])
            m = np.concatenate([m, np.repeat(m[:1], batch - n, 0)])
        out.append(np.asarray(images.jet_image(p, m, npix=npix, extent=extent, center=True,
                                                  rotate=True, flip=True, normalise=True))[:n])
    x = np.concatenate(out) if out else np.zeros((0, npix, npix), np.float32)
    x = np.clip(x, 0.0, None)
    if transform == "sqrt":
        x = np.sqrt(x)
    elif transform == "log":
        x = np.log1p(1000.0 * x) / np.log(1001.0)
    return x.astype(np.float32)


def to_image(x, transform: str = "sqrt") -> np.ndarray:
    """Undo :func:`prepare_images`' intensity transform (negative values clipped to 0), e.g.
    to show a decoded image as pT fractions."""
    x = np.clip(np.asarray(x, np.float32), 0.0, None)
    if transform == "sqrt":
        return x**2
    if transform == "log":
        return np.expm1(x * np.log(1001.0)) / 1000.0
    return x


def rotate_features(key: jax.Array, x, *, reflect: bool = True) -> jax.Array:
    """Rotate each jet of ``x`` (N, P, F >= 4), laid out as :func:`particle_features`, by its own
    random angle in [0, 2 pi) in the (d_eta, d_phi) plane (columns :data:`COORDS`), and with
    ``reflect`` mirror d_phi -> -d_phi for a random half of the jets first. pT, z, dR, every
    pairwise distance and the zero padding are unchanged."""
    x = jnp.asarray(x, jnp.float32)
    if x.ndim != 3 or x.shape[-1] < max(COORDS) + 1:
        raise ValueError(f"x must have shape (N, P, F >= {max(COORDS) + 1}) laid out as particle_features, "
                         f"got {x.shape}")
    k_angle, k_flip = jax.random.split(key)
    angle = jax.random.uniform(k_angle, (x.shape[0], 1), maxval=2 * jnp.pi)
    sign = jnp.where(jax.random.bernoulli(k_flip, 0.5, (x.shape[0], 1)) & reflect, -1.0, 1.0)
    eta, phi = x[..., COORDS[0]], sign * x[..., COORDS[1]]
    c, s = jnp.cos(angle), jnp.sin(angle)
    return x.at[..., COORDS[0]].set(c * eta - s * phi).at[..., COORDS[1]].set(s * eta + c * phi)


class RandomRotation(nnx.Module):
    """Data augmentation as a layer: in train mode ``layer(x)`` is :func:`rotate_features` with a
    fresh key on every call (stream ``"augment"`` of ``rngs``); in eval mode (``model.eval()``,
    as when scoring) the identity, so the trained tagger is an ordinary deterministic function."""

    def __init__(self, *, reflect: bool = True, deterministic: bool = False, rngs: nnx.Rngs):
        self.reflect, self.deterministic = bool(reflect), bool(deterministic)
        self.rngs = rngs["augment"].fork()

    def __call__(self, x) -> jax.Array:
        if self.deterministic:
            return jnp.asarray(x, jnp.float32)
        return rotate_features(self.rngs(), x, reflect=self.reflect)
