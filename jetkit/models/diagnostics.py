"""What a trained model costs and respects: parameter count, inference throughput, a
permutation test for set models, and the results row of a zoo tagger."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jetkit import train
from jetkit.metrics import classification

__all__ = ["count_params", "evaluate_zoo_tagger", "fit_and_evaluate", "inference_throughput", "permutation_check"]


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


def permutation_check(model: nnx.Module, x, mask, seed: int = 0) -> float:
    """Largest |output change| when the constituents of every jet are shuffled (padding
    included); 0 up to float rounding for a permutation-invariant model."""
    rng = np.random.default_rng(seed)
    perm = np.stack([rng.permutation(x.shape[1]) for _ in range(len(x))])
    xp = np.take_along_axis(np.asarray(x), perm[..., None], 1)
    mp = np.take_along_axis(np.asarray(mask), perm, 1)
    n = len(x)  # one compiled forward pass (train.predict) for both orders
    return float(np.max(np.abs(train.predict(model, x, mask, batch_size=n) - train.predict(model, xp, mp, batch_size=n))))


def fit_and_evaluate(name: str, model: nnx.Module, train_inputs: tuple, train_labels,
                     test_inputs: tuple, test_labels, **fit_kwargs) -> tuple[dict, np.ndarray]:
    """Train ``model`` on ``(*train_inputs, train_labels)`` with :func:`jetkit.train.fit`
    (binary cross-entropy; ``fit_kwargs`` e.g. epochs, batch_size, learning_rate, seed), score
    the test jets and measure inference throughput. Returns (results row, test scores)."""
    fit_kwargs.setdefault("progress", False)
    y = np.asarray(train_labels, np.float32)
    hist = train.fit(model, (*train_inputs, y), loss_fn=train.cross_entropy_loss, **fit_kwargs)
    scores = train.predict(model, *test_inputs)[:, 0]
    row = classification.evaluate(name, test_labels, scores, n_params=count_params(model), train_s=hist.seconds,
                   jets_per_s=inference_throughput(model, *test_inputs, n=1024))
    return row, scores


def evaluate_zoo_tagger(name: str, jets, *, label: str | None = None, batch_size: int = 256,
                        chunk: int = 1500, cache: dict | None = None) -> tuple[dict, np.ndarray]:
    """Load the zoo tagger ``name`` (sha256-checked), score every jet of the JetDataset ``jets``
    with exactly the inputs it was trained on (made ``chunk`` jets at a time and scored
    ``batch_size`` at a time: both keep the memory low), and return (results row, scores). The row's
    ``jets_per_s`` is that scoring pass after compilation; ``train_s`` is the recorded training
    time ("zoo" if none is recorded); ``label`` names the row. Pass the same ``cache`` dict to
    several calls on the same ``jets``: the jet-observable taggers (7 or 14 observables,
    :func:`~jetkit.models.taggers.observables_from_expert`) then compute the 14 observables once and standardise them
    with each model's own training-split scaler; particle-level inputs are never cached."""
    from jetkit import zoo
    from jetkit.models.taggers import FEATURE_INPUTS, jet_observables, observables_from_expert, standardise

    model, prepare = zoo.load(name)
    meta = zoo.describe(name)["metadata"]
    shared = cache is not None and meta.get("inputs") in FEATURE_INPUTS
    parts, seconds_scoring = [], 0.0
    for s in range(0, len(jets), chunk):  # inputs chunk by chunk: a lower peak memory
        piece = jets[np.arange(s, min(s + chunk, len(jets)))]
        if shared:
            key = ("expert14", id(jets), len(jets), chunk, s)
            if key not in cache:
                cache[key] = jet_observables("expert14", piece)
            obs = observables_from_expert(meta["inputs"], cache[key])
            inputs = (standardise(obs, (meta["scaler_mean"], meta["scaler_scale"])),)
        else:
            inputs = prepare(piece)
        if s == 0:
            train.predict(model, *(x[:batch_size] for x in inputs), batch_size=batch_size)  # compile
        t0 = time.perf_counter()
        parts.append(train.predict(model, *inputs, batch_size=batch_size).reshape(-1))
        seconds_scoring += time.perf_counter() - t0
    scores = np.concatenate(parts)
    jets_per_s = len(scores) / seconds_scoring
    seconds = meta.get("train_seconds")
    row = classification.evaluate(label or name, jets.labels, scores, n_params=count_params(model),
                                  train_s=float(seconds) if seconds is not None else float("nan"),
                                  jets_per_s=jets_per_s)
    if seconds is None:
        row["train_s"] = "zoo"  # results_table prints strings as they are
    return row, scores
