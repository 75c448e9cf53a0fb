"""A differentiable binned likelihood with nuisance parameters (HistFactory-style), in JAX.

One channel of K bins: a signal ``s`` scaled by the signal strength ``mu`` and a background ``b``
with modifiers, each with a nuisance ``alpha_j`` constrained by a unit Gaussian (auxiliary datum
0), interpolated as ``pyhf.Model`` does by default (which overrides the modifiers' code0/code1):

- **histosys** (shape): down/up background histograms, per bin ``code4p``: linear beyond
  ``|alpha| = 1`` (``b + alpha (up - b)``, ``b + alpha (b - down)``), a 6th-degree polynomial
  inside matching value, slope and curvature at ``alpha = +-1``; the deltas of all histosys add;
- **normsys** (normalisation): a factor, ``code4``: ``hi**alpha`` for ``alpha >= 1``,
  ``lo**(-alpha)`` for ``alpha <= -1``, a 6th-degree polynomial inside (smooth to second order).

So ``nu = mu s + (b + sum_j delta_j(alpha_j)) prod_k f_k(alpha_k)``, and the likelihood is
``prod_i Pois(n_i | nu_i) prod_j N(0 | alpha_j, 1)`` with the continuous Poisson (lgamma), as in
pyhf. There are no per-bin statistical (staterror / Barlow-Beeston) terms and no signal modifiers.
References: HistFactory, Cranmer et al. CERN-OPEN-2012-016; q0 and the Asimov data set, Cowan,
Cranmer, Gross, Vitells arXiv:1007.1727; pyhf, JOSS doi:10.21105/joss.02823; neos arXiv:2203.05570.

>>> m = likelihood.binned_model(s, b, histo_down=b_dn, histo_up=b_up, norm_lo=[0.9], norm_hi=[1.1])
>>> likelihood.q0(m, observed)                         # profiled discovery test statistic
>>> likelihood.asimov_discovery_significance(m)        # median Z, differentiable in s, b, down, up

The fits are a fixed number of damped saddle-free Newton steps (exact Hessians, one
``lax.fori_loop``): everything jits and vmaps. Gradients of q0 and Z use the envelope theorem (the
NLL's gradient in the fitted parameters is 0 at the fit, so only its partial derivative at the
``stop_gradient``-ed fit remains); :func:`profile_nuisances` uses the implicit function theorem.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln, xlogy

from jetkit.stats._checks import _check_positive, _check_yields
from jetkit.stats.fitting import _value_grad_hessian
from jetkit.stats.significance import _safe_sqrt
from jetkit.validation import is_concrete

__all__ = ["BinnedModel", "asimov_discovery_significance", "binned_model", "expected_counts",
           "histosys_interpolation", "nll", "normsys_factor", "profile_nuisances", "q0"]


class BinnedModel(NamedTuple):
    """One channel of K bins (a pytree; build it with :func:`binned_model`). Yields in events.

    ``signal``, ``background`` (K,); ``histo_down``, ``histo_up`` (H, K): the background under the
    -1 sigma and +1 sigma variation of each of H shape systematics; ``norm_lo``, ``norm_hi`` (N,):
    the background normalisation factors at -1 and +1 sigma of N normalisation systematics. The
    nuisance vector ``alphas`` is (H + N,): the histosys first, then the normsys."""

    signal: jax.Array
    background: jax.Array
    histo_down: jax.Array
    histo_up: jax.Array
    norm_lo: jax.Array
    norm_hi: jax.Array

    @property
    def n_nuisances(self) -> int:  # H + N
        return self.histo_down.shape[0] + self.norm_lo.shape[0]


def _check_shapes(model: BinnedModel) -> None:
    s, b = model.signal, model.background
    if s.ndim != 1 or b.shape != s.shape:
        raise ValueError(f"signal and background must be 1-d, one yield per bin, got {s.shape} and {b.shape}")
    k = s.shape[0]
    if not model.histo_down.shape == model.histo_up.shape == (*model.histo_down.shape[:1], k):
        raise ValueError(f"histo_down and histo_up must both be (H, {k}) (one row per systematic), "
                         f"got {model.histo_down.shape} and {model.histo_up.shape}")
    if not model.norm_lo.shape == model.norm_hi.shape == model.norm_lo.shape[:1]:
        raise ValueError(f"norm_lo and norm_hi must both be (N,), got {model.norm_lo.shape}, {model.norm_hi.shape}")


def _check_values(model: BinnedModel, b_floor=None) -> None:
    """Values of a concrete model (traced ones pass): finite yields >= 0 and normalisation factors
    > 0; with ``b_floor`` (for the fits) also no empty background bin after adding the floor."""
    _check_shapes(model)
    for name in ("signal", "background", "histo_down", "histo_up"):
        v = getattr(model, name)
        if is_concrete(v) and not (np.all(np.isfinite(v)) and np.all(np.asarray(v) >= 0)):
            raise ValueError(f"{name} must hold finite yields >= 0 (negative weights?), got {np.asarray(v).tolist()}")
    _check_positive(model.norm_lo, "norm_lo", "The background factor at -1 sigma (e.g. 0.9).")
    _check_positive(model.norm_hi, "norm_hi", "The background factor at +1 sigma (e.g. 1.1).")
    if b_floor is not None:
        if is_concrete(b_floor) and not (np.isfinite(b_floor) and float(b_floor) >= 0):
            raise ValueError(f"b_floor must be >= 0 and finite, got {b_floor!r}")
        _check_yields(model.signal, model.background + b_floor)


def _check_observed(observed, k: int) -> None:
    if np.shape(observed) != (k,):
        raise ValueError(f"observed must be ({k},), one count per bin, got shape {np.shape(observed)}")
    if is_concrete(observed) and not (np.all(np.isfinite(observed)) and np.all(np.asarray(observed) >= 0)):
        raise ValueError(f"observed counts must be finite and >= 0, got {np.asarray(observed).tolist()}")


def _dtype(*xs):
    return jnp.result_type(*(jnp.asarray(x).dtype for x in xs), jnp.float32)


def binned_model(signal, background, *, histo_down=None, histo_up=None, norm_lo=None, norm_hi=None) -> BinnedModel:
    """Build a :class:`BinnedModel` from array-likes (one common float dtype: float32 unless
    x64 is on and an input is float64). A single shape systematic may be given as (K,) arrays.

    Raises ValueError on mismatched shapes, on negative or non-finite yields, or on normalisation
    factors <= 0. Empty background bins are allowed here (see ``b_floor`` of
    :func:`asimov_discovery_significance`); the fits reject them."""
    if (histo_down is None) != (histo_up is None) or (norm_lo is None) != (norm_hi is None):
        raise ValueError("give histo_down with histo_up, and norm_lo with norm_hi")
    k = np.shape(signal)[-1] if np.ndim(signal) else 0
    dtype = _dtype(*(x for x in (signal, background, histo_down, histo_up, norm_lo, norm_hi) if x is not None))
    histo_down, histo_up = (jnp.zeros((0, k)), jnp.zeros((0, k))) if histo_down is None else (histo_down, histo_up)
    norm_lo, norm_hi = (jnp.zeros(0), jnp.zeros(0)) if norm_lo is None else (norm_lo, norm_hi)
    model = BinnedModel(*(jnp.asarray(x, dtype) for x in (signal, background)),
                        *(jnp.atleast_2d(jnp.asarray(x, dtype)) for x in (histo_down, histo_up)),
                        *(jnp.asarray(x, dtype) for x in (norm_lo, norm_hi)))
    _check_values(model)
    return model


def _histosys_delta(a, d_dn, d_up):
    """pyhf's ``code4p`` delta at ``a``, of ``d_dn = nominal - down`` and ``d_up = up - nominal``."""
    sym, asym = 0.5 * (d_up + d_dn), 0.0625 * (d_up - d_dn)
    poly = a * (sym + a * asym * (15.0 + a * a * (-10.0 + 3.0 * a * a)))
    return jnp.where(a > 1, a * d_up, jnp.where(a < -1, a * d_dn, poly))


@jax.jit
def histosys_interpolation(alpha, down, nominal, up):
    """Histograms at nuisance value ``alpha`` with pyhf's ``code4p``: ``nominal + alpha (up -
    nominal)`` for ``alpha >= 1``, ``nominal + alpha (nominal - down)`` for ``alpha <= -1``, and for
    ``|alpha| < 1`` ``nominal + alpha (S + alpha A (15 - 10 alpha^2 + 3 alpha^4))`` with
    ``S = (up - down) / 2``, ``A = (up + down - 2 nominal) / 16``. At alpha = -1, 0, +1 exactly
    ``down``, ``nominal``, ``up``; twice continuously differentiable.

    ``down``, ``nominal``, ``up`` (..., K) broadcast together; ``alpha`` has their shape without the
    last (bin) axis, e.g. a scalar for (K,) histograms or (H,) for (H, K)."""
    a = jnp.asarray(alpha)[..., None]
    inside = nominal + _histosys_delta(a, nominal - down, up - nominal)
    # outside (-1, 1) as convex combinations, so that the end points are exact in floating point
    return jnp.where(a >= 1, (1 - a) * nominal + a * up, jnp.where(a <= -1, (1 + a) * nominal - a * down, inside))


# pyhf's code4 with alpha0 = 1: the coefficients a_1 ... a_6 of 1 + sum_i a_i alpha^i are this
# matrix times (hi - 1, lo - 1, hi ln hi, -lo ln lo, hi ln^2 hi, lo ln^2 lo), the value, slope and
# curvature of hi^alpha at alpha = 1 and of lo^-alpha at alpha = -1 (minus 1 for the values)
_CODE4 = np.linalg.inv([[math.perm(i, d) * float(e) ** (i - d) for i in range(1, 7)]
                        for d in (0, 1, 2) for e in (1, -1)])


def _code4_coefficients(lo, hi, log_lo, log_hi):
    rhs = jnp.stack([hi - 1, lo - 1, hi * log_hi, -lo * log_lo, hi * log_hi**2, lo * log_lo**2])
    return jnp.tensordot(jnp.asarray(_CODE4, rhs.dtype), rhs, axes=1)  # (6, ...)


def _normsys(a, lo, hi, log_lo, log_hi, coef):
    inside = 1.0 + a * functools.reduce(lambda acc, c: acc * a + c, coef[::-1])
    # hi * hi**(a - 1) is exactly hi at a = 1 (and lo at a = -1)
    return jnp.where(a >= 1, hi * jnp.exp((a - 1) * log_hi),
                     jnp.where(a <= -1, lo * jnp.exp((-a - 1) * log_lo), inside))


@jax.jit
def normsys_factor(alpha, lo, hi):
    """Normalisation factor at nuisance value ``alpha`` with pyhf's ``code4``: ``hi**alpha`` for
    ``alpha >= 1``, ``lo**(-alpha)`` for ``alpha <= -1``, and ``1 + sum_{i=1..6} a_i alpha^i`` for
    ``|alpha| < 1`` with the ``a_i`` fixed by continuity of the value and of the first two
    derivatives at alpha = +-1. ``lo`` and ``hi`` (> 0) are the factors at -1 and +1 sigma; the
    factor is lo, 1, hi at alpha = -1, 0, 1. Elementwise."""
    a, lo, hi = jnp.asarray(alpha), jnp.asarray(lo), jnp.asarray(hi)
    log_lo, log_hi = jnp.log(lo), jnp.log(hi)
    return _normsys(a, lo, hi, log_lo, log_hi, _code4_coefficients(lo, hi, log_lo, log_hi))


# what expected_counts needs, computed once per model (outside the Newton loops)
_Terms = NamedTuple("_Terms", [("signal", jax.Array), ("background", jax.Array), ("d_dn", jax.Array),
                               ("d_up", jax.Array), ("normsys", tuple)])


def _terms(model: BinnedModel) -> _Terms:
    b, lo, hi = model.background, model.norm_lo, model.norm_hi
    log_lo, log_hi = jnp.log(lo), jnp.log(hi)
    return _Terms(model.signal, b, b - model.histo_down, model.histo_up - b,
                  (lo, hi, log_lo, log_hi, _code4_coefficients(lo, hi, log_lo, log_hi)))


def _counts(terms: _Terms, mu, alphas):
    h = terms.d_dn.shape[0]
    delta = _histosys_delta(alphas[:h, None], terms.d_dn, terms.d_up)  # summed, as pyhf does
    factor = jnp.prod(_normsys(alphas[h:], *terms.normsys))
    return mu * terms.signal + (terms.background + jnp.sum(delta, axis=0)) * factor


def expected_counts(model: BinnedModel, mu, alphas):
    """Expected events per bin, ``mu s + (b + sum_j delta_j(alpha_j)) prod_k f_k(alpha_k)``, for
    signal strength ``mu`` and nuisances ``alphas`` (H + N,) (histosys first, as in pyhf)."""
    _check_shapes(model)
    alphas = jnp.asarray(alphas)
    if alphas.shape != (model.n_nuisances,):
        raise ValueError(f"alphas must be ({model.n_nuisances},) (histosys then normsys), got {alphas.shape}")
    return _expected_counts(model, mu, alphas)


_expected_counts = jax.jit(lambda model, mu, alphas: _counts(_terms(model), mu, alphas))


def nll(model: BinnedModel, mu, alphas, observed):
    """Negative log-likelihood ``-ln L`` with pyhf's constants (equal to ``-pyhf.Model.logpdf``):
    ``sum_i [nu_i - n_i ln nu_i + lgamma(n_i + 1)] + sum_j [alpha_j^2 / 2 + ln(2 pi) / 2]``.
    ``inf`` where an expected count is <= 0 (the nuisances are outside the model's range)."""
    _check_values(model)
    _check_observed(observed, model.signal.shape[0])
    nu = expected_counts(model, mu, alphas)
    return _nll(nu, jnp.asarray(alphas, nu.dtype), jnp.asarray(observed, nu.dtype))


@jax.jit
def _nll(nu, alphas, n):
    main = jnp.sum(jnp.where(nu > 0, nu, 1.0) - xlogy(n, jnp.where(nu > 0, nu, 1.0)) + gammaln(n + 1))
    out = main + 0.5 * jnp.sum(alphas**2) + 0.5 * alphas.size * np.log(2 * np.pi)
    return jnp.where(jnp.all(nu > 0), out, jnp.inf)


# series of h(r) = (1 + r) ln(1 + r) - r = sum_{k>=2} (-1)^k r^k / (k (k - 1)), for |r| < 0.1
_SERIES = tuple((-1.0) ** k / (k * (k - 1)) for k in range(2, 14))


@jax.custom_jvp
def _deviance_terms(nu, n):
    """``nu - n + n ln(n / nu) = nu h((n - nu) / nu)`` per bin (nu > 0), with a series near nu = n
    so that float32 keeps its precision; its derivatives are analytic (below), not of the series."""
    r = (n - nu) / nu
    small = jnp.abs(r) < 0.1
    rs = jnp.where(small, r, 0.0)
    series = functools.reduce(lambda acc, c: acc * rs + c, _SERIES[::-1]) * rs * rs
    rl = jnp.where(small | (n <= 0), 1.0, r)
    return nu * jnp.where(small, series, jnp.where(n > 0, (1 + rl) * jnp.log1p(rl) - rl, 1.0))


@_deviance_terms.defjvp
def _deviance_terms_jvp(primals, tangents):
    nu, n = primals
    d_nu, d_n = tangents
    log_ratio = jnp.where(n > 0, jnp.log(jnp.where(n > 0, n, 1.0) / nu), 0.0)
    return _deviance_terms(nu, n), (1.0 - n / nu) * d_nu + log_ratio * d_n


def _objective(terms: _Terms, x, n):
    """What the fits minimise, of ``x = (mu, alphas...)``: :func:`nll` minus a constant that
    depends on ``n`` only (the Poisson deviance / 2 plus the constraints); inf if a nu <= 0."""
    nu = _counts(terms, x[0], x[1:])
    ok = nu > 0  # outside the model's range otherwise: the Newton step is refused
    dev = jnp.sum(_deviance_terms(jnp.where(ok, nu, 1.0), n))
    return jnp.where(jnp.all(ok), dev, jnp.inf) + 0.5 * jnp.sum(jnp.square(x[1:]))


def _minimize(f, x0, free, steps: int):
    """Minimise ``f`` in the entries of ``x`` where ``free`` is 1 by damped *saddle-free* Newton steps
    (Hessian eigenvalues replaced by their absolute values plus a damping; Dauphin et al.
    arXiv:1406.2572), kept if ``f`` does not rise (or, within rounding, if the gradient shrinks, so
    ``x`` converges fully); the damping then shrinks, else grows. The NLL is not convex in the
    nuisances, and plain Newton steps also walk into saddle points. A fixed-length fori_loop."""
    value_grad_hess = _value_grad_hessian(f)
    mask2, fixed = jnp.outer(free, free), jnp.diag(1.0 - free)

    def body(_, state):
        x, fx, g, h, lam = state
        w, v = jnp.linalg.eigh(h * mask2 + fixed)
        w = jnp.abs(w) + lam * jnp.max(jnp.abs(w))
        step = -(v @ ((v.T @ (g * free)) / w)) * free
        x_new = x + jnp.where(jnp.isfinite(step), step, 0.0)
        f_new, g_new, h_new = value_grad_hess(x_new)
        tie = (f_new <= fx + 8 * jnp.finfo(fx.dtype).eps * jnp.abs(fx)) & (
            jnp.sum(g_new**2 * free) < jnp.sum(g**2 * free))
        better = jnp.isfinite(f_new) & ((f_new <= fx) | tie)
        x, fx, g, h = (jnp.where(better, new, old) for new, old in ((x_new, x), (f_new, fx), (g_new, g), (h_new, h)))
        return x, fx, g, h, jnp.clip(jnp.where(better, lam * 0.2, lam * 10.0), 1e-12, 1e6)

    # the first iteration only evaluates the start (its step is zero)
    start = (x0, jnp.asarray(jnp.inf, x0.dtype), jnp.zeros_like(x0), jnp.eye(x0.shape[0], dtype=x0.dtype),
             jnp.asarray(1e-3, x0.dtype))
    return jax.lax.fori_loop(0, steps + 1, body, start)[0]


@functools.partial(jax.jit, static_argnums=3)
def _fits(model: BinnedModel, n, mu, steps: int):
    """(2, 1 + H + N): the fit at fixed ``mu`` (row 0) and with mu free from 1 (row 1), alphas from
    0, one vmapped loop compiled once per shape for q0, Z_A and the profile. :func:`_fitted` stops
    the gradients, so that grad never traces the loop and an eager ``jax.grad`` reuses the fits."""
    terms, j = _terms(model), model.n_nuisances
    x0 = jnp.zeros((2, j + 1), n.dtype).at[0, 0].set(mu).at[1, 0].set(1.0)
    free = jnp.ones((2, j + 1), n.dtype).at[0, 0].set(0.0)
    return jax.vmap(lambda a, f: _minimize(lambda x: _objective(terms, x, n), a, f, steps))(x0, free)


def _fitted(model: BinnedModel, n, mu, steps: int):
    return _fits(*jax.lax.stop_gradient((model, n, mu)), steps)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _profile(steps: int, theta):
    model, mu, n = theta
    return _fitted(model, n, mu, steps)[0, 1:]


def _profile_fwd(steps: int, theta):
    alphas = _profile(steps, theta)
    return alphas, (alphas, theta)


@jax.jit
def _implicit_vjp(alphas, theta, alphas_bar):
    """Implicit function theorem: grad_a F(a_hat(theta), theta) = 0, so
    d a_hat / d theta = -H^-1 d(grad_a F) / d theta with H the Hessian in a."""

    def grad_a(a, th):
        model, mu, n = th
        return jax.grad(lambda a_: _objective(_terms(model), jnp.concatenate([mu[None], a_]), n))(a)

    v = jnp.linalg.solve(jax.jacfwd(grad_a)(alphas, theta), alphas_bar)
    _, vjp = jax.vjp(lambda th: grad_a(alphas, th), theta)
    return vjp(-v)


_profile.defvjp(_profile_fwd, lambda steps, res, alphas_bar: _implicit_vjp(*res, alphas_bar))


def _cast(model: BinnedModel, *xs):
    dtype = _dtype(*model, *xs)
    return (BinnedModel(*(jnp.asarray(x, dtype) for x in model)), *(jnp.asarray(x, dtype) for x in xs))


def profile_nuisances(model: BinnedModel, mu, observed, *, steps: int = 30):
    """Conditional maximum-likelihood nuisances ``alpha_hat(mu)`` (H + N,) for the ``observed``
    counts (K,) at fixed signal strength ``mu``: ``steps`` damped Newton steps from alpha = 0.

    Differentiable in the model, ``mu`` and ``observed`` by the implicit function theorem
    (``jax.custom_vjp``), not by unrolling the Newton loop. ValueError on bad input or empty background."""
    _check_values(model, 0.0)
    _check_observed(observed, model.signal.shape[0])
    model, mu, n = _cast(model, mu, observed)
    if model.n_nuisances == 0:
        return jnp.zeros((0,), n.dtype)
    return _profile(int(steps), (model, mu, n))


def q0(model: BinnedModel, observed, *, steps: int = 30):
    """Profiled discovery test statistic (arXiv:1007.1727, eq. 12):
    ``q0 = 2 [NLL(0, alpha_hat_0) - NLL(mu_hat, alpha_hat)]`` if ``mu_hat >= 0``, else 0.

    ``steps`` Newton steps per fit (mu from 1, alphas from 0); mu is unbounded in the free fit (as
    long as every nu > 0), like pyhf's ``q0`` with wide POI bounds. Differentiable (envelope theorem);
    ``sqrt(q0)`` is the significance of ``observed`` (K,). ValueError on bad input or empty background."""
    _check_values(model, 0.0)
    _check_observed(observed, model.signal.shape[0])
    model, n = _cast(model, observed)
    return _q0_of_fits(model, n, _fitted(model, n, jnp.zeros((), n.dtype), int(steps)))


# compiled on their own, so eager calls and grads do not dispatch op by op (an outer jit fuses all)
@jax.jit
def _q0_of_fits(model, n, x):
    terms = _terms(model)
    t = 2.0 * (_objective(terms, x[0], n) - _objective(terms, x[1], n))
    return jnp.where(x[1, 0] >= 0, jnp.maximum(t, 0.0), 0.0)


@jax.jit
def _asimov_data(model, floor):
    model = model._replace(background=model.background + floor, histo_down=model.histo_down + floor,
                           histo_up=model.histo_up + floor)
    return model, model.signal + model.background  # Asimov data of mu = 1, alphas = 0


@jax.jit
def _z_of_fit(model, n, x):
    return _safe_sqrt(2.0 * _objective(_terms(model), x[0], n))


def asimov_discovery_significance(model: BinnedModel, *, b_floor=0.0, steps: int = 30):
    """Median discovery significance ``Z_A = sqrt(q0)`` on the Asimov data ``n = s + b`` (mu = 1,
    alphas = 0; arXiv:1007.1727). There the unconstrained fit is exact (mu_hat = 1, alpha_hat = 0,
    deviance 0), so Z_A needs only the mu = 0 fit; ``steps`` Newton steps.

    Differentiable in ``signal``, ``background``, ``histo_down`` and ``histo_up`` (envelope
    theorem), so ``-Z_A`` of soft histograms is a training loss (neos, arXiv:2203.05570).
    ``b_floor`` (>= 0) is added to the background and to its variations (same histosys deltas): a
    small floor keeps the loss finite when a bin runs empty in training; leave it at 0 to evaluate.
    ValueError (concrete inputs) on negative yields, empty background bins without a floor, shapes."""
    _check_values(model, b_floor)
    (model,) = _cast(model)
    model, n = _asimov_data(model, jnp.asarray(b_floor, model.background.dtype))
    return _z_of_fit(model, n, _fitted(model, n, jnp.zeros((), n.dtype), int(steps)))
