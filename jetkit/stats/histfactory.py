"""The same binned model in pyhf, the field's HistFactory library: a JSON spec of a
:class:`~jetkit.stats.likelihood.BinnedModel` and pyhf's q0 for it, the numerical cross-check of
jetkit's differentiable profile.

>>> spec = histfactory.pyhf_spec(model)          # plain dict: save it as a pyhf workspace channel
>>> histfactory.pyhf_q0(model, observed)         # runs pyhf (numpy backend, float64)

pyhf (Heinrich, Feickert, Stark, Cranmer, JOSS doi:10.21105/joss.02823) is a dependency of the
kit; only :func:`pyhf_q0` imports it.
"""

from __future__ import annotations

import numpy as np

from jetkit.stats.likelihood import BinnedModel

__all__ = ["pyhf_q0", "pyhf_spec"]


def pyhf_spec(model: BinnedModel, channel: str = "analysis") -> dict:
    """A pyhf model spec (``{"channels": [...]}``) with the samples ``signal`` (normfactor ``mu``)
    and ``background`` with histosys ``shape_j`` and normsys ``norm_k`` modifiers, in jetkit's
    order of the nuisances."""
    as_list = lambda a: np.asarray(a, dtype=np.float64).tolist()  # noqa: E731
    modifiers = [{"name": f"shape_{j}", "type": "histosys", "data": {"hi_data": as_list(up), "lo_data": as_list(dn)}}
                 for j, (dn, up) in enumerate(zip(model.histo_down, model.histo_up))]
    modifiers += [{"name": f"norm_{k}", "type": "normsys", "data": {"hi": float(hi), "lo": float(lo)}}
                  for k, (lo, hi) in enumerate(zip(model.norm_lo, model.norm_hi))]
    samples = [{"name": "signal", "data": as_list(model.signal),
                "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
               {"name": "background", "data": as_list(model.background), "modifiers": modifiers}]
    return {"channels": [{"name": channel, "samples": samples}]}


def pyhf_q0(model: BinnedModel, observed, *, tolerance: float = 1e-12, mu_bounds=(-10.0, 10.0)) -> float:
    """pyhf's profiled discovery test statistic q0 of the ``observed`` counts (K,), with the
    auxiliary data at their nominal values and ``mu`` free within ``mu_bounds`` in the
    unconstrained fit (numpy backend, scipy SLSQP at ``tolerance``; the previous backend is
    restored). Raises ValueError if ``observed`` does not have one count per bin."""
    import pyhf

    observed = np.asarray(observed, dtype=np.float64)
    if observed.shape != np.shape(model.signal):
        raise ValueError(f"observed must have one count per bin {np.shape(model.signal)}, got {observed.shape}")
    previous = pyhf.get_backend()
    pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer(tolerance=tolerance))
    try:
        pdf = pyhf.Model(pyhf_spec(model), poi_name="mu")
        bounds = [tuple(b) for b in pdf.config.suggested_bounds()]
        bounds[pdf.config.poi_index] = tuple(mu_bounds)
        data = np.concatenate([observed, np.asarray(pdf.config.auxdata, dtype=np.float64)])
        q0 = pyhf.infer.test_statistics.q0(0.0, data, pdf, pdf.config.suggested_init(), bounds,
                                           pdf.config.suggested_fixed())
    finally:
        pyhf.set_backend(*previous)
    return float(q0)
