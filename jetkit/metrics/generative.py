"""Metrics for generated jets (arXiv:2211.10295): W1M, W1P, FPD, KPD, with bootstrap errors.

A generative model is judged by comparing *samples*: generated jets against held-out Pythia jets.
Every number means little alone, so :func:`evaluate` also compares two independent sets of
Pythia jets of the same size ("truth vs truth"): the value a perfect generator would get.

- ``w1``: 1-Wasserstein distance of two 1-D samples (same result as
  ``scipy.stats.wasserstein_distance``).
- ``w1m``: W1 of the jet mass [GeV]; ``w1p``: mean W1 of the particle features
  (pT_rel = pT / jet pT, d_eta, d_phi), over all real (unmasked) particles, times 1000 by custom.
- ``fpd``: Frechet distance between Gaussian fits to jet-level features,
  ``|mu_x - mu_y|^2 + Tr(S_x + S_y - 2 (S_x S_y)^(1/2))``.
- ``kpd``: unbiased estimate of the squared maximum mean discrepancy (MMD^2) with the cubic
  polynomial kernel ``k(x, y) = (x.y / d + 1)^3``; averages to 0 for identical distributions
  (it can be slightly negative).

Jet-level features (:func:`jet_features`) are standardised with the *reference* (truth) mean and
standard deviation before FPD/KPD, so the numbers do not depend on units.

The distances (``w1``, ``w1m``, ``w1p``, ``fpd``, ``kpd``, ``bootstrap``) are re-exported by
:mod:`jetkit.metrics`; ``distort`` makes copies of real jets with known defects, to see which
metric notices what.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from jetkit.validation import check_cloud

__all__ = [
    "FEATURE_NAMES",
    "bootstrap",
    "distort",
    "evaluate",
    "format_table",
    "fpd",
    "jet_features",
    "jet_mass",
    "kpd",
    "particle_features",
    "w1",
    "w1m",
    "w1p",
]

#: Columns of :func:`jet_features`.
FEATURE_NAMES = ("mass [GeV]", "pT [GeV]", "log e2 (beta=1)", "log C2 (beta=1)",
                 "log D2 (beta=1)", "log e2 (beta=2)")


def _sample(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if x.size == 0:
        raise ValueError(f"{name} is empty: need at least one value")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def w1(u, v) -> float:
    """1-Wasserstein (earth mover's) distance between two 1-D samples, in their units.

    The integral of |F_u - F_v| over x of the two empirical CDFs (exact, any sample sizes)."""
    u, v = _sample(u, "first sample"), _sample(v, "second sample")
    u, v = np.sort(u), np.sort(v)
    allv = np.sort(np.concatenate([u, v]))
    deltas = np.diff(allv)
    cdf_u = np.searchsorted(u, allv[:-1], side="right") / u.size
    cdf_v = np.searchsorted(v, allv[:-1], side="right") / v.size
    return float(np.sum(np.abs(cdf_u - cdf_v) * deltas))


def _features_2d(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"{name} must have shape (n_jets >= 2, n_features), got {np.shape(x)}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def fpd(x, y) -> float:
    """Frechet distance between Gaussians fitted to feature samples x (n, d) and y (m, d).

    ``|mu_x - mu_y|^2 + Tr(S_x + S_y - 2 (S_x S_y)^(1/2))``, with
    ``Tr (S_x S_y)^(1/2) = Tr (S_x^(1/2) S_y S_x^(1/2))^(1/2)`` computed from symmetric
    eigen-decompositions (stable, no complex numbers)."""
    x, y = _features_2d(x, "x"), _features_2d(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y have different numbers of features: {x.shape[1]} vs {y.shape[1]}")
    mu = x.mean(0) - y.mean(0)
    sx, sy = np.atleast_2d(np.cov(x, rowvar=False)), np.atleast_2d(np.cov(y, rowvar=False))
    rx = _sqrtm_psd(sx)
    cross = np.trace(_sqrtm_psd(rx @ sy @ rx))
    return float(max(mu @ mu + np.trace(sx) + np.trace(sy) - 2 * cross, 0.0))


def kpd(x, y) -> float:
    """Unbiased MMD^2 between samples x (n, d) and y (m, d), cubic polynomial kernel
    ``k(a, b) = (a.b / d + 1)^3`` (the KID/KPD kernel). Diagonal terms are left out of the
    within-sample averages, so the estimate averages to 0 when x and y share one distribution."""
    x, y = _features_2d(x, "x"), _features_2d(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y have different numbers of features: {x.shape[1]} vs {y.shape[1]}")
    n, m = len(x), len(y)
    if n < 2 or m < 2:
        raise ValueError("KPD needs at least two jets in each sample")
    # k(a, b) = <phi(a), phi(b)> with an explicit feature map, so the sums over all pairs cost
    # O(n d^3) instead of O(n^2 d): sum_ij k(x_i, y_j) = <sum_i phi(x_i), sum_j phi(y_j)>.
    px, py = _poly3_features(x).sum(0), _poly3_features(y).sum(0)
    d = x.shape[1]
    diag_x = ((x * x).sum(1) / d + 1) ** 3
    diag_y = ((y * y).sum(1) / d + 1) ** 3
    sxx = (px @ px - diag_x.sum()) / (n * (n - 1))
    syy = (py @ py - diag_y.sum()) / (m * (m - 1))
    return float(sxx + syy - 2 * (px @ py) / (n * m))


def _poly3_features(x: np.ndarray) -> np.ndarray:
    """phi(x) with <phi(a), phi(b)> = (a.b / d + 1)^3: (1 + s)^3 = 1 + 3 s + 3 s^2 + s^3 and
    s^k = <a^(x k), b^(x k)> / d^k (tensor powers)."""
    n, d = x.shape
    x2 = (x[:, :, None] * x[:, None, :]).reshape(n, -1)
    x3 = (x2[:, :, None] * x[:, None, :]).reshape(n, -1)
    return np.concatenate([np.ones((n, 1)), np.sqrt(3 / d) * x, np.sqrt(3 / d**2) * x2,
                           np.sqrt(1 / d**3) * x3], axis=1)


def bootstrap(metric: Callable[[np.ndarray, np.ndarray], float], x, y, n_boot: int = 20,
              seed: int = 0) -> tuple[float, float]:
    """``metric(x, y)`` on the full samples and its bootstrap standard deviation (both samples
    resampled with replacement ``n_boot`` times, ``numpy.random.default_rng(seed)``)."""
    x, y = np.asarray(x), np.asarray(y)
    if n_boot < 2:
        raise ValueError(f"n_boot must be >= 2, got {n_boot}")
    rng = np.random.default_rng(seed)
    values = [metric(x[rng.integers(0, len(x), len(x))], y[rng.integers(0, len(y), len(y))])
              for _ in range(n_boot)]
    return float(metric(x, y)), float(np.std(values, ddof=1))


# --------------------------------------------------------------------------------------------
# Jet and particle features
# --------------------------------------------------------------------------------------------


def jet_mass(particles, mask=None) -> np.ndarray:
    """Invariant mass [GeV] of the sum of the (massless) constituents, (N,)."""
    p, mask = check_cloud(particles, mask)
    pt, eta, phi = p[..., 0], p[..., 1], p[..., 2]
    px, py = (pt * np.cos(phi)).sum(1), (pt * np.sin(phi)).sum(1)
    pz, e = (pt * np.sinh(eta)).sum(1), (pt * np.cosh(eta)).sum(1)
    return np.sqrt(np.clip(e**2 - px**2 - py**2 - pz**2, 0, None))


def particle_features(particles, mask=None) -> np.ndarray:
    """(n_real_particles, 3) = (pT / jet pT, d_eta, d_phi) of every unmasked particle; the jet pT
    is the scalar sum of the constituents' pT."""
    p, mask = check_cloud(particles, mask)
    ptsum = np.maximum(p[..., 0].sum(1, keepdims=True), 1e-12)
    rel = np.stack([p[..., 0] / ptsum, p[..., 1], p[..., 2]], -1)
    return rel[mask]


def jet_features(particles, mask=None) -> np.ndarray:
    """Jet-level features for FPD/KPD, (N, 6), columns :data:`FEATURE_NAMES`: mass [GeV],
    pT (vector sum) [GeV], and the logarithms of e2, C2 = e3/e2^2, D2 = e3/e2^3 (beta = 1) and of
    e2 (beta = 2) (energy correlators, arXiv:1305.0007, 1409.6298). Logarithms tame the long
    tails that would otherwise dominate the cubic kernel of KPD. The multiplicity is left out:
    almost every jet of the 30-constituent datasets has all 30, so its spread is ~0 and a
    standardised multiplicity would swamp everything else (W1P and W1M see it)."""
    from jetkit.physics import energy_correlators as substructure

    p, mask = check_cloud(particles, mask)
    if not mask.any(axis=1).all():
        raise ValueError("a jet has no constituents; drop empty jets before computing features")
    pt = p[..., 0]
    ptvec = np.hypot((pt * np.cos(p[..., 2])).sum(1), (pt * np.sin(p[..., 2])).sum(1))
    p32, m = p.astype(np.float32), mask
    e2_1, e3_1 = (np.asarray(substructure.ecf(p32, m, n, 1.0)) for n in (2, 3))
    e2_2 = np.asarray(substructure.ecf(p32, m, 2, 2.0))
    le2, le3 = np.log(np.maximum(e2_1, 1e-12)), np.log(np.maximum(e3_1, 1e-12))
    return np.stack([jet_mass(p, mask), ptvec, le2, le3 - 2 * le2, le3 - 3 * le2,
                     np.log(np.maximum(e2_2, 1e-12))], axis=1)


# --------------------------------------------------------------------------------------------
# The metric table
# --------------------------------------------------------------------------------------------


def w1m(particles_x, mask_x, particles_y, mask_y) -> float:
    """W1 of the jet mass [GeV] between two sets of jets."""
    return w1(jet_mass(particles_x, mask_x), jet_mass(particles_y, mask_y))


def w1p(particles_x, mask_x, particles_y, mask_y) -> float:
    """Mean over (pT_rel, d_eta, d_phi) of the W1 between the particle features, x 1000."""
    a, b = particle_features(particles_x, mask_x), particle_features(particles_y, mask_y)
    return float(np.mean([w1(a[:, k], b[:, k]) for k in range(3)]) * 1e3)


def _standardise(feats: np.ndarray, ref: np.ndarray) -> np.ndarray:
    mu, sd = ref.mean(0), ref.std(0)
    return (feats - mu) / np.maximum(sd, 1e-3 * np.abs(mu) + 1e-9)


def _jet_level(particles, mask):
    """Per-jet quantities every metric needs, so bootstrap only resamples jet indices."""
    p, m = check_cloud(particles, mask)
    return {"mass": jet_mass(p, m), "feats": jet_features(p, m), "particles": p, "mask": m}


def evaluate(reference: tuple, samples: dict[str, tuple], n_boot: int = 20, seed: int = 0,
             kpd_scale: float = 1e3) -> dict[str, dict[str, tuple[float, float]]]:
    """Metric table: each named sample ``(particles, mask)`` against ``reference``.

    Returns ``{name: {"W1M": (value, err), "W1P": ..., "FPD": ..., "KPD": ...}}`` with bootstrap
    standard deviations (``n_boot`` resamples of the jets of both sets). W1M in GeV, W1P x 1000,
    KPD x ``kpd_scale``; FPD and KPD on jet features standardised by the reference. Put an
    independent set of truth jets among ``samples`` to get the truth-vs-truth baseline."""
    ref = _jet_level(*reference)
    mu_ref = ref["feats"]
    fr = _standardise(mu_ref, mu_ref)
    table = {}
    for name, (particles, mask) in samples.items():
        s = _jet_level(particles, mask)
        fs = _standardise(s["feats"], mu_ref)
        rng = np.random.default_rng(seed)
        draws = []
        idx_all = (np.arange(len(ref["mass"])), np.arange(len(s["mass"])))
        for b in range(n_boot + 1):
            i, j = idx_all if b == 0 else (rng.integers(0, len(ref["mass"]), len(ref["mass"])),
                                           rng.integers(0, len(s["mass"]), len(s["mass"])))
            draws.append((
                w1(ref["mass"][i], s["mass"][j]),
                w1p(ref["particles"][i], ref["mask"][i], s["particles"][j], s["mask"][j]),
                fpd(fr[i], fs[j]),
                kpd(fr[i], fs[j]) * kpd_scale,
            ))
        draws = np.array(draws)
        table[name] = {k: (float(draws[0, c]), float(draws[1:, c].std(ddof=1)))
                       for c, k in enumerate(("W1M", "W1P", "FPD", "KPD"))}
    return table


def format_table(table: dict, kpd_scale: float = 1e3) -> str:
    """The metric table as aligned text (value +- bootstrap std)."""
    head = f"{'sample':<22}{'W1M [GeV]':>16}{'W1P x1e3':>16}{'FPD':>16}{f'KPD x{kpd_scale:.0e}':>18}"
    lines = [head, "-" * len(head)]
    for name, row in table.items():
        cells = "".join(f"{row[k][0]:>9.3g} ±{row[k][1]:<6.2g}" for k in ("W1M", "W1P", "FPD"))
        lines.append(f"{name:<22}{cells}{row['KPD'][0]:>10.3g} ±{row['KPD'][1]:<6.2g}")
    return "\n".join(lines)


def distort(particles, mask, kind: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Copies of real jets with a known defect, to see which metric notices what.

    kinds: ``"smeared mass"`` (angles of each jet scaled by a random factor e^(0.3 g), g ~ N(0, 1):
    masses smeared by ~30 %); ``"shuffled between jets"`` (slot k of each jet taken from a random
    other jet, independently per slot: every particle distribution is exactly kept, the
    correlations inside a jet are destroyed); ``"wrong multiplicity"`` (each jet keeps
    only 20-29 of its constituents); ``"collapsed modes"`` (only jets below the median mass,
    resampled: the generator has dropped the high-mass mode); ``"soft particles shifted"``
    (constituents beyond the 10 hardest moved 0.1 further from the axis in d_eta)."""
    particles, mask = check_cloud(particles, mask, positive_pt=True)
    particles, mask = particles.copy(), mask.copy()
    rng = np.random.default_rng(seed)
    n = len(particles)
    if kind == "smeared mass":
        particles[..., 1:] *= np.exp(0.3 * rng.standard_normal(n))[:, None, None]
    elif kind == "wrong multiplicity":
        keep = rng.integers(20, 30, n)
        mask = mask & (np.arange(mask.shape[1])[None, :] < keep[:, None])
    elif kind == "collapsed modes":
        m = jet_mass(particles, mask)
        idx = rng.choice(np.flatnonzero(m < np.median(m)), size=n, replace=True)
        particles, mask = particles[idx], mask[idx]
    elif kind == "shuffled between jets":
        for k in range(mask.shape[1]):
            perm = rng.permutation(n)
            particles[:, k], mask[:, k] = particles[perm, k], mask[perm, k]
        mask = np.cumsum(~mask, axis=1) == 0  # keep each jet's leading run of real slots
    elif kind == "soft particles shifted":
        soft = np.arange(mask.shape[1])[None, :] >= 10
        particles[..., 1] += np.where(soft, 0.1 * np.sign(particles[..., 1] + 1e-12), 0.0)
    else:
        raise ValueError(f"unknown distortion {kind!r}; use 'smeared mass', 'shuffled between "
                         "jets', 'wrong multiplicity', 'collapsed modes' or 'soft particles shifted'")
    return np.where(mask[..., None], particles, 0.0).astype(np.float32), mask
