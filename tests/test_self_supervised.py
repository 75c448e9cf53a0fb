"""Self-supervised representations (jetkit.models.self_supervised and its training recipe): views,
the contrastive loss through train.fit without labels, permutation invariance and masking of the
encoder, checkpoints, the linear probe, few-label subsets, plots, exercises and the nearest decoder."""

from __future__ import annotations

import jax
import matplotlib.pyplot as plt
import numpy as np
import pytest
from flax import nnx
from hypothesis import given, settings
from hypothesis import strategies as st

from jetkit import exercises, metrics, train
from jetkit.models import contrastive
from jetkit.models import self_supervised as ssl
from jetkit.models import self_supervised_training as recipe
from jetkit.physics import kinematics
from jetkit.plotting import representation as rplot
from jetkit.widgets import LatentExplorer

OFF = {"rotation": False, "width": 0.0, "n_split": 0, "n_soft": 0}  # every augmentation switched off
SMALL = {"dim": 16, "heads": 2, "n_blocks": 1, "projection": (16, 8)}
loss_jit = nnx.jit(ssl.contrastive_loss)  # compiled: eager op-by-op dispatch is slow
represent_jit = nnx.jit(lambda model, p, m: model.represent(p, m))
embed_jit = nnx.jit(lambda encoder, x, m, pair: encoder.embed(x, m, pair))
call_jit = nnx.jit(lambda model, *xs: model(*xs))


@pytest.fixture(scope="module")
def jets(real_jets):
    return real_jets["particles"], real_jets["mask"], real_jets["labels"]


@pytest.fixture(scope="module")
def model():
    return ssl.ContrastiveModel(**SMALL, rngs=nnx.Rngs(0), seed=0)


def _p4(p, m):
    return np.asarray(kinematics.jet_p4(np.asarray(p, np.float64), np.asarray(m)))


# ------------------------------------------------------------------------------ views


def test_view_gives_full_jets_room_for_their_splittings(jets):
    p, m, _ = jets
    full = m.sum(1) == m.shape[1]
    assert full.any(), "the sample should contain jets with every slot filled"
    q, k = ssl.view(jax.random.PRNGKey(0), p, m, {**OFF, "n_split": 8})
    assert q.shape == (len(p), p.shape[1] + 12, 3)  # room for the default 8 splits + 4 soft particles
    assert np.array_equal(np.asarray(k).sum(1), m.sum(1) + 8)  # 8 splits in every jet, full ones too
    np.testing.assert_allclose(_p4(q, k), _p4(p, m), rtol=1e-5, atol=1e-3)  # collinear safe


def test_view_with_everything_off_is_the_jet_padded(jets):
    p, m, _ = jets
    q, k = ssl.view(jax.random.PRNGKey(3), p[:10], m[:10], OFF)
    np.testing.assert_array_equal(np.asarray(q)[:, :p.shape[1]], np.where(m[:10, :, None], p[:10], 0))
    assert not np.asarray(k)[:, p.shape[1]:].any()


def test_views_advance_the_key_and_differ(jets, model):
    p, m, _ = jets
    (a, _), (b, _) = model.views(p[:4], m[:4])
    (c, _), _ = model.views(p[:4], m[:4])
    assert not np.allclose(a, b) and not np.allclose(a, c)


# ------------------------------------------------------------------------------ encoder


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_representation_is_permutation_invariant_and_padding_blind(seed):
    rng = np.random.default_rng(seed)
    n = rng.integers(3, 20)
    p = np.zeros((2, 24, 3), np.float32)
    p[:, :n, 0] = rng.uniform(1, 200, (2, n))
    p[:, :n, 1:] = rng.normal(0, 0.2, (2, n, 2))
    m = p[..., 0] > 0
    model = ssl.ContrastiveModel(**SMALL, size=16, rngs=nnx.Rngs(1))
    h = np.asarray(represent_jit(model, p, m))
    perm = rng.permutation(24)
    np.testing.assert_allclose(np.asarray(represent_jit(model, p[:, perm], m[:, perm])), h, atol=1e-5)
    junk = np.where(m[..., None], p, rng.normal(0, 5, p.shape).astype(np.float32))  # garbage in padded slots
    np.testing.assert_allclose(np.asarray(represent_jit(model, junk, m)), h, atol=1e-5)
    wider = np.concatenate([p, np.zeros((2, 8, 3), np.float32)], axis=1)
    np.testing.assert_allclose(np.asarray(represent_jit(model, wider, wider[..., 0] > 0)), h, atol=1e-5)


def test_encoder_inputs_pad_short_jets_and_keep_the_hardest(real_jets5, jets):
    x, m, pair = ssl.encoder_inputs(real_jets5["particles"][:5], real_jets5["mask"][:5], size=32)
    assert x.shape == (5, 32, 5) and m.shape == (5, 32) and pair.shape == (5, 32, 32, 4)
    assert not np.asarray(m)[:, 30:].any()
    p, mask, _ = jets
    x64 = np.asarray(ssl.encoder_inputs(p[:3], mask[:3], size=8)[0])
    np.testing.assert_allclose(x64, np.asarray(ssl.encoder_inputs(p[:3, :8], mask[:3, :8], size=8)[0]), atol=1e-6)
    with pytest.raises(ValueError):
        ssl.encoder_inputs(p[0], mask[0])


# ------------------------------------------------------------------------------ loss and training


def test_contrastive_loss_reads_no_labels(jets, model):
    p, m, y = jets
    with pytest.raises(ValueError, match="no labels"):
        ssl.contrastive_loss(model, (p[:8], m[:8], y[:8]))


def test_loss_without_augmentation_is_order_invariant_and_low(jets):
    p, m, _ = jets
    mod = ssl.ContrastiveModel(**SMALL, augmentation=OFF, rngs=nnx.Rngs(2))
    a = float(loss_jit(mod, (p[:16], m[:16])))
    perm = np.random.default_rng(0).permutation(16)
    b = float(loss_jit(mod, (p[:16][perm], m[:16][perm])))
    assert a == pytest.approx(b, rel=1e-5)
    z = ssl.projections(mod, p[:16], m[:16])
    assert a == pytest.approx(float(contrastive.nt_xent(z, z, mod.temperature)), rel=1e-5)


def test_fit_on_unlabeled_jets_lowers_the_loss_and_round_trips(jets, tmp_path):
    p, m, _ = jets
    mod = ssl.ContrastiveModel(**SMALL, rngs=nnx.Rngs(3), seed=3)
    history = train.fit(mod, (p, m), loss_fn=ssl.contrastive_loss, epochs=6, batch_size=64,
                        learning_rate=3e-3, progress=False)
    assert history.train_loss[-1] < history.train_loss[0]
    h = ssl.representations(mod, p, m, batch_size=64)
    assert h.shape == (len(p), 16) and np.all(np.isfinite(h))
    path = train.save_checkpoint(mod, tmp_path / "ssl.npz", {"note": "test"})
    other = ssl.ContrastiveModel(**SMALL, rngs=nnx.Rngs(99))
    assert train.load_checkpoint(other, path) == {"note": "test"}
    np.testing.assert_array_equal(ssl.representations(other, p, m, batch_size=64), h)
    path = train.save_checkpoint(mod, tmp_path / "recipe.npz", {**SMALL, "augmentation": {}})
    loaded = recipe.load(path)  # built from the checkpoint's own metadata
    assert dict(loaded.augmentation) == dict(mod.augmentation)
    np.testing.assert_array_equal(ssl.representations(loaded, p, m, batch_size=64), h)
    shipped = recipe.load()  # no path: the zoo's jetclr_top_qcd checkpoint
    assert shipped.encoder.dim == recipe.PRETRAIN["dim"] and shipped.size == recipe.PRETRAIN["size"]
    tuned = mod.new_encoder(1, seed=5)
    x = ssl.encoder_inputs(p[:8], m[:8])
    np.testing.assert_allclose(np.asarray(embed_jit(tuned, *x)), h[:8], atol=1e-5)
    scratch = mod.new_encoder(5, seed=5, pretrained=False)
    assert call_jit(scratch, *x).shape == (8, 5)
    assert not np.allclose(np.asarray(embed_jit(scratch, *x)), h[:8], atol=1e-3)


def test_probe_features_are_the_representation_and_the_mean_particle_token_of_encoder_features(jets, model):
    p, m, _ = jets
    f = ssl.probe_features(model, p[:8], m[:8], batch_size=8)
    dim = model.encoder.dim
    assert f.shape == (8, 2 * dim)
    np.testing.assert_allclose(f[:, :dim], ssl.representations(model, p[:8], m[:8], batch_size=8), atol=1e-5)
    x, mask, pair = ssl.encoder_inputs(p[:8], m[:8])
    _, tokens = model.encoder.encode(x, mask, pair)
    mean = np.asarray(tokens).sum(1) / np.asarray(mask).sum(1, keepdims=True)
    np.testing.assert_allclose(f[:, dim:], mean, atol=1e-5)
    order = np.random.default_rng(1).permutation(p.shape[1])  # the input order of particles is irrelevant
    np.testing.assert_allclose(ssl.probe_features(model, p[:8, order], m[:8, order], batch_size=8), f, atol=1e-4)
    padded = np.pad(p[:8], ((0, 0), (0, 5), (0, 0))), np.pad(m[:8], ((0, 0), (0, 5)))  # empty slots change nothing
    np.testing.assert_allclose(ssl.probe_features(model, *padded, batch_size=8), f, atol=1e-5)
    np.testing.assert_allclose(ssl.encoder_features(model.encoder, x, mask, pair), f, atol=1e-5)  # any ParT-lite encoder


def test_bad_options_raise():
    with pytest.raises(ValueError, match="unknown augmentation"):
        ssl.ContrastiveModel(augmentation={"spin": 1}, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError):
        ssl.ContrastiveModel(augmentation={"width": -1.0}, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError):
        ssl.ContrastiveModel(temperature=0.0, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="unknown pre-training settings"):
        recipe.pretrain(overrides={"batchsize": 512})  # refused before any jet is loaded


def test_recipe_builds_the_views_of_its_metadata():
    """A checkpoint's ``augmentation`` setting reaches the model; without one, the recipe's views."""
    small = {"dim": 8, "heads": 2, "n_blocks": 1, "projection": [8]}
    harder = dict(recipe.build({**small, "augmentation": {"resolution": 0.3, "n_split": 4}}).augmentation)
    assert harder == {**ssl.AUGMENTATION, "resolution": 0.3, "n_split": 4}
    assert dict(recipe.build({**small, "augmentation": {}}).augmentation) == ssl.AUGMENTATION  # JetCLR's
    assert dict(recipe.build(small).augmentation) == {**ssl.AUGMENTATION, **recipe.PRETRAIN["augmentation"]}
    with pytest.raises(ValueError, match="unknown augmentation"):
        recipe.build({**small, "augmentation": {"spin": 1}})


# ------------------------------------------------------------------------------ few labels


def test_balanced_subset():
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    idx = ssl.balanced_subset(labels, 31, seed=1)
    assert len(idx) == len(set(idx)) == 31 and np.all(np.diff(idx) > 0)
    assert sorted(np.bincount(labels[idx]).tolist()) == [10, 10, 11]
    assert np.array_equal(idx, ssl.balanced_subset(labels, 31, seed=1))
    with pytest.raises(ValueError):
        ssl.balanced_subset(labels, 2)
    with pytest.raises(ValueError):
        ssl.balanced_subset(labels, 90)  # class 2 has only 20


def test_linear_probe_matches_sklearn_and_separates():
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    y = np.arange(120) % 2
    h = rng.normal(size=(120, 4)) + 2.0 * y[:, None] * np.array([1, 0, 0, 0])
    s = ssl.linear_probe(h[:80], y[:80], h[80:])
    scaler = StandardScaler().fit(h[:80])
    ref = LogisticRegressionCV(Cs=np.logspace(-4, 2, 7), cv=5, max_iter=5000, random_state=0, l1_ratios=(0.0,),
                               scoring="neg_log_loss", use_legacy_attributes=False).fit(scaler.transform(h[:80]), y[:80])
    np.testing.assert_allclose(s, ref.decision_function(scaler.transform(h[80:])))
    assert metrics.auc(y[80:], s) > 0.85
    y3 = np.arange(120) % 3
    assert ssl.linear_probe(h, y3, h[:7]).shape == (7, 3)
    with pytest.raises(ValueError):
        ssl.linear_probe(h[:80], y[:79], h[80:])
    with pytest.raises(ValueError):
        ssl.linear_probe(np.where(h == h[0, 0], np.nan, h), y, h)
    with pytest.raises(ValueError, match="folds"):
        ssl.linear_probe(h[:6], np.array([0, 0, 0, 1, 1, 1]), h)


def test_few_label_study_runs_every_method(monkeypatch, jets, model):
    p, m, y = jets

    class Split:
        def __init__(self, idx):
            self.particles, self.mask, self.labels = p[idx], m[idx], y[idx]

    idx = np.random.default_rng(0).permutation(len(y))
    monkeypatch.setattr(recipe, "_splits", lambda name, seed: (Split(idx[:120]), None, Split(idx[120:])))
    monkeypatch.setitem(recipe.FEW_LABEL, "steps", 4)
    out = recipe.few_label_study(model, sizes=(20,), seeds=(0,), methods=("probe", "probe_cls", "fine_tune", "scratch"))
    assert set(out) == {"probe", "probe_cls", "fine_tune", "scratch"}
    assert all(len(out[k][20]) == 1 and 0 <= out[k][20][0] <= 1 for k in out)
    with pytest.raises(ValueError, match="methods"):
        recipe.few_label_study(model, sizes=(20,), methods=("probe", "knn"))


def test_evaluate_with_draws_runs_only_the_few_label_study(monkeypatch, tmp_path):
    import json

    calls = []
    monkeypatch.setattr(recipe, "load", lambda path: "model")
    monkeypatch.setattr(recipe, "few_label_study", lambda model, sizes, seeds, methods: calls.append(
        (model, tuple(sizes), tuple(seeds), tuple(methods))) or {m: {n: [0.5] * len(seeds) for n in sizes} for m in methods})
    monkeypatch.setattr(recipe, "transfer_study", lambda model: pytest.fail("transfer_study must not run"))
    monkeypatch.setattr(recipe, "invariance", lambda model: pytest.fail("invariance must not run"))
    out = tmp_path / "draws.json"
    recipe.main(["evaluate", "--out", str(out), "--checkpoint", "x.npz", "--sizes", "350", "--seeds", "0", "1", "2",
                 "--methods", "probe", "scratch"])
    assert calls == [("model", (350,), (0, 1, 2), ("probe", "scratch"))]
    results = json.loads(out.read_text())
    assert set(results) == {"few_label", "recipe", "seconds"}
    assert results["few_label"]["scratch"]["350"] == [0.5, 0.5, 0.5]
    assert results["recipe"]["learning_rate"] == recipe.FEW_LABEL["learning_rate"]
    with pytest.raises(SystemExit):
        recipe.main(["pretrain", "--out", str(tmp_path / "m.npz"), "--sizes", "350"])


# ------------------------------------------------------------------------------ plots, widget, exercises


def test_few_label_plot_and_table():
    study = {"probe": {"100": [0.90, 0.92], "1000": [0.95, 0.95]}, "scratch": {100: [0.7, 0.8]}}
    table = rplot.few_label_table(study)
    assert "0.910 ± 0.010" in table and "0.750 ± 0.050" in table and table.count("\n") == 2
    fig, ax = plt.subplots()
    rplot.few_label_curve(ax, study)
    assert len(ax.containers) == 2 and ax.get_xscale() == "log"
    plt.close(fig)
    with pytest.raises(ValueError):
        rplot.few_label_table({})
    with pytest.raises(ValueError):
        rplot.few_label_table({"probe": {100: []}})


def test_nearest_decoder_returns_the_nearest_jet():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(50, 6))
    outputs = np.arange(50)
    decode = LatentExplorer.nearest_decoder(codes, outputs)
    assert np.array_equal(decode(codes[[3, 17]]), [3, 17])
    with pytest.raises(ValueError):
        LatentExplorer.nearest_decoder(codes, outputs[:10])


def test_exercises(capsys):
    rng = np.random.default_rng(0)
    z1, z2 = rng.normal(size=(8, 4)), rng.normal(size=(8, 4))
    right = float(contrastive.nt_xent(z1, z2, 0.1))
    assert exercises.check("06_nt_xent", right, z1, z2, 0.1)
    assert not exercises.check("06_nt_xent", np.log(15), z1, z2, 0.1)
    assert not exercises.check("06_nt_xent", 0.0, z1, z2, 0.1)
    unit = lambda h: h / np.linalg.norm(h, axis=1, keepdims=True)  # noqa: E731
    assert exercises.check("06_similarity", np.mean(np.sum(unit(z1) * unit(z2), 1)), z1, z2)
    assert not exercises.check("06_similarity", np.mean(np.sum(z1 * z2, 1)), z1, z2)
    lines = capsys.readouterr().out.splitlines()
    assert all(f"{right:.4f}" not in line for line in lines if "Not yet" in line)  # never the answer
