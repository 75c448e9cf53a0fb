"""Checks for the notebook exercises: "✅ Correct!" or "❌ Not yet: <hint>", never the answer.

Every check prints one line and returns ``True``/``False``. Expected values are computed by
jetkit from the data the learner passes in, so notebooks never hard-code them::

    from jetkit import exercises
    exercises.check("00_jet_mass", my_masses, jets)          # jets: a JetDataset
    exercises.check("00_mass_window", (lo, hi), jets)
    exercises.hint("00_mass_window")                         # a nudge, no answer
    exercises.available()                                    # every registered exercise

Later notebooks add their own checks with the :func:`register` decorator::

    @exercises.register("02_auc", hint="Use metrics.auc on the test set.")
    def _(answer, labels, scores):
        return exercises.check_close(answer, metrics.auc(labels, scores), rtol=1e-3)

A checker returns a bool (and may print its own specific message via :func:`fail`/:func:`ok`);
:func:`check` prints the generic message when the checker printed nothing.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "available",
    "check",
    "check_array",
    "check_close",
    "constituent_mass",
    "fail",
    "hint",
    "mass_window_efficiencies",
    "ok",
    "register",
]

CORRECT = "✅ Correct!"
NOT_YET = "❌ Not yet:"


@dataclass(frozen=True)
class _Exercise:
    fn: Callable[..., bool]
    hint: str


_REGISTRY: dict[str, _Exercise] = {}


def ok(message: str = "") -> bool:
    """Print the success line (with an optional remark) and return True."""
    print(f"{CORRECT} {message}".rstrip())
    return True


def fail(hint: str) -> bool:
    """Print "❌ Not yet: <hint>" and return False. The hint must not contain the answer."""
    print(f"{NOT_YET} {hint}")
    return False


def register(name: str, hint: str = "") -> Callable[[Callable[..., bool]], Callable[..., bool]]:
    """Decorator: register ``fn(answer, *data, **options) -> bool`` as exercise ``name``.

    ``hint`` is what :func:`hint` shows and what a failed check prints when the checker itself
    printed nothing."""

    def deco(fn: Callable[..., bool]) -> Callable[..., bool]:
        _REGISTRY[name] = _Exercise(fn, hint)
        return fn

    return deco


def available() -> list[str]:
    """Names of all registered exercises."""
    return sorted(_REGISTRY)


def _get(name: str) -> _Exercise:
    if name not in _REGISTRY:
        raise ValueError(f"unknown exercise {name!r}; available: {', '.join(available())}")
    return _REGISTRY[name]


def hint(name: str) -> str:
    """Print (and return) the hint of exercise ``name``."""
    text = _get(name).hint or "Re-read the cell above the exercise."
    print(f"💡 {text}")
    return text


def check(name_or_fn: str | Callable[..., bool], answer, *args, **kwargs) -> bool:
    """Check ``answer`` for a registered exercise (by name) or with a checker function.

    Extra arguments (usually the data the learner worked on) go to the checker. Prints one
    verdict line and returns True/False. Errors while checking (e.g. an answer of the wrong
    type) are reported as a "Not yet" with the error message instead of a traceback."""
    if callable(name_or_fn):
        fn, default_hint = name_or_fn, ""
    else:
        ex = _get(name_or_fn)
        fn, default_hint = ex.fn, ex.hint
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            result = bool(fn(answer, *args, **kwargs))
    except (TypeError, ValueError, IndexError) as err:
        return fail(f"the answer could not be checked ({type(err).__name__}: {err}).")
    printed = buf.getvalue()
    print(printed, end="")
    if not printed:
        if result:
            ok()
        else:
            fail(default_hint or "compare your steps with the text above the exercise.")
    return result


# --------------------------------------------------------------------------------------------
# Generic checks
# --------------------------------------------------------------------------------------------


def check_close(answer, expected, rtol: float = 1e-3, atol: float = 0.0, hint: str = "") -> bool:
    """Check a single number: ``|answer - expected| <= atol + rtol * |expected|``."""
    try:
        value = float(np.asarray(answer).item()) if np.size(answer) == 1 else None
    except (TypeError, ValueError):
        value = None
    if value is None:
        return fail(f"expected a single number, got {type(answer).__name__} {np.shape(answer)}.")
    if not math.isfinite(value):
        return fail(f"your answer is {value}; look for a division by zero or a log of 0.")
    expected = float(expected)
    if abs(value - expected) <= atol + rtol * abs(expected):
        return ok()
    direction = "too large" if value > expected else "too small"
    return fail(f"your value is {direction}. {hint}".strip())


def check_array(
    answer,
    expected,
    rtol: float = 1e-3,
    atol: float = 0.0,
    hint: str = "",
    *,
    name: str = "your array",
) -> bool:
    """Check an array elementwise (shape first, then NaN, then values). The message says how many
    entries are off, never which values were expected."""
    try:
        a = np.asarray(answer, dtype=np.float64)
    except (TypeError, ValueError):
        return fail(f"{name} should be a numeric array, got {type(answer).__name__}.")
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        return fail(f"{name} has shape {a.shape}, expected shape {e.shape}. {hint}".strip())
    bad_nan = ~np.isfinite(a) & np.isfinite(e)
    if bad_nan.any():
        return fail(
            f"{name} has {int(bad_nan.sum())} NaN/inf entries. Masked (padding) entries may be "
            f"leaking in. {hint}".strip()
        )
    close = np.isclose(a, e, rtol=rtol, atol=atol) | (~np.isfinite(e) & (a == e))
    if close.all():
        return ok()
    frac = 1.0 - close.mean()
    n_off = int((~close).sum())
    return fail(f"{n_off} of {close.size} entries ({frac:.0%}) are off. {hint}".strip())


# --------------------------------------------------------------------------------------------
# Notebook 00: a tour of jets
# --------------------------------------------------------------------------------------------


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
    from jetkit import kinematics

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
