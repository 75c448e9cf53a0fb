"""Soft drop (mMDT) grooming and the 16 hls4ml high-level features: every feature against fjcontrib
on FastJet's own groomed jets, soft drop and zlogz on a two-particle jet, single-constituent jets
and the multiplicity override."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from conftest import A_, B_, REL, RTOL, SD_ATOL, embed_jet, one_jet_per_event, random_jets, reference_subset, rel_diff
from jetkit import physics


def test_hls4ml_features_agree_with_fjcontrib_on_groomed_jets(real_jets5):
    """Every column of hls4ml_features against fjcontrib run on FastJet's own mMDT-groomed jets."""
    particles, mask = reference_subset(real_jets5, 30)
    cs = one_jet_per_event(particles, mask)
    sd = cs.exclusive_jets_softdrop_grooming(njets=1, beta=0.0, symmetry_cut=0.1, R0=0.8)
    cons = sd.constituents
    fastjet = pytest.importorskip("fastjet")
    gcs = fastjet.ClusterSequence(cons, fastjet.JetDefinition(fastjet.antikt_algorithm, 10.0))

    def corr(beta, **kw):
        return np.array(gcs.exclusive_jets_energy_correlator(njets=1, beta=beta, **kw).tolist())

    pt = [np.hypot(np.array(px), np.array(py)) for px, py in zip(cons.px.tolist(), cons.py.tolist())]
    zlogz = np.array([np.sum((p / p.sum()) * np.log(p / p.sum())) for p in pt])
    mult = np.arange(len(particles)) + 40  # the override must land in the last column
    cols = {
        "zlogz": zlogz,
        "c1_b0": corr(0.0, func="generalized", npoint=2, angles=-1),
        "c1_b1": corr(1.0, func="generalized", npoint=2, angles=-1),
        "c1_b2": corr(2.0, func="generalized", npoint=2, angles=-1),
        "c2_b1": corr(1.0, func="c2"), "c2_b2": corr(2.0, func="c2"),
        "d2_b1": corr(1.0, func="d2"), "d2_b2": corr(2.0, func="d2"),
        "d2_a1_b1": corr(1.0, func="generalizedd2", alpha=1.0),
        "d2_a1_b2": corr(2.0, func="generalizedd2", alpha=1.0),
        "m2_b1": corr(1.0, func="m2"), "m2_b2": corr(2.0, func="m2"),
        "n2_b1": corr(1.0, func="n2"), "n2_b2": corr(2.0, func="n2"),
        "mass_mmdt": np.array(sd.msoftdrop.tolist()),
        "multiplicity": mult,
    }
    with jax.enable_x64(True):
        ours = np.asarray(physics.hls4ml_features(particles.astype(np.float64), mask, mult))
    assert ours.shape == (len(particles), 16) and tuple(cols) == physics.HLF_NAMES
    for i, name in enumerate(physics.HLF_NAMES):
        ref = np.nan_to_num(cols[name], nan=0.0)  # fjcontrib: 0/0 on one-constituent groomed jets
        worst = rel_diff(ours[:, i], ref, SD_ATOL if name == "mass_mmdt" else 1e-300).max()
        assert worst <= RTOL, f"{name}: worst relative difference {worst:.2e}"


def test_two_particle_softdrop_and_zlogz():
    particles, mask = embed_jet(A_, B_)
    pair_mass = np.sqrt(2 * 300 * 100 * (np.cosh(0.25) - np.cos(0.45)))
    m, g = physics.softdrop(particles, mask, zcut=0.1)  # z = 0.25 passes
    assert float(m[0]) == pytest.approx(pair_mass, rel=REL)
    np.testing.assert_array_equal(np.asarray(g[0, :3]), [True, True, False])
    m, g = physics.softdrop(particles, mask, zcut=0.3)  # fails: keep the harder prong alone
    assert float(m[0]) == 0.0
    np.testing.assert_array_equal(np.asarray(g[0, :3]), [True, False, False])
    # beta = 2, r0 = 0.2: cut = 0.3 (0.51 / 0.2)^2 = 1.9 > z = 0.25: groomed away
    m, _ = physics.softdrop(particles, mask, zcut=0.3, beta=2.0, r0=0.2)
    assert float(m[0]) == 0.0
    m, _ = physics.softdrop(particles, mask, zcut=0.3, beta=2.0, r0=2.0)  # cut = 0.02 < 0.25: kept
    assert float(m[0]) == pytest.approx(pair_mass, rel=REL)
    zlogz = 0.75 * np.log(0.75) + 0.25 * np.log(0.25)
    assert float(physics.zlogz(particles, mask)[0]) == pytest.approx(zlogz, rel=REL)


def test_single_constituent_jets_give_zeros_not_nan():
    particles, mask = embed_jet([120.0, 0.01, 0.02])
    hlf = np.asarray(physics.hls4ml_features(particles, mask))
    assert np.all(np.isfinite(hlf))
    np.testing.assert_array_equal(hlf[0, :15], 0.0)
    assert hlf[0, 15] == 1.0
    assert float(physics.nsubjettiness(particles, mask, (1, 2, 3))[0, 0]) == 0.0


def test_multiplicity_and_override():
    particles, mask = random_jets(3)
    np.testing.assert_array_equal(np.asarray(physics.multiplicity(mask)), mask.sum(axis=1))
    hlf = np.asarray(physics.hls4ml_features(particles, mask, multiplicity=np.array([100, 101, 102])))
    np.testing.assert_array_equal(hlf[:, -1], [100, 101, 102])
    assert len(physics.HLF_NAMES) == 16 and len(set(physics.HLF_NAMES)) == 16
