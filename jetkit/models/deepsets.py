"""Deep Sets / Particle Flow Network (arXiv:1703.06114, 1810.05165): a per-particle network Phi,
a permutation-invariant pooling (masked sum), and a jet-level network F.

    logits = F( sum_i mask_i * Phi(x_i) )

The sum does not care about the order of the constituents, and padded slots add nothing, so the
model is permutation invariant and padding-blind *by construction*.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
from flax import nnx

from jetkit.models.inputs import N_FEATURES

__all__ = ["DeepSets", "masked_sum"]


def masked_sum(h, mask):
    """Sum of per-particle vectors ``h`` (B, P, C) over real particles (``mask`` (B, P)) -> (B, C)."""
    return jnp.sum(jnp.where(jnp.asarray(mask, bool)[..., None], h, 0.0), axis=-2)


def _dense(sizes, rngs):
    return nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:])])


class DeepSets(nnx.Module):
    """Particle Flow Network: ``Phi`` widths ``phi`` (latent size = last), masked-sum pooling
    (scaled by 1/``scale`` to keep numbers O(1)), ``F`` widths ``rho``, ``out_features`` logits.
    ``model(x, mask)`` with ``x`` (B, P, F) per-particle features."""

    def __init__(self, in_features: int = N_FEATURES, phi: Sequence[int] = (64, 64, 64),
                 rho: Sequence[int] = (64, 64), out_features: int = 1, *, scale: float = 32.0,
                 rngs: nnx.Rngs):
        self.phi = _dense([in_features, *phi], rngs)
        self.rho = _dense([phi[-1], *rho], rngs)
        self.out = nnx.Linear(rho[-1] if rho else phi[-1], out_features, rngs=rngs)
        self.scale = float(scale)

    def latent(self, x, mask):
        """Pooled jet representation (B, latent): the masked sum of Phi over particles."""
        h = x
        for layer in self.phi:
            h = nnx.relu(layer(h))
        return masked_sum(h, mask) / self.scale

    def __call__(self, x, mask):
        h = self.latent(x, mask)
        for layer in self.rho:
            h = nnx.relu(layer(h))
        return self.out(h)
