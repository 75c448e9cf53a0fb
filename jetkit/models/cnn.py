"""A small convolutional network on jet images (arXiv:1511.05190, 1701.08784 "DeepTop").

Input: (B, npix, npix) pT images (e.g. ``images.jet_image(..., normalise=True)``); the network
takes sqrt of the pixels (a gentle compression of the pT scale), then conv-pool blocks and a
dense head. Translation equivariant convolutions; the preprocessing (centre, rotate, flip) takes
care of the symmetries the image grid does not have.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
from flax import nnx

__all__ = ["JetCNN"]


class JetCNN(nnx.Module):
    """Conv(3x3) + ReLU + 2x2 average pool per entry of ``channels``, then dense ``hidden`` and
    ``out_features`` logits. ``model(images, mask=None)``; ``mask`` is unused (images have no
    padding) and accepted for a uniform interface."""

    def __init__(self, npix: int = 32, channels: Sequence[int] = (8, 16, 16), hidden: int = 64,
                 out_features: int = 1, *, rngs: nnx.Rngs):
        if npix % (2 ** len(channels)):
            raise ValueError(f"npix={npix} must be divisible by 2**{len(channels)} (one pool per block)")
        sizes = [1, *channels]
        self.convs = nnx.List([nnx.Conv(a, b, (3, 3), padding="SAME", rngs=rngs)
                               for a, b in zip(sizes[:-1], sizes[1:])])
        side = npix // 2 ** len(channels)
        self.dense = nnx.Linear(side * side * channels[-1], hidden, rngs=rngs)
        self.out = nnx.Linear(hidden, out_features, rngs=rngs)

    def __call__(self, images, mask=None):
        x = jnp.sqrt(jnp.clip(jnp.asarray(images, jnp.float32), 0.0))[..., None] * 4.0
        for conv in self.convs:
            x = nnx.relu(conv(x))
            x = nnx.avg_pool(x, (2, 2), strides=(2, 2))
        x = nnx.relu(self.dense(x.reshape(x.shape[0], -1)))
        return self.out(x)
