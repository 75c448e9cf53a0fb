"""QuantizationExplorer driven from Python, as a learner's slider moves would drive it (Agg)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from flax import nnx

from jetkit import fpga, metrics
from jetkit.fpga import QMLP, QuantConfig
from jetkit.widgets.quantization import QuantizationExplorer

matplotlib.use("Agg")
CLASSES = ("g", "q", "t", "w", "z")


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 16)).astype(np.float32)
    y = rng.integers(0, 5, 600)
    model = QMLP(16, 5, (16, 8), members=3, rngs=nnx.Rngs(2))
    for e, s in enumerate((0.0, 0.5, 0.8)):  # prune members by hand: smallest |w| per layer
        for k, m in zip(model.kernels, model.masks):
            w = np.abs(np.asarray(k.get_value())[e])
            mask = np.array(m.get_value())
            mask[e] = w > np.quantile(w, s) if s else 1.0
            m.set_value(mask)
    return model, x, y


def _expected(model, member, bits, act_int, x, y):
    sub = model.select(member)
    sub.configure(QuantConfig(bits, act_int=act_int))
    logits = sub.predict(x)[:, 0]
    return metrics.accuracy(y, logits), fpga.cost.estimate(sub.export(0)), logits


def test_sliders_drive_accuracy_roc_and_cost(setup):
    model, x, y = setup
    reference = {"ebops": [1e3, 2e3], "accuracy": [0.2, 0.3]}
    ex = QuantizationExplorer(model, x, y, CLASSES, {0.0: 0, 0.5: 1, 0.8: 2}, bits=6, act_int=3,
                              float_accuracy=0.25, reference=reference)
    css = {c: w._dom_classes for c, w in (("bits", ex.bits_slider), ("int", ex.int_slider),
                                          ("sparsity", ex.sparsity_slider))}
    assert "jetkit-bits-slider" in css["bits"] and "jetkit-int-bits-slider" in css["int"]
    assert "jetkit-sparsity-slider" in css["sparsity"]
    assert "jetkit-quantization-explorer" in ex._dom_classes

    acc, cost, logits = _expected(model, 0, 6, 3, x, y)
    assert ex.accuracy == acc and ex.cost == cost and np.array_equal(ex.logits, logits)
    lines = list(ex.roc_lines)
    png = ex._view.value
    roc_before = lines[0].get_xydata().copy()

    ex.bits_slider.value = 4  # a drag would do the same
    acc4, cost4, _ = _expected(model, 0, 4, 3, x, y)
    assert ex.accuracy == acc4 and ex.cost.ebops == cost4.ebops < cost.ebops
    assert ex.roc_lines == lines and not np.array_equal(lines[0].get_xydata(), roc_before)
    assert ex._view.value != png  # the picture was redrawn
    assert ex.marker.get_xydata().tolist() == [[cost4.ebops, acc4]]
    assert f"{acc4:.3f}" in ex.info.value and "EBOPs" in ex.info.value

    ex.int_slider.value = 1
    assert ex.accuracy == _expected(model, 0, 4, 1, x, y)[0]
    assert str(ex.network.layers[0].result_type) == "ap_fixed<4,1,AP_RND,AP_SAT>"
    ex.int_slider.value = 8  # more integer bits than total bits: clamped to the width
    assert ex.network.layers[0].result_type.integer == 4

    n_mult = ex.cost.n_mult
    ex.sparsity_slider.value = 0.8
    assert ex.cost.n_mult < 0.4 * n_mult
    assert ex.accuracy == _expected(model, 2, 4, 4, x, y)[0]
    assert "80%" in ex.ax_cost.get_title()


def test_bad_arguments(setup):
    model, x, y = setup
    with pytest.raises(ValueError, match="sparsity_members"):
        QuantizationExplorer(model, x, y, CLASSES, {})
    with pytest.raises(ValueError, match="equal length"):
        QuantizationExplorer(model, x, y[:10], CLASSES, {0.0: 0})


def test_reference_families_are_drawn_with_their_labels(setup):
    model, x, y = setup
    refs = [{"ebops": [1e3, 2e3], "accuracy": [0.2, 0.3], "label": "QAT"},
            {"ebops": [5e2], "accuracy": [0.28], "label": "HGQ", "color": "tab:purple", "marker": "D"}]
    ex = QuantizationExplorer(model, x, y, CLASSES, {0.0: 0}, reference=refs)
    labels = [t.get_text() for t in ex.ax_cost.get_legend().get_texts()]
    assert "QAT" in labels and "HGQ" in labels
    assert ex._ref == ([1e3, 2e3, 5e2], [0.2, 0.3, 0.28])
