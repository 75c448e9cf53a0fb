"""Systematic uncertainties in a learned analysis: how nuisances move the inputs, the profiled
significance of a score histogram, and neos trained with the nuisances inside its loss.

Two kinds of background systematics:

- a **normalisation** uncertainty (normsys): the whole background scales by ``1 +- norm_unc``;
- a **shape** uncertainty (histosys): the background histogram under a "down" and an "up"
  variation of the simulation, e.g. QCD jets with the final-state shower's renormalisation scale
  halved and doubled (dataset ``top_qcd_fsr``), or constituents with a shifted jet energy scale
  (:func:`energy_scale`). The variations are normalised to the nominal background yield, so the
  histosys is a pure shape change.

The significance is the profiled Asimov discovery significance of
:mod:`jetkit.stats.likelihood` (HistFactory-style; checked against pyhf). With soft histograms it
is differentiable, so ``-Z`` is a training loss that knows the systematic (INFERNO,
arXiv:1806.04743; neos, arXiv:2203.05570): :func:`profiled_neos_loss`.

>>> rows = {"BCE": systematics.evaluate(bce_scores, y, w, bce_dn, w_dn, bce_up, w_up, edges, 0.2)}
>>> loss = functools.partial(systematics.profiled_neos_loss, edges=edges, bandwidth=0.1, norm_unc=0.2)
>>> neos.fit_full_batch(model, loss, (x, y, w, x_dn, w_dn, x_up, w_up), steps=400)
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jetkit.stats import likelihood
from jetkit.stats.histograms import hard_histogram, soft_histogram

__all__ = ["best_cut", "energy_scale", "evaluate", "evaluate_cut", "format_table", "profiled_neos_loss",
           "profiled_significance", "shape_yields", "variation_weights"]


def energy_scale(dataset, factor: float):
    """The jets of a :class:`~jetkit.data.JetDataset` with every constituent's pT (and the jet
    pT and mass) multiplied by ``factor`` (a jet-energy-scale shift, e.g. 1.05 for +5 %).

    Energy-weighted ratios (tau_N ratios, D2, pT fractions) do not change; the mass scales by
    ``factor``. Raises ValueError unless ``factor > 0``."""
    if not (np.isfinite(factor) and factor > 0):
        raise ValueError(f"the energy-scale factor must be > 0, got {factor!r}")
    particles = np.asarray(dataset.particles).copy()
    particles[..., 0] *= factor
    jets = np.asarray(dataset.jets).copy()
    jets[:, 0] *= factor
    jets[:, 3] *= factor
    return dataclasses.replace(dataset, particles=particles, jets=jets)


def variation_weights(n: int, background_yield: float) -> np.ndarray:
    """Weights of ``n`` simulated jets of a background variation so that they sum to the nominal
    ``background_yield`` (a shape-only variation)."""
    if n < 1 or not background_yield > 0:
        raise ValueError(f"need n >= 1 jets and a yield > 0, got {n}, {background_yield}")
    return np.full(n, background_yield / n, dtype=np.float32)


def _histogram(x, edges, weights, bandwidth):
    if bandwidth is None:
        return hard_histogram(jnp.clip(x, edges[0], edges[-1]), edges, weights)
    return soft_histogram(x, edges, weights, bandwidth=bandwidth)


def shape_yields(scores, labels, weights, scores_down, weights_down, scores_up, weights_up, edges,
                 bandwidth: float | None = None):
    """``(s, b, b_down, b_up)``, each (K,): expected signal and nominal background per bin of the
    score from the nominal sample (labels 1 and 0), and the background under the down and up
    variations from their own samples. Soft (differentiable) histograms with ``bandwidth``;
    without it hard ones, scores outside the edges counted in the outer bins."""
    edges = jnp.asarray(edges)
    labels = jnp.asarray(labels)
    s = _histogram(scores, edges, jnp.where(labels == 1, weights, 0.0), bandwidth)
    b = _histogram(scores, edges, jnp.where(labels == 1, 0.0, weights), bandwidth)
    return (s, b, _histogram(scores_down, edges, weights_down, bandwidth),
            _histogram(scores_up, edges, weights_up, bandwidth))


def profiled_significance(s, b, b_down=None, b_up=None, norm_unc: float = 0.0, *, b_floor: float = 0.0,
                          steps: int = 30):
    """Profiled Asimov discovery significance of the bins ``s``, ``b`` with a normsys of relative
    size ``norm_unc`` (0: none) and, if ``b_down``/``b_up`` are given, one histosys.

    Differentiable in every histogram; ``b_floor`` and ``steps`` (Newton steps of the profile fit)
    as in :func:`jetkit.stats.likelihood.asimov_discovery_significance`."""
    norm = {} if not norm_unc else {"norm_lo": [1.0 - norm_unc], "norm_hi": [1.0 + norm_unc]}
    shape = {} if b_down is None else {"histo_down": b_down, "histo_up": b_up}
    model = likelihood.binned_model(s, b, **shape, **norm)
    return likelihood.asimov_discovery_significance(model, b_floor=b_floor, steps=steps)


def _score(model, x):
    return jax.nn.sigmoid(model(x)[..., 0])


def profiled_neos_loss(model, batch, *, edges, bandwidth: float, norm_unc: float, shape: bool = True,
                       min_background_mc: float = 0.0, penalty: float = 10.0, newton_steps: int = 8):
    """``-Z``: minus the profiled significance (normsys ``norm_unc``, and the shape systematic if
    ``shape``) of the soft histograms of the network's score, for
    ``batch = (x, labels, weights, x_down, weights_down, x_up, weights_up)``.

    ``min_background_mc`` adds ``penalty * sum relu(1 - n / min_background_mc)^2`` over the bins of
    the nominal background and of both variations (``n``: soft counts of simulated jets), so no
    bin rests on a handful of simulated jets; a floor of 0.1 events keeps empty bins finite. With
    one or two nuisances the profile fit converges in about 5 Newton steps (``newton_steps``)."""
    x, labels, weights, x_dn, w_dn, x_up, w_up = batch
    score, score_dn, score_up = _score(model, x), _score(model, x_dn), _score(model, x_up)
    s, b, b_dn, b_up = shape_yields(score, labels, weights, score_dn, w_dn, score_up, w_up, edges, bandwidth)
    z = profiled_significance(s, b, b_dn if shape else None, b_up if shape else None, norm_unc, b_floor=0.1,
                              steps=newton_steps)
    if not min_background_mc:
        return -z
    is_bkg = (jnp.asarray(labels) != 1).astype(score.dtype)
    counts = [soft_histogram(v, edges, m, bandwidth=bandwidth)
              for v, m in ((score, is_bkg), (score_dn, jnp.ones_like(score_dn)), (score_up, jnp.ones_like(score_up)))]
    return -z + penalty * sum(jnp.sum(jnp.square(jax.nn.relu(1.0 - n / min_background_mc))) for n in counts)


_ROWS = 256  # evaluations are padded to this many rows: one compilation per number of bins


@jax.jit
def _z_rows(s, b, b_dn, b_up, norm_unc):
    """Profiled Asimov Z of T rows of (T, K) histograms, as (3, T): statistics only, with the
    normsys, with the normsys and the shape. The three are one model shape (a variation equal to
    the nominal, a factor of 1 at both sigmas change nothing), so all share one compilation."""
    one = jnp.ones_like(b[:, :1])
    lo, hi = jnp.concatenate([one, one - norm_unc, one - norm_unc]), jnp.concatenate([one, one + norm_unc, one + norm_unc])
    stack = lambda *xs: jnp.concatenate(xs)  # noqa: E731
    rows = likelihood.BinnedModel(stack(s, s, s), stack(b, b, b), stack(b, b, b_dn)[:, None],
                                  stack(b, b, b_up)[:, None], lo, hi)
    z = jax.vmap(lambda m: likelihood.asimov_discovery_significance(m))(rows)
    return z.reshape(3, -1)


_BINS = 4  # ... and to a multiple of this many bins


def _profiled_z(s, b, b_dn, b_up, norm_unc: float) -> np.ndarray:
    """(3, T) array of :func:`_z_rows` for (T, K) numpy histograms, padded to whole blocks of rows
    and bins. A padded bin has no signal and 1e-6 background events in every variation: it adds
    nothing to q0 and constrains the shared normalisation by a Fisher information of ~1e-6."""
    (t, k), rows, bins = np.shape(s), -len(s) % _ROWS, -np.shape(s)[1] % _BINS

    def grow(h, fill):
        h = np.concatenate([np.asarray(h, np.float32), np.full((t, bins), fill, np.float32)], 1)
        return np.concatenate([h, np.repeat(h[:1], rows, 0)])

    z = _z_rows(grow(s, 0.0), *(grow(h, 1e-6) for h in (b, b_dn, b_up)), jnp.float32(norm_unc))
    return np.asarray(z)[:, :t]


def _row(s, b, b_dn, b_up, n_mc, norm_unc) -> dict:
    s, b, b_dn, b_up = (np.asarray(v, dtype=np.float64) for v in (s, b, b_dn, b_up))
    if np.any(b <= 0) or np.any(b_dn <= 0) or np.any(b_up <= 0):
        raise ValueError(f"a bin has no background (nominal {b.round(1).tolist()}, down "
                         f"{b_dn.round(1).tolist()}, up {b_up.round(1).tolist()}); use fewer bins or more jets")
    z, z_norm, z_shape = _profiled_z(s[None], b[None], b_dn[None], b_up[None], norm_unc)[:, 0]
    return {"s": s, "b": b, "b_down": b_dn, "b_up": b_up, "n_b_mc": np.asarray(n_mc, dtype=int),
            "z": float(z), "z_norm": float(z_norm), "z_shape": float(z_shape)}


def evaluate(scores, labels, weights, scores_down, weights_down, scores_up, weights_up, edges,
             norm_unc: float) -> dict:
    """Hard-histogram yields of held-out jets and their profiled significance: ``z`` (statistics
    only), ``z_norm`` (with the normsys) and ``z_shape`` (normsys and the shape systematic).
    Returns those and ``s, b, b_down, b_up, n_b_mc`` (fewest simulated jets of the three
    background samples per bin). Raises ValueError if a bin has no background."""
    edges = np.asarray(edges, dtype=np.float64)
    hists = shape_yields(*(np.asarray(v, np.float64) for v in (scores, labels, weights, scores_down, weights_down,
                                                                scores_up, weights_up)), edges)
    labels = np.asarray(labels)
    clip = lambda v: np.clip(np.asarray(v, np.float64), edges[0], edges[-1])  # noqa: E731
    n_mc = np.minimum.reduce([np.histogram(clip(scores)[labels != 1], edges)[0],
                              np.histogram(clip(scores_down), edges)[0], np.histogram(clip(scores_up), edges)[0]])
    return _row(*hists, n_mc, norm_unc)


def evaluate_cut(passed, labels, weights, passed_down, weights_down, passed_up, weights_up,
                 norm_unc: float) -> dict:
    """Like :func:`evaluate` for one selection (a single bin): ``passed`` (N,), ``passed_down``,
    ``passed_up`` say which jets of each sample pass."""
    passed, p_dn, p_up = (np.asarray(v, dtype=bool) for v in (passed, passed_down, passed_up))
    labels = np.asarray(labels)
    w, w_dn, w_up = (np.asarray(v, np.float64) for v in (weights, weights_down, weights_up))
    bkg = passed & (labels != 1)
    n_mc = min(int(bkg.sum()), int(p_dn.sum()), int(p_up.sum()))
    return _row([w[passed & (labels == 1)].sum()], [w[bkg].sum()], [w_dn[p_dn].sum()], [w_up[p_up].sum()],
                [n_mc], norm_unc)


def best_cut(scores, labels, weights, scores_down, weights_down, scores_up, weights_up, norm_unc: float,
             min_background_mc: int = 0, n_thresholds: int = 200) -> tuple[float, float]:
    """The threshold ``t`` for which the single bin "score > t" has the largest profiled
    significance with the normsys and the shape systematic, keeping at least
    ``min_background_mc`` simulated jets of every background sample; scanned over
    ``n_thresholds`` quantiles of the nominal scores. Returns ``(t, Z)``."""
    scores, s_dn, s_up = (np.asarray(v, np.float32) for v in (scores, scores_down, scores_up))
    labels = np.asarray(labels)
    t = np.quantile(scores, np.linspace(0.0, 1.0, n_thresholds, endpoint=False)).astype(np.float32)
    w, w_dn, w_up = (np.asarray(v, np.float64) for v in (weights, weights_down, weights_up))
    above = lambda x, wx: ((x[None] > t[:, None]) * wx[None]).sum(1, keepdims=True)  # noqa: E731
    sig, bkg = labels == 1, labels != 1
    b, b_dn, b_up = above(scores[bkg], w[bkg]), above(s_dn, w_dn), above(s_up, w_up)
    n_mc = np.minimum.reduce([(scores[bkg][None] > t[:, None]).sum(1),
                              (s_dn[None] > t[:, None]).sum(1), (s_up[None] > t[:, None]).sum(1)])
    ok = (n_mc >= max(min_background_mc, 1)) & (b[:, 0] > 0) & (b_dn[:, 0] > 0) & (b_up[:, 0] > 0)
    floor = lambda h: np.where(h > 0, h, 1.0)  # noqa: E731  (rows without background are dropped below)
    z = _profiled_z(above(scores[sig], w[sig]), floor(b), floor(b_dn), floor(b_up), norm_unc)[2]
    z = np.where(ok & np.isfinite(z), z, -np.inf)
    if not np.isfinite(z.max()):
        raise ValueError("no threshold keeps enough simulated background jets; lower min_background_mc")
    i = int(np.argmax(z))
    return float(t[i]), float(z[i])


def format_table(rows: dict, norm_unc: float, shape_name: str = "shape") -> str:
    """A text table of :func:`evaluate`/:func:`evaluate_cut` results, one row per method."""
    width = max(len(k) for k in rows) + 2
    cols = ("Z (stat.)", f"Z ({norm_unc:.0%} norm.)", f"Z (+ {shape_name})")
    head = f"{'method':<{width}}" + "".join(f"{c:>16}" for c in cols) + f"{'bins':>6}{'min sim. bkg':>14}"
    lines = [head, "-" * len(head)]
    for name, r in rows.items():
        lines.append(f"{name:<{width}}{r['z']:>16.2f}{r['z_norm']:>16.2f}{r['z_shape']:>16.2f}"
                     f"{len(r['s']):>6d}{int(np.min(r['n_b_mc'])):>14d}")
    return "\n".join(lines)
