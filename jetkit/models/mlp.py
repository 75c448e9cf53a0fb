"""Multilayer perceptron: the baseline on high-level features and the FPGA tagger."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
from flax import nnx


class MLP(nnx.Module):
    """Dense layers ``in_features -> hidden... -> out_features`` with an activation (default
    ReLU) between them and optional dropout. Outputs logits (no final activation)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: Sequence[int] = (64, 32, 32),
        *,
        activation: Callable[[jax.Array], jax.Array] = nnx.relu,
        dropout: float = 0.0,
        rngs: nnx.Rngs,
    ):
        if in_features < 1 or out_features < 1 or any(h < 1 for h in hidden):
            raise ValueError(f"layer sizes must be >= 1, got {in_features}, {list(hidden)}, {out_features}")
        sizes = [in_features, *hidden, out_features]
        self.layers = nnx.List(
            [nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:])]
        )
        self.activation = activation
        self.dropout = nnx.Dropout(dropout, rngs=rngs) if dropout > 0 else None

    def __call__(self, x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        """``x`` (..., in_features) -> logits (..., out_features). ``mask`` is unused (flat
        features have no padding); accepted for a uniform model interface."""
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
            if self.dropout is not None:
                x = self.dropout(x)
        return self.layers[-1](x)
