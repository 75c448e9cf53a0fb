"""Statistics for differentiable analyses, in JAX: hard and soft histograms, relaxed cuts,
Asimov significances, likelihood fits with Hessian and profile errors, a HistFactory-style binned
likelihood with nuisance parameters, and neos.

>>> from jetkit import stats
>>> stats.asimov_significance(10.0, 100.0)                  # Z of a counting experiment
>>> stats.asimov_significance(10.0, 100.0, sigma_b=10.0)    # with a background uncertainty
>>> w = stats.relaxed_cut(tau32, 0.6, temperature=0.02, keep="below")   # in (0, 1), smooth
>>> h = stats.soft_histogram(scores, edges, weights, bandwidth=0.05)    # differentiable
>>> result = stats.fit(nll, {"mu": 170.0, "sigma": 15.0})               # Newton + Hessian
>>> result.values["mu"], result.errors["mu"]
>>> m = stats.binned_model(s, b, histo_down=b_dn, histo_up=b_up, norm_lo=[0.9], norm_hi=[1.1])
>>> stats.asimov_discovery_significance(m)   # profiled median Z, as pyhf; differentiable

Everything is a pure function of arrays: jit-, grad- and vmap-friendly. Inputs are validated
whenever they are concrete (not traced): negative yields, empty background bins, non-positive
temperatures or bandwidths raise a ``ValueError`` that says what to do.

Modules: :mod:`~jetkit.stats.histograms`, :mod:`~jetkit.stats.cuts`,
:mod:`~jetkit.stats.significance` (arXiv:1007.1727), :mod:`~jetkit.stats.fitting`,
:mod:`~jetkit.stats.likelihood` (binned likelihood with histosys/normsys nuisances, q0, Asimov Z),
:mod:`~jetkit.stats.histfactory` (the same model in pyhf), :mod:`~jetkit.stats.systematics`
(shape variations, the profiled Z of a score histogram, neos with nuisances), and
:mod:`~jetkit.stats.neos` (neural summary statistics trained on the significance,
arXiv:2203.05570; INFERNO arXiv:1806.04743).
"""

from jetkit.stats import cuts, fitting, histfactory, histograms, likelihood, neos, significance, systematics
from jetkit.stats.cuts import *  # noqa: F401,F403
from jetkit.stats.fitting import *  # noqa: F401,F403
from jetkit.stats.histograms import *  # noqa: F401,F403
from jetkit.stats.likelihood import *  # noqa: F401,F403
from jetkit.stats.significance import *  # noqa: F401,F403

__all__ = ["cuts", "fitting", "histfactory", "histograms", "likelihood", "neos", "significance", "systematics",
           *cuts.__all__, *fitting.__all__, *histograms.__all__, *likelihood.__all__, *significance.__all__]
