"""Differentiable programming for physics analyses: relaxed cuts, differentiable histograms,
Asimov significances and likelihood fits, all in JAX (notebook 01).

>>> from jetkit import diffprog
>>> diffprog.asimov_significance(10.0, 100.0)                  # Z of a counting experiment
>>> diffprog.asimov_significance(10.0, 100.0, sigma_b=10.0)    # with a background uncertainty
>>> w = diffprog.relaxed_cut(tau32, 0.6, temperature=0.02, keep="below")   # in (0, 1), smooth
>>> h = diffprog.soft_histogram(scores, edges, weights, bandwidth=0.05)    # differentiable
>>> result = diffprog.fit(nll, {"mu": 170.0, "sigma": 15.0})               # Newton + Hessian
>>> result.values["mu"], result.errors["mu"]

Everything is a pure function of arrays: jit-, grad- and vmap-friendly. Inputs are validated
whenever they are concrete (not traced), as in :mod:`jetkit.validation`: negative yields, empty
background bins, non-positive temperatures or bandwidths raise a ``ValueError`` that says what to
do. Under ``jit``/``grad`` the checks are skipped, so no Python-level error can break tracing.

Formulas:

- Asimov discovery significance (Cowan, Cranmer, Gross, Vitells, arXiv:1007.1727, eq. 97):
  ``Z = sqrt(2 ((s + b) ln(1 + s/b) - s))``; with a background uncertainty ``sigma_b``
  (the background is a nuisance constrained by an auxiliary measurement):
  ``Z = sqrt(2 [(s+b) ln((s+b)(b+sb^2) / (b^2+(s+b) sb^2)) - b^2/sb^2 ln(1 + sb^2 s/(b(b+sb^2)))])``.
  Both are evaluated in a cancellation-free form (a series for s << b), so float32 is enough.
- Binned significance: independent bins add in quadrature, ``Z^2 = sum_i Z_i^2``, each with
  ``sigma_b,i = rel_unc * b_i`` (a background prediction known to a relative precision per bin).
- Relaxed cut: ``sigmoid((x - c) / T)``, the hard cut ``x > c`` as ``T -> 0``.
- Soft histogram: each event spreads its weight over the bins with a kernel of width
  ``bandwidth`` (the bin content is a CDF difference), as in neos (arXiv:2203.05570).

Likelihood fits (``fit``, ``profile_scan``, ``poisson_nll``, ...) live in :mod:`jetkit.fitting`
and are re-exported here; the neural-summary-statistic training is in :mod:`jetkit.neos`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jetkit.validation import is_concrete

__all__ = [
    "FitResult",
    "asimov_significance",
    "binned_significance",
    "crossing_interval",
    "exponential_bin_fractions",
    "fit",
    "gaussian_bin_fractions",
    "grid_scan",
    "hard_cut",
    "hard_histogram",
    "poisson_nll",
    "profile_scan",
    "optimise_cuts",
    "relaxed_cut",
    "relaxed_cut_significance",
    "relaxed_selection",
    "relaxed_window",
    "soft_histogram",
]


# ------------------------------------------------------------------------------------------------
# checks (only on concrete values; traced values pass through)
# ------------------------------------------------------------------------------------------------


def _check_positive(value, name: str, what: str) -> None:
    if is_concrete(value):
        v = np.asarray(value)
        if not np.all(np.isfinite(v)) or np.any(v <= 0):
            raise ValueError(f"{name} must be > 0 (and finite), got {value!r}. {what}")


def _check_keep(keep: str) -> None:
    if keep not in ("above", "below"):
        raise ValueError(f"keep must be 'above' (x > threshold) or 'below' (x < threshold), got {keep!r}")


def _check_yields(s, b, sigma_b=None) -> None:
    if not is_concrete(s, b) or (sigma_b is not None and not is_concrete(sigma_b)):
        return
    s_, b_ = np.asarray(s, dtype=np.float64), np.asarray(b, dtype=np.float64)
    for name, v in (("s", s_), ("b", b_)):
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{name} contains NaN or infinite yields; check the weights and the selection.")
        if np.any(v < 0):
            raise ValueError(
                f"negative {'signal' if name == 's' else 'background'} yield {name} = {v[v < 0][:3].tolist()}; "
                "expected event counts must be >= 0 (are some event weights negative?)."
            )
    if np.any(b_ == 0):
        raise ValueError(
            f"empty background bin(s) (b = 0 at {np.argwhere(b_ == 0)[:5].ravel().tolist()}): the Asimov "
            "significance is infinite there. Use fewer or wider bins, loosen the cut, or use more "
            "background events."
        )
    if sigma_b is not None:
        sb = np.asarray(sigma_b, dtype=np.float64)
        if not np.all(np.isfinite(sb)) or np.any(sb < 0):
            raise ValueError(f"sigma_b must be >= 0 and finite, got {sigma_b!r}")


# ------------------------------------------------------------------------------------------------
# relaxed cuts
# ------------------------------------------------------------------------------------------------


def relaxed_cut(x, threshold, temperature, keep: str = "above"):
    """Smooth pass weight in (0, 1) of the cut ``x > threshold`` (``keep="above"``) or
    ``x < threshold`` (``keep="below"``): ``sigmoid(+-(x - threshold) / temperature)``.

    ``temperature`` is in the units of ``x`` (e.g. GeV for a mass); as it goes to 0 the weight
    tends to the hard cut (1 on the kept side, 0 on the other, 1/2 exactly at the threshold)."""
    _check_keep(keep)
    _check_positive(temperature, "temperature", "Use a small positive temperature (hard cuts are T -> 0).")
    z = (jnp.asarray(x) - threshold) / temperature
    return jax.nn.sigmoid(z if keep == "above" else -z)


def hard_cut(x, threshold, keep: str = "above"):
    """0/1 (float) pass flag of the cut ``x > threshold`` or ``x < threshold``."""
    _check_keep(keep)
    x = jnp.asarray(x)
    passed = x > threshold if keep == "above" else x < threshold
    return passed.astype(jnp.result_type(x.dtype, jnp.float32))


def relaxed_window(x, lo, hi, temperature):
    """Smooth pass weight of ``lo < x < hi``: the product of two relaxed cuts."""
    return relaxed_cut(x, lo, temperature, "above") * relaxed_cut(x, hi, temperature, "below")


def relaxed_selection(features, thresholds, temperatures, keep: Sequence[str]):
    """Pass weight (N,) of a chain of cuts, one per column of ``features`` (N, K):
    ``prod_k relaxed_cut(features[:, k], thresholds[k], temperatures[k], keep[k])``.

    A mass window is two columns holding the same mass (``keep=("above", "below")``). Passing
    ``temperatures=None`` applies the hard cuts instead."""
    features = jnp.asarray(features)
    if features.ndim != 2 or features.shape[1] != len(keep) or np.shape(thresholds) != (len(keep),):
        raise ValueError(
            f"features must be (N, K) with one threshold and one keep per column; got features "
            f"{features.shape}, thresholds {np.shape(thresholds)}, keep {tuple(keep)}"
        )
    weight = jnp.ones(features.shape[0], features.dtype)
    for k, side in enumerate(keep):
        if temperatures is None:
            weight = weight * hard_cut(features[:, k], thresholds[k], side)
        else:
            weight = weight * relaxed_cut(features[:, k], thresholds[k], temperatures[k], side)
    return weight


# ------------------------------------------------------------------------------------------------
# histograms
# ------------------------------------------------------------------------------------------------


def _check_edges(edges):
    shape = np.shape(edges)
    if len(shape) != 1 or shape[0] < 2:
        raise ValueError(f"edges must be a 1-D array of at least 2 bin edges, got shape {shape}")
    if is_concrete(edges) and not np.all(np.diff(np.asarray(edges)) > 0):
        raise ValueError("bin edges must be strictly increasing")


def _weights(x, weights):
    x = jnp.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D (one value per event), got shape {x.shape}")
    if weights is None:
        return x, jnp.ones_like(x)
    weights = jnp.asarray(weights)
    if weights.shape != x.shape:
        raise ValueError(f"weights must match x: {weights.shape} vs {x.shape}")
    return x, weights


_CDFS = {
    "gaussian": lambda z: jax.scipy.special.ndtr(z),
    "logistic": jax.nn.sigmoid,
}


def soft_histogram(x, edges, weights=None, *, bandwidth, kernel: str = "gaussian", flow: bool = True):
    """Differentiable histogram: event ``i`` puts ``w_i [F((e_{j+1} - x_i)/h) - F((e_j - x_i)/h)]``
    into bin ``j``, with ``F`` the kernel's CDF (``"gaussian"``: a KDE, ``"logistic"``: sigmoid
    bin edges) and ``h = bandwidth`` (units of ``x``).

    With ``flow=True`` the outer bins extend to +-infinity, so the histogram sums to the total
    weight exactly; with ``flow=False`` weight that leaks beyond the outer edges is lost, like
    ``numpy.histogram`` dropping out-of-range values. As ``bandwidth -> 0`` it becomes the hard
    histogram. Returns (n_bins,)."""
    _check_edges(edges)
    if kernel not in _CDFS:
        raise ValueError(f"unknown kernel {kernel!r}; use 'gaussian' or 'logistic'")
    _check_positive(bandwidth, "bandwidth", "The kernel width must be positive (try ~1/4 of a bin width).")
    x, w = _weights(x, weights)
    return _soft_histogram(x, w, jnp.asarray(edges, dtype=x.dtype), bandwidth, kernel, flow)


@functools.partial(jax.jit, static_argnames=("kernel", "flow"))
def _soft_histogram(x, w, edges, bandwidth, kernel: str, flow: bool):
    cdf = _CDFS[kernel]((edges[None, :] - x[:, None]) / bandwidth)  # (N, n_edges)
    if flow:
        cdf = cdf.at[:, 0].set(0.0).at[:, -1].set(1.0)
    return jnp.sum(w[:, None] * jnp.diff(cdf, axis=1), axis=0)


def hard_histogram(x, edges, weights=None, *, flow: bool = True):
    """Ordinary weighted histogram (bins ``[e_j, e_{j+1})``, the last one closed), with under- and
    overflow folded into the outer bins when ``flow=True``. jit-able. Returns (n_bins,)."""
    _check_edges(edges)
    x, w = _weights(x, weights)
    return _hard_histogram(x, w, jnp.asarray(edges, dtype=x.dtype), flow)


@functools.partial(jax.jit, static_argnames=("flow",))
def _hard_histogram(x, w, edges, flow: bool):
    n = edges.shape[0] - 1
    idx = jnp.searchsorted(edges, x, side="right") - 1
    idx = jnp.where(x == edges[-1], n - 1, idx)
    if flow:
        idx = jnp.clip(idx, 0, n - 1)
    else:
        w = jnp.where((idx >= 0) & (idx < n), w, 0.0)
        idx = jnp.clip(idx, 0, n - 1)
    return jnp.zeros(n, w.dtype).at[idx].add(w)


# ------------------------------------------------------------------------------------------------
# significance
# ------------------------------------------------------------------------------------------------


def _safe_sqrt(z2):
    positive = z2 > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, z2, 1.0)), 0.0)


def _half_z2_over_b(u, b, var):
    """Z^2 / (2 b) as a function of u = s/b, b and var = sigma_b^2, written with
    v = var/(b + var), w = 1 - v = b/(b + var) and k = var/b, each computed without cancellation.

    Exact form ``(1+u) ln(1 + u w/(1+uv)) - ln(1 + uv)/k``; for small u the series
    ``sum_{n>=2} (-1)^n (1 - v^(n-1)) u^n / (n(n-1))`` avoids the cancellation between the terms."""
    v = var / (b + var)
    w = b / (b + var)
    k = var / b
    small = u < 0.05
    us = jnp.where(small, u, 0.0)
    log_v = jnp.log1p(-jnp.minimum(w, 1.0))  # ln v (= -inf when var = 0, harmless below)
    series = sum((-1) ** n * -jnp.expm1((n - 1) * log_v) * us**n / (n * (n - 1)) for n in range(2, 8))
    ul = jnp.where(small, 1.0, u)
    # ln(1 + u v) / k -> u w as k -> 0 (no uncertainty)
    has_k = k > 1e-12
    second = jnp.where(has_k, jnp.log1p(ul * v) / jnp.where(has_k, k, 1.0), ul * w)
    exact = (1 + ul) * jnp.log1p(ul * w / (1 + ul * v)) - second
    return jnp.where(small, series, exact)


@jax.jit
def _asimov(s, b, var):
    return _safe_sqrt(2.0 * b * jnp.maximum(_half_z2_over_b(s / b, b, var), 0.0))


def asimov_significance(s, b, sigma_b=None):
    """Median discovery significance Z for ``s`` expected signal and ``b`` expected background
    events (elementwise; arXiv:1007.1727).

    Without ``sigma_b``: ``Z = sqrt(2((s+b) ln(1+s/b) - s))``, which tends to ``s/sqrt(b)`` for
    ``s << b``. With an absolute background uncertainty ``sigma_b`` (same units as ``b``) the
    profiled formula, which tends to ``s/sqrt(b + sigma_b^2)`` for ``s << b`` and to the first
    formula as ``sigma_b -> 0``.

    Raises ValueError (for concrete inputs) on negative yields or b = 0 (an empty bin)."""
    _check_yields(s, b, sigma_b)
    s, b = jnp.asarray(s), jnp.asarray(b)
    dtype = jnp.result_type(s.dtype, b.dtype, jnp.float32)
    var = jnp.zeros((), dtype) if sigma_b is None else jnp.square(jnp.asarray(sigma_b, dtype))
    return _asimov(s.astype(dtype), b.astype(dtype), var)


def binned_significance(s, b, rel_unc: float = 0.0, *, b_floor: float = 0.0):
    """Combined significance of independent bins: ``sqrt(sum_i Z_i^2)`` with
    ``Z_i = asimov_significance(s_i, b_i, rel_unc * b_i)``.

    ``rel_unc`` is the relative uncertainty on the background prediction of each bin (0: none).
    ``b_floor`` (>= 0) is added to every background yield; a small floor keeps a training loss
    finite when a bin runs empty (leave it at 0 to evaluate). Raises ValueError on negative
    yields, on empty background bins (with ``b_floor = 0``), or on ``rel_unc < 0``."""
    if is_concrete(rel_unc) and not float(rel_unc) >= 0:
        raise ValueError(f"rel_unc must be >= 0, got {rel_unc!r}")
    s, b = jnp.asarray(s), jnp.asarray(b)
    if s.shape != b.shape:
        raise ValueError(f"s and b must have the same shape (one yield per bin), got {s.shape}, {b.shape}")
    b = b + b_floor
    z = asimov_significance(s, b, None if is_concrete(rel_unc) and float(rel_unc) == 0 else rel_unc * b)
    return _safe_sqrt(jnp.sum(jnp.square(z)))


def grid_scan(features, labels, weights, grids: Sequence, keep: Sequence[str], rel_unc: float = 0.0,
              *, min_background_mc: int = 0):
    """Brute-force scan of hard cuts: the significance of every combination of thresholds.

    Args:
        features: (N, K) one column per cut (repeat a column for a window).
        labels: (N,) 1 = signal, 0 = background; weights: (N,) expected events per jet.
        grids: K increasing 1-D arrays of thresholds; keep: K of ``"above"``/``"below"``.
        rel_unc: relative background uncertainty (``sigma_b = rel_unc * b``).
        min_background_mc: combinations that keep fewer simulated background events than this
            get Z = 0 (their background prediction would be a fluctuation of the simulation).
    Returns:
        ``(z, s, b)`` arrays of shape ``(len(grids[0]), ..., len(grids[K-1]))``; ``z`` is 0 where
        no background passes.

    Every event is binned once by its position among each grid's thresholds; cumulative sums
    along each axis then give the yields of all combinations, so the cost is O(N + grid size)
    rather than O(N x grid size).
    """
    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    weights = np.broadcast_to(np.asarray(weights, dtype=np.float64), labels.shape)
    if features.ndim != 2 or features.shape[1] != len(grids) or len(grids) != len(keep):
        raise ValueError("features (N, K) need K grids and K keep values")
    grids = [np.asarray(g, dtype=np.float64) for g in grids]
    if any(g.ndim != 1 or g.size == 0 or np.any(np.diff(g) <= 0) for g in grids):
        raise ValueError("each grid must be a non-empty, strictly increasing 1-D array")
    for k in keep:
        _check_keep(k)
    # x > g_i  <=>  i < #(g < x);   x < g_i  <=>  i >= #(g <= x)
    idx = [np.searchsorted(g, features[:, k], side="left" if side == "above" else "right")
           for k, (g, side) in enumerate(zip(grids, keep))]
    shape = tuple(len(g) + 1 for g in grids)
    flat = np.ravel_multi_index(idx, shape)

    def cumulate(w):
        h = np.bincount(flat, weights=w, minlength=int(np.prod(shape))).reshape(shape)
        for axis, side in enumerate(keep):
            if side == "above":  # yields[i] = sum_{j > i} h[j]
                h = np.flip(np.cumsum(np.flip(h, axis), axis), axis)
                h = np.take(h, np.arange(1, h.shape[axis]), axis=axis)
            else:  # yields[i] = sum_{j <= i} h[j]
                h = np.take(np.cumsum(h, axis), np.arange(h.shape[axis] - 1), axis=axis)
        return h

    s = cumulate(np.where(labels, weights, 0.0))
    b = cumulate(np.where(labels, 0.0, weights))
    n_mc = cumulate((~labels).astype(np.float64))
    ok = (b > 0) & (n_mc >= max(min_background_mc, 1) - 1e-9)
    sb = np.where(ok, b, 1.0)
    z = np.asarray(asimov_significance(np.where(ok, np.maximum(s, 0.0), 0.0), sb,
                                       None if rel_unc == 0 else rel_unc * sb))
    return np.where(ok, z, 0.0), s, b


def relaxed_cut_significance(thresholds, features, labels, weights, temperatures, keep: Sequence[str],
                             rel_unc: float = 0.0):
    """Asimov significance of a chain of relaxed cuts (see :func:`relaxed_selection`): each
    event counts with its pass weight, ``s = sum w_i p_i`` over signal, ``b`` over background,
    ``sigma_b = rel_unc * b``. ``temperatures=None`` gives the hard-cut value. Differentiable in
    ``thresholds`` (and everything else)."""
    p = relaxed_selection(features, thresholds, temperatures, keep)
    labels = jnp.asarray(labels)
    w = jnp.asarray(weights) * p
    s = jnp.sum(jnp.where(labels == 1, w, 0.0))
    b = jnp.sum(jnp.where(labels == 1, 0.0, w))
    return asimov_significance(s, b, rel_unc * b if rel_unc else None)


def optimise_cuts(features, labels, weights, init, keep: Sequence[str], temperatures, *, steps: int = 300,
                  learning_rate: float = 0.05, rel_unc: float = 0.0, min_background_mc: float = 0.0,
                  penalty: float = 10.0):
    """Gradient ascent (Adam) of :func:`relaxed_cut_significance` over the cut thresholds.

    Thresholds are moved in units of each feature's standard deviation, so one learning rate
    suits GeV and dimensionless features alike. ``temperatures``: (K,) fixed, or (steps, K) a
    schedule (e.g. annealing towards small T). The whole loop is one ``jax.lax.scan``.

    Returns ``(thresholds, history)``: the final (K,) thresholds and a dict of per-step arrays
    ``"thresholds"`` (steps, K) and ``"z"`` (steps,) (the relaxed significance)."""
    import optax

    features = jnp.asarray(features, jnp.float32)
    init = jnp.asarray(init, jnp.float32)
    temps = jnp.asarray(temperatures, jnp.float32)
    if temps.ndim == 1:
        temps = jnp.broadcast_to(temps, (steps, temps.shape[0]))
    if temps.shape != (steps, init.shape[0]):
        raise ValueError(f"temperatures must be (K,) or (steps, K) = ({steps}, {init.shape[0]}), got {temps.shape}")
    _check_positive(temps, "temperature", "Use small positive temperatures.")
    scale = jnp.std(features, axis=0) + 1e-12
    tx = optax.adam(learning_rate)

    is_bkg = (jnp.asarray(labels) != 1).astype(jnp.float32)

    def loss(u, t):
        thresholds = init + u * scale
        z = relaxed_cut_significance(thresholds, features, labels, weights, t, keep, rel_unc)
        if not min_background_mc:
            return -z
        n_b = jnp.sum(is_bkg * relaxed_selection(features, thresholds, t, keep))
        return -z + penalty * jnp.square(jax.nn.relu(1.0 - n_b / min_background_mc))

    def step(carry, t):
        u, opt_state = carry
        g = jax.grad(loss)(u, t)
        updates, opt_state = tx.update(g, opt_state)
        u = optax.apply_updates(u, updates)
        thresholds = init + u * scale
        z = relaxed_cut_significance(thresholds, features, labels, weights, t, keep, rel_unc)
        return (u, opt_state), (thresholds, z)

    u0 = jnp.zeros_like(init)
    (u, _), (path, z) = jax.jit(lambda u0: jax.lax.scan(step, (u0, tx.init(u0)), temps))(u0)
    return np.asarray(init + u * scale), {"thresholds": np.asarray(path), "z": np.asarray(z)}


# ------------------------------------------------------------------------------------------------
# likelihood fits live in jetkit.fitting (re-exported here)
# ------------------------------------------------------------------------------------------------

from jetkit.fitting import (  # noqa: E402
    FitResult,
    crossing_interval,
    exponential_bin_fractions,
    fit,
    gaussian_bin_fractions,
    poisson_nll,
    profile_scan,
)

# Notebook 01's exercise checks register themselves with jetkit.exercises on import.
from jetkit import diffprog_exercises as _diffprog_exercises  # noqa: E402,F401
