"""Generative models for jets of a fixed number of constituents: a VAE and a flow-matching model.

Both work on the pT-ordered list of a jet's P constituents, flattened to P x 3 numbers
(log pT, d_eta, d_phi), each standardised per slot (:class:`Standardiser`). pT ordering makes
the list canonical, so a plain MLP can model it (a permutation-invariant set model is the next
step: arXiv:2106.11535, 2211.10295). Variable multiplicity is handled with the mask throughout:

- training losses only count real (unmasked) constituents, and both models see the jet's
  multiplicity n as a condition;
- sampling draws n from the training distribution (:func:`sample_multiplicity`), generates all
  P slots, keeps the n hardest and zeroes and masks the rest (:func:`to_particles`).

Models:
- :class:`VAE` (arXiv:1312.6114): encoder -> (mu, log sigma^2) -> z -> decoder; loss = masked
  MSE + beta KL. Fast, smooth latent space, blurry samples.
- :class:`FlowMatcher` (conditional flow matching, arXiv:2210.02747): a velocity field
  v(x_t, t | c) trained on straight paths x_t = (1 - t) x_0 + t x_1 from Gaussian noise x_0 to
  data x_1; sampling integrates dx/dt = v with a fixed number of midpoint steps. The condition
  c is n/P, or (n/P, log jet mass) with the (n, m) pairs drawn from training jets
  (:func:`sample_conditions`), as jet-conditioned generators do (PC-JeDi, arXiv:2303.05376).

Pretrained checkpoints (data/checkpoints/) come from
``python -m jetkit.models.generative_training [--with-mass]`` (fixed seeds).

Randomness inside losses (reparametrisation noise, flow times) comes from a PRNG key stored in
the model (:class:`NoiseKey`), so ``jetkit.train.fit`` can train them like any other model and
checkpoints stay plain arrays.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jetkit.validation import check_cloud

__all__ = [
    "FlowMatcher",
    "NoiseKey",
    "Standardiser",
    "VAE",
    "flow_matching_loss",
    "model_inputs",
    "sample_flow",
    "conditions",
    "sample_conditions",
    "sample_multiplicity",
    "sample_vae",
    "time_sampler",
    "to_particles",
    "vae_loss",
]


class NoiseKey(nnx.Variable):
    """A raw uint32 PRNG key kept in a model (not a parameter: never trained)."""


def _next_key(holder: NoiseKey) -> jax.Array:
    key, sub = jax.random.split(holder.get_value())
    holder.set_value(key)
    return sub


# --------------------------------------------------------------------------------------------
# Representation
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Standardiser:
    """Per-slot standardisation of (log pT [log GeV], d_eta, d_phi), fitted on real particles.

    ``mean``/``std``: (P, 3) arrays. Padded slots map to 0 in model space and back to zeros."""

    mean: np.ndarray
    std: np.ndarray
    log_mass_mean: float = 0.0
    log_mass_std: float = 1.0

    @classmethod
    def fit(cls, particles, mask) -> Standardiser:
        particles, mask = check_cloud(particles, mask, positive_pt=True)
        feats = _raw(particles, mask)
        w = mask[..., None].astype(np.float64)
        count = np.maximum(w.sum(0), 1.0)
        mean = (feats * w).sum(0) / count
        std = np.sqrt(((feats - mean) ** 2 * w).sum(0) / count)
        from jetkit.metrics.generative import jet_mass

        log_m = np.log(np.maximum(jet_mass(particles, mask), 1e-3))
        return cls(mean.astype(np.float32), np.maximum(std, 1e-3).astype(np.float32),
                   float(log_m.mean()), float(max(log_m.std(), 1e-6)))

    def transform(self, particles, mask) -> np.ndarray:
        """(N, P, 3) particles -> (N, P*3) standardised model inputs (0 where masked)."""
        particles, mask = check_cloud(particles, mask, positive_pt=True)
        x = (_raw(particles, mask) - self.mean) / self.std
        return np.where(mask[..., None], x, 0.0).reshape(len(x), -1).astype(np.float32)

    def inverse(self, x) -> np.ndarray:
        """(N, P*3) model outputs -> (N, P, 3) = (pT [GeV], d_eta, d_phi), no mask applied."""
        x = np.asarray(x, dtype=np.float64).reshape(len(x), *self.mean.shape) * self.std + self.mean
        return np.stack([np.exp(np.clip(x[..., 0], -20, 20)), x[..., 1], x[..., 2]], -1)


def _raw(particles, mask):
    logpt = np.log(np.where(mask, particles[..., 0], 1.0))
    return np.stack([logpt, particles[..., 1], particles[..., 2]], -1)


def conditions(particles, mask, standardiser: Standardiser, with_mass: bool = False) -> np.ndarray:
    """What the models are conditioned on, per jet: (N, 1) = multiplicity / P, or with
    ``with_mass`` (N, 2) with the standardised log jet mass appended."""
    particles, mask = check_cloud(particles, mask, positive_pt=True)
    cond = [mask.sum(1) / mask.shape[1]]
    if with_mass:
        from jetkit.metrics.generative import jet_mass

        log_m = np.log(np.maximum(jet_mass(particles, mask), 1e-3))
        cond.append((log_m - standardiser.log_mass_mean) / standardiser.log_mass_std)
    return np.stack(cond, 1).astype(np.float32)


def model_inputs(particles, mask, standardiser: Standardiser, with_mass: bool = False):
    """Training data for both models: ``(x, slot_mask, cond)`` with x (N, P*3) standardised,
    slot_mask (N, P*3) float (1 = real particle) and cond from :func:`conditions`."""
    particles, mask = check_cloud(particles, mask, positive_pt=True)
    x = standardiser.transform(particles, mask)
    slot = np.repeat(mask, 3, axis=1).astype(np.float32)
    return x, slot, conditions(particles, mask, standardiser, with_mass)


def sample_conditions(particles, mask, n: int, standardiser: Standardiser, seed: int = 0
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` (multiplicity, jet mass) pairs jointly from training jets; returns the
    multiplicities (n,) and the matching (n, 2) conditions of ``with_mass`` models."""
    particles, mask = check_cloud(particles, mask, positive_pt=True)
    idx = np.random.default_rng(seed).choice(np.flatnonzero(mask.any(1)), size=int(n))
    return mask[idx].sum(1), conditions(particles[idx], mask[idx], standardiser, with_mass=True)


def sample_multiplicity(mask, n: int, seed: int = 0) -> np.ndarray:
    """Draw ``n`` multiplicities (int, >= 1) from the empirical distribution of ``mask`` (N, P)."""
    counts = np.asarray(mask, bool).sum(1)
    if counts.size == 0 or counts.max() < 1:
        raise ValueError("mask holds no jets with constituents")
    return np.random.default_rng(seed).choice(counts[counts > 0], size=int(n), replace=True)


def to_particles(x, multiplicity, standardiser: Standardiser) -> tuple[np.ndarray, np.ndarray]:
    """Model outputs (N, P*3) -> pT-sorted ``(particles, mask)``: the first ``multiplicity[i]``
    slots of jet i are its particles (sorted by pT), the rest are zeroed and masked."""
    particles = standardiser.inverse(x)
    n_slots = particles.shape[1]
    multiplicity = np.asarray(multiplicity).reshape(-1)
    if multiplicity.shape[0] != len(particles) or multiplicity.min() < 1 or multiplicity.max() > n_slots:
        raise ValueError(f"need one multiplicity in [1, {n_slots}] per jet")
    # slots >= n are padding by construction (the models learned "real slots first"); sort the
    # n real ones by pT and leave the padding last
    return _pt_sorted(particles, np.arange(n_slots)[None, :] < multiplicity[:, None])


def _pt_sorted(particles, mask) -> tuple[np.ndarray, np.ndarray]:
    """Sort the real particles of each jet by pT (descending); ``mask`` must mark the first
    slots (real slots first). Padding is zeroed; returns float32 particles and the mask."""
    order = np.argsort(np.where(mask, -particles[..., 0], np.inf), axis=1, kind="stable")
    particles = np.take_along_axis(particles, order[..., None], axis=1)
    return np.where(mask[..., None], particles, 0.0).astype(np.float32), mask


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


class _MLP(nnx.Module):
    def __init__(self, sizes: Sequence[int], *, rngs: nnx.Rngs):
        self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:])])

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = nnx.silu(layer(x))
        return self.layers[-1](x)


class VAE(nnx.Module):
    """Variational autoencoder on flattened jets (dim = P*3), conditioned on n / P.

    ``__call__(x, n_frac)`` -> (reconstruction, mu, logvar) with a reparametrised z."""

    def __init__(self, dim: int = 90, latent_dim: int = 4, hidden: Sequence[int] = (256, 128),
                 beta: float = 1.0, *, rngs: nnx.Rngs, seed: int = 0):
        if dim < 1 or latent_dim < 1:
            raise ValueError(f"dim and latent_dim must be >= 1, got {dim}, {latent_dim}")
        self.dim, self.latent_dim, self.beta = dim, latent_dim, float(beta)
        self.encoder = _MLP([dim + 1, *hidden, 2 * latent_dim], rngs=rngs)
        self.decoder = _MLP([latent_dim + 1, *reversed(hidden), dim], rngs=rngs)
        self.noise = NoiseKey(jax.random.PRNGKey(seed))

    def encode(self, x, n_frac):
        h = self.encoder(jnp.concatenate([x, n_frac], -1))
        return h[..., : self.latent_dim], jnp.clip(h[..., self.latent_dim :], -10, 10)

    def decode(self, z, n_frac):
        return self.decoder(jnp.concatenate([z, n_frac], -1))

    def __call__(self, x, n_frac):
        mu, logvar = self.encode(x, n_frac)
        eps = jax.random.normal(_next_key(self.noise), mu.shape)
        return self.decode(mu + jnp.exp(0.5 * logvar) * eps, n_frac), mu, logvar


def vae_loss(model: VAE, batch) -> jax.Array:
    """Masked squared error (summed over real slots, averaged over jets) + beta * KL."""
    x, slot, n_frac = batch
    x = x * slot  # padding is 0 whatever the batch holds there
    recon, mu, logvar = model(x, n_frac)
    mse = jnp.sum(slot * (recon - x) ** 2, -1)
    kl = 0.5 * jnp.sum(jnp.exp(logvar) + mu**2 - 1.0 - logvar, -1)
    return jnp.mean(mse + model.beta * kl)


class FlowMatcher(nnx.Module):
    """Velocity field v(x_t, t | c) for conditional flow matching on flattened jets; the
    condition c is n/P (``n_cond = 1``) or (n/P, standardised log mass) (``n_cond = 2``)."""

    def __init__(self, dim: int = 90, hidden: Sequence[int] = (256, 256, 256), n_freq: int = 8,
                 n_cond: int = 1, *, rngs: nnx.Rngs, seed: int = 0):
        if dim < 1 or n_freq < 1 or n_cond < 1:
            raise ValueError(f"dim, n_freq and n_cond must be >= 1, got {dim}, {n_freq}, {n_cond}")
        self.dim, self.n_freq, self.n_cond = dim, n_freq, n_cond
        self.net = _MLP([dim + 2 * n_freq + n_cond, *hidden, dim], rngs=rngs)
        self.noise = NoiseKey(jax.random.PRNGKey(seed))

    def __call__(self, x, t, n_frac):
        freqs = jnp.pi * 2.0 ** jnp.arange(self.n_freq)
        tt = t[..., None] * freqs if t.ndim == 1 else t * freqs
        return self.net(jnp.concatenate([x, jnp.sin(tt), jnp.cos(tt), n_frac], -1))


def flow_matching_loss(model: FlowMatcher, batch) -> jax.Array:
    """E ||v(x_t, t) - (x_1 - x_0)||^2 over real slots, x_t = (1 - t) x_0 + t x_1."""
    x1, slot, n_frac = batch
    x1 = x1 * slot  # padding is 0 whatever the batch holds there
    k0, kt = jax.random.split(_next_key(model.noise))
    x0 = jax.random.normal(k0, x1.shape)
    t = jax.random.uniform(kt, (x1.shape[0],))
    xt = (1 - t[:, None]) * x0 + t[:, None] * x1
    return jnp.mean(jnp.sum(slot * (model(xt, t, n_frac) - (x1 - x0)) ** 2, -1))


@nnx.jit(static_argnames=("steps",))
def _integrate(model, x0, n_frac, steps: int):
    dt = 1.0 / steps

    def body(i, x):
        t = jnp.full((x.shape[0],), i * dt)
        mid = x + 0.5 * dt * model(x, t, n_frac)
        return x + dt * model(mid, t + 0.5 * dt, n_frac)

    return jax.lax.fori_loop(0, steps, body, x0)


def sample_flow(model: FlowMatcher, multiplicity, standardiser: Standardiser, seed: int = 0,
                steps: int = 16, cond=None) -> tuple[np.ndarray, np.ndarray]:
    """Generate one jet per entry of ``multiplicity`` (midpoint ODE solver, ``steps`` steps);
    returns pT-sorted ``(particles, mask)``. ``cond`` (N, n_cond) defaults to n/P; models with
    a mass condition take the output of :func:`sample_conditions`."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    multiplicity = np.asarray(multiplicity).reshape(-1)
    n_slots = standardiser.mean.shape[0]
    x0 = jax.random.normal(jax.random.PRNGKey(seed), (len(multiplicity), model.dim))
    if cond is None:
        cond = multiplicity[:, None] / n_slots
    cond = jnp.asarray(cond, jnp.float32)
    if cond.shape != (len(multiplicity), model.n_cond):
        raise ValueError(f"cond must have shape ({len(multiplicity)}, {model.n_cond}), got {cond.shape}")
    x = _integrate(model, x0, cond, steps)
    return to_particles(np.asarray(x), multiplicity, standardiser)


@nnx.jit
def _decode(model, z, n_frac):
    return model.decode(z, n_frac)


def sample_vae(model: VAE, multiplicity, standardiser: Standardiser, seed: int = 0
               ) -> tuple[np.ndarray, np.ndarray]:
    """Decode z ~ N(0, 1) into one jet per entry of ``multiplicity``; pT-sorted (particles, mask)."""
    multiplicity = np.asarray(multiplicity).reshape(-1)
    n_slots = standardiser.mean.shape[0]
    z = jax.random.normal(jax.random.PRNGKey(seed), (len(multiplicity), model.latent_dim))
    x = _decode(model, z, jnp.asarray(multiplicity[:, None] / n_slots, jnp.float32))
    return to_particles(np.asarray(x), multiplicity, standardiser)


# --------------------------------------------------------------------------------------------
# Speed
# --------------------------------------------------------------------------------------------


def time_sampler(sample: Callable[[int], object], n: int = 2000, repeats: int = 3) -> dict:
    """Time ``sample(n)`` (after one warm-up call that compiles); best of ``repeats``."""
    sample(n)
    best = min(_timed(sample, n) for _ in range(repeats))
    return {"jets": n, "seconds": best, "jets_per_second": n / best}


def _timed(fn, n):
    t0 = time.perf_counter()
    fn(n)
    return time.perf_counter() - t0
