"""jetkit.stats histograms: soft (kernel) histograms against their hard limits, their
differentiability, and errors on bad arguments."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jetkit import stats


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), h=st.floats(1e-3, 2.0), kernel=st.sampled_from(["gaussian", "logistic"]))
def test_soft_histogram_sums_to_total_weight(seed, h, kernel):
    rng = np.random.default_rng(seed)
    x, w = rng.normal(0.5, 1.0, 200), rng.uniform(0, 3, 200)
    edges = np.sort(rng.uniform(-1, 2, 6))
    hist = np.asarray(stats.soft_histogram(x, edges, w, bandwidth=h, kernel=kernel))
    assert np.all(hist >= -1e-5)
    assert hist.sum() == pytest.approx(w.sum(), rel=1e-4)
    no_flow = np.asarray(stats.soft_histogram(x, edges, w, bandwidth=h, kernel=kernel, flow=False))
    assert no_flow.sum() <= w.sum() * (1 + 1e-5)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), flow=st.booleans())
def test_soft_histogram_becomes_hard_histogram_as_bandwidth_goes_to_zero(seed, flow):
    rng = np.random.default_rng(seed)
    x, w = rng.uniform(-0.5, 1.5, 300), rng.uniform(0, 1, 300)
    edges = np.linspace(0, 1, 6)
    ref, _ = np.histogram(np.clip(x, 0, 1) if flow else x, edges, weights=w)
    np.testing.assert_allclose(np.asarray(stats.hard_histogram(x, edges, w, flow=flow)), ref, rtol=1e-5, atol=1e-5)
    # move points away from the edges, where the soft histogram splits them half and half
    near = np.min(np.abs(x[:, None] - edges[None, :]), axis=1) < 1e-3
    x = np.where(near, x + 2e-3, x)
    soft = np.asarray(stats.soft_histogram(x, edges, w, bandwidth=1e-5, flow=flow))
    hard = np.asarray(stats.hard_histogram(x, edges, w, flow=flow))
    np.testing.assert_allclose(soft, hard, rtol=1e-4, atol=1e-4)


def test_soft_histogram_is_differentiable_in_the_inputs():
    x = jnp.linspace(0.05, 0.95, 10)
    g = jax.jit(jax.grad(lambda x: stats.soft_histogram(x, jnp.array([0.0, 0.5, 1.0]), bandwidth=0.1)[1]))(x)
    assert np.all(np.isfinite(np.asarray(g))) and np.all(np.asarray(g) > 0)


@pytest.mark.parametrize("kwargs,match", [({"bandwidth": 0.0}, "bandwidth"), ({"bandwidth": -1.0}, "bandwidth"),
                                          ({"bandwidth": 0.1, "kernel": "box"}, "kernel")])
def test_soft_histogram_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        stats.soft_histogram(np.ones(4), np.array([0.0, 1.0]), **kwargs)


@pytest.mark.parametrize("edges", [np.array([0.0]), np.array([0.0, 1.0, 1.0]), np.array([1.0, 0.0])])
def test_bad_edges_raise(edges):
    with pytest.raises(ValueError, match="edge"):
        stats.soft_histogram(np.ones(4), edges, bandwidth=0.1)
    with pytest.raises(ValueError, match="edge"):
        stats.hard_histogram(np.ones(4), edges)


def test_weights_must_match():
    with pytest.raises(ValueError, match="weights"):
        stats.soft_histogram(np.ones(4), np.array([0.0, 1.0]), np.ones(3), bandwidth=0.1)
