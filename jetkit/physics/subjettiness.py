"""N-subjettiness tau_N and its ratios (arXiv:1011.2268, 1108.2701), batched in JAX.

``tau_N = sum_i pT_i min_k dR_ik^beta / sum_i pT_i R0^beta`` (fjcontrib ``NormalizedMeasure``, no
cutoff). Axes: exclusive kT subjets with E-scheme recombination (``KT_Axes``; massive subjets, so
dR uses their rapidity) or winner-take-all kT subjets (``WTA_KT_Axes``, arXiv:1508.01516). A jet
with at most N constituents has tau_N = 0.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from jetkit.parallel import over_jets
from jetkit.physics._common import _pt, _safe_div, _spow
from jetkit.physics.clustering import _exclusive_axes, delta_r2
from jetkit.validation import check_batch

__all__ = ["nsubjettiness", "tau21", "tau32"]


_AXES = ("kt", "wta_kt", "onepass_kt")
_ONEPASS_ACCURACY = 1e-4  # fjcontrib's default accuracy (also the regulator of 1/dR)
_ONEPASS_MAX_ITER = 1000  # fjcontrib's default number of attempts
_ONEPASS_FIRST = 24  # updates run on the whole batch before the slow jets are finished apart


def _compact(axes, m: int):
    """The (at most ``m``) live slots of exclusive axes (N, K, P) as (N, K, m) arrays: y, phi,
    valid. Slots keep their input order (a cumulative count, no sort or gather)."""
    rank = jnp.cumsum(axes.valid, axis=-1) - 1
    hit = axes.valid[..., None, :] & (rank[..., None, :] == jnp.arange(m)[:, None])  # (N, K, m, P)
    take = lambda a: jnp.sum(jnp.where(hit, a[..., None, :], 0.0), axis=-1)  # noqa: E731
    return take(axes.y), take(axes.phi), jnp.any(hit, axis=-1)


def _min_dr2(y, phi, ay, aphi, av):
    """(N, K, P, m) dR^2 of every particle to every live axis (inf for dead axes)."""
    d2 = delta_r2(y[:, None, :, None], phi[:, None, :, None], ay[:, :, None, :], aphi[:, :, None, :])
    return jnp.where(av[:, :, None, :], d2, jnp.inf)


def _iterate(pt, y, phi, mask, ay, aphi, av, count, active, n_axes, beta, limit: int):
    """Axis updates of :func:`_one_pass` for every (jet, N) with ``active`` until none is left or
    each has made ``limit`` updates. Azimuths in [0, 2 pi)."""
    two_pi = 2 * jnp.pi
    m = ay.shape[-1]
    eps2 = _ONEPASS_ACCURACY**2

    def update(c):
        ay, aphi, count, active = c
        d2 = _min_dr2(y, phi, ay, aphi, av)
        near = (jnp.argmin(d2, axis=-1)[..., None] == jnp.arange(m)) & mask[:, None, :, None]  # (N, K, P, m)
        r2 = eps2 + jnp.min(d2, axis=-1)
        inv = jnp.where(beta == 1, 1.0 / jnp.sqrt(r2), jnp.where(  # fjcontrib's special cases
            beta == 2, 1.0, jnp.where(beta == 0, 1.0 / r2, jnp.power(r2, 0.5 * beta - 1.0))))
        w = jnp.where(near, (pt[:, None, :] * inv)[..., None], 0.0)
        d = phi[:, None, :, None] - aphi[:, :, None, :]
        phi_u = phi[:, None, :, None] + jnp.where(d > jnp.pi, -two_pi, jnp.where(d < -jnp.pi, two_pi, 0.0))
        wsum = jnp.sum(w, axis=2)
        ok = wsum > 0
        safe = jnp.where(ok, wsum, 1.0)
        new_y = jnp.where(ok, jnp.sum(w * y[:, None, :, None], axis=2) / safe, ay)
        new_phi = jnp.where(ok, jnp.mod(jnp.sum(w * phi_u, axis=2) / safe + two_pi, two_pi), aphi)
        moved = jnp.where(av, jnp.sqrt(delta_r2(ay, aphi, new_y, new_phi)), 0.0)
        cmp = jnp.sum(moved, axis=-1) / n_axes  # (N, K)
        ay = jnp.where(active[..., None], new_y, ay)
        aphi = jnp.where(active[..., None], new_phi, aphi)
        count = count + active
        return ay, aphi, count, active & (cmp > _ONEPASS_ACCURACY) & (count < _ONEPASS_MAX_ITER)

    def more(c):
        return jnp.any(c[3] & (c[2] < limit))

    return jax.lax.while_loop(more, update, (ay, aphi, count, active))


def _one_pass(particles, mask, ay, aphi, av, n_axes, beta):
    """fjcontrib's one-pass minimisation of tau_N (``OnePass_KT_Axes`` with the normalised pt_R
    measure, arXiv:1108.2701): from the seed axes, alternate assigning each particle to its
    nearest axis and moving each axis to the mean (y, phi) of its particles weighted by
    pT dR^(beta - 2) (dR regulated by the accuracy), until the axes move on average by less than
    1e-4 or 1000 updates. Azimuths are handled in [0, 2 pi) as fjcontrib does.

    Most jets converge in ~10 updates, a few need ~100, so a batch first runs
    ``_ONEPASS_FIRST`` updates on every jet, then finishes the slow ones in rounds of N/8 jets
    gathered into a smaller batch (a loop over the whole batch would cost the slowest jet's
    count for every jet)."""
    pt, y = _pt(particles, mask), particles[..., 1]
    phi = jnp.mod(particles[..., 2], 2 * jnp.pi)
    aphi = jnp.mod(aphi, 2 * jnp.pi)
    count = jnp.zeros(ay.shape[:2], jnp.int32)
    active = jnp.ones(ay.shape[:2], bool)
    ay, aphi, count, active = _iterate(pt, y, phi, mask, ay, aphi, av, count, active, n_axes, beta,
                                       _ONEPASS_FIRST)
    n = mask.shape[0]
    sub = max(1, -(-n // 8))

    def round_(c):
        ay, aphi, count, active = c
        pick = jnp.argsort(~jnp.any(active, axis=1), stable=True)[:sub]  # unfinished jets first
        take = lambda a: a[pick]  # noqa: E731
        out = _iterate(take(pt), take(y), take(phi), take(mask), take(ay), take(aphi), take(av),
                       take(count), take(active), n_axes, beta, _ONEPASS_MAX_ITER)
        return tuple(full.at[pick].set(part) for full, part in zip(c, out))

    ay, aphi, _, _ = jax.lax.while_loop(lambda c: jnp.any(c[3]), round_, (ay, aphi, count, active))
    return ay, aphi


@partial(jax.jit, static_argnames=("ns", "axes"))
def _taus(particles, mask, ns: tuple[int, ...], beta, r0, axes: str = "kt"):
    seeds = _exclusive_axes(particles, mask, ns, 1.0, axes == "wta_kt")  # arrays (N, K, P)
    ay, aphi, av = _compact(seeds, max(ns))
    if axes == "onepass_kt":
        n_axes = jnp.asarray(ns, particles.dtype)[None, :]
        ay, aphi = _one_pass(particles, mask, ay, aphi, av, n_axes, beta)
    pt = _pt(particles, mask)
    dmin = jnp.min(_min_dr2(particles[..., 1], particles[..., 2], ay, aphi, av), axis=-1)  # (N, K, P)
    num = jnp.sum(pt[:, None, :] * _spow(dmin, beta / 2), axis=-1)
    return num / (jnp.sum(pt, axis=-1, keepdims=True) * r0**beta)


def nsubjettiness(particles, mask=None, n: int | tuple[int, ...] = 1, beta: float = 1.0,
                  r0: float = 0.8, axes: str = "kt"):
    """N-subjettiness tau_N (dimensionless; arXiv:1011.2268) with fjcontrib's normalised measure.

    Args:
        particles: (N, P, 3) = (pT [GeV], d_eta, d_phi [rad]); mask: (N, P) bool.
        n: number of axes, or a tuple of them (one clustering serves all).
        beta: angular exponent (> 0); r0: characteristic radius [rad] of the normalisation.
        axes: ``"kt"`` (exclusive kT, E-scheme: fjcontrib ``KT_Axes``), ``"onepass_kt"`` (those
            axes refined by fjcontrib's one-pass minimisation: ``OnePass_KT_Axes``, the default of
            scikit-hep fastjet's ``njettiness``) or ``"wta_kt"``
            (winner-take-all kT: ``WTA_KT_Axes``). WTA axes are nested (a merge keeps the harder
            direction), so tau_N never grows with N; E-scheme kT axes are not, and with beta = 1
            tau_2 > tau_1 happens for ~8% of QCD jets (fjcontrib gives the same values).

    Returns: (N,) for an int ``n``; (N, len(n)) for a tuple.
    """
    particles, mask = check_batch(particles, mask, beta=beta, r0=r0)
    if axes not in _AXES:
        raise ValueError(f"unknown axes {axes!r}; use one of {_AXES}")
    ns = (n,) if isinstance(n, int) else tuple(int(k) for k in n)
    if not ns or min(ns) < 1:
        raise ValueError(f"n must be >= 1, got {n!r}")
    out = over_jets(_taus, particles, mask, ns=ns, beta=float(beta), r0=float(r0), axes=axes)
    return out[:, 0] if isinstance(n, int) else out


def tau21(particles, mask=None, beta: float = 1.0, r0: float = 0.8, axes: str = "kt"):
    """tau_2 / tau_1 (N,); 0 where tau_1 = 0. Arguments as :func:`nsubjettiness`."""
    t = nsubjettiness(particles, mask, (1, 2), beta, r0, axes)
    return _safe_div(t[:, 1], t[:, 0])


def tau32(particles, mask=None, beta: float = 1.0, r0: float = 0.8, axes: str = "kt"):
    """tau_3 / tau_2 (N,); 0 where tau_2 = 0. Arguments as :func:`nsubjettiness`."""
    t = nsubjettiness(particles, mask, (2, 3), beta, r0, axes)
    return _safe_div(t[:, 1], t[:, 0])
