"""Checks for the notebook exercises: "✅ Correct!" or "❌ Not yet: <hint>", never the answer.

Every check prints one line and returns ``True``/``False``. Expected values are computed by
jetkit from the data the learner passes in, so notebooks never hard-code them::

    from jetkit import exercises
    exercises.check("00_jet_mass", my_masses, jets)          # jets: a JetDataset
    exercises.check("00_mass_window", (lo, hi), jets)
    exercises.hint("00_mass_window")                         # a nudge, no answer
    exercises.available()                                    # every registered exercise

The checks of each notebook live in one module of this package (``tour`` for 00,
``diffprog`` 01, ``tagging`` 02, ``anomaly`` 03, ``generative`` 04, ``fpga`` 05), imported
by ``jetkit.exercises`` itself, so every id is registered in a fresh kernel. A module adds
checks with the :func:`register` decorator::

    @register("02_auc", hint="Use metrics.auc on the test set.")
    def _(answer, labels, scores):
        return check_close(answer, metrics.auc(labels, scores), rtol=1e-3)

Domain code (everything outside this package) never imports it.

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
    "fail",
    "hint",
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
