"""Jet augmentations for contrastive learning (jetkit.physics.augmentations, JetCLR arXiv:2108.04253):
symmetries (rotation, translation), IRC safety (collinear splitting conserves the jet four-vector,
soft particles change pT and mass by a bounded amount), padding, keys, jit, errors, real jets."""

from __future__ import annotations

from functools import partial

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jetkit import data
from jetkit.physics import augmentations as aug
from jetkit.physics.kinematics import jet_p4

N, P = 4, 16  # one shape, so each jitted function compiles once
SETTINGS = settings(max_examples=20, deadline=None)
seeds = st.integers(0, 2**32 - 1)

FUNCTIONS = {
    "rotate": aug.rotate,
    "translate": partial(aug.translate, width=0.2),
    "collinear_split": partial(aug.collinear_split, n_split=3),
    "add_soft": partial(aug.add_soft, n_soft=3, pt_max=1.0),
    "smear_pt": partial(aug.smear_pt, resolution=0.2),
    "augment": partial(aug.augment, n_soft=2, resolution=0.1),
}


def make_jets(seed: int, n_min: int = 1, n_max: int = P):
    """N jets of n_min..n_max constituents: pT [GeV] exponential (a hard core plus soft ones),
    collimated (d_eta, d_phi) within R = 0.8, sorted by pT descending, zero-padded (float32)."""
    rng = np.random.default_rng(seed)
    n = rng.integers(n_min, n_max + 1, size=N)
    mask = np.arange(P)[None, :] < n[:, None]
    pt = -np.sort(-(rng.exponential(30.0, size=(N, P)) + 0.5), axis=1)
    ang = np.clip(rng.normal(0.0, 0.15, size=(N, P, 2)), -0.7, 0.7)
    particles = np.concatenate([pt[..., None], ang], axis=-1)
    return np.where(mask[..., None], particles, 0.0).astype(np.float32), mask


def p4(particles, mask):
    """Jet four-vectors (N, 4) = (px, py, pz, E) [GeV] of massless constituents, in float64."""
    p = np.asarray(particles, np.float64)
    pt = np.where(mask, p[..., 0], 0.0)
    eta, phi = p[..., 1], p[..., 2]
    v = np.stack([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), pt * np.cosh(eta)], axis=-1)
    return v.sum(axis=1)


def mass2(v):
    return v[..., 3] ** 2 - np.sum(v[..., :3] ** 2, axis=-1)


def pair_dr(particles, mask, j):
    """All pairwise Delta R of the constituents of jet j (flat plane)."""
    xy = np.asarray(particles, np.float64)[j, np.asarray(mask)[j], 1:]
    return np.linalg.norm(xy[:, None] - xy[None], axis=-1)


def assert_well_formed(q, qm):
    """Padded entries exactly 0, mask == pT > 0, real constituents first and sorted by pT."""
    q, qm = np.asarray(q), np.asarray(qm)
    assert q.shape == qm.shape + (3,) and qm.dtype == bool
    assert np.all(q[~qm] == 0.0)
    np.testing.assert_array_equal(qm, q[..., 0] > 0)
    np.testing.assert_array_equal(qm, np.arange(qm.shape[1])[None] < qm.sum(1, keepdims=True))
    assert np.all(np.diff(q[..., 0], axis=1) <= 0)
    assert np.all(np.isfinite(q))


@SETTINGS
@given(seed=seeds)
def test_rotation_preserves_pt_and_distances(seed):
    p, m = make_jets(seed)
    q, qm = aug.rotate(jax.random.key(seed), p, m)
    q = np.asarray(q)
    np.testing.assert_array_equal(qm, m)
    np.testing.assert_array_equal(q[..., 0], p[..., 0])
    np.testing.assert_allclose(np.hypot(q[..., 1], q[..., 2]), np.hypot(p[..., 1], p[..., 2]), atol=1e-6)
    for j in range(N):
        np.testing.assert_allclose(pair_dr(q, qm, j), pair_dr(p, m, j), atol=2e-6)
    # a rotation (not a reflection): one angle per jet, read off its farthest constituent
    far = np.argmax(np.where(m, np.hypot(p[..., 1], p[..., 2]), -1.0), axis=1)[:, None]
    zp, zq = p[..., 1] + 1j * p[..., 2], q[..., 1] + 1j * q[..., 2]
    turn = np.take_along_axis(zq, far, 1) / np.take_along_axis(zp, far, 1)
    np.testing.assert_allclose(np.where(m, zp * turn / np.abs(turn), 0.0), zq, atol=2e-6)


@SETTINGS
@given(seed=seeds)
def test_translation_is_a_common_shift(seed):
    p, m = make_jets(seed)
    q, qm = aug.translate(jax.random.key(seed), p, m, width=0.3)
    q = np.asarray(q)
    np.testing.assert_array_equal(qm, m)
    np.testing.assert_array_equal(q[..., 0], p[..., 0])
    shift = q[..., 1:] - p[..., 1:]
    np.testing.assert_allclose(np.where(m[..., None], shift - shift[:, :1], 0.0), 0.0, atol=1e-6)
    assert np.all(np.abs(shift[:, 0]) > 0)
    for j in range(N):
        np.testing.assert_allclose(pair_dr(q, qm, j), pair_dr(p, m, j), atol=2e-6)


def test_translation_width_is_the_standard_deviation():
    p = np.tile(np.array([[[100.0, 0.0, 0.0]]], np.float32), (4000, 1, 1))
    q, _ = aug.translate(jax.random.key(1), p, None, width=0.25)
    std = np.asarray(q)[:, 0, 1:].std(axis=0)
    np.testing.assert_allclose(std, 0.25, rtol=0.06)


@SETTINGS
@given(seed=seeds, n_split=st.integers(1, 20))
def test_collinear_split_conserves_the_jet(seed, n_split):
    p, m = make_jets(seed)
    q, qm = aug.collinear_split(jax.random.key(seed), p, m, n_split=n_split)
    assert_well_formed(q, qm)
    q = np.asarray(q, np.float64)
    n = m.sum(1)
    np.testing.assert_array_equal(qm.sum(1), n + np.minimum(np.minimum(n_split, n), P - n))
    before, after = p4(p, m), p4(q, qm)
    np.testing.assert_allclose(after, before, atol=2e-6 * before[:, 3:].max())
    np.testing.assert_allclose(q[..., 0].sum(1), p[..., 0].sum(1), rtol=1e-6)
    centroid = lambda x: (x[..., :1] * x[..., 1:]).sum(1) / x[..., 0].sum(1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(centroid(q), centroid(p.astype(np.float64)), atol=1e-6)
    for j in range(N):  # every new constituent sits exactly where an old one was
        old = {tuple(r) for r in p[j, m[j], 1:]}
        assert {tuple(r) for r in q[j, np.asarray(qm)[j], 1:].astype(np.float32)} == old


@SETTINGS
@given(seed=seeds, n_soft=st.integers(1, 6), pt_max=st.floats(0.01, 5.0))
def test_soft_particles_change_pt_and_mass_a_little(seed, n_soft, pt_max):
    p, m = make_jets(seed)
    q, qm = aug.add_soft(jax.random.key(seed), p, m, n_soft=n_soft, pt_max=pt_max)
    assert_well_formed(q, qm)
    q = np.asarray(q, np.float64)
    n, k = m.sum(1), np.minimum(n_soft, P - m.sum(1))
    np.testing.assert_array_equal(qm.sum(1), n + k)
    added = q[..., 0].sum(1) - p[..., 0].sum(1)  # scalar pT of the soft particles [GeV]
    assert np.all(added <= k * pt_max * (1 + 1e-5) + 1e-4) and np.all(added[k > 0] > 0)
    before, after = p4(p, m), p4(q, qm)
    d_pt = np.abs(np.hypot(after[:, 0], after[:, 1]) - np.hypot(before[:, 0], before[:, 1]))
    assert np.all(d_pt <= n_soft * pt_max + 1e-4)
    # massless soft particles never lower the mass, and raise m^2 by at most
    # 2 S sum_i pT_i (cosh d - 1) + S^2 (cosh 2R - 1), d = max_i dR_i + R (p_i.k <= pT_i pT_k (cosh dR - 1))
    d = np.max(np.where(m, np.hypot(p[..., 1], p[..., 2]), 0.0), axis=1) + aug.JET_RADIUS
    bound = 2 * added * p[..., 0].sum(1) * (np.cosh(d) - 1) + added**2 * (np.cosh(2 * aug.JET_RADIUS) - 1)
    dm2 = mass2(after) - mass2(before)
    tol = 1e-5 * before[:, 3] ** 2
    assert np.all(dm2 >= -tol) and np.all(dm2 <= bound + tol)
    # the soft particles are the new constituents, inside the jet radius
    for j in range(N):
        old = {tuple(r) for r in p[j, m[j]]}
        new = [r for r in np.asarray(q[j, np.asarray(qm)[j]], np.float32) if tuple(r) not in old]
        assert len(new) == k[j]
        assert all(0 < r[0] <= pt_max * (1 + 1e-6) and np.hypot(r[1], r[2]) <= aug.JET_RADIUS + 1e-6 for r in new)


@SETTINGS
@given(seed=seeds, resolution=st.floats(0.01, 3.0))
def test_smearing_keeps_positions_and_positive_pt(seed, resolution):
    p, m = make_jets(seed)
    q, qm = aug.smear_pt(jax.random.key(seed), p, m, resolution=resolution)
    assert_well_formed(q, qm)
    q = np.asarray(q)
    np.testing.assert_array_equal(qm.sum(1), m.sum(1))
    assert np.all(q[..., 0][np.asarray(qm)] > 0)
    for j in range(N):
        assert sorted(map(tuple, q[j, np.asarray(qm)[j], 1:])) == sorted(map(tuple, p[j, m[j], 1:]))


def test_smearing_factor_is_lognormal_with_mean_one():
    p = np.tile(np.array([[[50.0, 0.1, -0.1]]], np.float32), (4000, 1, 1))
    q, _ = aug.smear_pt(jax.random.key(2), p, None, resolution=0.2)
    f = np.asarray(q)[:, 0, 0] / 50.0
    np.testing.assert_allclose(f.mean(), 1.0, atol=0.015)
    np.testing.assert_allclose(np.log(f).std(), 0.2, rtol=0.05)


@SETTINGS
@given(seed=seeds, name=st.sampled_from(sorted(FUNCTIONS)))
def test_every_function_keeps_padding_zero_and_the_mask_consistent(seed, name):
    p, m = make_jets(seed)
    p = np.where(m[..., None], p, 7.0).astype(np.float32)  # garbage under the mask must not leak
    q, qm = FUNCTIONS[name](jax.random.key(seed), p, m)
    assert_well_formed(q, qm)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_keys_decide_the_output(name):
    p, m = make_jets(3, n_max=P - 4)  # free slots, so splitting and soft particles happen
    fn = FUNCTIONS[name]
    a, am = fn(jax.random.key(5), p, m)
    b, bm = fn(jax.random.key(5), p, m)
    c, _ = fn(jax.random.key(6), p, m)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(am, bm)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, p)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_jit_matches_eager(name):
    p, m = make_jets(4, n_max=P - 4)
    fn = FUNCTIONS[name]
    key = jax.random.key(9)
    jitted, jm = jax.jit(fn)(key, p, m)  # traced inputs: shape checks only
    runs = [fn(key, p, m)]  # concrete inputs: full checks, then the compiled core
    if name == "rotate":  # op by op (each op compiles on its own: too slow for the longer ones)
        with jax.disable_jit():
            runs.append(fn(key, p, m))
    for eager, em in runs:
        np.testing.assert_array_equal(jm, em)
        np.testing.assert_allclose(jitted, eager, rtol=1e-5, atol=1e-6)


def test_parameters_may_be_traced():
    p, m = make_jets(8, n_max=P - 4)
    key = jax.random.key(3)

    def view(k, x, mask, width, sigma):
        return aug.augment(k, x, mask, width=width, resolution=sigma, pt_max=2 * sigma)

    traced, tm = jax.jit(view)(key, p, m, 0.2, 0.3)
    eager, em = view(key, p, m, 0.2, 0.3)
    np.testing.assert_array_equal(tm, em)
    np.testing.assert_allclose(traced, eager, rtol=1e-5, atol=1e-6)


def test_augment_switches():
    p, m = make_jets(7, n_max=P - 4)
    key = jax.random.key(0)
    off = dict(rotation=False, width=0.0, n_split=0, n_soft=0, resolution=0.0)
    q, qm = aug.augment(key, p, m, **off)
    np.testing.assert_array_equal(q, p)
    np.testing.assert_array_equal(qm, m)
    q, qm = aug.augment(key, p, m, **{**off, "n_split": 4})  # only IRC-safe splitting: same jet
    np.testing.assert_allclose(p4(q, qm), p4(p, m), atol=1e-3)
    assert np.all(qm.sum(1) == m.sum(1) + 4)
    q, qm = aug.augment(key, p, m, n_split=4, n_soft=3, pt_max=0.5)  # the default recipe plus soft
    assert_well_formed(q, qm)
    assert np.all(np.asarray(qm).sum(1) == m.sum(1) + 4 + np.minimum(3, P - m.sum(1) - 4))
    added = np.asarray(q)[..., 0].sum(1) - p[..., 0].sum(1)
    assert np.all(added > 0) and np.all(added <= 3 * 0.5 + 1e-3)


@pytest.mark.parametrize(
    "call",
    [
        lambda k, p, m: aug.rotate(k, p[..., :2], m),  # not (pT, d_eta, d_phi)
        lambda k, p, m: aug.rotate(k, p[0], m[0]),  # no batch axis
        lambda k, p, m: aug.translate(k, p, m[:, :-1]),  # mask does not fit
        lambda k, p, m: aug.smear_pt(k, np.where(m[..., None], np.nan, p), m),  # NaN
        lambda k, p, m: aug.rotate(k, np.where(m[..., None], -p, p), m),  # negative pT
        lambda k, p, m: aug.translate(k, p, m, width=0.0),
        lambda k, p, m: aug.translate(k, p, m, width=float("inf")),
        lambda k, p, m: aug.translate(k, p, m, width=np.ones(3)),
        lambda k, p, m: aug.collinear_split(k, p, m, n_split=0),
        lambda k, p, m: aug.collinear_split(k, p, m, n_split=1.5),
        lambda k, p, m: aug.add_soft(k, p, m, n_soft=-1),
        lambda k, p, m: aug.add_soft(k, p, m, pt_max=0.0),
        lambda k, p, m: aug.add_soft(k, p, m, radius=-0.8),
        lambda k, p, m: aug.smear_pt(k, p, m, resolution=0.0),
        lambda k, p, m: aug.augment(k, p, m, width=-0.1),
        lambda k, p, m: aug.augment(k, p, m, n_soft=True),
        lambda k, p, m: aug.augment(k, p, m, resolution=float("nan")),
    ],
)
def test_bad_input_raises(call):
    p, m = make_jets(0)
    with pytest.raises(ValueError):
        call(jax.random.key(0), p, m)


# ------------------------------------------------------------------------------------------------
# real Pythia jets
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real():
    d = data.load("top_qcd")
    return d.particles[:16], d.mask[:16]


def test_real_jets_rotation_and_splitting(real):
    p, m = real
    key = jax.random.key(11)
    q, qm = aug.rotate(key, p, m)
    for j in range(0, 16, 5):
        np.testing.assert_allclose(pair_dr(q, qm, j), pair_dr(p, m, j), atol=1e-5)
    q, qm = aug.collinear_split(key, p, m, n_split=8)
    n = m.sum(1)
    np.testing.assert_array_equal(np.asarray(qm).sum(1), n + np.minimum(np.minimum(8, n), 64 - n))
    full = n == p.shape[1]  # no free slot: the jet is returned as it was
    assert full.any() and (~full).any()
    np.testing.assert_array_equal(np.asarray(q)[full], p[full])
    before, after = p4(p, m), p4(q, qm)
    np.testing.assert_allclose(np.asarray(jet_p4(p, m)), before, rtol=1e-5, atol=1e-3)  # = jetkit's jet_p4
    np.testing.assert_allclose(after, before, atol=1e-6 * before[:, 3].max())
    np.testing.assert_allclose(np.sqrt(mass2(after)), np.sqrt(mass2(before)), rtol=1e-4)


def test_real_jets_soft_particles_shift_the_mass_a_little(real):
    p, m = real
    key = jax.random.key(12)
    q, qm = aug.add_soft(key, p, m, n_soft=4, pt_max=0.1)
    m0, m1 = np.sqrt(mass2(p4(p, m))), np.sqrt(mass2(p4(q, qm)))
    assert np.all(m1 >= m0 - 1e-3)
    assert np.all(m1 - m0 < 0.05 * m0)  # 0.4 GeV of soft pT in a 600 GeV jet: < 5% of its mass
    v, vm = aug.augment(key, p, m)  # the default recipe (4 soft particles of <= 1 GeV)
    assert_well_formed(v, vm)
    added = np.asarray(v)[..., 0].sum(1) - p[..., 0].sum(1)
    assert np.all(added >= -1e-2) and np.all(added <= 4 * 1.0 + 1e-2)
