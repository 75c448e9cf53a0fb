"""Checks of notebook 00 (a tour of jets): the jet mass by hand and a top mass window."""

from __future__ import annotations

import math

import numpy as np

from jetkit.exercises._core import check_array, fail, ok, register
from jetkit.physics import kinematics

__all__ = ["constituent_mass", "mass_window_efficiencies"]




def _particles_and_mask(data):
    """(particles, mask) from a JetDataset, a dict or a (particles, mask) pair."""
    if hasattr(data, "particles"):
        return np.asarray(data.particles), np.asarray(data.mask, dtype=bool)
    if isinstance(data, dict):
        return np.asarray(data["particles"]), np.asarray(data["mask"], dtype=bool)
    particles, mask = data
    return np.asarray(particles), np.asarray(mask, dtype=bool)


def constituent_mass(data) -> np.ndarray:
    """Invariant mass [GeV] of the stored (leading, massless) constituents of each jet.

    Datasets keep only the 64 (top_qcd) or 30 (jet5) leading constituents, so this is slightly
    below the full jet mass ``jets[:, 3]``."""
    particles, mask = _particles_and_mask(data)
    return np.asarray(kinematics.invariant_mass(kinematics.particles_to_p4(particles, mask)))


@register(
    "00_jet_mass",
    hint="Turn the constituents into four-vectors with kinematics.particles_to_p4(particles, "
    "mask), then kinematics.invariant_mass sums them and returns one mass [GeV] per jet.",
)
def _check_jet_mass(answer, data) -> bool:
    expected = constituent_mass(data)
    a = np.asarray(answer, dtype=np.float64)
    if a.shape == expected.shape and np.all(np.isfinite(a)):
        particles, mask = _particles_and_mask(data)
        pt_sum = np.where(mask, particles[..., 0], 0.0).sum(axis=-1)
        if np.allclose(a, pt_sum, rtol=1e-3):
            return fail("that is the scalar pT sum. A mass needs four-vectors: (px, py, pz, E).")
        if np.all(a >= 0) and np.allclose(a, expected**2, rtol=1e-2, atol=1.0):
            return fail("these look like m² [GeV²]; take the square root.")
    # rtol/atol cover float32 rounding in E² - p² for light jets.
    return check_array(a, expected, rtol=1e-2, atol=0.5, name="your mass array",
                       hint="Use the mask so padded constituents are ignored, and keep one "
                       "mass per jet (sum over the constituent axis).")


def _class_selection(data, names) -> np.ndarray:
    class_names = list(data.class_names)
    codes = [class_names.index(n) for n in names if n in class_names]
    return np.isin(np.asarray(data.labels), codes)


def mass_window_efficiencies(window, data, *, masses=None, signal=None, background=None):
    """Fractions of signal and background jets with lo <= mass <= hi [GeV].

    ``data``: a JetDataset; ``masses`` defaults to the jet mass ``data.jets[:, 3]``. Signal is
    the ``"top"`` (or ``"t"``) class, background ``"qcd"`` (or ``"g"`` and ``"q"`` in jet5)
    unless given. Returns ``(eff_signal, eff_background)``."""
    lo, hi = (float(x) for x in window)
    names = list(data.class_names)
    signal = signal or [n for n in ("top", "t") if n in names][:1]
    if not background:
        background = ["qcd"] if "qcd" in names else [n for n in ("g", "q") if n in names]
    signal = [signal] if isinstance(signal, str) else list(signal)
    background = [background] if isinstance(background, str) else list(background)
    if not signal or not background:
        raise ValueError(
            f"cannot tell signal from background in classes {names}; "
            "pass signal= and background="
        )
    m = np.asarray(data.jets)[:, 3] if masses is None else np.asarray(masses, dtype=np.float64)
    inside = (m >= lo) & (m <= hi)
    sig, bkg = _class_selection(data, signal), _class_selection(data, background)
    if not sig.any() or not bkg.any():
        raise ValueError("the data needs jets of both the signal and the background class")
    return float(inside[sig].mean()), float(inside[bkg].mean())


@register(
    "00_mass_window",
    hint="Look at the jet-mass histogram: top jets peak near the top-quark mass, QCD jets are "
    "mostly lighter. Pick [lo, hi] in GeV around the top peak, not too wide.",
)
def _check_mass_window(answer, data, *, min_signal=0.70, max_background=0.20, **kwargs) -> bool:
    try:
        lo, hi = (float(x) for x in answer)
    except (TypeError, ValueError):
        return fail("give the window as two numbers (lo, hi) in GeV.")
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        return fail("the window needs finite edges with lo < hi (in GeV).")
    eff_s, eff_b = mass_window_efficiencies((lo, hi), data, **kwargs)
    summary = f"your window keeps {eff_s:.0%} of top jets and {eff_b:.0%} of QCD jets"
    if eff_s >= min_signal and eff_b <= max_background:
        return ok(summary[0].upper() + summary[1:] + ".")
    if eff_s < min_signal:
        return fail(f"{summary}; it must keep at least {min_signal:.0%} of top jets. Widen it, "
                    "or move it to where the top peak is.")
    return fail(f"{summary}; it may keep at most {max_background:.0%} of QCD jets. Narrow it "
                "around the top peak.")
