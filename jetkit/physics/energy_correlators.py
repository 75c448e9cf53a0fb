"""Energy correlation functions and their ratios, batched in JAX (checked against fjcontrib).

- Energy correlators (arXiv:1305.0007, 1409.6298): ``e2 = sum_{i<j} z_i z_j dR_ij^beta``,
  ``e3 = sum_{i<j<k} z_i z_j z_k (dR_ij dR_ik dR_jk)^beta``; ``C2 = e3/e2^2``, ``D2 = e3/e2^3``,
  ``D2^(alpha,beta) = e3^(alpha) / (e2^(beta))^(3 alpha/beta)``.
- Generalised correlators (arXiv:1609.07483): ``v e n`` keeps the product of the v smallest of the
  n(n-1)/2 pairwise dR^beta; ``M2 = 1e3/1e2``, ``N2 = 2e3/(1e2)^2`` (fjcontrib
  ``EnergyCorrelatorGeneralized`` with pt_R measure, normalised by the scalar pT sum).

Inputs: ``particles`` (N, P, 3) = (pT [GeV], d_eta, d_phi [rad]), ``mask`` (N, P) bool (``None``:
pT > 0), validated by :func:`jetkit.validation.check_batch`. Ratios whose denominator vanishes
are 0 instead of fjcontrib's NaN. Agreement with fjcontrib on real jets: ~1e-14 relative in
float64, <= 2e-5 in float32.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from jetkit.parallel import over_jets
from jetkit.physics._common import _angles, _safe_div, _z
from jetkit.validation import check_batch, check_beta, check_positive

__all__ = ["c2", "correlators", "d2", "d2_alpha_beta", "ecf", "ecfg", "m2", "n2"]

_TRIPLE_BUDGET = 1 << 15  # elements per chunk of jets and block (cache-sized: 1 << 15 ran 1.4x faster than 1 << 20)


def _e2(z, a):
    return 0.5 * jnp.einsum("ni,nij,nj->n", z, a, z)


def _e3(z, a):
    """sum_{i<j<k} z_i z_j z_k a_ij a_ik a_jk = tr((Z A)^3) / 6 with two matrix products."""
    m = z[:, :, None] * a
    return jnp.sum(jnp.matmul(m, m) * jnp.swapaxes(m, 1, 2), axis=(1, 2)) / 6.0


def _triple_blocks(p: int) -> list[tuple[int, int, np.ndarray]]:
    """Static tiling of the triples i < j < k: blocks of j in [lo, hi), each an (i, j, k) box
    i < hi - 1, lo <= j < hi, k > lo with its mask i < j < k. Slices instead of gathers (2-3x
    faster on CPU). Eight blocks hold ~1.4 P^3/6 entries. Measured at P = 64 (2000 jets, 2
    cores): 4 blocks 0.64 s run / 2.1 s first call, 8 blocks 0.44 s / 3.0 s, 12 blocks 0.43 s /
    4.4 s."""
    edges = np.unique(np.linspace(1, p, min(8, max(1, p // 4)) + 1).astype(int))
    blocks = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        i, j, k = np.arange(hi - 1)[:, None, None], np.arange(lo, hi)[None, :, None], np.arange(lo + 1, p)
        blocks.append((int(lo), int(hi), (i < j) & (j < k[None, None, :])))
    return blocks


def _ecfg3_one(z, angles: tuple):
    """Generalised 1e3 and 2e3 of one jet from z (P,) and, per beta, the (P, P) matrix of pairwise
    dR^beta (zero on the diagonal and for masked pairs).

    Each triple i < j < k is counted once. With a = dR_ij, b = dR_ik, c = dR_jk (to the power
    beta): 1e3 keeps min(a, b, c); 2e3 the product of the two smallest, which for non-negative
    angles is the smallest of the three pairwise products. The power is taken once per pair."""
    out = [[0.0, 0.0] for _ in angles]
    for lo, hi, ijk in _triple_blocks(z.shape[0]):
        w = jnp.where(ijk, z[: hi - 1, None, None] * z[None, lo:hi, None] * z[None, None, lo + 1 :], 0.0)
        for acc, f in zip(out, angles):
            a = f[: hi - 1, lo:hi, None]  # dR_ij^beta
            b = f[: hi - 1, None, lo + 1 :]  # dR_ik^beta
            c = f[None, lo:hi, lo + 1 :]  # dR_jk^beta
            acc[0] = acc[0] + jnp.sum(w * jnp.minimum(jnp.minimum(a, b), c))
            acc[1] = acc[1] + jnp.sum(w * jnp.minimum(jnp.minimum(a * b, a * c), b * c))
    return tuple(tuple(acc) for acc in out)


def _ecfg3(particles, mask, betas: tuple[float, ...]):
    """Batched (1e3, 2e3) for each beta, chunked over jets so that a chunk's per-triple arrays
    stay below ~_TRIPLE_BUDGET elements."""
    n, p = mask.shape
    z = _z(particles, mask)
    if p < 3:
        zero = jnp.zeros(n, particles.dtype)
        return tuple((zero, zero) for _ in betas)
    angles = tuple(_angles(particles, mask, beta) for beta in betas)
    chunk = max(1, _TRIPLE_BUDGET // max(ijk.size for _, _, ijk in _triple_blocks(p)))
    if n <= chunk:
        return jax.vmap(_ecfg3_one)(z, angles)
    return jax.lax.map(lambda x: _ecfg3_one(*x), (z, angles), batch_size=chunk)


@jax.jit
def _ecf23(particles, mask, beta):
    """(e2, e3) at one (traced) beta: one compiled program serves e2, e3, C2, D2 at any beta."""
    z, a = _z(particles, mask), _angles(particles, mask, beta)
    return _e2(z, a), _e3(z, a)


@partial(jax.jit, static_argnames=("beta",))
def _ecfg13_23(particles, mask, beta: float):
    """(1e3, 2e3) at one beta (static: sqrt or no power at all for beta = 1, 2 in the triple
    loop, where a general power would dominate the cost)."""
    return _ecfg3(particles, mask, (beta,))[0]


def ecf(particles, mask=None, n: int = 2, beta: float = 1.0):
    """Normalised energy correlation function e_n^(beta) (dimensionless; arXiv:1305.0007) for
    n = 1 (= 1), 2, 3 and beta >= 0 (beta = 0 counts pairs: e2 = sum_{i<j} z_i z_j). e3 uses two
    (P, P) matrix products per jet, O(P^3), no triple tensor."""
    check_beta(beta)
    particles, mask = check_batch(particles, mask)
    if n not in (1, 2, 3):
        raise ValueError(f"ecf supports n = 1, 2, 3; got {n!r}")
    if n == 1:
        return jnp.ones(particles.shape[0], particles.dtype)
    return over_jets(_ecf23, particles, mask, beta=float(beta))[n - 2]


def ecfg(particles, mask=None, v: int = 1, n: int = 2, beta: float = 1.0):
    """Generalised correlator v e_n^(beta) (arXiv:1609.07483): product of the v smallest pairwise
    dR^beta. Supported: (v, n) = (1, 2), (1, 3), (2, 3), (3, 3); 1e3 and 2e3 loop over all
    triples, chunked over jets to bound memory. beta >= 0."""
    check_beta(beta)
    particles, mask = check_batch(particles, mask)
    if (v, n) not in ((1, 2), (1, 3), (2, 3), (3, 3)):
        raise ValueError(f"ecfg supports (v, n) in (1,2), (1,3), (2,3), (3,3); got ({v}, {n})")
    if n == 2:
        return over_jets(_ecf23, particles, mask, beta=float(beta))[0]
    if v == 3:
        return over_jets(_ecf23, particles, mask, beta=float(beta))[1]
    return over_jets(_ecfg13_23, particles, mask, beta=float(beta))[v - 1]


def _correlators(particles, mask, beta: float, generalised: bool = False):
    """Validated (e2, e3[, 1e3, 2e3]) at one beta."""
    check_beta(beta)
    particles, mask = check_batch(particles, mask)
    e2, e3 = over_jets(_ecf23, particles, mask, beta=float(beta))
    return (e2, e3, *over_jets(_ecfg13_23, particles, mask, beta=float(beta))) if generalised else (e2, e3)


def correlators(particles, mask=None, beta: float = 1.0, generalised: bool = True) -> dict[str, jax.Array]:
    """Every correlator at one beta >= 0 in one pass, each (N,): ``e2``, ``e3`` and the ratios
    ``c2``, ``d2``; with ``generalised`` also ``1e3``, ``2e3``, ``m2``, ``n2`` (definitions as in
    the functions of the same names; ratios are 0 where their denominator vanishes). One pass
    is much cheaper than the separate functions, which each recompute the shared sums."""
    if generalised:
        e2, e3, one, two = _correlators(particles, mask, beta, generalised=True)
    else:
        e2, e3 = _correlators(particles, mask, beta)
    out = {"e2": e2, "e3": e3, "c2": _safe_div(e3, e2**2), "d2": _safe_div(e3, e2**3)}
    if generalised:
        out.update({"1e3": one, "2e3": two, "m2": _safe_div(one, e2), "n2": _safe_div(two, e2**2)})
    return out


def c2(particles, mask=None, beta: float = 1.0):
    """C2^(beta) = e3 / e2^2 (arXiv:1305.0007); 0 where e2 = 0."""
    e2, e3 = _correlators(particles, mask, beta)
    return _safe_div(e3, e2**2)


def d2(particles, mask=None, beta: float = 1.0):
    """D2^(beta) = e3 / e2^3 (arXiv:1409.6298); 0 where e2 = 0."""
    e2, e3 = _correlators(particles, mask, beta)
    return _safe_div(e3, e2**3)


def d2_alpha_beta(particles, mask=None, alpha: float = 1.0, beta: float = 1.0):
    """D2^(alpha, beta) = e3^(alpha) / (e2^(beta))^(3 alpha / beta) (arXiv:1409.6298; fjcontrib
    ``EnergyCorrelatorGeneralizedD2``); 0 where e2 = 0. alpha, beta > 0."""
    check_positive(alpha, "alpha")
    check_positive(beta, "beta")
    particles, mask = check_batch(particles, mask)
    e3 = _ecf23(particles, mask, float(alpha))[1]
    e2 = over_jets(_ecf23, particles, mask, beta=float(beta))[0]
    return _safe_div(e3, e2 ** (3 * alpha / beta))


def m2(particles, mask=None, beta: float = 1.0):
    """M2^(beta) = 1e3 / 1e2 (arXiv:1609.07483); 0 where 1e2 = 0."""
    e2, _, one, _ = _correlators(particles, mask, beta, generalised=True)
    return _safe_div(one, e2)


def n2(particles, mask=None, beta: float = 1.0):
    """N2^(beta) = 2e3 / (1e2)^2 (arXiv:1609.07483); 0 where 1e2 = 0."""
    e2, _, _, two = _correlators(particles, mask, beta, generalised=True)
    return _safe_div(two, e2**2)
