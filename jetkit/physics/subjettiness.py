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

from jetkit.physics._common import _pt, _safe_div, _spow
from jetkit.physics.clustering import _exclusive_axes, delta_r2
from jetkit.validation import check_batch

__all__ = ["nsubjettiness", "tau21", "tau32"]


@partial(jax.jit, static_argnames=("ns", "wta"))
def _taus(particles, mask, ns: tuple[int, ...], beta, r0, wta: bool):
    axes = _exclusive_axes(particles, mask, ns, 1.0, wta)  # arrays (N, K, P)
    pt = _pt(particles, mask)
    eta, phi = particles[:, None, :, None, 1], particles[:, None, :, None, 2]
    dr2 = delta_r2(eta, phi, axes.y[:, :, None, :], axes.phi[:, :, None, :])  # (N, K, P, P_axes)
    dmin = jnp.min(jnp.where(axes.valid[:, :, None, :], dr2, jnp.inf), axis=-1)
    dist = _spow(dmin, beta / 2)
    num = jnp.sum(pt[:, None, :] * dist, axis=-1)
    return num / (jnp.sum(pt, axis=-1, keepdims=True) * r0**beta)


def nsubjettiness(particles, mask=None, n: int | tuple[int, ...] = 1, beta: float = 1.0,
                  r0: float = 0.8, axes: str = "kt"):
    """N-subjettiness tau_N (dimensionless; arXiv:1011.2268) with fjcontrib's normalised measure.

    Args:
        particles: (N, P, 3) = (pT [GeV], d_eta, d_phi [rad]); mask: (N, P) bool.
        n: number of axes, or a tuple of them (one clustering serves all).
        beta: angular exponent (> 0); r0: characteristic radius [rad] of the normalisation.
        axes: ``"kt"`` (exclusive kT, E-scheme: fjcontrib ``KT_Axes``) or ``"wta_kt"``
            (winner-take-all kT: ``WTA_KT_Axes``). WTA axes are nested (a merge keeps the harder
            direction), so tau_N never grows with N; E-scheme kT axes are not, and with beta = 1
            tau_2 > tau_1 happens for ~8% of QCD jets (fjcontrib gives the same values).

    Returns: (N,) for an int ``n``; (N, len(n)) for a tuple.
    """
    particles, mask = check_batch(particles, mask, beta=beta, r0=r0)
    if axes not in ("kt", "wta_kt"):
        raise ValueError(f"unknown axes {axes!r}; use 'kt' or 'wta_kt'")
    ns = (n,) if isinstance(n, int) else tuple(int(k) for k in n)
    if not ns or min(ns) < 1:
        raise ValueError(f"n must be >= 1, got {n!r}")
    out = _taus(particles, mask, ns, float(beta), float(r0), axes == "wta_kt")
    return out[:, 0] if isinstance(n, int) else out


def tau21(particles, mask=None, beta: float = 1.0, r0: float = 0.8, axes: str = "kt"):
    """tau_2 / tau_1 (N,); 0 where tau_1 = 0. Arguments as :func:`nsubjettiness`."""
    t = nsubjettiness(particles, mask, (1, 2), beta, r0, axes)
    return _safe_div(t[:, 1], t[:, 0])


def tau32(particles, mask=None, beta: float = 1.0, r0: float = 0.8, axes: str = "kt"):
    """tau_3 / tau_2 (N,); 0 where tau_2 = 0. Arguments as :func:`nsubjettiness`."""
    t = nsubjettiness(particles, mask, (2, 3), beta, r0, axes)
    return _safe_div(t[:, 1], t[:, 0])
