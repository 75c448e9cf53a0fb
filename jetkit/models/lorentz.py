"""A Lorentz-invariant tagger: it sees the jet only through Minkowski products, so any boost
(or rotation) of the whole jet gives the same output (cf. LorentzNet, arXiv:2201.08187, and
PELICAN, arXiv:2211.00454).

Inputs are the constituents' four-momenta p_i = (px, py, pz, E) [GeV]. The invariants are

    d_ij = p_i . p_j        (pair products; m_ij^2 = 2 d_ij for massless constituents)
    u_i  = p_i . J          (J = sum of the constituents, the jet four-momentum)
    m_J^2 = J . J

and the network is a factored message-passing layer on them (permutation invariant too):

    h_i = mean_j relu(A u_i + B u_j + w d_ij + c),   logits = F(mean_i G(h_i), ln m_J)
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
from flax import nnx

from jetkit.physics.kinematics import minkowski_dot

__all__ = ["LorentzInvariantNet", "lorentz_invariants"]


def lorentz_invariants(p4, mask):
    """(pair, node, jet) invariants of four-vectors ``p4`` (B, P, 4) [GeV] with ``mask`` (B, P):
    ``ln(1 + p_i.p_j / GeV^2)`` (B, P, P), ``ln(1 + p_i.J / GeV^2)`` (B, P) and ``ln(m_J / GeV)``
    (B,). Padded entries are 0. Products are clipped at 0 against float rounding."""
    p4 = jnp.where(jnp.asarray(mask, bool)[..., None], jnp.asarray(p4, jnp.float32), 0.0)
    jet = jnp.sum(p4, axis=-2)
    pair = minkowski_dot(p4[:, :, None, :], p4[:, None, :, :])
    node = minkowski_dot(p4, jet[:, None, :])
    m2 = minkowski_dot(jet, jet)
    return (jnp.log1p(jnp.clip(pair, 0.0)), jnp.log1p(jnp.clip(node, 0.0)),
            0.5 * jnp.log(jnp.clip(m2, 1e-6)))


class LorentzInvariantNet(nnx.Module):
    """Lorentz- and permutation-invariant tagger on Minkowski products (module docstring).
    ``model(p4, mask)`` -> (B, ``out_features``) logits."""

    def __init__(self, channels: int = 32, node: Sequence[int] = (32,), head: Sequence[int] = (32,),
                 out_features: int = 1, *, rngs: nnx.Rngs):
        self.center = nnx.Linear(1, channels, rngs=rngs)
        self.neighbour = nnx.Linear(1, channels, use_bias=False, rngs=rngs)
        self.pair = nnx.Linear(1, channels, use_bias=False, rngs=rngs)
        sizes = [channels, *node]
        self.node = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:])])
        hs = [sizes[-1] + 1, *head]
        self.head = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(hs[:-1], hs[1:])])
        self.out = nnx.Linear(hs[-1], out_features, rngs=rngs)

    def __call__(self, p4, mask):
        mask = jnp.asarray(mask, bool)
        pair, node, log_m = lorentz_invariants(p4, mask)
        u = (node / 8.0)[..., None]
        msg = self.center(u)[:, :, None, :] + self.neighbour(u)[:, None, :, :] \
            + self.pair((pair / 8.0)[..., None])
        pmask = (mask[:, :, None] & mask[:, None, :] & ~jnp.eye(mask.shape[1], dtype=bool))[..., None]
        w = pmask.astype(msg.dtype)
        h = jnp.sum(nnx.relu(msg) * w, axis=2) / jnp.maximum(jnp.sum(w, axis=2), 1.0)
        for layer in self.node:
            h = nnx.relu(layer(h))
        m = mask[..., None].astype(h.dtype)
        h = jnp.sum(h * m, axis=1) / jnp.maximum(jnp.sum(m, axis=1), 1.0)
        h = jnp.concatenate([h, (log_m[:, None] - 5.0)], axis=-1)
        for layer in self.head:
            h = nnx.relu(layer(h))
        return self.out(h)
