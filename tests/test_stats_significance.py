"""jetkit.stats significances: the Asimov significance with and without a background uncertainty
against the closed forms of Cowan et al., its limits, gradients and errors, and the binned sum."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import SETTINGS, z_closed
from jetkit import stats


@pytest.mark.parametrize("s,b", [(10, 100), (5, 5), (100, 10), (1, 1e4), (50, 2000)])
def test_asimov_matches_closed_form(s, b):
    assert float(stats.asimov_significance(s, b)) == pytest.approx(z_closed(s, b), rel=1e-5)


@pytest.mark.parametrize("s,b,sb", [(10, 100, 5), (50, 100, 20), (30, 1000, 100), (5, 5, 1), (200, 50, 30)])
def test_asimov_with_uncertainty_matches_closed_form(s, b, sb):
    assert float(stats.asimov_significance(s, b, sb)) == pytest.approx(z_closed(s, b, sb), rel=1e-4)


@SETTINGS
@given(s=st.floats(0.01, 1e3), b=st.floats(0.1, 1e5))
def test_sigma_b_to_zero_recovers_plain_formula(s, b):
    z0 = float(stats.asimov_significance(s, b))
    # sigma_b matters once sigma_b^2 is comparable to b (s << b) or b^2 / (s + b) (s >> b)
    for sb in (1e-3 * np.sqrt(b) * min(1.0, np.sqrt(b / (s + b))), 0.0):
        assert float(stats.asimov_significance(s, b, sb)) == pytest.approx(z0, rel=1e-4, abs=1e-7)


@SETTINGS
@given(b=st.floats(10.0, 1e6), frac=st.floats(1e-6, 1e-3), rel=st.floats(0.0, 0.5))
def test_small_signal_limits(b, frac, rel):
    """s << b: Z -> s/sqrt(b + sigma_b^2), computed without cancellation in float32."""
    s, sb = frac * b, rel * b
    assert float(stats.asimov_significance(s, b, sb)) == pytest.approx(s / np.sqrt(b + sb * sb), rel=2e-3)


@SETTINGS
@given(s=st.floats(0.1, 1e3), b=st.floats(1.0, 1e4), r1=st.floats(0.0, 1.0), r2=st.floats(0.0, 1.0))
def test_uncertainty_never_helps(s, b, r1, r2):
    lo, hi = sorted((r1, r2))
    assert float(stats.asimov_significance(s, b, hi * b)) <= float(stats.asimov_significance(s, b, lo * b)) * (1 + 1e-5)


def test_significance_is_differentiable_everywhere_it_is_defined():
    g = jax.jit(jax.grad(lambda s, b: stats.asimov_significance(s, b, 0.1 * b), argnums=(0, 1)))
    for s, b in [(1e-4, 100.0), (10.0, 100.0), (1e3, 1.0)]:
        ds, db = (float(x) for x in g(s, b))
        assert np.isfinite(ds) and ds > 0 and np.isfinite(db) and db < 0
    assert np.isfinite(float(jax.grad(stats.asimov_significance)(0.0, 10.0)))


@pytest.mark.parametrize("s,b,sb,match", [(-1.0, 10.0, None, "negative signal"),
                                          (1.0, -10.0, None, "negative background"),
                                          (1.0, 0.0, None, "empty background"),
                                          ([1.0, 2.0], [3.0, 0.0], None, "empty background"),
                                          (1.0, 10.0, -1.0, "sigma_b"),
                                          (np.nan, 10.0, None, "NaN")])
def test_bad_yields_raise(s, b, sb, match):
    with pytest.raises(ValueError, match=match):
        stats.asimov_significance(s, b, sb)


def test_binned_significance_adds_bins_in_quadrature():
    s, b = np.array([1.0, 5.0, 20.0]), np.array([100.0, 50.0, 10.0])
    expected = np.sqrt(sum(z_closed(si, bi, 0.1 * bi) ** 2 for si, bi in zip(s, b)))
    assert float(stats.binned_significance(s, b, 0.1)) == pytest.approx(expected, rel=1e-4)
    assert float(stats.binned_significance(s[:1], b[:1])) == pytest.approx(z_closed(1, 100), rel=1e-5)
    with pytest.raises(ValueError, match="empty background"):
        stats.binned_significance(s, np.array([1.0, 0.0, 1.0]))
    assert np.isfinite(float(stats.binned_significance(s, np.array([1.0, 0.0, 1.0]), 0.1, b_floor=1e-3)))
    with pytest.raises(ValueError, match="rel_unc"):
        stats.binned_significance(s, b, -0.1)
    with pytest.raises(ValueError, match="same shape"):
        stats.binned_significance(s, b[:2])
