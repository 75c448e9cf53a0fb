"""The zoo's tagger recipes: metadata rebuilds the same architecture, inputs match the models, and
one short training writes a loadable checkpoint with its best validation AUC."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from flax import nnx

from jetkit import data, train
from jetkit.models import tagger_training
from jetkit.models import taggers as tt


def _dataset(jets: dict, n: int) -> data.JetDataset:
    return data.JetDataset(particles=jets["particles"][:n], mask=jets["mask"][:n], jets=jets["jets"][:n],
                           labels=jets["labels"][:n], n_constituents=jets["n_constituents"][:n], hlf=None,
                           name="top_qcd", class_names=tuple(jets["class_names"]), hlf_names=())


@pytest.mark.parametrize("name", sorted(tt.TAGGERS))
def test_every_recipe_builds_and_takes_its_inputs(name, real_jets):
    recipe = tt.TAGGERS[name]
    meta = json.loads(json.dumps({"builder": recipe.builder, "kwargs": recipe.kwargs, "seed": 0}))  # as stored
    model = tt.build(meta)
    d = _dataset(real_jets, 6)
    if recipe.inputs in tt.FEATURE_INPUTS:
        obs = tt.jet_observables(recipe.inputs, d)
        xs = tt.inputs(recipe.inputs, recipe.n_particles, (obs.mean(0), obs.std(0)))(d)
        np.testing.assert_allclose(xs[0].mean(0), 0.0, atol=1e-4)  # standardised with these jets' scaler
        with pytest.raises(ValueError, match="JetDataset"):
            tt.inputs(recipe.inputs, recipe.n_particles, (obs.mean(0), obs.std(0)))(d.particles, d.mask)
        with pytest.raises(ValueError, match="scaler"):
            tt.inputs(recipe.inputs, recipe.n_particles)
    else:
        xs = tt.inputs(recipe.inputs, recipe.n_particles)(d.particles, d.mask)
        if recipe.inputs == "images":  # a pixel grid, whatever the number of constituents
            assert np.shape(xs[0])[1:] == (tt.IMAGE_SETTINGS["npix"],) * 2
            np.testing.assert_allclose(np.sum(xs[0], axis=(1, 2)), 1.0, rtol=1e-5)  # pT fractions
        else:
            assert np.shape(xs[0])[1] == recipe.n_particles
        same = tt.inputs(recipe.inputs, recipe.n_particles)(d)  # a JetDataset works too
        assert all(np.array_equal(a, b) for a, b in zip(xs, same))
    assert all(len(a) == 6 for a in xs)
    out = np.asarray(model(*xs))
    assert out.shape == (6, 1) and np.isfinite(out).all()
    twin = tt.build(meta)  # same seed, same parameters
    leaves = [jax.tree_util.tree_leaves(nnx.state(m, nnx.Param)) for m in (model, twin)]
    assert len(leaves[0]) > 0 and all(np.array_equal(a, b) for a, b in zip(*leaves))


def test_bad_names_and_inputs_are_refused():
    with pytest.raises(ValueError, match="unknown tagger"):
        tagger_training.train_tagger("bdt")
    with pytest.raises(ValueError, match="unknown inputs"):
        tt.inputs("voxels", 32)
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


def test_a_bdt_is_trained_and_saved_like_a_network(tmp_path):
    best = tagger_training.train_tagger("expert_bdt", n_train=600, n_val=400, out=tmp_path / "bdt.npz",
                                        log=lambda line: None)
    assert 1 <= best["epoch"] == best["kwargs"]["n_trees"] <= best["n_trees_fitted"] and 0.8 < best["val_auc"] <= 1
    model = tt.build(best)
    meta = train.load_checkpoint(model, tmp_path / "bdt.npz")
    val = data.split(data.load("top_qcd"), seed=0).val[np.arange(400)]
    scaler = (meta["scaler_mean"], meta["scaler_scale"])
    scores = train.predict(model, *tt.inputs("expert14", 64, scaler)(val)).reshape(-1)
    from jetkit import metrics

    assert metrics.auc(val.labels, scores) == pytest.approx(meta["val_auc"], abs=1e-6)  # the kept trees, reloaded


def test_data_efficiency_scores_each_size_on_the_whole_test_split(tmp_path):
    out = tmp_path / "eff.json"
    out.write_text(json.dumps({"models": {"cnn": {"1000": {"test_auc": 0.9}}, "mlp7": {"5": {"test_auc": 0.6}}},
                               "matched_steps": {"part": {}}}))
    # a fixed number of epochs, not a time cap: the result must not depend on the machine's load
    report = tagger_training.data_efficiency(("mlp7",), (400,), out=out, epochs=6, log=lambda line: None)
    assert json.loads(out.read_text()) == report
    assert report["models"]["cnn"] == {"1000": {"test_auc": 0.9}}  # a model not rerun keeps its rows
    assert report["matched_steps"] == {"part": {}}  # and other entries of the file stay
    assert "5" not in report["models"]["mlp7"]  # a rerun model's rows are replaced
    test = data.split(data.load("top_qcd"), seed=0).test
    assert report["test_jets"] == len(test) and report["split_seed"] == 0
    rows = report["models"]["mlp7"]
    assert set(rows) == {"400", "35000"}  # the zoo model is the all-jets point
    assert rows["35000"]["zoo"] and rows["35000"]["test_auc"] > rows["400"]["test_auc"] > 0.5
    assert rows["400"]["epoch"] >= 0 and 0.5 < rows["400"]["val_auc"] <= 1
    assert "--data-efficiency cnn mlp7 --sizes 400" in report["command"]
    with pytest.raises(SystemExit):
        tagger_training.main([])  # neither --model nor --data-efficiency


def test_the_seven_observables_are_the_first_of_the_fourteen(real_jets):
    d = _dataset(real_jets, 8)
    expert = tt.jet_observables("expert14", d)
    np.testing.assert_array_equal(tt.observables_from_expert("hlf7", expert), tt.jet_observables("hlf7", d))
    np.testing.assert_array_equal(tt.observables_from_expert("expert14", expert), expert)
    with pytest.raises(ValueError, match="unknown feature input"):
        tt.observables_from_expert("particles", expert)
    with pytest.raises(ValueError, match="14 expert"):
        tt.observables_from_expert("hlf7", expert[:, :7])


def test_matched_steps_give_small_sets_more_epochs(tmp_path):
    report = tagger_training.data_efficiency(("mlp7",), (2000,), out=tmp_path / "eff.json", epochs=1,
                                             matched_steps=True, minutes=1.0, log=lambda line: None)
    row = report["models"]["mlp7"]["2000"]
    assert row["epochs_planned"] == 18  # ceil(1 epoch x 35000 / 2000 jets): the steps of one full epoch
    assert 0 <= row["epoch"] < 18 and 0.5 < row["test_auc"] <= 1 and row["device"].endswith("CPU cores")
    assert report["protocol"].startswith("steps") and report["command"].endswith("--matched-steps")


def test_overrides_reach_the_builder_and_the_checkpoint(tmp_path):
    best = tagger_training.train_tagger("part", epochs=1, n_train=256, n_val=256, out=tmp_path / "p.npz",
                                        overrides={"dropout": 0.1, "n_blocks": 1}, log=lambda line: None)
    assert best["kwargs"]["dropout"] == 0.1 and best["kwargs"]["n_blocks"] == 1
    model = tt.build(best)
    assert len(model.blocks) == 1
    assert train.load_checkpoint(model, tmp_path / "p.npz")["kwargs"] == best["kwargs"]
    with pytest.raises(SystemExit):
        tagger_training.main(["--model", "part", "--set", "dropout"])  # KEY=JSON, not KEY
