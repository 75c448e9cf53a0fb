"""The model zoo: every shipped model loads (sha256 checked) and reproduces its recorded check;
corrupt or missing files raise errors that name the retrain command; record/load round trip."""

from __future__ import annotations

import json
import shutil

import jax
import numpy as np
import pytest
from flax import nnx

from jetkit import train, zoo
from jetkit.models import gnn

NAMES = ["cnn_top_qcd", "deepsets_top_qcd", "edgeconv_top_qcd", "expert_bdt_top_qcd", "expert_mlp_top_qcd",
         "flow_matching_gluon", "flow_matching_gluon_mass", "hgq_jet5", "jetclr_top_qcd", "lorentznet_top_qcd",
         "mlp7_top_qcd", "part_top_qcd", "particle_cloud_gluon", "particle_cloud_gluon_reflow",
         "particlenet_top_qcd", "qat_jet5"]


def test_the_shipped_models_are_listed_with_their_provenance():
    assert zoo.available() == NAMES
    for name in NAMES:
        entry = zoo.describe(name)
        assert entry["command"] == zoo.retrain_command(name)
        assert {"builder", "inputs", "dataset", "split", "check"} <= set(entry["zoo"])
        assert (zoo.ZOO_DIR / entry["file"]).stat().st_size == entry["bytes"]
    with pytest.raises(ValueError, match="available"):
        zoo.describe("resnet_imagenet")


@pytest.mark.parametrize("name", NAMES)
def test_every_zoo_model_reproduces_its_recorded_check(name):
    recorded = zoo.describe(name)["zoo"]["check"]["value"]
    assert zoo.check(name) == pytest.approx(recorded, abs=1e-4)


def _copy_zoo(tmp_path, name):
    entry = zoo.describe(name)
    shutil.copy(zoo.ZOO_DIR / entry["file"], tmp_path / entry["file"])
    (tmp_path / "MANIFEST.json").write_text(json.dumps({name: entry}))
    return tmp_path / entry["file"]


def test_a_modified_or_missing_checkpoint_names_the_retrain_command(tmp_path):
    path = _copy_zoo(tmp_path, "edgeconv_top_qcd")
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(OSError, match="checksum mismatch.*python -m jetkit.zoo train edgeconv_top_qcd"):
        zoo.load("edgeconv_top_qcd", tmp_path)
    path.unlink()
    with pytest.raises(FileNotFoundError, match="pretrain_gnn.py"):
        zoo.load("edgeconv_top_qcd", tmp_path)


def test_record_then_load_round_trip(tmp_path):
    model = gnn.fast_edgeconv(nnx.Rngs(7))  # fresh (untrained) weights, not the shipped ones
    path = train.save_checkpoint(model, tmp_path / "edgeconv_top_qcd.npz", {"n_particles": 16, "seed": 7})
    entry = zoo.record(path, "python benchmarks/pretrain_gnn.py --epochs 1")
    assert entry["metadata"] == {"n_particles": 16, "seed": 7}
    assert zoo.available(tmp_path) == ["edgeconv_top_qcd"]
    loaded, prepare = zoo.load("edgeconv_top_qcd", tmp_path)
    rng = np.random.default_rng(0)
    particles = np.zeros((5, 40, 3), np.float32)
    particles[:, :20, 0] = rng.uniform(1, 100, (5, 20))
    particles[:, :20, 1:] = rng.normal(0, 0.3, (5, 20, 2))
    x, mask = prepare(particles, particles[..., 0] > 0)
    assert x.shape[1] == 16 and mask.shape == (5, 16)  # the recorded inputs: 16 leading constituents
    np.testing.assert_allclose(train.predict(loaded, x, mask), train.predict(model, x, mask), rtol=1e-6)
    # re-recording keeps the zoo section and updates the checksum
    manifest = json.loads((tmp_path / "MANIFEST.json").read_text())
    manifest["edgeconv_top_qcd"]["zoo"] = {"check": {"value": 0.5}}
    (tmp_path / "MANIFEST.json").write_text(json.dumps(manifest))
    train.save_checkpoint(gnn.fast_edgeconv(nnx.Rngs(8)), path, {"n_particles": 16, "seed": 8})
    entry = zoo.record(path, "python benchmarks/pretrain_gnn.py --epochs 2")
    assert entry["zoo"] == {"check": {"value": 0.5}} and entry["metadata"]["seed"] == 8


def test_cli_lists_the_models(capsys):
    assert zoo.main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in NAMES) and "retrain:" in out
    with pytest.raises(SystemExit):
        zoo.main(["train", "not_a_model"])


def test_evaluate_zoo_tagger_scores_the_jets_with_the_models_own_inputs():
    from jetkit import data, metrics
    from jetkit.models import diagnostics

    te = data.split(data.load("top_qcd"), seed=0).test[np.arange(600)]
    row, scores = diagnostics.evaluate_zoo_tagger("mlp7_top_qcd", te, label="MLP on 7 features")
    model, prepare = zoo.load("mlp7_top_qcd")
    np.testing.assert_allclose(scores, train.predict(model, *prepare(te)).reshape(-1), rtol=1e-6)
    assert row["model"] == "MLP on 7 features" and scores.shape == (600,)
    assert row["auc"] == pytest.approx(metrics.auc(te.labels, scores))
    assert row["params"] == diagnostics.count_params(model) > 0
    assert row["jets_per_s"] > 0 and row["n_bkg50"] >= 0


def test_evaluate_zoo_tagger_without_a_recorded_training_time():
    from jetkit import data, metrics
    from jetkit.models import diagnostics

    assert "train_seconds" not in zoo.describe("edgeconv_top_qcd")["metadata"]
    te = data.split(data.load("top_qcd"), seed=0).test[np.arange(300)]
    row, _ = diagnostics.evaluate_zoo_tagger("edgeconv_top_qcd", te)
    assert row["train_s"] == "zoo" and row["model"] == "edgeconv_top_qcd"
    assert "zoo" in metrics.results_table([row])


def test_evaluate_zoo_tagger_shares_the_expert_observables_through_a_cache():
    from jetkit import data
    from jetkit.models import diagnostics

    te = data.split(data.load("top_qcd"), seed=0).test[np.arange(300)]
    cache = {}
    _, mlp = diagnostics.evaluate_zoo_tagger("expert_mlp_top_qcd", te, cache=cache, chunk=200)
    assert len(cache) == 2  # two chunks of the 14 observables
    _, mlp7 = diagnostics.evaluate_zoo_tagger("mlp7_top_qcd", te, cache=cache, chunk=200)
    assert len(cache) == 2  # the 7 observables are the first 7 of the 14
    np.testing.assert_allclose(mlp7, diagnostics.evaluate_zoo_tagger("mlp7_top_qcd", te, chunk=200)[1], atol=1e-5)
    _, bdt = diagnostics.evaluate_zoo_tagger("expert_bdt_top_qcd", te, cache=cache, chunk=200)
    assert len(cache) == 2  # the BDT was trained with the same scaler: nothing recomputed
    _, alone = diagnostics.evaluate_zoo_tagger("expert_bdt_top_qcd", te)
    np.testing.assert_array_equal(bdt, alone)
    diagnostics.evaluate_zoo_tagger("particlenet_top_qcd", te, cache=cache)
    assert len(cache) == 2  # particle-level inputs are not kept


def test_the_observable_cache_keeps_its_jets_so_other_jets_never_read_their_entries():
    import gc
    import weakref

    from jetkit import data
    from jetkit.models import diagnostics

    test = data.split(data.load("top_qcd"), seed=0).test
    cache = {}
    first = test[np.arange(100)]
    alive = weakref.ref(first)
    _, before = diagnostics.evaluate_zoo_tagger("mlp7_top_qcd", first, cache=cache)
    del first
    gc.collect()
    assert alive() is not None  # held by the cache: its id cannot be handed to other jets
    other = test[np.arange(100, 200)]  # same length, other jets
    _, after = diagnostics.evaluate_zoo_tagger("mlp7_top_qcd", other, cache=cache)
    np.testing.assert_allclose(after, diagnostics.evaluate_zoo_tagger("mlp7_top_qcd", other)[1], atol=1e-6)
    assert len(cache) == 2 and not np.allclose(before, after)


def test_shipped_scores_are_used_only_for_their_jets_and_checkpoint_and_are_checked(tmp_path):
    from jetkit import data
    from jetkit.models import diagnostics

    te = data.split(data.load("top_qcd"), seed=0).test[np.arange(300)]
    path = diagnostics.save_zoo_scores(["mlp7_top_qcd", "edgeconv_top_qcd"], te, tmp_path / "scores.npz")
    _, live = diagnostics.evaluate_zoo_tagger("mlp7_top_qcd", te)
    row, shipped = diagnostics.evaluate_zoo_tagger("mlp7_top_qcd", te, shipped=path, verify=50)
    np.testing.assert_allclose(shipped, live, atol=1e-5)
    assert row["jets_per_s"] > 0 and shipped.shape == (300,)
    edge, _ = diagnostics.evaluate_zoo_tagger("edgeconv_top_qcd", te, shipped=path, verify=50)
    assert edge["train_s"] == "zoo"  # no recorded training time, as without shipped scores
    unchecked, same = diagnostics.evaluate_zoo_tagger("edgeconv_top_qcd", te, shipped=path, verify=0)
    with np.load(path) as f:  # verify=0: nothing scored, the recorded throughput
        recorded = json.loads(str(f["__metadata__"]))
    assert unchecked["jets_per_s"] == recorded["jets_per_s"]["edgeconv_top_qcd"] > 0
    assert unchecked["params"] == edge["params"] and unchecked["auc"] == edge["auc"] and unchecked["train_s"] == "zoo"
    with pytest.raises(ValueError, match="verify"):
        diagnostics.evaluate_zoo_tagger("edgeconv_top_qcd", te, shipped=path, verify=-1)
    other = te[np.arange(200)]  # other jets: the shipped scores are ignored, everything is scored
    _, scores = diagnostics.evaluate_zoo_tagger("mlp7_top_qcd", other, shipped=path, verify=50)
    assert scores.shape == (200,)
    with np.load(path) as f:  # scores that do not come from this model are refused
        arrays = {k: f[k] for k in f.files}
    np.savez(tmp_path / "reordered.npz", **{**arrays, "mlp7_top_qcd": arrays["mlp7_top_qcd"] * (1 + 2e-4)})
    _, near = diagnostics.evaluate_zoo_tagger("mlp7_top_qcd", te, shipped=tmp_path / "reordered.npz", verify=50)
    np.testing.assert_array_equal(near, arrays["mlp7_top_qcd"] * (1 + 2e-4))  # float32 sums in another order pass
    arrays["mlp7_top_qcd"] = arrays["mlp7_top_qcd"] + 0.1
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="--score-test"):
        diagnostics.evaluate_zoo_tagger("mlp7_top_qcd", te, shipped=tmp_path / "bad.npz", verify=50)


def test_the_shipped_test_scores_match_the_zoo_models():
    from jetkit import data
    from jetkit.models import diagnostics

    test = data.split(data.load("top_qcd"), seed=0).test
    with np.load(diagnostics.ZOO_SCORES) as f:
        meta = json.loads(str(f["__metadata__"]))
    assert meta["jets"] == diagnostics.jets_fingerprint(test) and meta["n_jets"] == len(test)
    for name, sha in meta["sha256"].items():
        assert sha == zoo.describe(name)["sha256"], f"{name}: rerun --score-test"


@pytest.mark.parametrize("name", ["part_top_qcd", "hgq_jet5"])  # built abstractly / built in full
def test_load_gives_the_checkpoint_weights_as_concrete_arrays(name):
    from jetkit.zoo import _RECIPES, ZOO_DIR

    model, _ = zoo.load(name)
    entry = zoo.describe(name)
    full = _RECIPES[name].build(entry["metadata"])  # the slow way: random init, then the weights
    train.load_checkpoint(full, ZOO_DIR / entry["file"])
    got, want = nnx.state(model), nnx.state(full)
    leaves = jax.tree_util.tree_leaves(got)
    assert leaves and not any(isinstance(x, jax.ShapeDtypeStruct) for x in leaves)
    assert jax.tree_util.tree_structure(got) == jax.tree_util.tree_structure(want)
    for a, b in zip(leaves, jax.tree_util.tree_leaves(want)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
