"""The 16 high-level features of the hls4ml jet dataset (arXiv:1804.06913) and the simple
per-jet counts they use.

Everything but the multiplicity is computed on the mMDT-groomed jet (zcut = 0.1, beta = 0,
R0 = 0.8): zlogz = sum z_i ln z_i; C1 = e2 for beta = 0, 1, 2; C2, D2 for beta = 1, 2;
D2^(alpha=1, beta) for beta = 1, 2; M2, N2 for beta = 1, 2; groomed mass; multiplicity.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jetkit.parallel import over_jets
from jetkit.physics._common import _angles, _safe_div, _z
from jetkit.physics.energy_correlators import _e2, _e3, _ecfg3
from jetkit.physics.grooming import _softdrop
from jetkit.validation import check_batch

__all__ = ["HLF_NAMES", "hls4ml_features", "multiplicity", "zlogz"]

#: Column names of :func:`hls4ml_features` (arXiv:1804.06913), in order.
HLF_NAMES = (
    "zlogz", "c1_b0", "c1_b1", "c1_b2", "c2_b1", "c2_b2", "d2_b1", "d2_b2",
    "d2_a1_b1", "d2_a1_b2", "m2_b1", "m2_b2", "n2_b1", "n2_b2", "mass_mmdt", "multiplicity",
)


def _zlogz(particles, mask):
    z = _z(particles, mask)
    return jnp.sum(jnp.where(z > 0, z * jnp.log(jnp.where(z > 0, z, 1.0)), 0.0), axis=-1)


def zlogz(particles, mask=None):
    """sum_i z_i ln z_i (dimensionless, <= 0) with z_i = pT_i / sum_j pT_j."""
    particles, mask = check_batch(particles, mask)
    return _zlogz(particles, mask)


def multiplicity(mask):
    """Number of unmasked constituents per jet, (N,) float."""
    mask = np.asarray(mask) if not isinstance(mask, jax.Array) else mask
    if np.ndim(mask) < 1:
        raise ValueError(f"mask must have shape (..., n_particles); got {np.shape(mask)}")
    return jnp.sum(jnp.asarray(mask, bool), axis=-1).astype(jnp.float32)


@jax.jit
def _hls4ml(particles, mask, mult):
    mass, g = _softdrop(particles, mask, 0.1, 0.0, 0.8)
    z = _z(particles, g)
    a0, a1, a2 = (_angles(particles, g, b) for b in (0.0, 1.0, 2.0))
    e2_0, e2_1, e2_2 = _e2(z, a0), _e2(z, a1), _e2(z, a2)
    e3_1, e3_2 = _e3(z, a1), _e3(z, a2)
    (m1, n1), (m2_, n2_) = _ecfg3(particles, g, (1.0, 2.0))
    cols = [
        _zlogz(particles, g), e2_0, e2_1, e2_2,
        _safe_div(e3_1, e2_1**2), _safe_div(e3_2, e2_2**2),
        _safe_div(e3_1, e2_1**3), _safe_div(e3_2, e2_2**3),
        _safe_div(e3_1, e2_1**3), _safe_div(e3_1, e2_2**1.5),
        _safe_div(m1, e2_1), _safe_div(m2_, e2_2),
        _safe_div(n1, e2_1**2), _safe_div(n2_, e2_2**2),
        mass, mult.astype(particles.dtype),
    ]
    return jnp.stack(cols, axis=-1)


def hls4ml_features(particles, mask=None, multiplicity=None):
    """The 16 high-level features of the hls4ml jet dataset (arXiv:1804.06913), (N, 16).

    Columns (:data:`HLF_NAMES`): zlogz; C1 = e2 for beta = 0, 1, 2; C2 and D2 for beta = 1, 2;
    D2^(alpha=1, beta) for beta = 1, 2; M2 and N2 for beta = 1, 2; mMDT mass [GeV]
    (zcut = 0.1, beta = 0, R0 = 0.8); constituent multiplicity. Everything but the multiplicity is
    computed on the mMDT-groomed jet. ``multiplicity`` (N,) overrides the last column (the jet5
    data keep only the leading constituents but record the full count).
    """
    particles, mask = check_batch(particles, mask)
    if multiplicity is None:
        mult = jnp.sum(mask, axis=-1)
    else:
        if np.shape(multiplicity) != (particles.shape[0],):
            raise ValueError(
                f"multiplicity must have shape ({particles.shape[0]},); got {np.shape(multiplicity)}"
            )
        mult = jnp.asarray(multiplicity)
    return over_jets(_hls4ml, particles, mask, mult)
