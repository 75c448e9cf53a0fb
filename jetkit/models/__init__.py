"""Models in flax.nnx: constructors take ``rngs``; ``__call__(x, mask=None)``."""

from jetkit.models.cnn import JetCNN
from jetkit.models.deepsets import DeepSets
from jetkit.models.gnn import EdgeConvNet
from jetkit.models.lorentz import LorentzInvariantNet
from jetkit.models.mlp import MLP
from jetkit.models.transformer import ParticleTransformer

__all__ = ["MLP", "JetCNN", "DeepSets", "EdgeConvNet", "LorentzInvariantNet", "ParticleTransformer"]
