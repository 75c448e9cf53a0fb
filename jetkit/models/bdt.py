"""Boosted decision trees (BDT): the workhorse of LHC analyses before deep learning, trained with
scikit-learn's gradient boosting (Friedman, "Greedy function approximation", 2001) and stored as
plain arrays, so a BDT is a zoo model like the networks: saved with ``train.save_checkpoint``,
scored with ``train.predict`` (in JAX, batched, jit-compiled) and checked against scikit-learn.

A fitted ensemble is T regression trees; tree t maps a jet's feature vector x to a leaf value
v_t(x), and the logit is sum_t v_t(x) (the learning rate is folded into the leaf values; the
boosting starts from logit 0, ``init="zero"``). Tree nodes are stored as (T, n_nodes) arrays:
``feature`` (-1 at a leaf), ``threshold`` (go left when x[feature] <= threshold), ``left``,
``right`` (child indices) and ``value`` (the leaf value). Evaluation walks every tree of every jet
at once, ``max_depth`` gathers deep.

>>> from jetkit.models import bdt
>>> model, info = bdt.fit(x_train, y_train, x_val, y_val)     # the tree count picked by val AUC
>>> logits = train.predict(model, x_test)                      # (N, 1), == sklearn's decision_function
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from flax import nnx

__all__ = ["BoostedTrees", "fit", "from_sklearn"]


class BoostedTrees(nnx.Module):
    """A fitted ensemble of ``n_trees`` regression trees of at most ``max_depth`` levels and
    ``n_nodes`` nodes each (default: a full binary tree, 2^(max_depth+1) - 1), as arrays (module
    docstring). ``model(x, mask=None)`` -> logits (B, 1) for features ``x`` (B, F) float32.
    Built empty (every tree a single leaf of value 0: logit 0); fill it with :func:`from_sklearn`
    or ``train.load_checkpoint``. Thresholds and leaf values are the ``nnx.Param``; the tree
    structure (feature index, children) is a plain ``nnx.Variable``."""

    def __init__(self, n_trees: int = 1, max_depth: int = 3, n_nodes: int | None = None, *, rngs: nnx.Rngs | None = None):
        n_nodes = 2 ** (max_depth + 1) - 1 if n_nodes is None else int(n_nodes)
        if min(n_trees, max_depth, n_nodes) < 1:
            raise ValueError(f"n_trees, max_depth and n_nodes must be >= 1, got {n_trees}, {max_depth}, {n_nodes}")
        self.max_depth = int(max_depth)
        shape = (int(n_trees), n_nodes)
        self.feature = nnx.Variable(jnp.full(shape, -1, jnp.int32))
        self.left = nnx.Variable(jnp.zeros(shape, jnp.int32))
        self.right = nnx.Variable(jnp.zeros(shape, jnp.int32))
        self.threshold = nnx.Param(jnp.zeros(shape, jnp.float32))
        self.value = nnx.Param(jnp.zeros(shape, jnp.float32))

    def leaves(self, x) -> jnp.ndarray:
        """The leaf index (B, T) that every jet reaches in every tree."""
        x = jnp.asarray(x, jnp.float32)
        if x.ndim != 2:
            raise ValueError(f"x must have shape (B, n_features), got {x.shape}")
        feature, left, right = self.feature[...], self.left[...], self.right[...]
        trees = jnp.arange(feature.shape[0])[None, :]
        node = jnp.zeros((x.shape[0], feature.shape[0]), jnp.int32)
        for _ in range(self.max_depth):  # a leaf points nowhere: it stays put
            f = feature[trees, node]
            go_left = jnp.take_along_axis(x, jnp.maximum(f, 0), axis=1) <= self.threshold[...][trees, node]
            node = jnp.where(f < 0, node, jnp.where(go_left, left[trees, node], right[trees, node]))
        return node

    def __call__(self, x, mask=None) -> jnp.ndarray:
        node = self.leaves(x)
        trees = jnp.arange(node.shape[1])[None, :]
        return jnp.sum(self.value[...][trees, node], axis=1, keepdims=True)


def _threshold_f32(t: np.ndarray) -> np.ndarray:
    """float64 thresholds as the largest float32 <= each: for float32 x, x <= t32 iff x <= t
    (scikit-learn compares float32 features with float64 thresholds)."""
    t32 = t.astype(np.float32)
    return np.where(t32.astype(np.float64) > t, np.nextafter(t32, np.float32(-np.inf)), t32)


def from_sklearn(clf, n_trees: int | None = None) -> BoostedTrees:
    """A :class:`BoostedTrees` holding the first ``n_trees`` (default all) trees of a fitted binary
    ``sklearn.ensemble.GradientBoostingClassifier`` built with ``init="zero"``; its logits equal
    the classifier's ``decision_function`` (up to float32 rounding of the leaf sums)."""
    if getattr(clf, "init", None) != "zero" or getattr(clf, "n_classes_", None) != 2:
        raise ValueError("need a fitted binary GradientBoostingClassifier built with init='zero'")
    trees = [est.tree_ for est in clf.estimators_[: n_trees or len(clf.estimators_), 0]]
    n_nodes = max(t.node_count for t in trees)
    depth = max(max(t.max_depth for t in trees), 1)
    model = BoostedTrees(len(trees), depth, n_nodes)
    arrays = {k: np.zeros((len(trees), n_nodes), dt) for k, dt in
              (("feature", np.int32), ("left", np.int32), ("right", np.int32), ("threshold", np.float32), ("value", np.float32))}
    arrays["feature"][:] = -1
    for i, t in enumerate(trees):
        n, leaf = t.node_count, t.children_left == -1
        arrays["feature"][i, :n] = np.where(leaf, -1, t.feature)
        arrays["left"][i, :n] = np.where(leaf, 0, t.children_left)
        arrays["right"][i, :n] = np.where(leaf, 0, t.children_right)
        arrays["threshold"][i, :n] = np.where(leaf, 0.0, _threshold_f32(t.threshold))
        arrays["value"][i, :n] = np.where(leaf, clf.learning_rate * t.value[:, 0, 0], 0.0)
    for key, a in arrays.items():
        getattr(model, key).set_value(jnp.asarray(a))
    return model


def fit(x, y, x_val, y_val, *, n_trees: int = 800, max_depth: int = 3, learning_rate: float = 0.1,
        subsample: float = 0.8, seed: int = 0) -> tuple[BoostedTrees, dict]:
    """Gradient-boost up to ``n_trees`` trees of depth ``max_depth`` on features ``x`` (N, F) and
    0/1 labels ``y``, keep the number of trees with the best AUC on ``(x_val, y_val)`` (early
    stopping by validation) and return (model, info) with info = {"n_trees", "val_auc",
    "n_trees_fitted"}.

    Raises:
        ValueError: shapes that do not match, NaN features, labels other than 0/1.
    """
    from sklearn.ensemble import GradientBoostingClassifier

    from jetkit.metrics import auc

    x, x_val = (np.asarray(a, np.float32) for a in (x, x_val))
    y, y_val = (np.asarray(a).reshape(-1) for a in (y, y_val))
    for name, a, b in (("x", x, y), ("x_val", x_val, y_val)):
        if a.ndim != 2 or len(a) != len(b):
            raise ValueError(f"{name} must have shape (N, n_features) with one label per row; got {a.shape}, {b.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} contains NaN or infinite features")
        if not np.isin(b, (0, 1)).all():
            raise ValueError("labels must be 0 or 1")
    if x.shape[1] != x_val.shape[1]:
        raise ValueError(f"x has {x.shape[1]} features but x_val {x_val.shape[1]}")
    clf = GradientBoostingClassifier(n_estimators=n_trees, max_depth=max_depth, learning_rate=learning_rate,
                                     subsample=subsample, init="zero", random_state=seed).fit(x, y)
    aucs = [auc(y_val, s) for s in clf.staged_decision_function(x_val)]
    best = int(np.argmax(aucs)) + 1
    return from_sklearn(clf, best), {"n_trees": best, "val_auc": float(aucs[best - 1]), "n_trees_fitted": n_trees}
