"""Histograms: hard (counts) and soft (differentiable), and binned profiles.

Soft histogram: each event spreads its weight over the bins with a kernel of width ``bandwidth``
(the bin content is a CDF difference), as in neos (arXiv:2203.05570); it tends to the hard
histogram as the bandwidth goes to 0.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jetkit.stats._checks import _check_positive
from jetkit.validation import is_concrete

__all__ = ["hard_histogram", "profile", "soft_histogram"]


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


def profile(x, y, bins):
    """Mean of ``y`` in bins of ``x`` (NaN for empty bins): returns (bin centres, means)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    edges = np.asarray(bins, float)
    which = np.digitize(x, edges) - 1
    means = np.array([y[which == i].mean() if np.any(which == i) else np.nan for i in range(len(edges) - 1)])
    return 0.5 * (edges[1:] + edges[:-1]), means
