"""Sequential clustering: exclusive kT axes and the C/A history against FastJet on real jets,
invariants of the clustering tree, hand-made configurations and bad input."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from hypothesis import given, settings

from conftest import B, P, embed_jet, fastjet_events, one_jet_per_event, random_jets, reference_subset, seeds
from jetkit.physics import clustering as C

N_REF = 60  # jets per class in the FastJet comparisons


@pytest.fixture(scope="module")
def sample(real_jets):
    particles, mask = reference_subset(real_jets, N_REF)
    return particles.astype(np.float64), mask


def _pt_y_phi(px, py, pz, e):
    return np.hypot(px, py), 0.5 * np.log((e + pz) / (e - pz)), np.arctan2(py, px)


@pytest.mark.parametrize("scheme", ["E", "wta"])
def test_exclusive_axes_match_fastjet(sample, scheme):
    """The N pseudojets left by kT clustering (R = 1000) equal FastJet's exclusive_jets(N)."""
    fastjet = pytest.importorskip("fastjet")
    particles, mask = sample
    recomb = fastjet.E_scheme if scheme == "E" else fastjet.WTA_pt_scheme
    cs = fastjet.ClusterSequence(
        fastjet_events(particles, mask), fastjet.JetDefinition(fastjet.kt_algorithm, 1000.0, recomb)
    )
    with jax.enable_x64(True):
        axes = C.exclusive_axes(particles, mask, (1, 2, 3), scheme=scheme)
    for k, n in enumerate((1, 2, 3)):
        ref = cs.exclusive_jets(n_jets=n)
        for j in range(len(particles)):
            jets = ref[j]
            pt, y, phi = _pt_y_phi(*(np.array(jets[f].tolist()) for f in ("px", "py", "pz", "E")))
            valid = np.asarray(axes.valid[j, k])
            assert valid.sum() == n
            ours = np.stack([np.asarray(a[j, k])[valid] for a in (axes.pt, axes.y, axes.phi)])
            order_ref, order_ours = np.argsort(-pt), np.argsort(-ours[0])
            np.testing.assert_allclose(ours[0][order_ours], pt[order_ref], rtol=1e-9)
            np.testing.assert_allclose(ours[1][order_ours], y[order_ref], rtol=1e-9, atol=1e-9)
            dphi = np.angle(np.exp(1j * (ours[2][order_ours] - phi[order_ref])))
            np.testing.assert_allclose(dphi, 0.0, atol=1e-9)


def _primary_chain(h, j):
    """(Delta, kt) of the C/A declusterings along the harder branch of jet j (numpy)."""
    parents, pt, y, phi = (np.asarray(a[j]) for a in (h.parents, h.pt, h.y, h.phi))
    n_p = parents.shape[0] + 1
    node, out = int(h.root[j]), []
    while node >= n_p:
        c1, c2 = parents[node - n_p]
        dphi = abs(phi[c1] - phi[c2])
        delta = np.hypot(y[c1] - y[c2], min(dphi, 2 * np.pi - dphi))
        out.append((delta, min(pt[c1], pt[c2]) * delta))
        node = c1 if pt[c1] >= pt[c2] else c2
    return np.array(out).reshape(-1, 2)


def test_ca_history_matches_fastjet_lund_declusterings(sample):
    """The C/A tree followed along the harder branch reproduces FastJet's primary Lund plane
    (LundGenerator: C/A reclustering, Delta = dR of the branches, kt = softer pT x Delta)."""
    particles, mask = sample
    cs = one_jet_per_event(particles, mask)  # skips the test without fastjet
    lund = cs.exclusive_jets_lund_declusterings(njets=1)
    with jax.enable_x64(True):
        h = C.cluster_history(particles, mask)
    for j in range(len(particles)):
        ref = np.array([[d["Delta"], d["kt"]] for d in lund[j, 0].tolist()]).reshape(-1, 2)
        np.testing.assert_allclose(_primary_chain(h, j), ref, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------------------------------------
# properties on random jets (float32, one (B, P) shape so each program compiles once)
# ------------------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(seeds)
def test_history_is_a_binary_tree_over_the_constituents(seed):
    particles, mask = random_jets(seed)
    h = C.cluster_history(particles, mask)
    members, parents = np.asarray(h.members), np.asarray(h.parents)
    for j in range(B):
        n = mask[j].sum()
        root = int(h.root[j])
        np.testing.assert_array_equal(members[j, root], mask[j])
        assert np.all(parents[j, : n - 1] >= 0) and np.all(parents[j, n - 1 :] == -1)
        used = parents[j, : n - 1].ravel()
        assert len(set(used.tolist())) == len(used)  # every node is merged at most once
        for t in range(n - 1):
            a, b = parents[j, t]
            assert a < P + t and b < P + t  # parents exist before their child
            assert not np.any(members[j, a] & members[j, b])
            np.testing.assert_array_equal(members[j, P + t], members[j, a] | members[j, b])


@settings(max_examples=25, deadline=None)
@given(seeds)
def test_exclusive_axes_do_not_depend_on_constituent_order(seed):
    particles, mask = random_jets(seed)
    perm = np.random.default_rng(seed + 1).permuted(np.tile(np.arange(P), (B, 1)), axis=1)
    a1 = C.exclusive_axes(particles, mask, (1, 2, 3))
    p2, m2 = np.take_along_axis(particles, perm[..., None], 1), np.take_along_axis(mask, perm, 1)
    a2 = C.exclusive_axes(p2, m2, (1, 2, 3))
    for j in range(B):
        for k in range(3):
            s1 = np.sort(np.asarray(a1.pt[j, k])[np.asarray(a1.valid[j, k])])
            s2 = np.sort(np.asarray(a2.pt[j, k])[np.asarray(a2.valid[j, k])])
            np.testing.assert_allclose(s1, s2, rtol=1e-5)
            assert len(s1) == min(k + 1, mask[j].sum())


@settings(max_examples=25, deadline=None)
@given(seeds)
def test_wta_axes_are_constituent_directions_and_nested(seed):
    particles, mask = random_jets(seed)
    axes = C.exclusive_axes(particles, mask, (1, 2, 3), scheme="wta")
    pt_sum = np.where(mask, particles[..., 0], 0).sum(axis=1)
    for j in range(B):
        dirs = {(float(e), float(f)) for e, f in particles[j, mask[j], 1:]}
        sets = []
        for k in range(3):
            v = np.asarray(axes.valid[j, k])
            ys, phis = np.asarray(axes.y[j, k])[v], np.asarray(axes.phi[j, k])[v]
            sets.append({(float(e), float(f)) for e, f in zip(ys, phis)})
            assert sets[-1] <= dirs
            assert float(np.asarray(axes.pt[j, k])[v].sum()) == pytest.approx(pt_sum[j], rel=1e-5)
        assert sets[0] <= sets[1] <= sets[2]


def test_kt_merges_the_pair_with_smallest_kt_distance_first():
    # (pT [GeV], eta, phi): d_12 = min(pT^2) dR^2 = 10^2 * 0.5^2 = 25 < d_13 = 36 < d_23 = 121
    rows = [[100.0, 0.0, 0.0], [10.0, 0.5, 0.0], [10.0, -0.6, 0.0]]
    particles, mask = embed_jet(*rows)
    axes = C.exclusive_axes(particles, mask, 2)
    v = np.asarray(axes.valid[0])
    np.testing.assert_array_equal(v[:3], [True, False, True])  # 1 and 2 merged into slot 0
    assert float(axes.pt[0, 0]) == pytest.approx(110.0, rel=1e-4)
    # C/A ignores pT: the closest pair in angle is (1, 2) at dR = 0.5 vs (1, 3) at 0.6
    h = C.cluster_history(particles, mask)
    np.testing.assert_array_equal(np.asarray(h.parents[0, 0]), [0, 1])
    np.testing.assert_array_equal(np.asarray(h.parents[0, 1]), [P, 2])


def test_fastjet_rapidity_of_massless_and_massive_vectors():
    p4 = np.array([[3.0, 4.0, 12.0, 13.0], [1.0, 0.0, -2.0, 3.0], [0.0, 0.0, 0.0, 0.0]])
    y = np.asarray(C.fastjet_rapidity(p4))
    e, pz = p4[:2, 3], p4[:2, 2]
    np.testing.assert_allclose(y[:2], 0.5 * np.log((e + pz) / (e - pz)), rtol=1e-6)
    assert y[2] == 0.0


def test_runs_under_jit():
    particles, mask = random_jets(1)
    f = jax.jit(lambda p, m: C.exclusive_axes(p, m, (1, 2, 3)).pt)
    want = np.asarray(C.exclusive_axes(particles, mask).pt)
    np.testing.assert_allclose(np.asarray(f(particles, mask)), want)


@pytest.mark.parametrize(
    "call",
    [
        lambda p, m: C.exclusive_axes(p, m, 0),
        lambda p, m: C.exclusive_axes(p, m, (1, 2), scheme="pt2"),
        lambda p, m: C.cluster_history(p, m, scheme="bogus"),
        lambda p, m: C.exclusive_axes(p[..., :2], m),
        lambda p, m: C.cluster_history(np.where(np.isfinite(p), np.nan, p), m),
        lambda p, m: C.cluster_history(p, np.zeros_like(m)),
    ],
)
def test_bad_input_raises(call):
    particles, mask = random_jets(2)
    with pytest.raises(ValueError):
        call(particles, mask)
