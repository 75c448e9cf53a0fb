"""Checks of notebook 05 (FPGA quantization): an ap_fixed quantizer and the cheapest accurate model."""

from __future__ import annotations

import numpy as np

from jetkit.exercises import _core as exercises
from jetkit.fpga import FixedType

__all__ = []


@exercises.register(
    "05_fixed_point",
    hint="Multiply by 2**(W - I) to get the integer code, round half up (floor of code + 0.5), "
    "clip the code to the signed W-bit range, then divide by 2**(W - I).",
)
def _check_fixed_point(answer) -> bool:
    """``answer(x, width, integer)`` must return ap_fixed<W, I, AP_RND, AP_SAT> values."""
    if not callable(answer):
        return exercises.fail("pass your function itself, e.g. exercises.check(name, to_fixed).")
    rng = np.random.default_rng(5)
    for width, integer in ((6, 2), (8, 3), (4, 1), (10, 0)):
        t = FixedType(width, integer, rounding="RND", overflow="SAT")
        inside = rng.uniform(t.min_value, t.max_value, 400)
        ties = (rng.integers(t.min_code, t.max_code, 50) + 0.5) * t.lsb
        outside = np.r_[rng.uniform(t.max_value, 4 * t.max_value + 8, 50),
                        rng.uniform(4 * t.min_value - 8, t.min_value, 50)]
        for x, what in ((inside, "in-range values"), (ties, "values exactly halfway between two "
                        "grid points"), (outside, "values outside the range")):
            got = np.asarray(answer(x.copy(), width, integer), dtype=np.float64)
            if got.shape != x.shape:
                return exercises.fail(f"your function should return one value per input "
                                      f"(shape {x.shape}), got shape {got.shape}.")
            if not np.array_equal(got, t.values(t.codes(x))):
                advice = {"in-range values": "check the scale 2**(W - I) and the rounding.",
                          "values outside the range": "check the saturation: the largest code "
                          "is 2**(W-1) - 1, the smallest -2**(W-1).",
                          }.get(what, "AP_RND rounds a tie towards plus infinity (also for "
                                      "negative numbers).")
                return exercises.fail(f"ap_fixed<{width},{integer}> differs for {what}; {advice}")
    return exercises.ok("Your quantizer is bit-exact with ap_fixed<W, I, AP_RND, AP_SAT>.")


@exercises.register(
    "05_cheapest_tagger",
    hint="Keep only the models whose accuracy is at most 0.01 below the float model, then take "
    "the one with the fewest EBOPs.",
)
def _check_cheapest(answer, results: dict, float_accuracy: float, max_loss: float = 0.01) -> bool:
    """``results``: {name: (accuracy, ebops)}; ``answer``: the name of the cheapest model that
    loses at most ``max_loss`` accuracy with respect to ``float_accuracy``."""
    if answer not in results:
        return exercises.fail(f"{answer!r} is not one of the names in the results table.")
    good = {k: v for k, v in results.items() if v[0] >= float_accuracy - max_loss}
    acc, ebops = results[answer]
    if answer not in good:
        return exercises.fail("that model loses more than one point of accuracy with respect to "
                              "float; look at cheaper ones only after filtering on accuracy.")
    if ebops > min(v[1] for v in good.values()):
        return exercises.fail("that model is accurate enough, but another one within one point "
                              "costs fewer EBOPs.")
    return exercises.ok(f"{answer}: accuracy {acc:.3f} with {ebops:,} EBOPs.")
