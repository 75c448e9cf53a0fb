"""Autoencoders for anomaly detection: a dense autoencoder (AE) and a variational one (VAE).

Both work on any fixed-size input: a jet image (..., npix, npix), a flat feature vector
(..., F), or padded constituents (..., P, 3) with a mask. The trailing ``input_shape`` axes are
flattened, squeezed through a small bottleneck of ``latent_dim`` numbers and expanded back.
Trained on background only, they reconstruct background-like jets well; a large reconstruction
error flags a jet as *anomalous* (arXiv:1808.08992, 1808.08979).

``mask`` (optional) marks the real entries: either the full input shape, or the input shape
without its last axis (constituent masks (..., P) for particles (..., P, 3)). Masked-out entries
are set to zero before encoding and in the reconstruction, so whatever sits in the padding
never changes the result.

The VAE (arXiv:1312.6114) encodes each input into a Gaussian q(z|x) = N(mu, diag sigma^2) and is
trained on reconstruction + beta * KL(q || N(0, 1)). Anomaly scores (:func:`anomaly_scores`):
the reconstruction error, the KL term, and R_z = sum_i mu_i^2 / sigma_i^2 (arXiv:2108.03986),
which needs only the encoder and is what fits into a 40 MHz FPGA trigger.

>>> model = AE(input_shape=(32, 32), latent_dim=8, rngs=nnx.Rngs(0))
>>> model(images).shape          # same shape as the input
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

__all__ = ["AE", "VAE", "ae_loss", "anomaly_scores", "kl_divergence", "reconstruction_error", "rz_score", "vae_loss"]


def _dense_stack(sizes: Sequence[int], rngs: nnx.Rngs) -> nnx.List:
    return nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:])])


def _run(layers, x, activation, final_activation=None):
    for layer in layers[:-1]:
        x = activation(layer(x))
    x = layers[-1](x)
    return final_activation(x) if final_activation is not None else x


class _Base(nnx.Module):
    def _setup(self, input_shape, latent_dim, hidden):
        if isinstance(input_shape, int):
            input_shape = (input_shape,)
        self.input_shape = tuple(int(s) for s in input_shape)
        if not self.input_shape or any(s < 1 for s in self.input_shape):
            raise ValueError(f"input_shape must be positive sizes, got {input_shape!r}")
        if latent_dim < 1 or any(h < 1 for h in hidden):
            raise ValueError(f"latent_dim and hidden sizes must be >= 1, got {latent_dim}, {list(hidden)}")
        self.n_in = math.prod(self.input_shape)
        self.latent_dim = int(latent_dim)
        self.hidden = tuple(int(h) for h in hidden)

    def _flatten(self, x, mask):
        x = jnp.asarray(x, jnp.float32)
        k = len(self.input_shape)
        if x.shape[x.ndim - k:] != self.input_shape:
            raise ValueError(
                f"expected inputs of shape (..., {', '.join(map(str, self.input_shape))}), got {x.shape}"
            )
        if mask is not None:
            x = x * _expand_mask(mask, x.shape, k)
        return x.reshape(x.shape[: x.ndim - k] + (self.n_in,))

    def _unflatten(self, y, mask):
        k = len(self.input_shape)
        y = y.reshape(y.shape[:-1] + self.input_shape)
        if mask is not None:
            y = y * _expand_mask(mask, y.shape, k)
        return y


def _expand_mask(mask, shape, k):
    m = jnp.asarray(mask)
    if m.shape == tuple(shape):
        return m.astype(jnp.float32)
    if m.shape == tuple(shape[:-1]):
        return m[..., None].astype(jnp.float32)
    raise ValueError(f"mask shape {m.shape} fits neither the input {tuple(shape)} nor {tuple(shape[:-1])}")


class AE(_Base):
    """Dense autoencoder ``input -> hidden... -> latent_dim -> ...hidden -> input``.

    Args:
        input_shape: shape of one input (e.g. ``(32, 32)`` for an image, ``(64, 3)`` for
            constituents, ``16`` for features).
        latent_dim: bottleneck size (small: 4-8 for jet images).
        hidden: hidden layer sizes of the encoder (the decoder mirrors them).
        activation: between layers (default ReLU); the code and the output are linear.
    """

    def __init__(self, input_shape, latent_dim: int = 8, hidden: Sequence[int] = (128,), *,
                 activation=nnx.relu, rngs: nnx.Rngs):
        self._setup(input_shape, latent_dim, hidden)
        self.activation = activation
        self.encoder = _dense_stack([self.n_in, *self.hidden, self.latent_dim], rngs)
        self.decoder = _dense_stack([self.latent_dim, *self.hidden[::-1], self.n_in], rngs)

    def encode(self, x, mask=None) -> jax.Array:
        """Inputs (..., *input_shape) -> latent codes (..., latent_dim)."""
        return _run(self.encoder, self._flatten(x, mask), self.activation)

    def decode(self, z, mask=None) -> jax.Array:
        """Latent codes (..., latent_dim) -> reconstructions (..., *input_shape)."""
        return self._unflatten(_run(self.decoder, jnp.asarray(z, jnp.float32), self.activation), mask)

    def __call__(self, x, mask=None) -> jax.Array:
        """The reconstruction of ``x`` (same shape; masked entries zero)."""
        return self.decode(self.encode(x, mask), mask)


class VAE(_Base):
    """Variational autoencoder with a diagonal Gaussian encoder q(z|x) = N(mu, sigma^2).

    ``__call__`` returns ``(reconstruction, mu, logvar)``; in train mode the decoder sees a
    sample z = mu + sigma * eps (reparameterisation trick, noise from ``rngs.noise`` or
    ``rngs.default``), in eval mode (``model.eval()``, what :func:`jetkit.train.fit` leaves) it
    sees z = mu, so scores are deterministic.
    """

    def __init__(self, input_shape, latent_dim: int = 8, hidden: Sequence[int] = (128,), *,
                 activation=nnx.relu, rngs: nnx.Rngs):
        self._setup(input_shape, latent_dim, hidden)
        self.activation = activation
        self.encoder = _dense_stack([self.n_in, *self.hidden], rngs)
        last = self.hidden[-1] if self.hidden else self.n_in
        self.to_mu = nnx.Linear(last, self.latent_dim, rngs=rngs)
        self.to_logvar = nnx.Linear(last, self.latent_dim, rngs=rngs,
                                    kernel_init=nnx.initializers.zeros_init())
        self.decoder = _dense_stack([self.latent_dim, *self.hidden[::-1], self.n_in], rngs)
        self.noise = nnx.Rngs(noise=rngs.default())
        self.deterministic = False

    def encode(self, x, mask=None) -> tuple[jax.Array, jax.Array]:
        """Inputs -> ``(mu, logvar)`` of q(z|x), each (..., latent_dim)."""
        h = self._flatten(x, mask)
        for layer in self.encoder:
            h = self.activation(layer(h))
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z, mask=None) -> jax.Array:
        """Latent codes (..., latent_dim) -> reconstructions (..., *input_shape)."""
        return self._unflatten(_run(self.decoder, jnp.asarray(z, jnp.float32), self.activation), mask)

    def __call__(self, x, mask=None):
        mu, logvar = self.encode(x, mask)
        if self.deterministic:
            z = mu
        else:
            z = mu + jnp.exp(0.5 * logvar) * jax.random.normal(self.noise.noise(), mu.shape)
        return self.decode(z, mask), mu, logvar


# --------------------------------------------------------------------------------------------
# Scores and losses (pure functions, per jet)
# --------------------------------------------------------------------------------------------


def reconstruction_error(x, reconstruction, n_axes: int | None = None) -> jax.Array:
    """Mean squared error per example over the trailing ``n_axes`` axes (default: all but the
    first)."""
    x, r = jnp.asarray(x), jnp.asarray(reconstruction)
    n_axes = x.ndim - 1 if n_axes is None else n_axes
    return jnp.mean((x - r) ** 2, axis=tuple(range(x.ndim - n_axes, x.ndim)))


def kl_divergence(mu, logvar) -> jax.Array:
    """KL(N(mu, diag exp(logvar)) || N(0, 1)) per example, summed over the latent axis:
    0.5 * sum(mu^2 + sigma^2 - 1 - log sigma^2)."""
    mu, logvar = jnp.asarray(mu), jnp.asarray(logvar)
    return 0.5 * jnp.sum(mu**2 + jnp.exp(logvar) - 1.0 - logvar, axis=-1)


def rz_score(mu, logvar) -> jax.Array:
    """Latent anomaly score R_z = sum_i mu_i^2 / sigma_i^2 (arXiv:2108.03986): the distance of
    the encoded mean from the prior in units of its own width. Needs no decoder."""
    mu, logvar = jnp.asarray(mu), jnp.asarray(logvar)
    return jnp.sum(mu**2 * jnp.exp(-logvar), axis=-1)


def _inputs(batch):
    """``batch`` is ``x``, ``(x,)`` or ``(x, mask)``."""
    if isinstance(batch, (tuple, list)):
        return batch[0], (batch[1] if len(batch) > 1 else None)
    return batch, None


def ae_loss(model: AE, batch) -> jax.Array:
    """Mean squared reconstruction error of an :class:`AE` (for :func:`jetkit.train.fit`)."""
    x, mask = _inputs(batch)
    return jnp.mean(reconstruction_error(model._flatten(x, mask), model._flatten(model(x, mask), None)))


def vae_loss(model: VAE, batch, beta: float = 1.0) -> jax.Array:
    """Mean over the batch of sum_pixels (x - x_hat)^2 + beta * KL (the negative ELBO of a
    Gaussian decoder, up to constants, for beta = 1 / (2 sigma_x^2)); beta balances
    reconstruction against a well-behaved latent space (``functools.partial`` changes it)."""
    x, mask = _inputs(batch)
    rec, mu, logvar = model(x, mask)
    sse = model.n_in * reconstruction_error(model._flatten(x, mask), model._flatten(rec, None))
    return jnp.mean(sse + beta * kl_divergence(mu, logvar))


def anomaly_scores(model, x, mask=None, *, batch_size: int = 2048) -> dict[str, np.ndarray]:
    """Anomaly scores per jet (larger = more anomalous), in eval mode.

    :class:`AE`: ``{"MSE"}``; :class:`VAE`: ``{"MSE", "KL", "R_z"}`` where MSE is the
    reconstruction error of the decoded mean, KL the divergence of q(z|x) from N(0, 1) and
    R_z = sum mu^2 / sigma^2 (arXiv:2108.03986)."""
    if not isinstance(model, (AE, VAE)):
        raise ValueError(f"anomaly_scores() needs an AE or a VAE, got {type(model).__name__}")
    model.eval()
    x = np.asarray(x, np.float32)
    parts = []
    for s in range(0, len(x), batch_size):  # fixed batch shape: compiled once
        xb = x[s:s + batch_size]
        mb = None if mask is None else np.asarray(mask[s:s + batch_size])
        n = len(xb)
        if n < batch_size and len(x) > batch_size:
            xb = np.concatenate([xb, np.repeat(xb[:1], batch_size - n, 0)])
            mb = None if mb is None else np.concatenate([mb, np.repeat(mb[:1], batch_size - n, 0)])
        parts.append({k: np.asarray(v)[:n] for k, v in _score_batch(model, xb, mb).items()})
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


@nnx.jit
def _score_batch(m, xb, mb):
    if isinstance(m, VAE):
        mu, logvar = m.encode(xb, mb)
        rec = m.decode(mu, mb)
        return {"MSE": reconstruction_error(xb, rec), "KL": kl_divergence(mu, logvar),
                "R_z": rz_score(mu, logvar)}
    return {"MSE": reconstruction_error(xb, m(xb, mb))}
