"""Cuts: relaxed (sigmoid) cuts and their gradient-based optimisation, brute-force grid scans,
and the best single threshold on a score.

Relaxed cut: ``sigmoid((x - c) / T)``, the hard cut ``x > c`` as ``T -> 0``. A chain of relaxed
cuts is differentiable in its thresholds, so the Asimov significance of a selection can be
maximised by gradient ascent (:func:`optimise_cuts`) and compared with a grid scan.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jetkit.stats._checks import _check_keep, _check_positive
from jetkit.stats.significance import asimov_significance

__all__ = ["best_cut", "best_threshold", "grid_scan", "hard_cut", "optimise_cuts", "relaxed_cut",
           "relaxed_cut_significance", "relaxed_selection", "relaxed_window", "threshold_significance"]


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


def best_cut(scores, labels, weights, rel_unc: float, *, min_background_mc: int = 0,
             n: int = 400) -> tuple[float, float]:
    """The single cut ``score > t`` with the largest Asimov significance (``sigma_b = rel_unc *
    b``) among ``n`` score quantiles, keeping at least ``min_background_mc`` simulated background
    jets. Tune it on training jets and evaluate it on held-out jets. Returns ``(t, Z)``."""
    scores = np.asarray(scores, dtype=np.float64)
    grid = np.unique(np.quantile(scores, np.linspace(0.0, 1.0, n, endpoint=False)))
    z, _, _ = grid_scan(scores[:, None], labels, weights, [grid], ["above"], rel_unc,
                                 min_background_mc=min_background_mc)
    i = int(np.argmax(z))
    return float(grid[i]), float(z[i])


def threshold_significance(threshold, scores, labels, weights, rel_unc: float = 0.0,
                           min_background_mc: int = 0) -> float:
    """Asimov significance (with sigma_b = rel_unc * b) of the counting experiment
    ``score > threshold``; 0 when fewer than ``max(1, min_background_mc)`` simulated background
    jets pass."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    weights = np.broadcast_to(np.asarray(weights, dtype=np.float64), scores.shape)
    passed = scores > float(threshold)
    s, b = float(weights[passed & labels].sum()), float(weights[passed & ~labels].sum())
    if b <= 0 or (passed & ~labels).sum() < min_background_mc:
        return 0.0
    return float(asimov_significance(s, b, rel_unc * b if rel_unc > 0 else None))


def best_threshold(scores, labels, weights, rel_unc: float = 0.0, min_background_mc: int = 0,
                   n: int = 400) -> tuple[float, float]:
    """The threshold among ``n`` score quantiles with the largest :func:`threshold_significance`.
    Returns (threshold, Z). Same as :func:`best_cut`."""
    return best_cut(scores, labels, weights, rel_unc, min_background_mc=min_background_mc, n=n)
