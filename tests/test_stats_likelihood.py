"""jetkit.stats likelihood: the HistFactory-style binned likelihood against pyhf 0.7.6 (numpy
backend; its default interpolation codes, code4p for histosys and code4 for normsys), against
scipy minimisation and finite differences, under jit and float32, and its errors on bad input.

The random models come in a few fixed shapes (bins, histosys, normsys), so that the compiled fits
are reused and the file stays fast."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pyhf
import pytest
import scipy.optimize
from hypothesis import given, settings
from hypothesis import strategies as st

from jetkit import stats
from jetkit.stats import likelihood as lk

SHAPES = [(3, 1, 0), (6, 3, 1)]  # (K bins, H histosys, N normsys)


def random_config(seed: int, shape=None) -> dict:
    """Yields of a random model as numpy float64 (s < b everywhere, so mu >= -0.5 keeps nu > 0):
    variations of 3-20% per bin (and per normalisation), up above and down below the nominal,
    asymmetric by up to a factor 2 (a stronger asymmetry makes the polynomial interpolations
    non-monotonic and the likelihood multimodal: then no two minimisers need agree)."""
    rng = np.random.default_rng(seed)
    k, h, n = shape or SHAPES[seed % len(SHAPES)]
    b = rng.uniform(20.0, 120.0, k)
    size, norm = rng.uniform(0.03, 0.2, (h, k)), rng.uniform(0.03, 0.2, n)
    asym = lambda shape: rng.uniform(0.7, 1.4, shape)  # noqa: E731
    return {"signal": rng.uniform(1.0, 15.0, k), "background": b,
            "histo_down": b * (1 - size * asym((h, k))), "histo_up": b * (1 + size * asym((h, k))),
            "norm_lo": 1 - norm * asym(n), "norm_hi": 1 + norm * asym(n)}


def same_side_config() -> dict:
    """A non-convex case: some up and down variations on the same side of the nominal. From
    alpha = 0 a plain (damped) Newton fit of its Asimov data at mu = 0 stops at a saddle point."""
    rng = np.random.default_rng(8030)
    b = rng.uniform(20.0, 120.0, 6)
    return {"signal": rng.uniform(1.0, 15.0, 6), "background": b, "histo_down": b * rng.uniform(0.75, 1.05, (3, 6)),
            "histo_up": b * rng.uniform(0.95, 1.3, (3, 6)), "norm_lo": rng.uniform(0.8, 0.97, 1),
            "norm_hi": rng.uniform(1.03, 1.25, 1)}


def model_of(cfg: dict) -> lk.BinnedModel:
    return lk.binned_model(cfg["signal"], cfg["background"], histo_down=cfg["histo_down"],
                           histo_up=cfg["histo_up"], norm_lo=cfg["norm_lo"], norm_hi=cfg["norm_hi"])


def pyhf_model(cfg: dict) -> pyhf.Model:
    """The same model in pyhf (default modifier settings of pyhf.Model)."""
    mods = [{"name": f"hs{j}", "type": "histosys",
             "data": {"hi_data": cfg["histo_up"][j].tolist(), "lo_data": cfg["histo_down"][j].tolist()}}
            for j in range(len(cfg["histo_up"]))]
    mods += [{"name": f"ns{j}", "type": "normsys", "data": {"hi": float(hi), "lo": float(lo)}}
             for j, (lo, hi) in enumerate(zip(cfg["norm_lo"], cfg["norm_hi"]))]
    samples = [{"name": "signal", "data": cfg["signal"].tolist(),
                "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
               {"name": "background", "data": cfg["background"].tolist(), "modifiers": mods}]
    return pyhf.Model({"channels": [{"name": "ch", "samples": samples}]}, poi_name="mu")


def pyhf_pars(model: pyhf.Model, cfg: dict, mu: float, alphas) -> np.ndarray:
    """pyhf's parameter vector for jetkit's (mu, alphas = histosys..., normsys...)."""
    h = len(cfg["histo_up"])
    pars = np.asarray(model.config.suggested_init(), dtype=np.float64)
    pars[model.config.par_slice("mu")] = mu
    names = [f"hs{j}" for j in range(h)] + [f"ns{j}" for j in range(len(cfg["norm_lo"]))]
    for name, a in zip(names, alphas):
        pars[model.config.par_slice(name)] = a
    return pars


#: Z_A and its gradient in the model (eagerly: it reuses the compiled fits); the second argument is b_floor
Z_AND_GRAD = jax.value_and_grad(lambda m, floor: lk.asimov_discovery_significance(m, b_floor=floor))
Z_AND_GRAD_JIT = jax.jit(Z_AND_GRAD)  # a training step compiles this; used in float32


@pytest.fixture(scope="module")
def precise_pyhf():
    """pyhf's numpy backend with a tight scipy (SLSQP) tolerance; restored afterwards."""
    previous = pyhf.get_backend()
    pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer(tolerance=1e-14))
    yield
    pyhf.set_backend(*previous)


# ------------------------------------------------------------------------------ interpolation


def test_interpolation_returns_the_given_histograms_at_minus_one_zero_one():
    rng = np.random.default_rng(0)
    nominal = rng.uniform(10, 100, 7).astype(np.float32)
    down, up = nominal * rng.uniform(0.7, 1.0, (3, 7)), nominal * rng.uniform(1.0, 1.4, (3, 7))
    down, up = down.astype(np.float32), up.astype(np.float32)
    for alpha, want in ((-1.0, down[0]), (0.0, nominal), (1.0, up[0])):
        np.testing.assert_array_equal(np.asarray(lk.histosys_interpolation(alpha, down[0], nominal, up[0])), want)
    rows = np.asarray(lk.histosys_interpolation(jnp.array([-1.0, 0.0, 1.0]), down, nominal, up))
    np.testing.assert_array_equal(rows, np.stack([down[0], nominal, up[2]]))
    # linear beyond +-1 sigma (code4p)
    np.testing.assert_allclose(np.asarray(lk.histosys_interpolation(2.5, down[1], nominal, up[1])),
                               nominal + 2.5 * (up[1] - nominal), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(lk.histosys_interpolation(-3.0, down[1], nominal, up[1])),
                               nominal - 3.0 * (nominal - down[1]), rtol=1e-6)
    lo, hi = np.float32([0.85, 0.9]), np.float32([1.1, 1.3])
    for alpha, want in ((-1.0, lo), (0.0, np.ones(2, np.float32)), (1.0, hi)):
        np.testing.assert_array_equal(np.asarray(lk.normsys_factor(alpha, lo, hi)), want)
    # exponential beyond +-1 sigma (code4)
    np.testing.assert_allclose(np.asarray(lk.normsys_factor(2.0, lo, hi)), hi**2, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(lk.normsys_factor(-1.5, lo, hi)), lo**1.5, rtol=1e-6)


def _derivatives(f):
    """a -> (f, f', f'') of a scalar function, compiled once."""
    return jax.jit(lambda a, *args: jnp.stack([g(a, *args) for g in (f, jax.grad(f), jax.grad(jax.grad(f)))]))


_NORMSYS_DERIVATIVES = _derivatives(lambda a, lo, hi: lk.normsys_factor(a, lo, hi))
_HISTOSYS_DERIVATIVES = _derivatives(lambda a, down, up: lk.histosys_interpolation(a, down[None], 1.0, up[None])[0])


@settings(max_examples=15, deadline=None)
@given(lo=st.floats(0.5, 0.99), hi=st.floats(1.01, 2.0), down=st.floats(0.5, 1.5), up=st.floats(0.5, 1.5))
def test_interpolations_are_twice_continuously_differentiable(lo, hi, down, up):
    """code4 and code4p join their outer branches at +-1 with equal value, slope and curvature."""
    with jax.enable_x64(True):
        for derivatives, args in ((_NORMSYS_DERIVATIVES, (lo, hi)), (_HISTOSYS_DERIVATIVES, (down, up))):
            for edge in (-1.0, 1.0):
                inner, outer = (derivatives(edge * (1 + eps), *map(jnp.float64, args)) for eps in (-1e-7, 1e-7))
                np.testing.assert_allclose(np.asarray(inner), np.asarray(outer), rtol=1e-5, atol=1e-5)


def test_expected_counts_and_nll_equal_pyhf_everywhere():
    """Expected counts and -log L agree with pyhf at random parameters on all branches (|alpha| > 1
    too), including pyhf's constants (continuous Poisson, Gaussian constraints)."""
    with jax.enable_x64(True):
        for seed in range(4):
            cfg = random_config(seed)
            model, pm = model_of(cfg), pyhf_model(cfg)
            rng = np.random.default_rng(100 + seed)
            observed = rng.poisson(cfg["signal"] + cfg["background"]).astype(np.float64)
            data = np.concatenate([observed, pm.config.auxdata])
            for _ in range(3):
                mu, alphas = rng.uniform(0, 2), rng.uniform(-2.5, 2.5, model.n_nuisances)
                pars = pyhf_pars(pm, cfg, mu, alphas)
                np.testing.assert_allclose(np.asarray(lk.expected_counts(model, mu, alphas)),
                                           pm.expected_actualdata(pars), rtol=1e-12)
                assert float(lk.nll(model, mu, alphas, observed)) == pytest.approx(
                    -float(pm.logpdf(pars, data)[0]), rel=1e-12)


# ------------------------------------------------------------------------------ fits


def test_profiling_finds_the_scipy_minimum():
    """alpha_hat(mu) of the damped Newton fit = scipy's minimum of pyhf's NLL at the same mu, on
    random models and on a non-convex one, where the fit must not stop at a saddle point."""
    with jax.enable_x64(True):
        for seed in range(11):
            cfg = random_config(seed) if seed < 10 else same_side_config()
            model, pm = model_of(cfg), pyhf_model(cfg)
            rng = np.random.default_rng(200 + seed)
            mu = rng.uniform(0.0, 2.0) if seed < 10 else 0.0
            observed = cfg["signal"] + cfg["background"]
            observed = rng.poisson(observed).astype(np.float64) if seed < 10 else observed
            data = np.concatenate([observed, pm.config.auxdata])

            def pyhf_nll(a):
                return -float(pm.logpdf(pyhf_pars(pm, cfg, mu, a), data)[0])

            ref = scipy.optimize.minimize(pyhf_nll, np.zeros(model.n_nuisances), method="BFGS",
                                          options={"gtol": 1e-9})
            alphas = np.asarray(lk.profile_nuisances(model, mu, observed))
            np.testing.assert_allclose(alphas, ref.x, atol=2e-5)
            assert pyhf_nll(alphas) <= ref.fun + 1e-9  # at least as low (a saddle point is higher)


def test_profiled_nuisances_are_differentiated_implicitly():
    """d alpha_hat / d(observed, background, mu) from the implicit function theorem = finite
    differences of the refitted nuisances."""
    with jax.enable_x64(True):
        cfg = random_config(1)
        model = model_of(cfg)
        observed = jnp.asarray(np.random.default_rng(3).poisson(cfg["signal"] + cfg["background"]), jnp.float64)

        def fitted(b, n, mu):
            return lk.profile_nuisances(model._replace(background=b), mu, n)

        jac = jax.jacobian(fitted, argnums=(0, 1, 2))(model.background, observed, 0.7)
        eye = np.eye(model.signal.shape[0])
        for arg, x in enumerate((model.background, observed)):
            for i in (0, 4):
                args = [model.background, observed, 0.7]
                hi, lo = list(args), list(args)
                hi[arg], lo[arg] = x + 1e-3 * eye[i], x - 1e-3 * eye[i]
                fd = (np.asarray(fitted(*hi)) - np.asarray(fitted(*lo))) / 2e-3
                np.testing.assert_allclose(np.asarray(jac[arg])[:, i], fd, rtol=1e-6, atol=1e-9)
        fd_mu = (np.asarray(fitted(model.background, observed, 0.7 + 1e-3))
                 - np.asarray(fitted(model.background, observed, 0.7 - 1e-3))) / 2e-3
        np.testing.assert_allclose(np.asarray(jac[2]), fd_mu, rtol=1e-6, atol=1e-9)


def test_q0_matches_pyhf(precise_pyhf):
    """q0 on Asimov data, on Poisson-fluctuated data and on a deficit (mu_hat < 0, so q0 = 0)
    equals pyhf.infer.test_statistics.q0 to 1e-6 (relative). pyhf's POI bounds (-0.5, 20) let
    mu_hat go negative, where pyhf, like jetkit, returns 0."""
    checked = 0
    with jax.enable_x64(True):
        for seed in range(4):
            cfg = random_config(seed)
            model, pm = model_of(cfg), pyhf_model(cfg)
            bounds = pm.config.suggested_bounds()
            bounds[pm.config.poi_index] = (-0.5, 20.0)
            rng = np.random.default_rng(300 + seed)
            asimov = cfg["signal"] + cfg["background"]
            for observed in (asimov, rng.poisson(asimov).astype(np.float64),
                             rng.poisson(1.5 * asimov).astype(np.float64), np.floor(0.8 * cfg["background"])):
                data = np.concatenate([observed, pm.config.auxdata])
                ref = float(pyhf.infer.test_statistics.q0(0.0, data, pm, pm.config.suggested_init(), bounds,
                                                          pm.config.suggested_fixed()))
                ours = float(lk.q0(model, observed))
                assert ours == pytest.approx(ref, rel=1e-6, abs=1e-12)
                checked += ref > 0
            assert float(lk.asimov_discovery_significance(model)) == pytest.approx(np.sqrt(float(
                lk.q0(model, asimov))), rel=1e-9)
    assert checked >= 8  # most cases are real discoveries, not the trivial q0 = 0


def test_no_systematics_gives_the_closed_form_and_nuisances_lower_z():
    with jax.enable_x64(True):
        cfg = random_config(1)
        bare = lk.binned_model(cfg["signal"], cfg["background"])
        z0 = float(lk.asimov_discovery_significance(bare))
        assert z0 == pytest.approx(float(stats.binned_significance(cfg["signal"], cfg["background"])), rel=1e-9)
        z = float(lk.asimov_discovery_significance(model_of(cfg)))
        assert 0 < z < z0
        observed = cfg["signal"] + cfg["background"]
        assert lk.profile_nuisances(bare, 0.0, observed).shape == (0,)
        assert float(lk.q0(bare, observed)) == pytest.approx(z0**2, rel=1e-9)


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10**6))
def test_more_nuisances_never_raise_the_significance(seed):
    """Switching nuisances off one by one (up = down = nominal, lo = hi = 1: same shapes, no
    effect) can only raise the profiled Asimov Z, up to the closed form without systematics."""
    with jax.enable_x64(True):
        cfg = random_config(seed, SHAPES[1])
        zs = [float(lk.asimov_discovery_significance(model_of(cfg)))]
        cfg["histo_down"][2] = cfg["histo_up"][2] = cfg["background"]
        zs.append(float(lk.asimov_discovery_significance(model_of(cfg))))
        cfg["histo_down"][:] = cfg["histo_up"][:] = cfg["background"]
        cfg["norm_lo"][:] = cfg["norm_hi"][:] = 1.0
        zs.append(float(lk.asimov_discovery_significance(model_of(cfg))))
        assert zs[0] <= zs[1] + 1e-12 and zs[1] <= zs[2] + 1e-12
        assert zs[2] == pytest.approx(float(stats.binned_significance(cfg["signal"], cfg["background"])), rel=1e-9)


# ------------------------------------------------------------------------------ gradients


def test_significance_gradients_match_finite_differences():
    with jax.enable_x64(True):
        model = model_of(random_config(1))
        grad = Z_AND_GRAD(model, 0.0)[1]
        for field in ("signal", "background", "histo_down", "histo_up", "norm_lo", "norm_hi"):
            x = np.asarray(getattr(model, field))
            g = np.asarray(getattr(grad, field))
            fd = np.zeros_like(x)
            for idx in np.ndindex(x.shape):
                h = 1e-6 * max(abs(x[idx]), 1.0)
                up, dn = x.copy(), x.copy()
                up[idx] += h
                dn[idx] -= h
                z = [float(lk.asimov_discovery_significance(model._replace(**{field: jnp.asarray(v)})))
                     for v in (up, dn)]
                fd[idx] = (z[0] - z[1]) / (2 * h)
            np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-8, err_msg=field)
            assert np.any(np.abs(g) > 1e-4), field  # every input really matters


# ------------------------------------------------------------------------------ jit and float32


def test_jit_and_float32_agree_with_float64():
    cfg = random_config(1)
    with jax.enable_x64(True):
        model64 = model_of(cfg)
        z64, g64 = Z_AND_GRAD(model64, 0.0)
    model32 = model_of({k: v.astype(np.float32) for k, v in cfg.items()})
    assert model32.signal.dtype == jnp.float32
    z32, g32 = Z_AND_GRAD_JIT(model32, 0.0)
    assert z32.dtype == jnp.float32 and np.isfinite(float(z32))
    assert float(z32) == pytest.approx(float(z64), rel=1e-3)
    for a, b in zip(g32, g64):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-2, atol=1e-3 * np.abs(b).max())


def test_empty_and_tiny_bins_stay_finite_with_a_floor():
    """A soft histogram in training may leave a bin (almost) empty: with b_floor the loss and its
    gradient stay finite in float32; without it, an empty bin is a ValueError."""
    cfg = {k: v.astype(np.float32) for k, v in random_config(1).items()}
    cfg["signal"][1], cfg["signal"][2] = 1e-6, 3.0
    for key in ("background", "histo_down", "histo_up"):
        cfg[key][..., 1] = 0.0  # empty
        cfg[key][..., 2] *= 1e-9  # almost empty
    model = model_of(cfg)
    value, grad = Z_AND_GRAD_JIT(model, 1e-3)
    assert np.isfinite(float(value)) and float(value) > 0
    assert all(np.all(np.isfinite(np.asarray(g))) for g in grad)
    with pytest.raises(ValueError, match="empty background"):
        lk.asimov_discovery_significance(model)


# ------------------------------------------------------------------------------ errors


def test_bad_input_raises_value_error():
    s, b = np.array([5.0, 3.0, 2.0]), np.array([50.0, 40.0, 30.0])
    good = lk.binned_model(s, b, histo_down=0.9 * b, histo_up=1.1 * b, norm_lo=[0.9], norm_hi=[1.1])
    cases = [
        (lambda: lk.binned_model(-s, b), "signal must hold"),
        (lambda: lk.binned_model(s, b - 45.0), "background must hold"),
        (lambda: lk.q0(lk.binned_model(s, b * [1, 0, 1]), s + b), "empty background"),
        (lambda: lk.binned_model(s, b[:2]), "one yield per bin"),
        (lambda: lk.binned_model(s, b, histo_down=b[:2], histo_up=b[:2]), r"\(H, 3\)"),
        (lambda: lk.binned_model(s, b, histo_down=np.stack([b, b]), histo_up=b), r"\(H, 3\)"),
        (lambda: lk.binned_model(s, b, histo_down=b), "histo_down with histo_up"),
        (lambda: lk.binned_model(s, b, histo_down=-b, histo_up=b), "histo_down must hold"),
        (lambda: lk.binned_model(s, b, norm_lo=[0.0], norm_hi=[1.1]), "norm_lo must be > 0"),
        (lambda: lk.binned_model(s, b, norm_lo=[0.9, 0.8], norm_hi=[1.1]), r"\(N,\)"),
        (lambda: lk.q0(good, [1.0, 2.0]), r"observed must be \(3,\)"),
        (lambda: lk.q0(good, [1.0, -2.0, 3.0]), ">= 0"),
        (lambda: lk.profile_nuisances(good, 0.0, [1.0, np.nan, 3.0]), "finite"),
        (lambda: lk.expected_counts(good, 1.0, [0.0]), r"alphas must be \(2,\)"),
        (lambda: lk.asimov_discovery_significance(good, b_floor=-1.0), "b_floor"),
        (lambda: lk.asimov_discovery_significance(good._replace(histo_up=good.histo_up[:, :2])), r"\(H, 3\)"),
    ]
    for call, match in cases:
        with pytest.raises(ValueError, match=match):
            call()
    assert float(lk.nll(good, 1.0, [0.0, 0.0], s + b)) > 0
    assert float(lk.nll(good, -100.0, [0.0, 0.0], s + b)) == np.inf  # negative expected counts
