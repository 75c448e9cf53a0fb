"""The zoo's FPGA recipes (python -m jetkit.fpga.training qat|hgq) run end to end on jet5 and
write checkpoints that the zoo's builders load back, with the test results in the metadata."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jetkit import fpga, train
from jetkit.fpga import training


@pytest.mark.parametrize("recipe", ["qat", "hgq"])
def test_recipe_writes_a_loadable_checkpoint(recipe, tmp_path):
    out = tmp_path / f"{recipe}_jet5.npz"
    assert training.main([recipe, "--float-epochs", "1", "--epochs", "1", "--out", str(out)]) == 0
    with np.load(out) as f:
        meta = json.loads(str(f["__metadata__"]))
    build = training.build_qat if recipe == "qat" else training.build_hgq
    model = build(meta)
    train.load_checkpoint(model, out)
    n_members = len(training.QAT_MEMBERS) if recipe == "qat" else len(training.BETAS)
    assert model.members == n_members == len(meta["test"])
    assert 0.2 < meta["float_test_accuracy"] <= 1 and meta["split_seed"] == 0
    x, y = training.features()[2]
    first_quantized = 1 if recipe == "qat" else 0
    net = model.export(first_quantized)
    acc = float((fpga.emulate(net, x).argmax(1) == y).mean())
    assert acc == pytest.approx(meta["test"][first_quantized]["accuracy"], abs=1e-12)
    assert meta["test"][first_quantized]["ebops"] == fpga.cost.estimate(net).ebops
