"""Checks for the notebook exercises: "✅ Correct!" or "❌ Not yet: <hint>", never the answer.

>>> from jetkit import exercises
>>> exercises.check("00_jet_mass", my_masses, jets)    # prints one verdict line, returns a bool
>>> exercises.hint("00_mass_window")                   # a nudge, no answer
>>> exercises.available()                              # every exercise id of every notebook

One module of checks per notebook: :mod:`~jetkit.exercises.tour` (00),
:mod:`~jetkit.exercises.diffprog` (01), :mod:`~jetkit.exercises.tagging` (02),
:mod:`~jetkit.exercises.anomaly` (03), :mod:`~jetkit.exercises.generative` (04),
:mod:`~jetkit.exercises.fpga` (05), :mod:`~jetkit.exercises.self_supervised` (06). All are
imported here, so the registry is complete in a fresh kernel. Exercises import domain code;
domain code never imports exercises.
"""

from jetkit.exercises._core import (CORRECT, NOT_YET, available, check, check_array, check_close, fail, hint,
                                    ok, register)
from jetkit.exercises import anomaly, diffprog, fpga, generative, self_supervised, tagging, tour  # noqa: E402  (registers)
from jetkit.exercises.diffprog import mass_gradient
from jetkit.exercises.tour import constituent_mass, mass_window_efficiencies

__all__ = ["CORRECT", "NOT_YET", "available", "check", "check_array", "check_close", "constituent_mass",
           "fail", "hint", "mass_gradient", "mass_window_efficiencies", "ok", "register"]
