"""Generative models: representation round trip, masks in samples, losses, checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from flax import nnx

from jetkit import train
from jetkit.metrics.generative import distort
from jetkit.models import generative as gen
from jetkit.models import generative_training as training

CHECKPOINT = Path(__file__).resolve().parent.parent / "data" / "checkpoints" / training.CHECKPOINT


@pytest.fixture(scope="module")
def gluons(real_jets5):
    g = real_jets5["labels"] == list(real_jets5["class_names"]).index("g")
    p, m = real_jets5["particles"][g], real_jets5["mask"][g].copy()
    m[:5, 25:] = False  # a few jets with fewer constituents, to exercise the mask
    p = np.where(m[..., None], p, 0.0)
    return p, m


def test_standardiser_round_trip(gluons):
    p, m = gluons
    st = gen.Standardiser.fit(p, m)
    x = st.transform(p, m)
    assert x.shape == (len(p), 90)
    assert np.all(x.reshape(len(p), 30, 3)[~m] == 0)  # padding is 0 in model space
    back, mask = gen.to_particles(x, m.sum(1), st)
    np.testing.assert_array_equal(mask, m)
    # equal pT (float16 data has ties) may come back in another order: compare row multisets
    for i in range(len(p)):
        a_, b_ = back[i][m[i]], p[i][m[i]]
        a_, b_ = (r[np.lexsort((r[:, 2], r[:, 1], np.round(r[:, 0], 3)))] for r in (a_, b_))
        np.testing.assert_allclose(a_, b_, rtol=1e-4, atol=1e-5)


def test_sample_multiplicity_follows_training_distribution(gluons):
    _, m = gluons
    n = gen.sample_multiplicity(m, 1000, seed=0)
    assert set(np.unique(n)) <= set(np.unique(m.sum(1)))
    assert np.array_equal(n, gen.sample_multiplicity(m, 1000, seed=0))


@pytest.mark.parametrize("kind", ["flow", "vae"])
def test_samples_respect_the_mask(gluons, kind):
    p, m = gluons
    st = gen.Standardiser.fit(p, m)
    mult = np.array([30, 1, 12, 29, 30, 7])
    if kind == "flow":
        model = gen.FlowMatcher(90, (16,), 2, rngs=nnx.Rngs(0))
        out, mask = gen.sample_flow(model, mult, st, seed=0, steps=2)
    else:
        model = gen.VAE(90, 2, (16,), rngs=nnx.Rngs(0))
        out, mask = gen.sample_vae(model, mult, st, seed=0)
    np.testing.assert_array_equal(mask.sum(1), mult)
    np.testing.assert_array_equal(mask, np.arange(30)[None] < mult[:, None])  # leading slots
    assert np.all(out[~mask] == 0) and np.all(out[..., 0][mask] > 0)
    assert np.all(np.diff(out[..., 0], axis=1) <= 0)  # pT-sorted, padding last
    assert np.all(np.isfinite(out))


def test_mass_conditions_are_drawn_jointly_and_checked(gluons):
    from jetkit.metrics.generative import jet_mass

    p, m = gluons
    st = gen.Standardiser.fit(p, m)
    mult, cond = gen.sample_conditions(p, m, 200, st, seed=0)
    assert cond.shape == (200, 2) and np.allclose(cond[:, 0], mult / 30)
    masses = np.exp(cond[:, 1] * st.log_mass_std + st.log_mass_mean)
    truth = jet_mass(p, m)
    assert np.all(np.min(np.abs(masses[:, None] - truth[None]), axis=1) < 1e-2 * truth.max())
    model = gen.FlowMatcher(90, (16,), 2, n_cond=2, rngs=nnx.Rngs(0))
    out, mask = gen.sample_flow(model, mult, st, steps=2, cond=cond)
    np.testing.assert_array_equal(mask.sum(1), mult)
    with pytest.raises(ValueError, match="cond must have shape"):
        gen.sample_flow(model, mult, st, steps=2)  # default condition n/P has the wrong width


def test_losses_train_and_ignore_padding(gluons):
    p, m = gluons
    st = gen.Standardiser.fit(p, m)
    data = gen.model_inputs(p, m, st)
    for model, loss in ((gen.FlowMatcher(90, (32,), 2, rngs=nnx.Rngs(0)), gen.flow_matching_loss),
                        (gen.VAE(90, 2, (32,), rngs=nnx.Rngs(0)), gen.vae_loss)):
        # padded slots carry no loss: garbage there changes nothing (same noise key)
        x, slot, n = data
        junk = (np.where(slot > 0, x, 50.0), slot, n)
        key = model.noise.get_value()
        a = float(loss(model, tuple(map(np.asarray, data))))
        model.noise.set_value(key)
        b = float(loss(model, junk))
        assert a == pytest.approx(b, rel=1e-5)
        h = train.fit(model, data, loss_fn=loss, epochs=8, batch_size=16, learning_rate=3e-3,
                      progress=False)
        assert h.train_loss[-1] < h.train_loss[0]


def test_distortions_do_what_they_say(gluons):
    from jetkit.metrics.generative import jet_mass

    p, m = gluons
    q, qm = distort(p, m, "wrong multiplicity", seed=0)
    assert qm.sum(1).max() < 30 and np.all(q[~qm] == 0)
    q, qm = distort(p, m, "collapsed modes", seed=0)
    assert jet_mass(q, qm).max() <= np.median(jet_mass(p, m))
    q, qm = distort(p, m, "smeared mass", seed=0)
    np.testing.assert_array_equal(q[..., 0], p[..., 0])
    q, qm = distort(p, m, "shuffled between jets", seed=0)
    full = qm.all(1)
    for k in (0, 7, 29):  # full jets: each slot's values are a permutation of real ones
        assert set(map(tuple, q[full, k])) <= set(map(tuple, p[m[:, k], k]))
    with pytest.raises(ValueError, match="unknown distortion"):
        distort(p, m, "nonsense")


def test_bad_input_is_rejected(gluons):
    p, m = gluons
    with pytest.raises(ValueError, match="shape"):
        gen.Standardiser.fit(p[..., :2], m)
    st = gen.Standardiser.fit(p, m)
    with pytest.raises(ValueError, match="multiplicity"):
        gen.to_particles(st.transform(p, m), np.zeros(len(p)), st)


def test_pretrained_checkpoint_loads_and_generates_gluon_jets():
    from jetkit.metrics.generative import jet_mass

    model = training.build_flow()
    meta = train.load_checkpoint(model, CHECKPOINT)
    mass_model = training.build_flow({"with_mass": True})
    assert train.load_checkpoint(mass_model, CHECKPOINT.with_name(training.CHECKPOINTS[True]))["with_mass"]
    assert meta["class_name"] == "g" and meta["steps"] == training.PRETRAIN["steps"]
    (tr, _, te), st = training.gluon_splits()
    out, mask = gen.sample_flow(model, gen.sample_multiplicity(tr.mask, 400, seed=0), st, seed=0)
    mass = jet_mass(out, mask)
    # the generated mass distribution sits where the real one does
    assert abs(np.median(mass) - np.median(jet_mass(te.particles, te.mask))) < 15.0
