"""Binned likelihood fits in JAX: Poisson NLL, normalised bin fractions of common shapes, a
damped-Newton fit with Hessian uncertainties and profile-likelihood scans.

>>> def nll(p):
...     nu = p["n_sig"] * gaussian_bin_fractions(edges, p["mu"], p["sigma"]) \
...          + p["n_bkg"] * exponential_bin_fractions(edges, p["slope"])
...     return poisson_nll(nu, counts)
>>> result = fit(nll, {"n_sig": 1e3, "n_bkg": 1e4, "mu": 170.0, "sigma": 10.0, "slope": 0.01})
>>> result.values["mu"], result.errors["mu"]                 # best fit and Hessian error
>>> profile_scan(result, "mu", np.linspace(168, 172, 21))    # Delta NLL, others refitted

Parameters are a dict of scalars (a pytree); ``jax.hessian`` makes Newton's method exact, and the
whole minimisation is one compiled ``jax.lax.fori_loop``. Everything here is re-exported by
:mod:`jetkit.stats`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

__all__ = [
    "FitResult",
    "crossing_interval",
    "exponential_bin_fractions",
    "fit",
    "gaussian_bin_fractions",
    "poisson_nll",
    "profile_scan",
]




def poisson_nll(expected, observed):
    """Binned Poisson negative log-likelihood, up to a constant:
    ``sum_i [nu_i - n_i + n_i ln(n_i / nu_i)]`` (half the deviance; 0 for a perfect fit), which
    keeps float32 precise even for large counts. ``expected`` must be > 0."""
    nu, n = jnp.asarray(expected), jnp.asarray(observed)
    log_term = jnp.where(n > 0, n * (jnp.log(jnp.where(n > 0, n, 1.0)) - jnp.log(nu)), 0.0)
    return jnp.sum(nu - n + log_term)


def gaussian_bin_fractions(edges, mu, sigma):
    """Fraction of a Gaussian (mean ``mu``, width ``sigma``; units of the edges) in each bin,
    normalised to the range of the edges (a Gaussian truncated to the fit window)."""
    cdf = 0.5 * jax.lax.erf((jnp.asarray(edges) - mu) / (sigma * np.sqrt(2.0)))  # lean HLO: fast to compile
    return jnp.diff(cdf) / (cdf[-1] - cdf[0])


def exponential_bin_fractions(edges, slope):
    """Fraction of ``exp(-slope * x)`` in each bin, normalised to the range of the edges.
    ``slope`` in 1/(units of x); any sign; 0 is the flat distribution."""
    edges = jnp.asarray(edges)
    t = -slope * (edges - edges[0])
    # integral of exp(t) from 0 ... ; expm1 keeps it exact as slope -> 0
    safe = jnp.where(jnp.abs(slope) > 1e-9, slope, 1.0)
    cum = jnp.where(jnp.abs(slope) > 1e-9, -jnp.expm1(t) / safe, edges - edges[0])
    return jnp.diff(cum) / cum[-1]


@dataclasses.dataclass(frozen=True)
class FitResult:
    """Outcome of :func:`fit`: best-fit ``values`` and Hessian ``errors`` (dicts by parameter
    name), the ``covariance`` matrix (rows in the order of ``names``), the minimum ``nll``, the
    estimated distance to the minimum ``edm`` and whether the fit ``converged``."""

    values: dict
    errors: dict
    covariance: np.ndarray
    names: tuple[str, ...]
    nll: float
    edm: float
    converged: bool
    steps: int
    _objective: object = dataclasses.field(default=None, repr=False, compare=False)

    def correlation(self) -> np.ndarray:
        """Correlation matrix of the parameters (order of ``names``)."""
        d = np.sqrt(np.diag(self.covariance))
        return self.covariance / np.outer(d, d)

    def __str__(self) -> str:
        rows = [f"{n:>10s} = {self.values[n]:.5g} ± {self.errors[n]:.2g}" for n in self.names]
        return "\n".join(rows + [f"NLL = {self.nll:.3f}, converged: {self.converged}"])


def _value_grad_hessian(f):
    """x -> (f(x), gradient, Hessian) of a scalar f in one forward-over-reverse pass."""
    vg = jax.value_and_grad(f)

    def fun(x):
        value, grad = vg(x)
        return grad, (value, grad)

    def out(x):
        h, (value, grad) = jax.jacfwd(fun, has_aux=True)(x)
        return value, grad, h

    return out


def _lm_minimize(f, x0, free, steps: int):
    """Levenberg-Marquardt-damped Newton minimisation of a scalar ``f`` of a flat vector ``x``,
    moving only the entries where ``free`` is 1. A pure JAX loop of fixed length, so it jits and
    vmaps. Returns (x, f(x), gradient, Hessian) at the end (gradient and Hessian unmasked).

    Each iteration proposes a damped Newton step, evaluates f, its gradient and Hessian there
    and accepts the step if f did not increase (then the damping shrinks, else it grows). The
    first iteration only evaluates the start (its step is zero), so f, g and H appear once in
    the compiled program."""
    value_grad_hess = _value_grad_hessian(f)
    n = x0.shape[0]
    fixed_diag = jnp.diag(1.0 - free)
    mask2 = jnp.outer(free, free)

    def body(_, state):
        x, fx, g, h, lam = state
        hm = h * mask2 + fixed_diag  # fixed parameters decouple and do not move
        scale = jnp.abs(jnp.diag(hm)) + 1e-12
        step = -jnp.linalg.solve(hm + lam * jnp.diag(scale) + 1e-12 * jnp.eye(n), g * free)
        x_new = x + jnp.where(jnp.isfinite(step), step, 0.0) * free
        f_new, g_new, h_new = value_grad_hess(x_new)
        better = jnp.isfinite(f_new) & (f_new <= fx)
        x, fx = jnp.where(better, x_new, x), jnp.where(better, f_new, fx)
        g, h = jnp.where(better, g_new, g), jnp.where(better, h_new, h)
        lam = jnp.clip(jnp.where(better, lam * 0.2, lam * 10.0), 1e-9, 1e9)
        return x, fx, g, h, lam

    x0 = jnp.asarray(x0)
    start = (x0, jnp.asarray(jnp.inf, x0.dtype), jnp.zeros_like(x0), jnp.eye(n, dtype=x0.dtype),
             jnp.asarray(1e-3, x0.dtype))
    x, fx, g, h, _ = jax.lax.fori_loop(0, steps + 1, body, start)
    return x, fx, g, h


@functools.partial(jax.jit, static_argnums=(0, 3))
def _fit_core(f, x0, free, steps: int):
    x, fx, g, h = _lm_minimize(f, x0, free, steps)
    return x, fx, h, g


@dataclasses.dataclass(frozen=True)
class _Objective:
    """What :func:`profile_scan` needs to re-run the compiled fit of a :class:`FitResult`."""

    flat: Callable
    x: jax.Array
    order: tuple[str, ...]  # parameter names in the order of the flat vector
    free: np.ndarray
    steps: int


def fit(nll: Callable, init: dict, *, steps: int = 60, fixed: dict | None = None,
        edm_tol: float = 1e-3) -> FitResult:
    """Minimise ``nll(params)`` (a dict of scalars -> scalar, e.g. a negative log-likelihood)
    with damped Newton steps and estimate the uncertainties from the inverse Hessian,
    ``cov = H^-1`` (valid for a negative *log*-likelihood: 1 sigma is Delta NLL = 1/2).

    Args:
        nll: jax-traceable function of the parameter dict.
        init: starting values (dict name -> float); a good start matters for any fit.
        steps: Newton iterations (each one costs a Hessian: fine for a handful of parameters).
        fixed: parameters held at given values (not fitted, no error).
        edm_tol: the fit counts as converged when the estimated distance to the minimum,
            ``edm = g^T H^-1 g`` (twice the NLL decrease still expected), is below this.
    Raises:
        ValueError: the starting NLL is not finite, or the Hessian at the end is not positive
            definite (not a minimum; try other starting values).
    """
    fixed = {k: float(v) for k, v in (fixed or {}).items()}
    start = {**{k: float(v) for k, v in init.items()}, **fixed}
    names = tuple(k for k in init if k not in fixed)  # reported in the caller's order
    if not names:
        raise ValueError("nothing to fit: every parameter is fixed")
    x0, unravel = ravel_pytree({k: jnp.asarray(v, jnp.float32) for k, v in start.items()})
    order = tuple(unravel(x0).keys())  # ravel_pytree sorts dict keys
    free = np.array([k not in fixed for k in order], dtype=np.float32)

    def flat(x):
        return nll(unravel(x))

    f0 = float(jax.jit(flat)(x0))  # cheap to compile: fail fast on a bad start
    if not np.isfinite(f0):
        raise ValueError(f"the NLL at the starting values is {f0}; choose starting values "
                         "inside the allowed range (positive yields and widths)")
    x, fx, h, g = _fit_core(flat, x0, jnp.asarray(free), steps)
    idx = [order.index(k) for k in names]
    h = np.asarray(h, dtype=np.float64)[np.ix_(idx, idx)]
    g = np.asarray(g, dtype=np.float64)[idx]
    if not np.all(np.isfinite(h)) or np.linalg.eigvalsh(h).min() <= 0:
        raise ValueError("the Hessian at the end of the fit is not positive definite (not a minimum); "
                         "try other starting values or more steps")
    # Newton decrement g^T H^-1 g: twice the NLL still to gain; a scale-free convergence test
    edm = float(g @ np.linalg.solve(h, g))
    cov = np.linalg.inv(h)
    best = unravel(x)
    values = {k: float(best[k]) for k in start}
    errors = {k: float(np.sqrt(cov[i, i])) for i, k in enumerate(names)}
    objective = _Objective(flat, x, order, free, steps)
    return FitResult(values, errors, cov, names, float(fx), edm, bool(edm < edm_tol), steps, objective)


def profile_scan(result: FitResult, name: str, points) -> np.ndarray:
    """Profile likelihood ``Delta NLL(p) = min_others NLL(name = p) - NLL_min`` at each of
    ``points``: the fit of ``result`` is re-run with ``name`` held at ``p`` (same compiled Newton
    loop, so no new compilation), starting from the best fit. Returns a numpy array like
    ``points``."""
    if name not in result.names:
        raise ValueError(f"unknown or fixed parameter {name!r}; fitted: {list(result.names)}")
    obj = result._objective
    i = obj.order.index(name)
    free = obj.free.copy()
    free[i] = 0.0
    free = jnp.asarray(free)
    out = []
    for p in np.asarray(points, dtype=np.float32).ravel():
        _, fx, _, _ = _fit_core(obj.flat, obj.x.at[i].set(p), free, obj.steps)
        out.append(float(fx))
    return np.asarray(out).reshape(np.shape(points)) - result.nll


def crossing_interval(points, delta_nll, level: float = 0.5) -> tuple[float, float]:
    """Where a profile ``delta_nll(points)`` crosses ``level`` (0.5: the 68% interval of one
    parameter) on each side of its minimum, by linear interpolation. Returns (lo, hi);
    ``nan`` on a side the scan does not reach."""
    x, y = np.asarray(points, dtype=np.float64), np.asarray(delta_nll, dtype=np.float64)
    i = int(np.argmin(y))
    lo = hi = np.nan
    for j in range(i, 0, -1):
        if y[j - 1] >= level > y[j] or y[j - 1] > level >= y[j]:
            lo = float(np.interp(level, [y[j], y[j - 1]], [x[j], x[j - 1]]))
            break
    for j in range(i, len(x) - 1):
        if y[j + 1] >= level > y[j] or y[j + 1] > level >= y[j]:
            hi = float(np.interp(level, [y[j], y[j + 1]], [x[j], x[j + 1]]))
            break
    return lo, hi
