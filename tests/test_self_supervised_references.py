"""jetkit.models.self_supervised_references: the linear probe on reference features."""

import numpy as np
import pytest
from flax import nnx

from jetkit import metrics
from jetkit.models import self_supervised as ssl
from jetkit.models import self_supervised_references as refs
from jetkit.models import self_supervised_training as recipe


@pytest.fixture(scope="module")
def model():
    return ssl.ContrastiveModel(dim=16, heads=2, n_blocks=1, projection=(16, 8), rngs=nnx.Rngs(0), seed=0)


def test_probe_references_on_the_encoder_itself_match_the_few_label_probe(monkeypatch, real_jets, model):
    """With the reference tagger a copy of the pretrained encoder, the 'supervised features' probe
    reads the very features of the few-label study's probe: the same AUC for the same draws. The
    expert-observable probes read jetkit.physics.expert_features of the same jets."""
    from jetkit import zoo
    from jetkit.physics import expert_features

    keys = ("particles", "mask", "labels", "jets", "n_constituents")

    class Split:
        def __init__(self, idx):
            for k in keys:
                setattr(self, k, np.asarray(real_jets[k])[idx])

    idx = np.random.default_rng(1).permutation(len(real_jets["labels"]))
    train, test = Split(idx[:120]), Split(idx[120:])
    monkeypatch.setattr(recipe, "_splits", lambda name, seed: (train, None, test))
    copy = model.new_encoder(1, seed=0, pretrained=True)
    copy.eval()
    monkeypatch.setattr(zoo, "load", lambda name: (copy, lambda pp, mm: ssl.tagger_inputs(pp, mm, model.size)))
    out = refs.probe_references(model, sizes=(20, 40), seeds=(0, 1))
    few = recipe.few_label_study(model, sizes=(20, 40), seeds=(0, 1), methods=("probe",))
    assert set(out) == {"all_labels", "supervised_features", "expert_observables", "with_expert_observables"}
    assert out["supervised_features"]["model"] == "part_top_qcd"
    for n in (20, 40):
        np.testing.assert_allclose(out["supervised_features"]["probe"][n], few["probe"][n], atol=1e-6)
    draw = ssl.balanced_subset(train.labels, 40, seed=1)
    e_train, e_test = expert_features(train)[0], expert_features(test)[0]
    expected = metrics.auc(test.labels, ssl.linear_probe(e_train[draw], train.labels[draw], e_test, seed=1))
    assert out["expert_observables"][40][1] == pytest.approx(float(expected))
    assert out["expert_observables"][40][1] > 0.7  # mass and tau32 tell top from QCD
    assert all(len(v) == 2 for v in out["with_expert_observables"].values())
    assert out["all_labels"]["jets"] == 120 and 0.5 < out["all_labels"]["auc"] <= 1
    with pytest.raises(ValueError, match="not trained on"):
        refs.probe_references(model, reference="hgq_jet5")


def test_main_writes_the_references(monkeypatch, tmp_path):
    import json

    monkeypatch.setattr(recipe, "load", lambda path: "model" if path == "x.npz" else pytest.fail(path))
    monkeypatch.setattr(refs, "probe_references", lambda model, sizes, seeds, reference: {"called": [model, sizes, seeds, reference]})
    out = tmp_path / "references.json"
    refs.main(["--out", str(out), "--checkpoint", "x.npz", "--seeds", "0", "1", "2"])
    assert json.loads(out.read_text())["references"] == {"called": ["model", [350], [0, 1, 2], "part_top_qcd"]}
    with pytest.raises(SystemExit):
        refs.main(["--checkpoint", "x.npz"])  # --out is required
