"""The pyhf export: the spec has pyhf's structure, and pyhf's q0 of it equals jetkit's."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jetkit.stats import histfactory, likelihood

pyhf = pytest.importorskip("pyhf")


def _model(seed: int, k: int = 4):
    rng = np.random.default_rng(seed)
    b = rng.uniform(15.0, 400.0, k)
    return likelihood.binned_model(rng.uniform(1.0, 30.0, k), b, histo_down=b * rng.uniform(0.8, 1.0, k),
                                   histo_up=b * rng.uniform(1.0, 1.25, k), norm_lo=[0.85], norm_hi=[1.15])


def test_spec_is_a_valid_pyhf_model_with_the_right_modifiers():
    with jax.enable_x64(True):
        m = _model(0)
        spec = histfactory.pyhf_spec(m)
    pyhf.schema.validate({"channels": spec["channels"], "observations": [{"name": "analysis", "data": [1.0] * 4}],
                          "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
                          "version": "1.0.0"}, "workspace.json")
    pdf = pyhf.Model(spec, poi_name="mu")
    assert set(pdf.config.par_order) == {"mu", "shape_0", "norm_0"}
    np.testing.assert_allclose(pdf.expected_actualdata(pdf.config.suggested_init()), m.signal + m.background)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pyhf_q0_equals_jetkits(seed):
    with jax.enable_x64(True):
        m = _model(seed)
        asimov = np.asarray(m.signal + m.background)
        observed = np.random.default_rng(seed).poisson(asimov).astype(np.float64)
        for n in (asimov, observed):
            ours = float(likelihood.q0(m, n))
            theirs = histfactory.pyhf_q0(m, n)
            assert ours == pytest.approx(theirs, rel=1e-6, abs=1e-9)


def test_pyhf_q0_checks_the_data_and_restores_the_backend():
    m = _model(4)
    before = pyhf.get_backend()
    with pytest.raises(ValueError, match="one count per bin"):
        histfactory.pyhf_q0(m, np.ones(3))
    histfactory.pyhf_q0(m, np.asarray(m.signal + m.background))
    assert type(pyhf.get_backend()[1]) is type(before[1])
