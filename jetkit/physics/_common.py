"""Array helpers shared by the substructure modules (no validation): ``particles`` (N, P, 3) =
(pT [GeV], d_eta, d_phi [rad]) and a (N, P) bool ``mask``. Private: the public functions live in
:mod:`~jetkit.physics.energy_correlators`, :mod:`~jetkit.physics.subjettiness`,
:mod:`~jetkit.physics.grooming` and :mod:`~jetkit.physics.hlf`.

Constituents are massless, so their rapidity equals their pseudorapidity; every angle is
``dR_ij^2 = dy^2 + dphi^2`` as in FastJet/fjcontrib, ``z_i = pT_i / sum_j pT_j``. Masses come
from the pairwise sum m^2 = sum_ij pT_i pT_j (cosh d_eta - cos d_phi), which keeps float32
accurate (E^2 - p^2 loses ~1e-3 for light jets). Gradients are finite everywhere (no NaN from
dR = 0 or masked entries).
"""

from __future__ import annotations

import jax.numpy as jnp

from jetkit.physics.clustering import delta_r2


def _pt(particles, mask):
    return jnp.where(mask, particles[..., 0], 0.0)


def _z(particles, mask):
    pt = _pt(particles, mask)
    return pt / jnp.sum(pt, axis=-1, keepdims=True)


def _angles(particles, mask, beta: float):
    """(N, P, P) matrix dR_ij^beta, zero on the diagonal and for masked pairs."""
    eta, phi = particles[..., 1], particles[..., 2]
    dr2 = delta_r2(eta[:, :, None], phi[:, :, None], eta[:, None, :], phi[:, None, :])
    p = particles.shape[1]
    ok = mask[:, :, None] & mask[:, None, :] & ~jnp.eye(p, dtype=bool)
    return jnp.where(ok, _spow(dr2, beta / 2), 0.0)


def _spow(x, e):
    """x^e for x >= 0 with a finite gradient at x = 0 (the value there is 0^e, 1 for e = 0), so
    masked entries and coincident axes never turn gradients into NaN."""
    if isinstance(e, (int, float)) and e == 1:
        return x
    pos = x > 0
    safe = jnp.where(pos, x, 1.0)
    if isinstance(e, (int, float)) and e == 0.5:
        return jnp.where(pos, jnp.sqrt(safe), 0.0)
    return jnp.where(pos, jnp.power(safe, e), jnp.power(jnp.zeros_like(x), e))


def _safe_div(num, den):
    return jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), 0.0)


def _groomed_mass(particles, mask):
    """Invariant mass [GeV] of massless constituents from pairwise terms (no E^2 - p^2
    cancellation): m^2 = sum_ij pT_i pT_j (cosh d_eta - cos d_phi)."""
    pt = _pt(particles, mask)
    eta, phi = particles[..., 1], particles[..., 2]
    de = eta[:, :, None] - eta[:, None, :]
    dp = phi[:, :, None] - phi[:, None, :]
    k = 2.0 * (jnp.square(jnp.sinh(de / 2)) + jnp.square(jnp.sin(dp / 2)))
    k = jnp.where(mask[:, :, None] & mask[:, None, :], k, 0.0)
    return _spow(jnp.einsum("ni,nij,nj->n", pt, k, pt), 0.5)
