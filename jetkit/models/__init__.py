"""Models in flax.nnx: constructors take ``rngs``; ``__call__(x, mask=None)``."""

from jetkit.models.mlp import MLP

__all__ = ["MLP"]
