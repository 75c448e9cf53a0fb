"""What a trained model costs and respects: parameter count, inference throughput, a
permutation test for set models, and the results row of a zoo tagger."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np
from flax import nnx

from jetkit import train
from jetkit.metrics import classification

__all__ = ["ZOO_SCORES", "count_params", "evaluate_zoo_tagger", "fit_and_evaluate", "inference_throughput",
           "jets_fingerprint", "permutation_check", "save_zoo_scores"]

#: The zoo taggers' scores on the whole top_qcd test split (split seed 0), made by
#: ``python -m jetkit.models.tagger_training --score-test`` (:func:`save_zoo_scores`).
ZOO_SCORES = Path(__file__).resolve().parents[2] / "data" / "checkpoints" / "zoo_scores_top_qcd_test.npz"
# Shipped and live scores (logits) must agree within atol + rtol * |score|: float32 sums run in another order
# on another CPU (vector width), which moves LorentzNet's logits, built from Minkowski products in GeV^2, by
# up to ~1e-4 relative; a different checkpoint or different jets move them by far more.
SCORE_RTOL, SCORE_ATOL = 1e-3, 1e-3


def count_params(model: nnx.Module) -> int:
    """Number of trainable parameters."""
    return int(sum(np.size(p) for p in jax.tree_util.tree_leaves(nnx.state(model, nnx.Param))))


def inference_throughput(model: nnx.Module, *inputs, n: int = 2048, batch_size: int = 512) -> float:
    """Jets per second of :func:`jetkit.train.predict` (eval mode, ``batch_size`` jets a batch) on
    the first ``n`` jets, measured after one warm-up batch (which compiles the forward pass, or
    finds it compiled by an earlier ``predict`` at this batch size)."""
    if n < 1 or batch_size < 1:
        raise ValueError(f"n and batch_size must be >= 1, got {n}, {batch_size}")
    inputs = tuple(x[:n] for x in inputs)
    size = min(batch_size, len(inputs[0]))
    train.predict(model, *[x[:size] for x in inputs], batch_size=size)
    t0 = time.perf_counter()
    train.predict(model, *inputs, batch_size=size)
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
    scores = train.predict(model, *test_inputs, batch_size=512)[:, 0]  # the shape the throughput is timed at:
    row = classification.evaluate(name, test_labels, scores, n_params=count_params(model),  # one compilation
                                  train_s=hist.seconds, jets_per_s=inference_throughput(model, *test_inputs, n=1024))
    return row, scores


def jets_fingerprint(jets) -> str:
    """A short sha256 of a JetDataset's constituents, mask and labels: which jets scores belong to."""
    h = hashlib.sha256()
    for a in (jets.particles, jets.mask, jets.labels):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def save_zoo_scores(names, jets, out: str | Path = ZOO_SCORES) -> Path:
    """Score every jet of ``jets`` with each zoo tagger of ``names`` (:func:`evaluate_zoo_tagger`)
    and save the scores (.npz) with each checkpoint's sha256, the jets' fingerprint and the
    scoring throughput (jets/s, with the device), for ``evaluate_zoo_tagger(..., shipped=out)``."""
    from jetkit import zoo
    from jetkit.data.files import save_npz
    from jetkit.parallel import device_name

    cache, arrays = {}, {}
    meta = {"jets": jets_fingerprint(jets), "n_jets": len(jets), "sha256": {}, "jets_per_s": {},
            "device": device_name()}
    for name in names:
        row, scores = evaluate_zoo_tagger(name, jets, cache=cache)
        arrays[name] = scores.astype(np.float32)
        meta["sha256"][name] = zoo.describe(name)["sha256"]
        meta["jets_per_s"][name] = round(float(row["jets_per_s"]), 1)
    arrays["__metadata__"] = np.array(json.dumps(meta, sort_keys=True))
    save_npz(Path(out), arrays)
    return Path(out)


def _shipped_scores(name: str, jets, shipped: Path) -> tuple[np.ndarray | None, float]:
    """The shipped scores of ``name`` on exactly these jets from this checkpoint (else None) and
    their recorded throughput in jets/s (NaN if none is recorded)."""
    from jetkit import zoo

    if not Path(shipped).exists():
        return None, float("nan")
    with np.load(shipped) as f:
        meta = json.loads(str(f["__metadata__"]))
        fresh = (name in f.files and meta["sha256"].get(name) == zoo.describe(name)["sha256"]
                 and meta["n_jets"] == len(jets) and meta["jets"] == jets_fingerprint(jets))
        speed = float(meta.get("jets_per_s", {}).get(name, float("nan")))
        return (np.asarray(f[name]) if fresh else None), speed


def _cached(cache: dict, what: tuple, jets, make: Callable[[], object]):
    """``make()`` computed once per (``what``, ``jets``) in ``cache``. The entry holds ``jets``
    itself, so its ``id`` cannot be reused by other jets while the cache lives."""
    key = (*what, id(jets), len(jets))
    hit = cache.get(key)
    if hit is None or hit[0] is not jets:
        hit = cache[key] = (jets, make())
    return hit[1]


def evaluate_zoo_tagger(name: str, jets, *, label: str | None = None, batch_size: int = 256,
                        chunk: int = 1500, cache: dict | None = None, shipped: str | Path | None = None,
                        verify: int = 500) -> tuple[dict, np.ndarray]:
    """Load the zoo tagger ``name`` (sha256-checked), score every jet of the JetDataset ``jets``
    with exactly the inputs it was trained on (made ``chunk`` jets at a time and scored
    ``batch_size`` at a time: both keep the memory low), and return (results row, scores). The row's
    ``jets_per_s`` is that scoring pass after compilation; ``train_s`` is the recorded training
    time ("zoo" if none is recorded); ``label`` names the row. Pass the same ``cache`` dict to
    several calls on the same ``jets``: the jet-observable taggers (7 or 14 observables,
    :func:`~jetkit.models.taggers.observables_from_expert`) then compute the 14 observables once and standardise them
    with each model's own training-split scaler; particle-level inputs are never cached.

    ``shipped`` (e.g. :data:`ZOO_SCORES`): if it holds this checkpoint's scores of exactly these
    jets, only the first ``verify`` jets are scored here; they must agree with the shipped
    scores within SCORE_ATOL + SCORE_RTOL * |score| (else ValueError), and the row (throughput
    too) uses the shipped scores of all jets. ``verify=0`` scores nothing: the model is still
    loaded (sha256-checked) for its parameter count, and the row takes the throughput recorded
    with the scores (NaN if none).
    Scores of another checkpoint or other jets are ignored: everything is scored."""
    if verify < 0:
        raise ValueError(f"verify must be >= 0 jets, got {verify}")
    if shipped is not None:
        stored, recorded_speed = _shipped_scores(name, jets, Path(shipped))
        if stored is not None and verify == 0:
            from jetkit import zoo

            seconds = zoo.describe(name)["metadata"].get("train_seconds")
            full = classification.evaluate(label or name, jets.labels, stored, n_params=count_params(zoo.load(name)[0]),
                                           train_s=float("nan") if seconds is None else float(seconds),
                                           jets_per_s=recorded_speed)
            if seconds is None:
                full["train_s"] = "zoo"
            return full, stored
        if stored is not None:
            own = {} if cache is None else cache  # one subset per jets: its observables are shared too
            subset = _cached(own, ("verify", verify), jets, lambda: jets[np.arange(min(verify, len(jets)))])
            row, live = evaluate_zoo_tagger(name, subset, label=label, batch_size=batch_size, chunk=chunk,
                                            cache=cache)
            if not np.allclose(live, stored[:len(live)], rtol=SCORE_RTOL, atol=SCORE_ATOL):
                raise ValueError(f"{name}: the shipped scores in {Path(shipped).name} differ from the model's "
                                 f"(max {np.abs(live - stored[:len(live)]).max():.2g}); rerun "
                                 "python -m jetkit.models.tagger_training --score-test")
            recorded = row["train_s"]  # seconds, or "zoo" where none is recorded
            full = classification.evaluate(label or name, jets.labels, stored, n_params=row["params"],
                                           train_s=float("nan") if isinstance(recorded, str) else recorded,
                                           jets_per_s=row["jets_per_s"])
            full["train_s"] = recorded
            return full, stored
    from jetkit import zoo
    from jetkit.models.taggers import FEATURE_INPUTS, jet_observables, observables_from_expert, standardise

    model, prepare = zoo.load(name)
    meta = zoo.describe(name)["metadata"]
    shared = cache is not None and meta.get("inputs") in FEATURE_INPUTS
    parts, seconds_scoring = [], 0.0
    for s in range(0, len(jets), chunk):  # inputs chunk by chunk: a lower peak memory
        piece = jets[np.arange(s, min(s + chunk, len(jets)))]
        if shared:
            obs = observables_from_expert(meta["inputs"],
                                          _cached(cache, ("expert14", chunk, s), jets,
                                                  lambda: jet_observables("expert14", piece)))
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
