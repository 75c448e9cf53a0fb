"""Kinematics: round trips, Lorentz invariance, and consistency with the shipped jets."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jetkit.physics import kinematics as K

finite = dict(allow_nan=False, allow_infinity=False)
pts = st.floats(1.0, 1000.0, **finite)
etas = st.floats(-3.0, 3.0, **finite)
phis = st.floats(-np.pi, np.pi, **finite)
masses = st.floats(0.0, 200.0, **finite)


@settings(max_examples=50, deadline=None)
@given(pts, etas, phis, masses)
def test_ptetaphim_round_trip(pt, eta, phi, m):
    p4 = np.asarray(K.ptetaphim_to_p4(np.float64(pt), eta, phi, m), dtype=np.float64)
    back = np.asarray(K.p4_to_ptetaphim(p4))
    np.testing.assert_allclose(back[:3], [pt, eta, phi], rtol=1e-4, atol=1e-4)
    # mass from E^2 - p^2 loses precision for light, energetic vectors: compare m^2 to E^2 scale
    assert abs(back[3] ** 2 - m**2) <= 1e-5 * p4[3] ** 2 + 1e-3


def test_wrap_phi_interval():
    phi = jnp.linspace(-10, 10, 1001)
    w = K.wrap_phi(phi)
    assert float(w.min()) > -np.pi and float(w.max()) <= np.pi
    np.testing.assert_allclose(np.cos(w), np.cos(phi), atol=1e-5)
    assert float(K.wrap_phi(-jnp.pi)) == pytest.approx(np.pi)


def test_delta_r_across_the_phi_boundary():
    assert float(K.delta_r(0.0, 3.1, 0.0, -3.1)) == pytest.approx(2 * np.pi - 6.2, abs=1e-6)


def test_back_to_back_pair_mass():
    p4 = K.ptetaphim_to_p4(jnp.array([100.0, 100.0]), jnp.array([0.0, 0.0]), jnp.array([0.0, np.pi]))
    assert float(K.invariant_mass(p4)) == pytest.approx(200.0, rel=1e-6)


def test_mass_ignores_masked_entries():
    p4 = K.ptetaphim_to_p4(jnp.array([50.0, 60.0, 1e6]), jnp.array([0.1, -0.2, 0.0]), jnp.array([0.0, 0.3, 1.0]))
    mask = jnp.array([True, True, False])
    assert float(K.invariant_mass(p4, mask)) == pytest.approx(float(K.invariant_mass(p4[:2])), rel=1e-6)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(pts, etas, phis), min_size=2, max_size=8),
       st.tuples(*(st.floats(-0.55, 0.55, **finite),) * 3))
def test_invariant_mass_is_boost_invariant(parts, beta):
    pt, eta, phi = (np.array(x, dtype=np.float64) for x in zip(*parts))
    p4 = np.asarray(K.ptetaphim_to_p4(pt, eta, phi), dtype=np.float64)
    boosted = np.asarray(K.boost(p4, np.array(beta)))
    m0, m1 = float(K.invariant_mass(p4)), float(K.invariant_mass(boosted))
    scale = float(p4[:, 3].sum())
    assert abs(m0**2 - m1**2) <= 1e-4 * scale**2


def test_boost_takes_rest_frame_to_velocity():
    rest = jnp.array([0.0, 0.0, 0.0, 10.0])
    moving = K.boost(rest, jnp.array([0.6, 0.0, 0.0]))
    np.testing.assert_allclose(moving, [7.5, 0.0, 0.0, 12.5], rtol=1e-6)


def test_boost_z_shifts_rapidity():
    p4 = K.ptetaphim_to_p4(jnp.array(40.0), jnp.array(0.3), jnp.array(1.0), jnp.array(5.0))
    y0 = float(K.rapidity(p4))
    assert float(K.rapidity(K.boost_z(p4, 0.7))) == pytest.approx(y0 + 0.7, abs=1e-5)


def test_relative_coordinates_round_trip():
    rel = K.relative_coordinates(jnp.array([[10.0, 5.0]]), jnp.array([[1.2, 0.9]]),
                                 jnp.array([[3.1, -3.1]]), jnp.array([1.0]), jnp.array([3.0]))
    np.testing.assert_allclose(rel[0, :, 1], [0.2, -0.1], atol=1e-6)
    np.testing.assert_allclose(rel[0, :, 2], [0.1, 2 * np.pi - 6.1], atol=1e-5)


def test_constituents_reproduce_the_stored_jets(real_jets):
    """Jets whose constituents all fit in the array: the constituent sum is the stored jet."""
    full = real_jets["n_constituents"] <= real_jets["particles"].shape[1]
    p = real_jets["particles"][full]
    mask = real_jets["mask"][full]
    jets = real_jets["jets"][full]
    assert full.sum() > 20
    kin = np.asarray(K.p4_to_ptetaphim(K.jet_p4(p, mask, jets[:, 1], jets[:, 2])))
    # particles are stored as float16 (3 significant digits): agreement at the 1 % level
    np.testing.assert_allclose(kin[:, 0], jets[:, 0], rtol=5e-3)
    np.testing.assert_allclose(kin[:, 3], jets[:, 3], rtol=2e-2, atol=0.5)


def test_particles_to_p4_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        K.particles_to_p4(np.ones((4, 2)))
    bad = np.ones((1, 3, 3))
    bad[0, 0, 0] = -1.0
    with pytest.raises(ValueError, match="negative"):
        K.particles_to_p4(bad, np.ones((1, 3), bool))
    nan = np.ones((1, 3, 3))
    nan[0, 1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        K.particles_to_p4(nan, np.ones((1, 3), bool))


@pytest.mark.parametrize("fn", [K.invariant_mass, K.p4_to_ptetaphim, K.rapidity])
def test_four_vector_functions_reject_a_wrong_last_axis(fn):
    with pytest.raises(ValueError, match=r"\(px, py, pz, E\)"):
        fn(np.ones((3, 3)))


def test_boost_and_dot_check_their_shapes():
    with pytest.raises(ValueError, match="beta"):
        K.boost(np.ones((2, 4)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="shape"):
        K.minkowski_dot(np.ones(4), np.ones(3))
    with pytest.raises(ValueError, match="n_particles, 4"):
        K.invariant_mass(np.ones(4))                       # a single vector: use p4_to_ptetaphim
    with pytest.raises(ValueError, match="mask"):
        K.invariant_mass(np.ones((2, 5, 4)), np.ones((2, 4), bool))
