"""ROC tools against scikit-learn and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc

from jetkit import metrics


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 20)), min_size=4, max_size=200))
def test_roc_and_auc_match_sklearn_with_ties(pairs):
    labels = np.array([p[0] for p in pairs])
    scores = np.array([p[1] for p in pairs], dtype=float)  # integer scores: many ties
    if labels.all() or not labels.any():
        return
    fpr, tpr, thr = metrics.roc_curve(labels, scores)
    sk_fpr, sk_tpr, sk_thr = sk_roc(labels, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    np.testing.assert_allclose(thr[1:], sk_thr[1:])
    assert metrics.auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_background_rejection_by_hand():
    # 4 signal, 10 background; best 2 signal above all background
    labels = np.array([1, 1, 1, 1] + [0] * 10)
    scores = np.array([10, 9, 5, 4] + [8, 7, 3, 2, 1, 0, -1, -2, -3, -4], dtype=float)
    assert metrics.background_rejection(labels, scores, 0.5) == np.inf  # eps_S 0.5 at eps_B 0
    # eps_S = 0.75 is reached after passing 2 background jets -> eps_B = 0.2
    assert metrics.background_rejection(labels, scores, 0.75) == pytest.approx(5.0)
    # cutting at score 4 keeps all signal and 2 of 10 background jets
    assert metrics.signal_efficiency_at(labels, scores, 0.2) == pytest.approx(1.0)
    assert metrics.signal_efficiency_at(labels, scores, 0.1) == pytest.approx(0.5)
    assert metrics.signal_efficiency_at(labels, scores, 0.15) == pytest.approx(0.75)  # interpolated


def test_background_rejection_error_is_binomial():
    labels = np.array([1, 1, 1, 1] + [0] * 10)
    scores = np.array([10, 9, 5, 4] + [8, 7, 3, 2, 1, 0, -1, -2, -3, -4], dtype=float)
    rej, err, n_pass = metrics.background_rejection_error(labels, scores, 0.75)
    # 2 of 10 background jets pass: eps_B = 0.2 +- sqrt(0.2 * 0.8 / 10), 1/eps_B = 5 +- that / 0.2^2
    assert (rej, n_pass) == pytest.approx((5.0, 2.0))
    assert err == pytest.approx(np.sqrt(0.2 * 0.8 / 10) / 0.04)
    assert metrics.background_rejection_error(labels, scores, 0.5) == (np.inf, np.inf, 0.0)
    # the relative error shrinks like 1/sqrt(N_B): a sample ten times larger, same fractions
    rej10, err10, n10 = metrics.background_rejection_error(np.repeat(labels, 10), np.repeat(scores, 10), 0.75)
    assert rej10 == pytest.approx(5.0) and n10 == pytest.approx(20.0)
    assert err10 == pytest.approx(err / np.sqrt(10))
    row = metrics.classification.evaluate("t", labels, scores)
    assert {"rej30_err", "n_bkg30", "rej50_err", "n_bkg50"} <= set(row)


def test_perfect_and_random_taggers():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 20000)
    assert metrics.auc(labels, labels + 0.1 * rng.random(20000)) == pytest.approx(1.0, abs=1e-12)
    assert metrics.auc(labels, rng.random(20000)) == pytest.approx(0.5, abs=0.02)
    assert metrics.background_rejection(labels, rng.random(20000), 0.5) == pytest.approx(2.0, rel=0.05)


def test_accuracy_from_labels_and_logits():
    assert metrics.accuracy([0, 1, 2], [[5, 0, 0], [0, 5, 0], [5, 0, 0]]) == pytest.approx(2 / 3)
    assert metrics.accuracy([1, 0], [1, 0]) == 1.0
    with pytest.raises(ValueError):
        metrics.accuracy([1, 0], [1, 0, 1])


@pytest.mark.parametrize(
    "labels, scores, match",
    [([1, 1], [0.1, 0.2], "both"), ([0, 2], [0.1, 0.2], "0 \\(background\\)"),
     ([0, 1], [0.1, np.nan], "NaN"), ([0, 1, 1], [0.1, 0.2], "length")],
)
def test_bad_input(labels, scores, match):
    with pytest.raises(ValueError, match=match):
        metrics.auc(labels, scores)


def test_bad_working_points():
    with pytest.raises(ValueError):
        metrics.background_rejection([0, 1], [0, 1], 0.0)
    with pytest.raises(ValueError):
        metrics.signal_efficiency_at([0, 1], [0, 1], 1.5)
