"""Helpers of notebook 02 (jet tagging): high-level features, the tau32 + mass cut, model
bookkeeping (parameters, throughput, the results table) and the notebook's exercise checks::

    from jetkit import tagging
    hlf, names = tagging.high_level_features(test)          # (N, 7) and their names
    row = tagging.evaluate("GNN", labels, scores, n_params=..., train_s=..., jets_per_s=...)
    print(tagging.results_table(rows))
    exercises.check("02_pooling", my_pool)                   # registered on import

Scores are "larger = more top-like" (logits for the networks).
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jetkit import exercises, metrics, substructure, train
from jetkit.models.deepsets import masked_sum
from jetkit.models.gnn import knn

__all__ = ["HLF_NAMES", "count_params", "evaluate", "high_level_features", "inference_throughput",
           "fit_and_evaluate", "permutation_check", "results_table", "tau32_mass_scores", "TOP_MASS_WINDOW"]

HLF_NAMES = ("mass", "multiplicity", "girth", "pT_D", "z_lead", "C2", "D2")
TOP_MASS_WINDOW = (140.0, 210.0)  # GeV


def high_level_features(d, batch: int = 2048) -> tuple[np.ndarray, tuple[str, ...]]:
    """Seven cheap jet observables of a JetDataset, (N, 7) float32, and their names:
    jet mass [GeV], constituent multiplicity (full, before truncation to 64), girth
    sum z_i dR_i, pT_D = sqrt(sum pT_i^2) / sum pT_i, leading-constituent fraction z_1, and the
    energy-correlator ratios C2, D2 (beta = 1, arXiv:1305.0007, 1409.6298)."""
    p, m = np.asarray(d.particles), np.asarray(d.mask)
    pt = np.where(m, p[..., 0], 0.0)
    z = pt / pt.sum(1, keepdims=True)
    dr = np.hypot(p[..., 1], p[..., 2])
    girth = (z * dr).sum(1)
    ptd = np.sqrt((pt**2).sum(1)) / pt.sum(1)
    c2, d2 = [], []
    for s in range(0, len(pt), batch):
        c2.append(np.asarray(substructure.c2(p[s:s + batch], m[s:s + batch])))
        d2.append(np.asarray(substructure.d2(p[s:s + batch], m[s:s + batch])))
    cols = [d.jets[:, 3], d.n_constituents, girth, ptd, z[:, 0], np.concatenate(c2), np.concatenate(d2)]
    return np.stack(cols, 1).astype(np.float32), HLF_NAMES


def tau32_mass_scores(mass, tau32, window=TOP_MASS_WINDOW) -> np.ndarray:
    """Score of the classic cut-based tagger: -tau32 inside the top-mass window [GeV]; jets
    outside the window rank below every jet inside it. Scanning a threshold on this score is
    scanning "mass in window and tau32 < cut"."""
    mass, tau32 = np.asarray(mass), np.asarray(tau32)
    inside = (mass > window[0]) & (mass < window[1])
    return np.where(inside, -tau32, -2.0 - tau32)


def count_params(model: nnx.Module) -> int:
    """Number of trainable parameters."""
    return int(sum(np.size(p) for p in jax.tree_util.tree_leaves(nnx.state(model, nnx.Param))))


def inference_throughput(model: nnx.Module, *inputs, n: int = 2048, batch_size: int = 512) -> float:
    """Jets per second of ``model(*inputs)`` in eval mode on the first ``n`` jets, measured
    after compilation (one warm-up pass)."""
    inputs = tuple(x[:n] for x in inputs)
    train.predict(model, *[x[:batch_size] for x in inputs], batch_size=batch_size)
    model.eval()

    @nnx.jit
    def forward(m, xs):
        return m(*xs)

    jax.block_until_ready(forward(model, tuple(jnp.asarray(x[:batch_size]) for x in inputs)))
    t0 = time.perf_counter()
    for s in range(0, len(inputs[0]), batch_size):
        out = forward(model, tuple(jnp.asarray(x[s:s + batch_size]) for x in inputs))
    jax.block_until_ready(out)
    return len(inputs[0]) / (time.perf_counter() - t0)


def evaluate(name: str, labels, scores, *, threshold: float | None = 0.0, n_params: int = 0,
             train_s: float = float("nan"), jets_per_s: float = float("nan")) -> dict:
    """One row of the results table: AUC, accuracy (score > ``threshold``; ``None`` = the
    best threshold on these jets, for cut-based taggers), 1/eps_B at eps_S = 0.3 and 0.5."""
    labels, scores = np.asarray(labels), np.asarray(scores, np.float64)
    if threshold is None:
        s = np.sort(scores)
        cand = s[:: max(1, len(s) // 500)]
        acc = max(metrics.accuracy(labels, scores > t) for t in cand)
    else:
        acc = metrics.accuracy(labels, scores > threshold)
    return {"model": name, "auc": metrics.auc(labels, scores), "acc": acc,
            "rej30": metrics.background_rejection(labels, scores, 0.3),
            "rej50": metrics.background_rejection(labels, scores, 0.5),
            "params": int(n_params), "train_s": float(train_s), "jets_per_s": float(jets_per_s)}


def _cell(v) -> str:
    return f"{v:>9}" if isinstance(v, str) else f"{v:9.1f}"


def results_table(rows: list[dict]) -> str:
    """A fixed-width text table of :func:`evaluate` rows (``train_s`` may be a string, e.g.
    "2.1+pre" for a fine-tuned pretrained model)."""
    head = f"{'model':<28}{'AUC':>7}{'acc':>7}{'1/eB@.3':>9}{'1/eB@.5':>9}{'params':>9}{'train s':>9}{'jets/s':>9}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['model']:<28}{r['auc']:7.4f}{r['acc']:7.3f}{r['rej30']:9.0f}{r['rej50']:9.1f}"
                     f"{r['params']:9d}{_cell(r['train_s'])}{r['jets_per_s']:9.0f}")
    return "\n".join(lines)


def fit_and_evaluate(name: str, model: nnx.Module, train_inputs: tuple, train_labels,
                     test_inputs: tuple, test_labels, **fit_kwargs) -> tuple[dict, np.ndarray]:
    """Train ``model`` on ``(*train_inputs, train_labels)`` with :func:`jetkit.train.fit`
    (binary cross-entropy; ``fit_kwargs`` e.g. epochs, batch_size, learning_rate, seed), score
    the test jets and measure inference throughput. Returns (results row, test scores)."""
    fit_kwargs.setdefault("progress", False)
    y = np.asarray(train_labels, np.float32)
    hist = train.fit(model, (*train_inputs, y), loss_fn=train.cross_entropy_loss, **fit_kwargs)
    scores = train.predict(model, *test_inputs)[:, 0]
    row = evaluate(name, test_labels, scores, n_params=count_params(model), train_s=hist.seconds,
                   jets_per_s=inference_throughput(model, *test_inputs, n=1024))
    return row, scores


def permutation_check(model: nnx.Module, x, mask, seed: int = 0) -> float:
    """Largest |output change| when the constituents of every jet are shuffled (padding
    included); 0 up to float rounding for a permutation-invariant model."""
    rng = np.random.default_rng(seed)
    perm = np.stack([rng.permutation(x.shape[1]) for _ in range(len(x))])
    xp = np.take_along_axis(np.asarray(x), perm[..., None], 1)
    mp = np.take_along_axis(np.asarray(mask), perm, 1)
    model.eval()
    return float(np.max(np.abs(np.asarray(model(jnp.asarray(x), mask)) - np.asarray(model(jnp.asarray(xp), mp)))))


# ---------------------------------------------------------------- exercises of notebook 02

@exercises.register("02_pooling", hint="Zero the padded rows (jnp.where with mask[..., None]) and "
                    "sum over the particle axis (axis=-2); the result has shape (B, C).")
def _check_pooling(pool) -> bool:
    rng = np.random.default_rng(2)
    h = rng.normal(size=(4, 10, 3)).astype(np.float32)
    mask = np.arange(10)[None, :] < np.array([[3], [10], [1], [6]])
    expected = np.asarray(masked_sum(h, mask))
    got = np.asarray(pool(jnp.asarray(h), jnp.asarray(mask)))
    if got.shape != expected.shape:
        return exercises.fail(f"the pooled array should have shape (batch, channels) = {expected.shape}, "
                              f"got {got.shape}.")
    junk = np.where(mask[..., None], h, 99.0).astype(np.float32)
    if not np.allclose(np.asarray(pool(jnp.asarray(junk), jnp.asarray(mask))), got, atol=1e-4):
        return exercises.fail("padded slots change your result: they must be ignored.")
    perm = rng.permutation(10)
    if not np.allclose(np.asarray(pool(jnp.asarray(h[:, perm]), jnp.asarray(mask[:, perm]))), got, atol=1e-4):
        return exercises.fail("shuffling the particles changes your result: it is not permutation invariant.")
    if not np.allclose(got, expected, rtol=1e-4, atol=1e-4):
        return exercises.fail("invariant, but not the masked *sum* the Deep Sets model uses.")
    return exercises.ok("permutation invariant, padding-blind, and equal to the masked sum.")


@exercises.register("02_knn", hint="Squared distances d[i, j] from the coordinates; put padded j "
                    "and j == i at +inf; jax.lax.top_k(-d, k) gives the k nearest.")
def _check_knn(answer, coords, mask, k) -> bool:
    answer = np.asarray(answer)
    coords, mask = np.asarray(coords, np.float32), np.asarray(mask, bool)
    if answer.shape != (len(coords), k):
        return exercises.fail(f"expected indices of shape (n_particles, k) = {(len(coords), k)}, got {answer.shape}.")
    idx, valid = knn(jnp.asarray(coords)[None], jnp.asarray(mask)[None], k)
    idx, valid = np.asarray(idx[0]), np.asarray(valid[0])
    padded = set(np.flatnonzero(~mask).tolist())
    for i in np.flatnonzero(mask):
        if not valid[i].all() or set(answer[i].tolist()) == set(idx[i].tolist()):
            continue
        if padded & set(answer[i].tolist()):
            return exercises.fail("a padded slot was chosen as a neighbour.")
        if i in answer[i]:
            return exercises.fail("a particle is its own neighbour: exclude j == i.")
        return exercises.fail(f"particle {i} has the wrong neighbours.")
    return exercises.ok()


@exercises.register("02_rejection", hint="Find the score threshold that keeps half of the top jets "
                    "(or read eps_B off metrics.roc_curve at tpr = 0.5), then 1/eps_B.")
def _check_rejection(answer, labels, scores) -> bool:
    return exercises.check_close(answer, metrics.background_rejection(labels, scores, 0.5), rtol=0.03)
