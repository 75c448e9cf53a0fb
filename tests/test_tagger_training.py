"""The zoo's tagger recipes: metadata rebuilds the same architecture, inputs match the models, and
one short training writes a loadable checkpoint with its best validation AUC."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from flax import nnx

from jetkit import train
from jetkit.models import tagger_training
from jetkit.models import taggers as tt


@pytest.mark.parametrize("name", sorted(tt.TAGGERS))
def test_every_recipe_builds_and_takes_its_inputs(name, real_jets):
    recipe = tt.TAGGERS[name]
    meta = json.loads(json.dumps({"builder": recipe.builder, "kwargs": recipe.kwargs, "seed": 0}))  # as stored
    model = tt.build(meta)
    prepare = tt.inputs(recipe.inputs, recipe.n_particles)
    xs = prepare(real_jets["particles"][:6], real_jets["mask"][:6])
    assert all(len(a) == 6 for a in xs) and np.shape(xs[0])[1] == recipe.n_particles
    out = np.asarray(model(*xs))
    assert out.shape == (6, 1) and np.isfinite(out).all()
    twin = tt.build(meta)  # same seed, same parameters
    leaves = [jax.tree_util.tree_leaves(nnx.state(m, nnx.Param)) for m in (model, twin)]
    assert len(leaves[0]) > 0 and all(np.array_equal(a, b) for a, b in zip(*leaves))


def test_bad_names_and_inputs_are_refused():
    with pytest.raises(ValueError, match="unknown tagger"):
        tagger_training.train_tagger("bdt")
    with pytest.raises(ValueError, match="unknown inputs"):
        tt.inputs("images", 32)
    with pytest.raises(ValueError, match="at least 2"):
        tt.inputs("particles", 1)


def test_a_short_training_keeps_its_best_epoch(tmp_path):
    lines = []
    best = tagger_training.train_tagger("lorentznet", epochs=2, n_train=512, n_val=512, out=tmp_path / "ln.npz",
                           log=lines.append)
    assert best["epoch"] in (0, 1) and 0.5 < best["val_auc"] <= 1.0
    assert sum(line.startswith("epoch ") for line in lines) == 2
    model = tt.build(best)
    meta = train.load_checkpoint(model, tmp_path / "ln.npz")
    assert meta["val_auc"] == best["val_auc"] and meta["inputs"] == "lorentz"
