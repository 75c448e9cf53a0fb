"""Learn a summary statistic for the inference you will do with it (neos, arXiv:2203.05570;
INFERNO, arXiv:1806.04743), and compare with the same network trained by binary cross-entropy.

The pipeline::

    x (jet features) -> network -> score in (0, 1) -> histogram (K bins) -> Asimov Z with sigma_b

With a *soft* histogram (:func:`jetkit.stats.soft_histogram`) every step is differentiable,
so ``-Z`` itself is the training loss (:func:`neos_loss`). Evaluation always uses the ordinary
(hard) histogram on held-out jets (:func:`evaluate`).

>>> w = neos.event_weights(labels, signal_yield=75, background_yield=1500)
>>> loss = functools.partial(neos.neos_loss, edges=edges, bandwidth=0.1, rel_unc=0.2)
>>> losses = neos.fit_full_batch(model, loss, (x, labels, w), steps=400, learning_rate=3e-3)
>>> neos.evaluate(neos.scores(model, x_test), y_test, w_test, edges, rel_unc=0.2)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jetkit import physics
from jetkit.stats.cuts import best_cut
from jetkit.stats.histograms import hard_histogram, soft_histogram
from jetkit.stats.significance import binned_significance

__all__ = [
    "FEATURE_NAMES",
    "analysis_features",
    "bce_loss",
    "best_cut",
    "evaluate",
    "evaluate_cut",
    "event_weights",
    "fit_full_batch",
    "format_table",
    "neos_loss",
    "scores",
    "standardise",
    "summary_yields",
]

#: Columns of :func:`analysis_features`.
FEATURE_NAMES = ("mass [GeV]", "tau21", "tau32", "D2", "multiplicity")


def analysis_features(dataset) -> np.ndarray:
    """(N, 5) float32 features of a :class:`~jetkit.data.JetDataset`: jet mass [GeV],
    tau21, tau32 (N-subjettiness ratios, beta = 1, kT axes), D2 (beta = 1) and the constituent
    multiplicity. tau_N costs ~1 ms per jet on a laptop CPU: use a few thousand jets."""
    taus = np.asarray(physics.nsubjettiness(dataset.particles, dataset.mask, (1, 2, 3)))
    ratio = lambda a, b: np.divide(a, b, out=np.zeros_like(a), where=b > 0)  # noqa: E731
    d2 = np.asarray(physics.d2(dataset.particles, dataset.mask))
    return np.stack([np.asarray(dataset.jets)[:, 3], ratio(taus[:, 1], taus[:, 0]), ratio(taus[:, 2], taus[:, 1]),
                     d2, np.asarray(dataset.n_constituents, dtype=np.float64)], axis=1).astype(np.float32)


def standardise(train, *others):
    """Scale features to zero mean and unit variance using the training set's statistics only.
    Returns the transformed ``train`` followed by the transformed ``others``."""
    train = np.asarray(train, dtype=np.float32)
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return tuple((np.asarray(a, dtype=np.float32) - mean) / std for a in (train, *others))


def event_weights(labels, signal_yield: float, background_yield: float) -> np.ndarray:
    """Per-jet weights (expected events per simulated jet) so that the signal jets (label 1)
    sum to ``signal_yield`` and the background jets (label 0) to ``background_yield``."""
    labels = np.asarray(labels)
    n_s, n_b = int((labels == 1).sum()), int((labels == 0).sum())
    if n_s == 0 or n_b == 0:
        raise ValueError("need both signal (1) and background (0) jets to normalise the weights")
    if not (signal_yield > 0 and background_yield > 0):
        raise ValueError(f"yields must be > 0, got signal {signal_yield}, background {background_yield}")
    return np.where(labels == 1, signal_yield / n_s, background_yield / n_b).astype(np.float32)


def summary_yields(scores, labels, weights, edges, bandwidth: float | None = None):
    """Expected signal and background yields per bin of the score: ``(s, b)``, each (K,).
    With ``bandwidth`` the soft (differentiable) histogram, else the hard one."""
    labels = jnp.asarray(labels)
    w_s = jnp.where(labels == 1, weights, 0.0)
    w_b = jnp.where(labels == 1, 0.0, weights)
    if bandwidth is None:
        return hard_histogram(scores, edges, w_s), hard_histogram(scores, edges, w_b)
    return (soft_histogram(scores, edges, w_s, bandwidth=bandwidth),
            soft_histogram(scores, edges, w_b, bandwidth=bandwidth))


def _score(model, x):
    return jax.nn.sigmoid(model(x)[..., 0])


def neos_loss(model, batch, *, edges, bandwidth: float, rel_unc: float, min_background_mc: float = 0.0,
              penalty: float = 10.0):
    """``-Z``: minus the binned Asimov significance (with ``sigma_b = rel_unc * b`` per bin) of
    the soft histogram of the network's score, for ``batch = (x, labels, weights)``.

    ``min_background_mc`` adds ``penalty * sum_bins relu(1 - n_b / min_background_mc)^2`` where
    ``n_b`` is the (soft) number of simulated background jets in the bin: a bin predicted from
    fewer simulated jets would be a statistical fluctuation of the simulation, not a real
    region of high purity. A small floor (0.1 events) keeps the loss finite in empty bins."""
    x, labels, weights = batch
    score = _score(model, x)
    s, b = summary_yields(score, labels, weights, edges, bandwidth)
    z = binned_significance(s, b, rel_unc, b_floor=0.1)
    if not min_background_mc:
        return -z
    n_b = soft_histogram(score, edges, (jnp.asarray(labels) != 1).astype(score.dtype),
                                  bandwidth=bandwidth)
    return -z + penalty * jnp.sum(jnp.square(jax.nn.relu(1.0 - n_b / min_background_mc)))


def bce_loss(model, batch):
    """Binary cross-entropy of the network's logit for ``batch = (x, labels, ...)`` (extra
    entries such as weights are ignored: the classes are balanced in training)."""
    x, labels = batch[0], batch[1]
    logits = model(x)[..., 0]
    return optax.sigmoid_binary_cross_entropy(logits, jnp.asarray(labels, logits.dtype)).mean()


def fit_full_batch(model: nnx.Module, loss_fn, batch, *, steps: int, learning_rate: float = 3e-3) -> np.ndarray:
    """Minimise ``loss_fn(model, batch)`` with Adam on the whole ``batch`` at every step (a
    significance is a property of a whole sample, not of a mini-batch). The loop is a single
    ``jax.lax.scan`` (one compilation, no Python per step). Updates ``model`` in place and
    returns the loss at every step."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    tx = optax.adam(learning_rate)
    batch = jax.tree_util.tree_map(jnp.asarray, batch)

    def loss_of(p):
        return loss_fn(nnx.merge(graphdef, p, rest), batch)

    def step(carry, _):
        p, opt_state = carry
        loss, grads = jax.value_and_grad(loss_of)(p)
        updates, opt_state = tx.update(grads, opt_state, p)
        return (optax.apply_updates(p, updates), opt_state), loss

    @jax.jit
    def run(p):
        return jax.lax.scan(step, (p, tx.init(p)), None, length=steps)

    (params, _), losses = run(params)
    nnx.update(model, params)
    return np.asarray(losses)


_score_jit = nnx.jit(_score)


def scores(model: nnx.Module, x) -> np.ndarray:
    """The network's score sigmoid(logit) in (0, 1) for every row of ``x``."""
    return np.asarray(_score_jit(model, jnp.asarray(x)))


def evaluate(scores, labels, weights, edges, rel_unc: float) -> dict:
    """Hard-histogram yields of held-out jets (scores outside the edges go to the outer bins) and
    their significance without and with the background uncertainty. Returns
    ``{"s", "b", "n_b_mc", "z", "z_unc"}``; raises ValueError if a bin has no background (use
    fewer bins or more jets)."""
    edges = np.asarray(edges, dtype=np.float64)
    x = np.clip(np.asarray(scores, dtype=np.float64), edges[0], edges[-1])
    labels = np.asarray(labels)
    weights = np.broadcast_to(np.asarray(weights, dtype=np.float64), x.shape)
    s = np.histogram(x[labels == 1], edges, weights=weights[labels == 1])[0]
    b = np.histogram(x[labels != 1], edges, weights=weights[labels != 1])[0]
    n_b = np.histogram(x[labels != 1], edges)[0]
    return {"s": s, "b": b, "n_b_mc": n_b.astype(int),
            "z": float(binned_significance(s, b)),
            "z_unc": float(binned_significance(s, b, rel_unc))}


def evaluate_cut(passed, labels, weights, rel_unc: float) -> dict:
    """Like :func:`evaluate` for a single selection (one bin): ``passed`` (N,) bool says which
    held-out jets pass. Raises ValueError if no background jet passes."""
    passed = np.asarray(passed, dtype=bool)
    labels = np.asarray(labels)
    weights = np.asarray(weights, dtype=np.float64)
    s = np.array([weights[passed & (labels == 1)].sum()])
    b = np.array([weights[passed & (labels != 1)].sum()])
    return {"s": s, "b": b, "n_b_mc": np.array([int((passed & (labels != 1)).sum())]),
            "z": float(binned_significance(s, b)),
            "z_unc": float(binned_significance(s, b, rel_unc))}


def format_table(rows: dict, rel_unc: float) -> str:
    """A text table of :func:`evaluate`/:func:`evaluate_cut` results, one row per method."""
    width = max(len(k) for k in rows) + 2
    z_unc = f"Z (σ_b = {rel_unc:.0%})"
    head = f"{'method':<{width}}{'Z (no unc.)':>12}{z_unc:>16}{'bins':>6}{'min sim. bkg':>14}"
    lines = [head, "-" * len(head)]
    for name, r in rows.items():
        lines.append(f"{name:<{width}}{r['z']:>12.2f}{r['z_unc']:>16.2f}{len(r['s']):>6d}"
                     f"{int(np.min(r['n_b_mc'])):>14d}")
    return "\n".join(lines)


