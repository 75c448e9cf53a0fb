"""mplhep-styled plots: labelled axes (with units), legends, one idea per figure.

>>> from jetkit import plotting
>>> plotting.style()                       # the jetkit style for the whole notebook
>>> plotting.hist_by_class(ax, jets.jets[:, 3], jets.labels, jets.class_names, bins=60)

General helpers are in :mod:`~jetkit.plotting.core` (re-exported here); the figures of the FPGA
topic (accuracy vs bits, Pareto fronts, quantizer modes) in :mod:`~jetkit.plotting.fpga`; few-label
studies of learned representations in :mod:`~jetkit.plotting.representation`.
"""

from jetkit.plotting import core, fpga, representation
from jetkit.plotting.core import *  # noqa: F401,F403

__all__ = ["core", "fpga", "representation", *core.__all__]
