"""jetkit.models.bdt: the array form of a scikit-learn BDT gives its decision function exactly,
survives a checkpoint round trip, and rejects bad input."""

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier

from jetkit import train
from jetkit.models import bdt


def _toy(n, seed):
    """Two overlapping Gaussian classes in 4 features, one feature irrelevant."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    x[:, :3] += 0.8 * y[:, None] * np.array([1.0, -0.5, 0.3], np.float32)
    return x, y


@pytest.fixture(scope="module")
def classifier():
    x, y = _toy(600, 0)
    return GradientBoostingClassifier(n_estimators=25, max_depth=3, learning_rate=0.2, init="zero",
                                      subsample=0.8, random_state=0).fit(x, y)


def test_logits_equal_sklearn_decision_function(classifier):
    x, _ = _toy(500, 1)
    model = bdt.from_sklearn(classifier)
    logits = train.predict(model, x)[:, 0]
    np.testing.assert_allclose(logits, classifier.decision_function(x), atol=1e-5)
    # the leaves reached are sklearn's too (thresholds are compared exactly, even on training points)
    xt, _ = _toy(600, 0)
    leaves = np.asarray(model.leaves(xt))
    np.testing.assert_array_equal(leaves, classifier.apply(xt)[:, :, 0].astype(int))


def test_first_trees_are_the_staged_prediction(classifier):
    x, _ = _toy(200, 2)
    staged = list(classifier.staged_decision_function(x))
    np.testing.assert_allclose(train.predict(bdt.from_sklearn(classifier, 7), x)[:, 0], staged[6].reshape(-1), atol=1e-5)


def test_checkpoint_round_trip(classifier, tmp_path):
    x, _ = _toy(100, 3)
    model = bdt.from_sklearn(classifier)
    train.save_checkpoint(model, tmp_path / "b.npz")
    empty = bdt.BoostedTrees(model.feature.shape[0], model.max_depth, model.feature.shape[1])
    np.testing.assert_array_equal(train.predict(empty, x), 0.0)  # an empty ensemble says logit 0
    train.load_checkpoint(empty, tmp_path / "b.npz")
    np.testing.assert_array_equal(train.predict(empty, x), train.predict(model, x))


def test_fit_picks_the_tree_count_by_validation():
    x, y = _toy(800, 4)
    xv, yv = _toy(400, 5)
    model, info = bdt.fit(x, y, xv, yv, n_trees=30, learning_rate=0.3)
    assert 1 <= info["n_trees"] <= 30 and model.feature.shape[0] == info["n_trees"]
    # Gaussian classes 0.93 sigma apart: the best possible AUC is Phi(0.93 / sqrt 2) = 0.744
    assert info["val_auc"] > 0.71
    from jetkit.metrics import auc

    assert auc(yv, train.predict(model, xv)[:, 0]) == pytest.approx(info["val_auc"], abs=1e-6)


def test_bad_input():
    x, y = _toy(50, 6)
    with pytest.raises(ValueError, match="NaN"):
        bdt.fit(np.where(np.arange(4) == 1, np.nan, x), y, x, y)
    with pytest.raises(ValueError, match="0 or 1"):
        bdt.fit(x, y + 1, x, y)
    with pytest.raises(ValueError, match="features"):
        bdt.fit(x, y, x[:, :3], y)
    with pytest.raises(ValueError, match="init='zero'"):
        bdt.from_sklearn(GradientBoostingClassifier(n_estimators=2).fit(x, y))
    with pytest.raises(ValueError, match="n_features"):
        bdt.BoostedTrees(2, 2).leaves(np.zeros(3))
