"""Energy correlation functions: e2 at beta = 0 and the ranges of zlogz and the hls4ml features on
random jets, e3, ecfg, C2, D2, M2, N2 and D2^(alpha, beta) in closed form on a three-particle jet,
and jit/vmap. (Agreement with fjcontrib: tests/test_substructure_observables.py.)"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from hypothesis import given, settings

from conftest import A_, B_, C_, REL, delta_r, embed_jet, random_jets, seeds
from jetkit import physics


@settings(max_examples=25, deadline=None)
@given(seeds)
def test_e2_beta0_and_ranges(seed):
    particles, mask = random_jets(seed)
    z = np.where(mask, particles[..., 0], 0.0)
    z = z / z.sum(axis=1, keepdims=True)
    want = (1 - np.sum(z**2, 1)) / 2
    np.testing.assert_allclose(np.asarray(physics.ecf(particles, mask, 2, 0.0)), want, rtol=1e-5)
    zl = np.asarray(physics.zlogz(particles, mask))
    assert np.all(zl <= 0) and np.all(zl >= -np.log(mask.sum(1)) - 1e-5)
    hlf = np.asarray(physics.hls4ml_features(particles, mask))
    assert np.all(np.isfinite(hlf)) and np.all(hlf[:, 1:15] >= 0)


@pytest.mark.parametrize("beta", [1.0, 2.0])
def test_three_particle_closed_forms(beta):
    particles, mask = embed_jet(A_, B_, C_)
    z = np.array([300, 100, 50]) / 450
    d1 = np.array([delta_r(A_, B_), delta_r(A_, C_), delta_r(B_, C_)])
    d = d1**beta
    w = z.prod()
    e2 = z[0] * z[1] * d[0] + z[0] * z[2] * d[1] + z[1] * z[2] * d[2]
    e3, e3_1, e3_2 = w * d.prod(), w * d.min(), w * np.sort(d)[:2].prod()
    got = {
        "e3": physics.ecf(particles, mask, 3, beta), "1e3": physics.ecfg(particles, mask, 1, 3, beta),
        "2e3": physics.ecfg(particles, mask, 2, 3, beta), "3e3": physics.ecfg(particles, mask, 3, 3, beta),
        "c2": physics.c2(particles, mask, beta), "d2": physics.d2(particles, mask, beta),
        "m2": physics.m2(particles, mask, beta), "n2": physics.n2(particles, mask, beta),
        "d2ab": physics.d2_alpha_beta(particles, mask, 1.0, beta),
    }
    want = {"e3": e3, "1e3": e3_1, "2e3": e3_2, "3e3": e3, "c2": e3 / e2**2, "d2": e3 / e2**3,
            "m2": e3_1 / e2, "n2": e3_2 / e2**2, "d2ab": w * d1.prod() / e2 ** (3 / beta)}
    for key, value in want.items():
        assert float(got[key][0]) == pytest.approx(value, rel=REL), key


def test_functions_run_under_jit_and_vmap():
    particles, mask = random_jets(5)
    want = np.asarray(physics.ecf(particles, mask, 2, 1.0))
    jitted = jax.jit(lambda p, m: physics.ecf(p, m, 2))(particles, mask)
    np.testing.assert_allclose(np.asarray(jitted), want, rtol=1e-6)
    per_jet = jax.vmap(lambda p, m: physics.ecf(p[None], m[None], 2)[0])(particles, mask)
    np.testing.assert_allclose(np.asarray(per_jet), want, rtol=1e-6)
