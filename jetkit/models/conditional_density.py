"""A background density *at fixed mass*: a mixture density network p(x | c) and the anomaly
score it gives, -ln p(x | c), for jets whose substructure is unusual for a background jet of
the same mass.

Why: an autoencoder or a density on jet features trained on q + g jets at 1 TeV barely
flags W and Z jets. Their mass (80-100 GeV) sits in the bulk of the quark-jet mass
distribution, and what makes them special, two hard prongs, is a small effect next to the
spread of QCD jets in mass and multiplicity. Conditioning on the mass asks the sharper
question: *for a QCD jet of this mass, how likely is this N2?* QCD jets of 80-100 GeV get
their mass from one soft, wide-angle emission (large N2); a W or Z gets it from two hard
prongs (small N2), where the QCD density at that mass is low. The score is *not* decorrelated
from the mass: the N2 spread of QCD jets changes with the mass, and in q + g jets at 1 TeV the
rank correlation of -ln p(N2 | m) with m is about 0.55, so a cut on it sculpts the mass.

The model (Bishop 1994, "Mixture density networks"): an MLP maps the context c (here
ln m) to the weights, means and widths of ``components`` diagonal Gaussians in x,

    p(x | c) = sum_k pi_k(c) prod_d N(x_d; mu_kd(c), sigma_kd(c)),

trained on background jets only by minimising -ln p (:func:`mdn_loss` with
:func:`jetkit.train.fit`). The standardisation of x and c is part of the model, so
:meth:`MixtureDensity.log_prob` is the density in the units of x. Inputs for two-prong
jets: :func:`two_prong_inputs` (N2^(1) of the ungroomed constituents, arXiv:1609.07483, given
ln of the jet mass), which depends on the constituents only through permutation-invariant
sums over the unmasked ones.

>>> x, c = two_prong_inputs(qg.particles, qg.mask, qg.jets[:, 3])
>>> model, history = fit_background_density(x, c, seed=0)
>>> scores = anomaly_score(model, *two_prong_inputs(test.particles, test.mask, test.jets[:, 3]))
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jetkit import train
from jetkit.models.mlp import MLP
from jetkit.physics import energy_correlators

__all__ = ["MixtureDensity", "anomaly_score", "fit_background_density", "mdn_loss", "two_prong_inputs"]

_LOG_SIGMA = (-7.0, 5.0)  # widths between e^-7 and e^5 standard deviations: never 0, never NaN


class Standardisation(nnx.Variable):
    """Fixed shift and scale of the model's inputs (not trained)."""


def _pair(stats, size: int, name: str):
    shift, scale = (np.zeros(size), np.ones(size)) if stats is None else stats
    shift, scale = np.asarray(shift, np.float32).reshape(-1), np.asarray(scale, np.float32).reshape(-1)
    if shift.shape != (size,) or scale.shape != (size,) or not np.all(scale > 0) or not np.all(np.isfinite(shift)):
        raise ValueError(f"{name} must be (shift, scale) of {size} finite numbers each, scale > 0")
    return Standardisation(jnp.asarray(shift)), Standardisation(jnp.asarray(scale))


class MixtureDensity(nnx.Module):
    """Mixture density network p(x | c): ``components`` diagonal Gaussians in ``features``
    dimensions whose weights, means and widths an MLP (``hidden``, tanh) computes from
    ``context_features`` numbers.

    ``x_stats`` / ``context_stats``: optional ``(shift, scale)`` applied to x and c first (e.g.
    the background mean and standard deviation); :meth:`log_prob` includes the Jacobian, so it
    is the log-density in the units of x."""

    def __init__(self, features: int, context_features: int = 1, components: int = 8,
                 hidden: Sequence[int] = (32, 32), *, x_stats=None, context_stats=None, rngs: nnx.Rngs):
        if features < 1 or context_features < 1 or components < 1:
            raise ValueError(f"features, context_features and components must be >= 1, got "
                             f"{features}, {context_features}, {components}")
        self.features, self.context_features, self.components = int(features), int(context_features), int(components)
        self.x_shift, self.x_scale = _pair(x_stats, self.features, "x_stats")
        self.c_shift, self.c_scale = _pair(context_stats, self.context_features, "context_stats")
        self.net = MLP(self.context_features, self.components * (1 + 2 * self.features), hidden,
                       activation=nnx.tanh, rngs=rngs)

    def mixture(self, context) -> tuple[jax.Array, jax.Array, jax.Array]:
        """(log weights (..., K), means (..., K, D), log widths (..., K, D)) in standardised x."""
        c = (jnp.asarray(context, jnp.float32) - self.c_shift[...]) / self.c_scale[...]
        out = self.net(c)
        k, d = self.components, self.features
        shape = out.shape[:-1] + (k, d)
        log_w = jax.nn.log_softmax(out[..., :k], axis=-1)
        mu = out[..., k:k + k * d].reshape(shape)
        log_sigma = jnp.clip(out[..., k + k * d:].reshape(shape), *_LOG_SIGMA)
        return log_w, mu, log_sigma

    def log_prob(self, x, context) -> jax.Array:
        """ln p(x | c) per jet, (...,): ``x`` (..., features), ``context`` (..., context_features)."""
        x, context = jnp.asarray(x, jnp.float32), jnp.asarray(context, jnp.float32)
        if x.shape[-1:] != (self.features,) or context.shape[-1:] != (self.context_features,) \
                or x.shape[:-1] != context.shape[:-1]:
            raise ValueError(f"expected x (..., {self.features}) and context (..., {self.context_features}) "
                             f"for the same jets, got {x.shape} and {context.shape}")
        z = (x - self.x_shift[...]) / self.x_scale[...]
        log_w, mu, log_sigma = self.mixture(context)
        per_dim = -0.5 * ((z[..., None, :] - mu) * jnp.exp(-log_sigma)) ** 2 - log_sigma - 0.5 * jnp.log(2 * jnp.pi)
        return jax.nn.logsumexp(log_w + per_dim.sum(-1), axis=-1) - jnp.sum(jnp.log(self.x_scale[...]))

    def __call__(self, x, context) -> jax.Array:
        return self.log_prob(x, context)


def mdn_loss(model: MixtureDensity, batch) -> jax.Array:
    """Mean negative log-likelihood of ``batch = (x, context)`` (for :func:`jetkit.train.fit`)."""
    x, context = batch
    return -jnp.mean(model.log_prob(x, context))


def _check_finite(*arrays) -> None:
    for a in arrays:
        if not np.all(np.isfinite(a)):
            raise ValueError("inputs contain NaN or infinite values")


def _as_2d(a, name: str) -> np.ndarray:
    a = np.asarray(a, np.float32)
    a = a[:, None] if a.ndim == 1 else a
    if a.ndim != 2:
        raise ValueError(f"{name} must be (N,) or (N, D), got shape {a.shape}")
    return a


def fit_background_density(x, context, *, components: int = 8, hidden: Sequence[int] = (32, 32),
                           epochs: int = 30, batch_size: int = 256, learning_rate: float = 3e-3,
                           patience: int = 5, val_fraction: float = 0.2, seed: int = 0):
    """Fit a :class:`MixtureDensity` p(x | context) to background jets (and nothing else).

    ``x`` (N, D) or (N,), ``context`` (N, C) or (N,). A random ``val_fraction`` of the jets
    (seeded) is held out for early stopping; x and c are standardised with the mean and
    standard deviation of the training part. Returns ``(model, history)``."""
    x, c = _as_2d(x, "x"), _as_2d(context, "context")
    if len(x) != len(c):
        raise ValueError(f"x and context must describe the same jets, got {len(x)} and {len(c)}")
    _check_finite(x, c)
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = int(round(val_fraction * len(x)))
    if n_val < 1 or len(x) - n_val < 2:
        raise ValueError(f"need more jets to fit and validate a density, got {len(x)}")
    tr, va = order[n_val:], order[:n_val]
    stats = lambda a: (a.mean(0), np.where(a.std(0) > 0, a.std(0), 1.0))  # noqa: E731
    model = MixtureDensity(x.shape[1], c.shape[1], components, hidden, x_stats=stats(x[tr]),
                           context_stats=stats(c[tr]), rngs=nnx.Rngs(seed))
    history = train.fit(model, (x[tr], c[tr]), (x[va], c[va]), loss_fn=mdn_loss, epochs=epochs,
                        batch_size=min(batch_size, len(tr)), learning_rate=float(learning_rate), seed=seed,
                        patience=patience, progress=False)
    return model, history


def anomaly_score(model: MixtureDensity, x, context, *, batch_size: int = 2048) -> np.ndarray:
    """-ln p(x | context) per jet (larger = less like the background at that context), (N,)."""
    if not isinstance(model, MixtureDensity):
        raise ValueError(f"anomaly_score() needs a MixtureDensity, got {type(model).__name__}")
    x, c = _as_2d(x, "x"), _as_2d(context, "context")
    _check_finite(x, c)
    return -train.predict(model, x, c, batch_size=batch_size).astype(np.float64)


def two_prong_inputs(particles, mask, jet_mass, *, batch: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """The inputs of the two-prong background density: ``x`` = N2^(beta=1) of the constituents
    (ungroomed, arXiv:1609.07483) and ``context`` = ln(jet mass / 1 GeV), each (N, 1) float32.

    ``particles`` (N, P, 3) = (pT [GeV], d_eta, d_phi), ``mask`` (N, P); ``jet_mass`` (N,)
    [GeV], > 0 (the dataset's ``jets[:, 3]``, the mass of the whole jet). N2 is computed in
    batches of ``batch`` jets, padded to one shape so it compiles once."""
    p = np.asarray(particles, np.float32)
    m = np.asarray(mask, bool)
    mass = np.asarray(jet_mass, np.float64).reshape(-1)
    if p.ndim != 3 or p.shape[-1] != 3 or m.shape != p.shape[:2] or mass.shape != (p.shape[0],):
        raise ValueError(f"expected particles (N, P, 3), mask (N, P) and jet_mass (N,), got {p.shape}, "
                         f"{m.shape}, {mass.shape}")
    if not np.all(np.isfinite(mass) & (mass > 0)):
        raise ValueError("jet_mass must be positive and finite [GeV] (its logarithm is the context)")
    out = []
    for s in range(0, len(p), batch):
        pb, mb = p[s:s + batch], m[s:s + batch]
        n = len(pb)
        if n < batch and len(p) > batch:  # same shape for every batch: compiled once
            pb = np.concatenate([pb, np.repeat(pb[:1], batch - n, 0)])
            mb = np.concatenate([mb, np.repeat(mb[:1], batch - n, 0)])
        out.append(np.asarray(energy_correlators.n2(pb, mb, beta=1.0))[:n])
    n2 = np.concatenate(out) if out else np.zeros(0, np.float32)
    return n2.astype(np.float32)[:, None], np.log(mass).astype(np.float32)[:, None]
