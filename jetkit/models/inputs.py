"""Per-constituent input features shared by the set and graph taggers.

``particle_features(particles, mask)`` turns (pT [GeV], d_eta, d_phi) into five roughly unit-scale
numbers per constituent, zero on padding:

    0  (ln pT - 1.5) / 2        pT in GeV
    1  (ln z + 4) / 2           z = pT / sum pT (momentum fraction)
    2  d_eta / 0.4              relative to the jet axis
    3  d_phi / 0.4
    4  dR / 0.4                 distance to the jet axis

Columns 2 and 3 are the (d_eta, d_phi) plane that the first EdgeConv uses for its kNN graph.
"""

from __future__ import annotations

import jax.numpy as jnp

__all__ = ["N_FEATURES", "COORDS", "particle_features"]

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
