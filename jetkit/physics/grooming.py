"""Soft drop / mMDT grooming (arXiv:1402.2657, 1307.0007), batched in JAX.

C/A reclustering (E-scheme), declustering that follows the harder branch (``larger_pt``) until
``min(pT1, pT2)/(pT1 + pT2) >= zcut (dR12/R0)^beta`` (``scalar_z``); a branch that reaches a
single constituent keeps it. Checked against fjcontrib ``SoftDrop``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jetkit.parallel import over_jets
from jetkit.physics._common import _groomed_mass
from jetkit.physics.clustering import _cluster_history, softdrop_node
from jetkit.validation import check_batch, check_beta

__all__ = ["softdrop"]


@jax.jit
def _softdrop(particles, mask, zcut, beta, r0):
    h = _cluster_history(particles, mask, 0.0, False)
    node = softdrop_node(h, zcut, beta, r0)
    at_node = jnp.arange(h.pt.shape[1])[None, :] == node[:, None]
    groomed = jnp.any(h.members & at_node[:, :, None], axis=1) & mask
    return _groomed_mass(particles, groomed), groomed


def softdrop(particles, mask=None, zcut: float = 0.1, beta: float = 0.0, r0: float = 0.8):
    """Soft drop grooming (arXiv:1402.2657; beta = 0 is mMDT, arXiv:1307.0007).

    C/A reclustering with E-scheme recombination, then declustering along the harder (larger pT)
    branch until ``min(pT1, pT2) / (pT1 + pT2) >= zcut * (dR12 / r0)^beta``; dR12 in rapidity
    and azimuth of the two (massive) branches, as fjcontrib ``SoftDrop`` (scalar_z, larger_pt).

    Returns:
        ``(mass, groomed_mask)``: groomed mass (N,) [GeV] and the (N, P) mask of the constituents
        kept, so any feature can be computed on the groomed jet.
    """
    check_beta(beta)
    particles, mask = check_batch(particles, mask, zcut=zcut, r0=r0)
    return over_jets(_softdrop, particles, mask, zcut=float(zcut), beta=float(beta), r0=float(r0))
