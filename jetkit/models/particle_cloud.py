"""A permutation-invariant particle-cloud generator trained with flow matching.

A jet is a *set* of particles: nothing about it changes when its constituents are listed in
another order. The flattened-list models of :mod:`jetkit.models.generative` ignore this and must
learn from data that slot 7 and slot 8 are the same kind of object, with every slot standardised
on its own. The set generators of the field (MPGAN arXiv:2106.11535, GAPT arXiv:2211.10295,
EPiC-GAN arXiv:2301.08128, EPiC-FM / PC-Droid arXiv:2310.00049, 2307.06836) build the symmetry
in: a network that is **permutation equivariant** (shuffling the input particles shuffles the
outputs the same way), so every particle is treated alike and the generated set has no order.

Here the velocity field v(x_t, t | n) of conditional flow matching (arXiv:2210.02747) is a small
transformer over the particles (masked self-attention, no positional encoding, the blocks of
:mod:`jetkit.models.transformer`), conditioned on the flow time t and on the multiplicity n
only. Each particle is (log pT [log GeV], d_eta, d_phi), standardised with *one* mean and
standard deviation for all particles (:class:`CloudStandardiser`); padded slots carry no loss,
get no noise and stay exactly zero while sampling. Generation draws n from the training
multiplicities, starts the n real slots from Gaussian noise, integrates dx/dt = v with the
midpoint rule, and only then sorts the particles by pT (for display).

>>> from flax import nnx
>>> from jetkit import train
>>> from jetkit.models import particle_cloud as pc
>>> std = pc.CloudStandardiser.fit(jets.particles, jets.mask)
>>> model = pc.ParticleCloudFlow(rngs=nnx.Rngs(0))
>>> history = train.fit(model, pc.cloud_inputs(jets.particles, jets.mask, std),
...                     loss_fn=pc.cloud_flow_loss, epochs=2)
>>> particles, mask = pc.sample_cloud(model, np.full(100, 30), std, n_slots=30, seed=0)

The shipped checkpoint ``particle_cloud_gluon`` is trained by
``python -m jetkit.models.generative_training --model cloud`` (fixed seeds, EMA weights).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jetkit.models.generative import NoiseKey, _next_key, _pt_sorted, _raw
from jetkit.models.transformer import ParticleAttentionBlock
from jetkit.validation import check_cloud

__all__ = ["SOLVERS", "CloudStandardiser", "ParticleCloudFlow", "cloud_flow_loss", "cloud_inputs", "path_bend",
           "reflow_loss", "reflow_pairs", "sample_cloud", "trajectories"]


@dataclasses.dataclass(frozen=True)
class CloudStandardiser:
    """One mean and standard deviation (3,) of (log pT [log GeV], d_eta, d_phi) over *all* real
    particles: the same map for every particle, so it keeps the permutation symmetry."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, particles, mask) -> CloudStandardiser:
        particles, mask = check_cloud(particles, mask, positive_pt=True)
        if not mask.any():
            raise ValueError("mask holds no real particle to fit the standardiser on")
        feats = _raw(particles, mask)[mask]
        return cls(feats.mean(0).astype(np.float32), np.maximum(feats.std(0), 1e-3).astype(np.float32))

    def transform(self, particles, mask) -> np.ndarray:
        """(N, P, 3) particles -> (N, P, 3) standardised features, 0 where masked."""
        particles, mask = check_cloud(particles, mask, positive_pt=True)
        x = (_raw(particles, mask) - self.mean) / self.std
        return np.where(mask[..., None], x, 0.0).astype(np.float32)

    def inverse(self, x, mask) -> np.ndarray:
        """(N, P, 3) model space -> (pT [GeV], d_eta, d_phi), zero where masked."""
        x = np.asarray(x, np.float64) * self.std + self.mean
        p = np.stack([np.exp(np.clip(x[..., 0], -20, 20)), x[..., 1], x[..., 2]], -1)
        return np.where(np.asarray(mask, bool)[..., None], p, 0.0)


def cloud_inputs(particles, mask, standardiser: CloudStandardiser):
    """Training data ``(x, mask, n_frac)``: x (N, P, 3) standardised particles (0 where masked),
    mask (N, P) bool, n_frac (N, 1) = multiplicity / P, the only jet-level condition."""
    particles, mask = check_cloud(particles, mask, positive_pt=True)
    n_frac = (mask.sum(1, keepdims=True) / mask.shape[1]).astype(np.float32)
    return standardiser.transform(particles, mask), mask, n_frac


class ParticleCloudFlow(nnx.Module):
    """Permutation-equivariant velocity field v(x_t, t | n) for particle clouds.

    ``model(x, mask, t, n_frac)`` with x (N, P, 3), mask (N, P) bool, t (N,) in [0, 1] and
    n_frac (N, 1) -> v (N, P, 3), exactly 0 at padded slots. Each particle is embedded by a
    linear map; the condition (Fourier features of t, n_frac) goes through an MLP and is added to
    every particle before each of the ``n_blocks`` masked self-attention blocks; a final
    LayerNorm and linear map give the velocity. No positional encoding anywhere, so permuting the
    particles permutes the output the same way."""

    def __init__(self, dim: int = 64, heads: int = 4, n_blocks: int = 4, ffn_ratio: int = 2, n_freq: int = 8,
                 *, rngs: nnx.Rngs, seed: int = 0):
        if min(dim, heads, n_blocks, ffn_ratio, n_freq) < 1:
            raise ValueError("dim, heads, n_blocks, ffn_ratio and n_freq must be >= 1; got "
                             f"{dim}, {heads}, {n_blocks}, {ffn_ratio}, {n_freq}")
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be a multiple of heads ({heads})")
        self.dim, self.n_freq = int(dim), int(n_freq)
        self.embed = nnx.Linear(3, dim, rngs=rngs)
        self.cond_in = nnx.Linear(2 * n_freq + 1, dim, rngs=rngs)
        self.cond_out = nnx.Linear(dim, dim, rngs=rngs)
        self.cond_blocks = nnx.List([nnx.Linear(dim, dim, rngs=rngs) for _ in range(n_blocks)])
        self.blocks = nnx.List([ParticleAttentionBlock(dim, heads, ffn_ratio=ffn_ratio, rngs=rngs)
                                for _ in range(n_blocks)])
        self.norm = nnx.LayerNorm(dim, rngs=rngs)
        self.head = nnx.Linear(dim, 3, rngs=rngs)
        self.noise = NoiseKey(jax.random.PRNGKey(seed))

    def __call__(self, x, mask, t, n_frac):
        if np.ndim(x) != 3 or np.shape(x)[-1] != 3:
            raise ValueError(f"x must have shape (N, P, 3) (standardised log pT, d_eta, d_phi), got {np.shape(x)}")
        if np.shape(mask) != np.shape(x)[:2]:
            raise ValueError(f"mask must have shape {np.shape(x)[:2]}, got {np.shape(mask)}")
        mask = jnp.asarray(mask, bool)
        t = jnp.reshape(jnp.asarray(t, jnp.float32), (-1, 1))
        freqs = jnp.pi * 2.0 ** jnp.arange(self.n_freq)
        c = jnp.concatenate([jnp.sin(t * freqs), jnp.cos(t * freqs), jnp.reshape(n_frac, (-1, 1))], -1)
        c = nnx.silu(self.cond_out(nnx.silu(self.cond_in(c))))  # (N, dim)
        h = jnp.where(mask[..., None], self.embed(jnp.asarray(x, jnp.float32)), 0.0)
        for cond, block in zip(self.cond_blocks, self.blocks):
            h = block(h + cond(c)[:, None, :], mask)
        return jnp.where(mask[..., None], self.head(self.norm(h)), 0.0)


def _velocity_loss(model: ParticleCloudFlow, x0, x1, mask, n_frac, t) -> jax.Array:
    """Mean over real (particle, coordinate) entries of |v(x_t, t | n) - (x_1 - x_0)|^2 with
    x_t = (1 - t) x_0 + t x_1 (the straight path from x_0 to x_1)."""
    m = jnp.asarray(mask, jnp.float32)[..., None]
    x0, x1 = jnp.where(m > 0, x0, 0.0), jnp.where(m > 0, x1, 0.0)  # padding is 0 (NaN there too)
    xt = (1 - t[:, None, None]) * x0 + t[:, None, None] * x1
    err = m * (model(xt, mask, t, n_frac) - (x1 - x0)) ** 2
    return jnp.sum(err) / jnp.maximum(3.0 * jnp.sum(m), 1.0)


def cloud_flow_loss(model: ParticleCloudFlow, batch) -> jax.Array:
    """Flow-matching loss on real particles: mean over real (particle, coordinate) entries of
    |v(x_t, t | n) - (x_1 - x_0)|^2 with x_t = (1 - t) x_0 + t x_1 and x_0 ~ N(0, 1) per real
    particle. ``batch = (x1, mask, n_frac)`` from :func:`cloud_inputs`; no labels."""
    if len(batch) != 3:
        raise ValueError("batch must be (x, mask, n_frac) from cloud_inputs")
    x1, mask, n_frac = batch
    k0, kt = jax.random.split(_next_key(model.noise))
    x0 = jax.random.normal(k0, jnp.shape(x1))
    return _velocity_loss(model, x0, x1, mask, n_frac, jax.random.uniform(kt, (jnp.shape(x1)[0],)))


def reflow_loss(model: ParticleCloudFlow, batch) -> jax.Array:
    """The same loss on *fixed* pairs ``batch = (x0, x1, mask, n_frac)`` from :func:`reflow_pairs`:
    the noise x0 and the jet x1 the flow itself carries it to (rectified flow, arXiv:2209.03003).
    Paths between coupled pairs do not cross, so the new field's trajectories are nearly straight
    and a few Euler steps follow them."""
    if len(batch) != 4:
        raise ValueError("batch must be (x0, x1, mask, n_frac) from reflow_pairs")
    x0, x1, mask, n_frac = batch
    t = jax.random.uniform(_next_key(model.noise), (jnp.shape(x1)[0],))
    return _velocity_loss(model, x0, x1, mask, n_frac, t)


SOLVERS = ("euler", "midpoint")  # network calls per step: 1, 2


def _step(model, x, mask, n_frac, i, dt: float, solver: str):
    """One ODE step from t = i * dt: Euler (1 network call) or the midpoint rule (2)."""
    t = jnp.full((x.shape[0],), i * dt)
    v = model(x, mask, t, n_frac)
    if solver == "euler":
        return x + dt * v
    return x + dt * model(x + 0.5 * dt * v, mask, t + 0.5 * dt, n_frac)


@nnx.jit(static_argnames=("steps", "solver"))
def _integrate(model, x0, mask, n_frac, steps: int, solver: str):
    return jax.lax.fori_loop(0, steps, lambda i, x: _step(model, x, mask, n_frac, i, 1.0 / steps, solver), x0)


def _noise(multiplicity, n_slots: int, seed: int):
    """(x0, mask, n_frac): Gaussian noise in the real slots of each jet, zeros elsewhere."""
    multiplicity = np.asarray(multiplicity).reshape(-1)
    if multiplicity.size == 0 or multiplicity.min() < 1 or multiplicity.max() > n_slots:
        raise ValueError(f"need at least one multiplicity, each in [1, {n_slots}]")
    mask = np.arange(n_slots)[None, :] < multiplicity[:, None]
    n_frac = (multiplicity[:, None] / n_slots).astype(np.float32)
    x0 = np.asarray(jax.random.normal(jax.random.PRNGKey(seed), mask.shape + (3,))) * mask[..., None]
    return x0.astype(np.float32), mask, n_frac


def _solve(model, x0, mask, n_frac, steps: int, solver: str, batch_size: int) -> np.ndarray:
    """x(t = 1) in model space for every row, in batches of one fixed shape (one compilation)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    size = min(batch_size, len(mask))
    out = []
    for s in range(0, len(mask), size):
        sl = slice(s, s + size)
        pad = size - len(mask[sl])
        args = [np.concatenate([a[sl], np.zeros((pad,) + a.shape[1:], a.dtype)]) for a in (x0, mask, n_frac)]
        out.append(np.asarray(_integrate(model, *args, steps, solver))[: size - pad])
    return np.concatenate(out)


@nnx.jit(static_argnames=("steps",))
def _trajectory(model, x0, mask, n_frac, steps: int):
    def body(x, i):
        x = _step(model, x, mask, n_frac, i, 1.0 / steps, "midpoint")
        return x, x

    _, xs = jax.lax.scan(body, x0, jnp.arange(steps))
    return jnp.concatenate([x0[None], xs])


def trajectories(model: ParticleCloudFlow, multiplicity, *, n_slots: int, seed: int = 0,
                 steps: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """The paths of the flow from noise to jets: ``(xs, mask)`` with xs (steps + 1, N, n_slots, 3)
    the states x(t_k), t_k = k / steps, of ``steps`` midpoint steps in model space (standardised
    log pT, d_eta, d_phi; 0 at padding), the same noise as :func:`sample_cloud` with ``seed``."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    x0, mask, n_frac = _noise(multiplicity, n_slots, seed)
    return np.asarray(_trajectory(model, x0, mask, n_frac, int(steps))), mask


def path_bend(xs, mask) -> float:
    """How curved the paths ``xs`` (K + 1, N, P, 3) from :func:`trajectories` are: the mean over
    real particles of |x(1/2) - (x(0) + x(1)) / 2| (standardised units; K even), the distance
    between a path's middle and the middle of the straight line between its ends. 0 for
    straight paths, which one Euler step follows exactly."""
    xs, mask = np.asarray(xs), np.asarray(mask, bool)
    if xs.ndim != 4 or xs.shape[1:3] != mask.shape or (len(xs) - 1) % 2:
        raise ValueError(f"need xs (K + 1, N, P, 3) with K even and mask (N, P); got {xs.shape}, {mask.shape}")
    if not mask.any():
        raise ValueError("mask holds no real particle")
    gap = xs[(len(xs) - 1) // 2] - 0.5 * (xs[0] + xs[-1])
    return float(np.linalg.norm(gap, axis=-1)[mask].mean())


def reflow_pairs(model: ParticleCloudFlow, multiplicity, *, n_slots: int, seed: int = 0, steps: int = 32,
                 batch_size: int = 2048) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Training data for one *reflow* (arXiv:2209.03003): ``(x0, x1, mask, n_frac)`` with x0 the
    noise and x1 where ``model`` carries it (``steps`` midpoint steps), both in model space."""
    x0, mask, n_frac = _noise(multiplicity, n_slots, seed)
    return x0, _solve(model, x0, mask, n_frac, steps, "midpoint", batch_size), mask, n_frac


def sample_cloud(model: ParticleCloudFlow, multiplicity, standardiser: CloudStandardiser, *, n_slots: int,
                 seed: int = 0, steps: int = 32, solver: str = "midpoint",
                 batch_size: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Generate one jet per entry of ``multiplicity`` (each in [1, ``n_slots``]) by integrating
    the flow from Gaussian noise: ``steps`` steps of the midpoint rule (2 network calls each) or
    of Euler's (1 call each; enough for a reflowed, nearly straight flow).

    Returns ``(particles, mask)``, (N, n_slots, 3) and (N, n_slots): the particles sorted by pT
    for display (the model itself has no order), padded slots exactly zero and masked. The same
    seed gives the same jets."""
    x0, mask, n_frac = _noise(multiplicity, n_slots, seed)
    x1 = _solve(model, x0, mask, n_frac, steps, solver, batch_size)
    return _pt_sorted(standardiser.inverse(x1, mask), mask)
