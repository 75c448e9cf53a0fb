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

Pretrained checkpoints (data/checkpoints/, :data:`CHECKPOINTS`) come from
``python -m jetkit.models.generative [--with-mass]`` (:func:`pretrain`, fixed seeds).

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

__all__ = [
    "FlowMatcher",
    "NoiseKey",
    "Standardiser",
    "VAE",
    "distort",
    "flow_matching_loss",
    "model_inputs",
    "pythia_jets_per_second",
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
        particles, mask = _check(particles, mask)
        feats = _raw(particles, mask)
        w = mask[..., None].astype(np.float64)
        count = np.maximum(w.sum(0), 1.0)
        mean = (feats * w).sum(0) / count
        std = np.sqrt(((feats - mean) ** 2 * w).sum(0) / count)
        from jetkit.generative_metrics import jet_mass

        log_m = np.log(np.maximum(jet_mass(particles, mask), 1e-3))
        return cls(mean.astype(np.float32), np.maximum(std, 1e-3).astype(np.float32),
                   float(log_m.mean()), float(max(log_m.std(), 1e-6)))

    def transform(self, particles, mask) -> np.ndarray:
        """(N, P, 3) particles -> (N, P*3) standardised model inputs (0 where masked)."""
        particles, mask = _check(particles, mask)
        x = (_raw(particles, mask) - self.mean) / self.std
        return np.where(mask[..., None], x, 0.0).reshape(len(x), -1).astype(np.float32)

    def inverse(self, x) -> np.ndarray:
        """(N, P*3) model outputs -> (N, P, 3) = (pT [GeV], d_eta, d_phi), no mask applied."""
        x = np.asarray(x, dtype=np.float64).reshape(len(x), *self.mean.shape) * self.std + self.mean
        return np.stack([np.exp(np.clip(x[..., 0], -20, 20)), x[..., 1], x[..., 2]], -1)


def _check(particles, mask) -> tuple[np.ndarray, np.ndarray]:
    particles = np.asarray(particles, dtype=np.float64)
    if particles.ndim != 3 or particles.shape[-1] != 3:
        raise ValueError(f"particles must have shape (n_jets, n_particles, 3), got {particles.shape}")
    mask = particles[..., 0] > 0 if mask is None else np.asarray(mask, bool)
    if mask.shape != particles.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match particles {particles.shape[:2]}")
    if np.any(particles[..., 0][mask] <= 0):
        raise ValueError("unmasked particles must have pT > 0")
    return particles, mask


def _raw(particles, mask):
    logpt = np.log(np.where(mask, particles[..., 0], 1.0))
    return np.stack([logpt, particles[..., 1], particles[..., 2]], -1)


def conditions(particles, mask, standardiser: Standardiser, with_mass: bool = False) -> np.ndarray:
    """What the models are conditioned on, per jet: (N, 1) = multiplicity / P, or with
    ``with_mass`` (N, 2) with the standardised log jet mass appended."""
    particles, mask = _check(particles, mask)
    cond = [mask.sum(1) / mask.shape[1]]
    if with_mass:
        from jetkit.generative_metrics import jet_mass

        log_m = np.log(np.maximum(jet_mass(particles, mask), 1e-3))
        cond.append((log_m - standardiser.log_mass_mean) / standardiser.log_mass_std)
    return np.stack(cond, 1).astype(np.float32)


def model_inputs(particles, mask, standardiser: Standardiser, with_mass: bool = False):
    """Training data for both models: ``(x, slot_mask, cond)`` with x (N, P*3) standardised,
    slot_mask (N, P*3) float (1 = real particle) and cond from :func:`conditions`."""
    particles, mask = _check(particles, mask)
    x = standardiser.transform(particles, mask)
    slot = np.repeat(mask, 3, axis=1).astype(np.float32)
    return x, slot, conditions(particles, mask, standardiser, with_mass)


def sample_conditions(particles, mask, n: int, standardiser: Standardiser, seed: int = 0
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` (multiplicity, jet mass) pairs jointly from training jets; returns the
    multiplicities (n,) and the matching (n, 2) conditions of ``with_mass`` models."""
    particles, mask = _check(particles, mask)
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
    mask = np.arange(n_slots)[None, :] < multiplicity[:, None]
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
# Speed, and samples with known defects
# --------------------------------------------------------------------------------------------


def pythia_jets_per_second(class_name: str = "g", events: int = 60, dataset: str = "jet5",
                           chunk_index: int = 999) -> dict:
    """Time the full simulation chain (Pythia 8 + FastJet + selection) for ``events`` events of
    one class; returns ``{"jets", "seconds", "jets_per_second"}``."""
    from jetkit import generate

    spec = dataclasses.replace(generate.DATASETS[dataset], events_per_chunk=int(events))
    names = [c.name for c in spec.classes]
    if class_name not in names:
        raise ValueError(f"unknown class {class_name!r}; {dataset} has {names}")
    t0 = time.perf_counter()
    out = generate.generate_chunk(spec, names.index(class_name), chunk_index)
    seconds = time.perf_counter() - t0
    n = len(out["jets"])
    return {"jets": n, "seconds": seconds, "jets_per_second": n / seconds}


def time_sampler(sample: Callable[[int], object], n: int = 2000, repeats: int = 3) -> dict:
    """Time ``sample(n)`` (after one warm-up call that compiles); best of ``repeats``."""
    sample(n)
    best = min(_timed(sample, n) for _ in range(repeats))
    return {"jets": n, "seconds": best, "jets_per_second": n / best}


def _timed(fn, n):
    t0 = time.perf_counter()
    fn(n)
    return time.perf_counter() - t0


def distort(particles, mask, kind: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Copies of real jets with a known defect, to see which metric notices what.

    kinds: ``"smeared mass"`` (angles of each jet scaled by a random factor e^(0.3 g), g ~ N(0, 1):
    masses smeared by ~30 %); ``"shuffled between jets"`` (slot k of each jet taken from a random
    other jet, independently per slot: every particle distribution is exactly kept, the
    correlations inside a jet are destroyed); ``"wrong multiplicity"`` (each jet keeps
    only 20-29 of its constituents); ``"collapsed modes"`` (only jets below the median mass,
    resampled: the generator has dropped the high-mass mode); ``"soft particles shifted"``
    (constituents beyond the 10 hardest moved 0.1 further from the axis in d_eta)."""
    particles, mask = _check(particles, mask)
    particles, mask = particles.copy(), mask.copy()
    rng = np.random.default_rng(seed)
    n = len(particles)
    if kind == "smeared mass":
        particles[..., 1:] *= np.exp(0.3 * rng.standard_normal(n))[:, None, None]
    elif kind == "wrong multiplicity":
        keep = rng.integers(20, 30, n)
        mask = mask & (np.arange(mask.shape[1])[None, :] < keep[:, None])
    elif kind == "collapsed modes":
        from jetkit.generative_metrics import jet_mass

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


# --------------------------------------------------------------------------------------------
# Pretraining (the shipped checkpoint): python -m jetkit.models.generative
# --------------------------------------------------------------------------------------------

#: Everything that defines the shipped flow-matching checkpoint.
PRETRAIN = {"class_name": "g", "split_seed": 0, "hidden": (256, 256, 256), "n_freq": 8,
            "model_seed": 0, "batch_size": 256, "learning_rate": 1e-3, "steps": 12_000, "ema": 0.999,
            "with_mass": False}
#: Checkpoint file names (in data/checkpoints/) without and with the mass condition.
CHECKPOINTS = {False: "flow_matching_gluon.npz", True: "flow_matching_gluon_mass.npz"}
CHECKPOINT = CHECKPOINTS[False]


def gluon_splits(class_name: str = "g", seed: int = 0):
    """(train, val, test) :class:`~jetkit.datasets.JetDataset` of one jet5 class and the
    :class:`Standardiser` fitted on its training part."""
    from jetkit import datasets

    d = datasets.load("jet5", classes=[class_name])
    splits = datasets.split(d, seed=seed)
    return splits, Standardiser.fit(splits.train.particles, splits.train.mask)


def build_flow(config: dict | None = None) -> FlowMatcher:
    """A :class:`FlowMatcher` with the architecture of ``config`` (default :data:`PRETRAIN`)."""
    c = {**PRETRAIN, **(config or {})}
    return FlowMatcher(90, tuple(c["hidden"]), c["n_freq"], 2 if c["with_mass"] else 1,
                       rngs=nnx.Rngs(c["model_seed"]), seed=c["model_seed"])


def pretrain(out: str | None = None, steps: int | None = None, with_mass: bool = False,
             log_every: int = 2000) -> FlowMatcher:
    """Train the flow-matching model of :data:`PRETRAIN` (Adam, cosine learning-rate decay,
    exponential moving average of the weights) and save the EMA weights with :func:`jetkit.train.save_checkpoint`. Deterministic (fixed seeds)."""
    import optax

    from jetkit import generative_metrics, train

    c = dict(PRETRAIN, steps=steps or PRETRAIN["steps"], with_mass=bool(with_mass))
    (tr, va, _), st = gluon_splits(c["class_name"], c["split_seed"])
    data = model_inputs(tr.particles, tr.mask, st, with_mass=c["with_mass"])
    model = build_flow(c)
    sched = optax.cosine_decay_schedule(c["learning_rate"], c["steps"])
    opt = nnx.Optimizer(model, optax.adam(sched), wrt=nnx.Param)

    ema = jax.tree_util.tree_map(jnp.copy, nnx.state(model, nnx.Param))

    @nnx.jit
    def step(m, o, ema, batch):
        loss, grads = nnx.value_and_grad(flow_matching_loss)(m, batch)
        o.update(m, grads)
        new = jax.tree_util.tree_map(lambda e, p: c["ema"] * e + (1 - c["ema"]) * p, ema,
                                     nnx.state(m, nnx.Param))
        return loss, new

    rng = np.random.default_rng(c["model_seed"])
    n, bs, t0 = len(data[0]), c["batch_size"], time.perf_counter()
    if c["with_mass"]:
        mult, cond = sample_conditions(tr.particles, tr.mask, len(va), st, seed=1)
    else:
        mult, cond = sample_multiplicity(tr.mask, len(va), seed=1), None
    for s in range(c["steps"]):
        idx = rng.choice(n, bs, replace=False)
        loss, ema = step(model, opt, ema, tuple(a[idx] for a in data))
        if (s + 1) % log_every == 0 or s + 1 == c["steps"]:
            raw = jax.tree_util.tree_map(jnp.copy, nnx.state(model, nnx.Param))
            nnx.update(model, ema)
            w = [generative_metrics.w1m(*sample_flow(model, mult, st, seed=1, steps=k, cond=cond),
                                        va.particles, va.mask) for k in (16, 32)]
            nnx.update(model, raw)
            print(f"step {s + 1}: loss {float(loss):.2f}  W1M(val, EMA, 16/32 ODE steps) "
                  f"{w[0]:.2f}/{w[1]:.2f} GeV  {time.perf_counter() - t0:.0f} s", flush=True)
    nnx.update(model, ema)  # the exponential moving average of the weights samples better
    if out:
        train.save_checkpoint(model, out, {k: list(v) if isinstance(v, tuple) else v
                                           for k, v in c.items()})
    return model


if __name__ == "__main__":
    import argparse
    from pathlib import Path

    parser = argparse.ArgumentParser(description="pretrain the notebook-04 flow-matching model")
    parser.add_argument("--with-mass", action="store_true", help="condition on the jet mass too")
    parser.add_argument("--out", help="default: data/checkpoints/" + " or ".join(CHECKPOINTS.values()))
    parser.add_argument("--steps", type=int, default=PRETRAIN["steps"])
    args = parser.parse_args()
    out = Path(args.out or Path(__file__).resolve().parents[2] / "data" / "checkpoints" /
               CHECKPOINTS[args.with_mass])
    out.parent.mkdir(parents=True, exist_ok=True)
    pretrain(str(out), args.steps, args.with_mass)
