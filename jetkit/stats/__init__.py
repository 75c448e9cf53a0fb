"""Statistics for differentiable analyses, in JAX: hard and soft histograms, relaxed cuts,
Asimov significances, likelihood fits with Hessian and profile errors, and neos.

>>> from jetkit import stats
>>> stats.asimov_significance(10.0, 100.0)                  # Z of a counting experiment
>>> stats.asimov_significance(10.0, 100.0, sigma_b=10.0)    # with a background uncertainty
>>> w = stats.relaxed_cut(tau32, 0.6, temperature=0.02, keep="below")   # in (0, 1), smooth
>>> h = stats.soft_histogram(scores, edges, weights, bandwidth=0.05)    # differentiable
>>> result = stats.fit(nll, {"mu": 170.0, "sigma": 15.0})               # Newton + Hessian
>>> result.values["mu"], result.errors["mu"]

Everything is a pure function of arrays: jit-, grad- and vmap-friendly. Inputs are validated
whenever they are concrete (not traced): negative yields, empty background bins, non-positive
temperatures or bandwidths raise a ``ValueError`` that says what to do.

Modules: :mod:`~jetkit.stats.histograms`, :mod:`~jetkit.stats.cuts`,
:mod:`~jetkit.stats.significance` (arXiv:1007.1727), :mod:`~jetkit.stats.fitting`, and
:mod:`~jetkit.stats.neos` (neural summary statistics trained on the significance,
arXiv:2203.05570; INFERNO arXiv:1806.04743).
"""

from jetkit.stats import cuts, fitting, histograms, neos, significance
from jetkit.stats.cuts import *  # noqa: F401,F403
from jetkit.stats.fitting import *  # noqa: F401,F403
from jetkit.stats.histograms import *  # noqa: F401,F403
from jetkit.stats.significance import *  # noqa: F401,F403

__all__ = ["cuts", "fitting", "histograms", "neos", "significance",
           *cuts.__all__, *fitting.__all__, *histograms.__all__, *significance.__all__]
