"""Checks of notebook 01 (differentiable programming)::

    exercises.check("01_mass_gradient", my_grad, particles, mask)     # d m / d pT_i of one jet
    exercises.check("01_asimov", my_z, s, b, sigma_b)                 # Cowan's formula with sigma_b
    exercises.check("01_best_cut", my_threshold, scores, labels, weights, rel_unc=0.2,
                    min_background_mc=20)
    exercises.check("01_histosys", my_b, alphas, down, nominal, up)   # piecewise-linear histosys

Expected values are computed here from the learner's own inputs; messages never reveal them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jetkit.exercises import _core as exercises
from jetkit.physics import kinematics
from jetkit.stats import best_threshold, threshold_significance

__all__ = ["mass_gradient"]


def _constituent_mass(pt, particles, mask):
    p = particles.at[..., 0].set(pt)
    return kinematics.invariant_mass(kinematics.particles_to_p4(p, mask), mask)


_mass_grad = jax.jit(jax.grad(_constituent_mass))


def mass_gradient(particles, mask):
    """d m / d pT_i [GeV/GeV] of one jet's constituent mass w.r.t. each constituent's pT
    (``particles`` (P, 3), ``mask`` (P,)); zero for padded entries."""
    particles = jnp.asarray(particles, jnp.float32)
    return np.asarray(_mass_grad(particles[:, 0], particles, jnp.asarray(mask, bool)))


@exercises.register(
    "01_mass_gradient",
    hint="Write a function of the pT column only (put it back into the particles with "
    ".at[:, 0].set(pt)), return kinematics.invariant_mass of its four-vectors, and apply jax.grad.",
)
def _check_mass_gradient(answer, particles, mask) -> bool:
    expected = mass_gradient(particles, mask)
    a = np.asarray(answer, dtype=np.float64)
    if a.shape == np.shape(particles):
        return exercises.fail("that is the gradient w.r.t. all three columns (pT, d_eta, d_phi); "
                              "differentiate with respect to the pT column only.")
    if a.shape == expected.shape and np.all(np.isfinite(a)):
        if np.allclose(a, 2 * expected * float(np.sqrt(max(_mass2(particles, mask), 0.0))), rtol=1e-2, atol=1e-3):
            return exercises.fail("that looks like the gradient of m² — differentiate m itself.")
    return exercises.check_array(a, expected, rtol=1e-2, atol=1e-4, name="your gradient",
                                 hint="Padded constituents must get zero gradient (use the mask).")


def _mass2(particles, mask):
    m = float(kinematics.invariant_mass(kinematics.particles_to_p4(jnp.asarray(particles, jnp.float32),
                                                                   jnp.asarray(mask, bool))))
    return m * m


@exercises.register(
    "01_asimov",
    hint="Z² = 2[(s+b) ln((s+b)(b+σ²)/(b²+(s+b)σ²)) − (b²/σ²) ln(1 + σ²s/(b(b+σ²)))] "
    "(arXiv:1007.1727); take the square root at the end and use jnp functions so it stays differentiable.",
)
def _check_asimov(answer, s, b, sigma_b) -> bool:
    from jetkit import stats

    expected = np.asarray(stats.asimov_significance(s, b, sigma_b), dtype=np.float64)
    a = np.asarray(answer, dtype=np.float64)
    if a.shape == expected.shape and np.all(np.isfinite(a)):
        no_unc = np.asarray(stats.asimov_significance(s, b), dtype=np.float64)
        approx = np.asarray(s) / np.sqrt(np.asarray(b) + np.square(sigma_b))
        if not np.allclose(expected, no_unc, rtol=1e-3) and np.allclose(a, no_unc, rtol=1e-3):
            return exercises.fail("that is the formula without the background uncertainty.")
        if not np.allclose(expected, approx, rtol=1e-3) and np.allclose(a, approx, rtol=1e-3):
            return exercises.fail("s/sqrt(b + σ²) is only the s ≪ b limit; use the full formula.")
        if np.allclose(a, np.square(expected), rtol=1e-3):
            return exercises.fail("that is Z²; take the square root.")
    return exercises.check_array(a, expected, rtol=1e-3, name="your Z")


@exercises.register(
    "01_best_cut",
    hint="Try many thresholds (e.g. np.quantile of the scores), compute s and b above each one, "
    "skip thresholds that keep too few simulated background jets, evaluate "
    "stats.asimov_significance with sigma_b = rel_unc * b and keep the best.",
)
def _check_best_cut(answer, scores, labels, weights, rel_unc: float = 0.0, min_background_mc: int = 0,
                    tolerance: float = 0.03) -> bool:
    try:
        threshold = float(np.asarray(answer).item())
    except (TypeError, ValueError):
        return exercises.fail("give one threshold on the score (a number).")
    z = threshold_significance(threshold, scores, labels, weights, rel_unc, min_background_mc)
    _, z_best = best_threshold(scores, labels, weights, rel_unc, min_background_mc)
    if z == 0.0:
        n_b = int(((np.asarray(scores) > threshold) & (np.asarray(labels) != 1)).sum())
        return exercises.fail(f"your cut keeps {n_b} simulated background jets; it must keep at least "
                              f"{max(1, min_background_mc)} for a trustworthy background estimate.")
    if z >= (1 - tolerance) * z_best:
        return exercises.ok(f"Z = {z:.2f} at your threshold.")
    return exercises.fail(f"your threshold gives Z = {z:.2f}, more than {tolerance:.0%} below the best "
                          "single cut. Scan more thresholds, with the uncertainty included.")


@exercises.register(
    "01_histosys",
    hint="For every alpha (a column vector alpha[:, None]) take nominal + alpha * (up - nominal) where "
    "alpha >= 0 and nominal + alpha * (nominal - down) where alpha < 0 (np.where).",
)
def _check_histosys(answer, alphas, down, nominal, up) -> bool:
    from jetkit.stats.likelihood import histosys_interpolation

    alphas = np.asarray(alphas, dtype=np.float64)
    down, nominal, up = (np.asarray(h, dtype=np.float64) for h in (down, nominal, up))
    a = alphas[:, None]
    expected = np.where(a >= 0, nominal + a * (up - nominal), nominal + a * (nominal - down))
    got = np.asarray(answer, dtype=np.float64) if answer is not None else None
    if got is not None and got.shape == expected.shape[::-1]:
        return exercises.fail("one row per alpha, one column per bin: transpose your result.")
    if got is not None and got.shape == expected.shape and np.allclose(got[::-1], expected, rtol=1e-6):
        return exercises.fail("the two sides are swapped: alpha = +1 must give the up histogram.")
    if got is None or got.shape != expected.shape or not np.allclose(got, expected, rtol=1e-6, atol=1e-9):
        return exercises.check_array(got, expected, rtol=1e-6, atol=1e-9, name="your interpolation",
                                     hint="At alpha = -1, 0, +1 it must return down, nominal and up.")
    # jetkit's smooth default (pyhf's code4p) differs from yours only strictly inside |alpha| < 1
    smooth = np.stack([np.asarray(histosys_interpolation(a, down, nominal, up), np.float64) for a in alphas])
    inside = np.abs(alphas) < 1
    gap = float(np.max(np.abs(smooth[inside] - got[inside]) / np.maximum(nominal, 1e-12))) if inside.any() else 0.0
    return exercises.ok(f"linear on each side of alpha = 0. pyhf's default (code4p) returns the same "
                        f"histograms at |alpha| >= 1 and is smooth at 0; inside it differs from yours "
                        f"by up to {gap:.1%} of a bin here.")
