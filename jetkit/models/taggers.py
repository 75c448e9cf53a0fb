"""The zoo's top taggers as recipes: the builder and its keyword arguments (both stored in a
checkpoint's metadata, so :mod:`jetkit.zoo` rebuilds the same architecture), the number of leading
constituents and the inputs, shared by training (:mod:`jetkit.models.tagger_training`) and loading.

Sizes are for 2 CPU cores (each trains in <= 30 min); ``JETKIT_SCALE=full`` takes the ``full_kwargs``
(the papers' sizes, for a GPU).
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Callable

import numpy as np
from flax import nnx

__all__ = ["BDT_BUILDER", "FEATURE_COLUMNS", "FEATURE_INPUTS", "IMAGE_SETTINGS", "TAGGERS", "Tagger", "build", "inputs",
           "jet_observables", "observables_from_expert", "recipe_kwargs", "standardise"]


@dataclasses.dataclass(frozen=True)
class Tagger:
    """How one zoo tagger is built and trained (sizes for 2 CPU cores; ``full`` for a GPU)."""

    builder: str  # "module:function" returning an nnx.Module, called with rngs=nnx.Rngs(seed)
    kwargs: dict
    inputs: str  # "particles" (features, mask), "lorentz" (p4, mask), "pairs" (features, mask, pair),
    #              "images" (32 x 32 preprocessed pT-fraction jet images),
    #              "hlf7" or "expert14" (standardised jet observables of a JetDataset)
    n_particles: int
    epochs: int
    learning_rate: float
    batch_size: int = 256
    full_kwargs: dict = dataclasses.field(default_factory=dict)  # overrides with JETKIT_SCALE=full


BDT_BUILDER = "jetkit.models.bdt:BoostedTrees"  # fitted by scikit-learn, not by gradient descent

TAGGERS: dict[str, Tagger] = {
    # Physics knowledge alone: an MLP on 7 cheap jet observables, and on 14 expert observables
    # (jetkit.physics.high_level_features / expert_features), standardised on the training split.
    "mlp7": Tagger("jetkit.models.mlp:MLP", {"in_features": 7, "out_features": 1, "hidden": [64, 32, 32]},
                   "hlf7", n_particles=64, epochs=40, learning_rate=3e-3),
    "expert_mlp": Tagger("jetkit.models.mlp:MLP", {"in_features": 14, "out_features": 1, "hidden": [128, 64, 32]},
                         "expert14", n_particles=64, epochs=40, learning_rate=3e-3),
    # The classic LHC analysis tool on the same 14 observables: gradient-boosted decision trees
    # (jetkit.models.bdt; "epochs" is unused, the tree count is picked by the validation AUC).
    "expert_bdt": Tagger(BDT_BUILDER, {"n_trees": 800, "max_depth": 3}, "expert14", n_particles=64, epochs=1,
                         learning_rate=0.1),
    # A CNN on 32 x 32 jet images (centred, rotated, flipped; arXiv:1701.08784 "DeepTop").
    "cnn": Tagger("jetkit.models.cnn:JetCNN", {"npix": 32, "channels": [16, 32, 32], "hidden": 64},
                  "images", n_particles=64, epochs=30, learning_rate=2e-3,
                  full_kwargs={"npix": 40, "channels": [32, 64, 64, 64], "hidden": 128}),
    # Deep Sets / Particle Flow Network (arXiv:1703.06114, 1810.05165): per-particle MLP, masked
    # sum, jet-level MLP, on the 5 features of the 64 hardest constituents.
    "deepsets": Tagger("jetkit.models.deepsets:DeepSets", {"phi": [128, 128, 128], "rho": [128, 64]},
                       "particles", n_particles=64, epochs=30, learning_rate=2e-3,
                       full_kwargs={"phi": [256, 256, 256], "rho": [256, 128]}),
    # EdgeConv with max aggregation (the fast path of jetkit.models.gnn), three blocks, the later
    # two with kNN in feature space, as ParticleNet (arXiv:1902.08570) at a CPU-sized width; every
    # jet turned and mirrored at random about its axis in training (augment), as the ParT.
    "particlenet": Tagger("jetkit.models.gnn:EdgeConvNet",
                          {"blocks": [[16, [64], [64]], [16, [96], [96]], [16, [128], [128]]], "head": [128],
                           "aggregation": "max", "augment": True},
                          "particles", n_particles=64, epochs=30, learning_rate=3e-3,
                          full_kwargs={"blocks": [[16, [64, 64, 64], []], [16, [128, 128, 128], []],
                                                  [16, [256, 256, 256], []]], "head": [256],
                                       "aggregation": "mean"}),
    # LorentzNet (arXiv:2201.08187): Minkowski-product messages, equivariant four-vector updates.
    # As the paper: the two beams as extra nodes, four-vectors in GeV (scale 1), sum pooling and
    # small batches (it learns per optimizer step, not per jet: batch 256 stalls near the mass cut).
    # 6 epochs fit in 30 min on 2 CPU cores (val AUC 0.9862, still rising); the zoo's model took
    # the paper's 35 epochs on a GPU (--epochs 35: 5.5 min on an H200, val AUC 0.9898 at epoch 31).
    "lorentznet": Tagger("jetkit.models.lorentznet:LorentzNet",
                         {"hidden": 32, "n_blocks": 4, "beams": True, "scale": 1.0, "pooling": "sum"},
                         "lorentz", n_particles=32, epochs=6, learning_rate=1e-3, batch_size=32,
                         full_kwargs={"hidden": 72, "n_blocks": 6}),
    # ParT-lite (arXiv:2202.03772): attention with the pairwise (ln dR, ln kT, ln z, ln m^2) bias.
    # Without augmentation it overfits the 35k jets after epoch 10 of 20 (val AUC 0.9869), and the
    # paper's residual dropout 0.1 does not cure that (--set dropout=0.1 --epochs 40: 0.9861); a
    # random rotation and mirror of every jet about its axis in each step (augment, the symmetry the
    # CNN's images get by hand) does: val AUC 0.9889 at epoch 24 of 30, 11.7 min on 2 CPU cores.
    "part": Tagger("jetkit.models.transformer:ParticleTransformer",
                   {"dim": 64, "heads": 4, "n_blocks": 3, "n_class_blocks": 1, "ffn_ratio": 4, "augment": True},
                   "pairs", n_particles=32, epochs=30, learning_rate=1e-3,
                   full_kwargs={"dim": 128, "heads": 8, "n_blocks": 8, "n_class_blocks": 2, "ffn_ratio": 4}),
}


def scale_full() -> bool:
    """True with ``JETKIT_SCALE=full`` (the bigger models and runs, for a GPU)."""
    return os.environ.get("JETKIT_SCALE") == "full"


def recipe_kwargs(name: str) -> dict:
    """The builder's keyword arguments of recipe ``name`` at this scale."""
    recipe = TAGGERS[name]
    return {**recipe.kwargs, **(recipe.full_kwargs if scale_full() else {})}


def _builder(path: str) -> Callable:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def build(meta: dict) -> nnx.Module:
    """The tagger described by checkpoint metadata (``builder``, ``kwargs``, ``seed``)."""
    kwargs = dict(meta["kwargs"])
    if "blocks" in kwargs:  # JSON lists back to the (k, edge, node) tuples of EdgeConvNet
        kwargs["blocks"] = tuple((int(k), tuple(e), tuple(n)) for k, e, n in kwargs["blocks"])
    for key in ("head", "hidden", "channels"):  # JSON lists back to tuples (LorentzNet's hidden is an int)
        if isinstance(kwargs.get(key), list):
            kwargs[key] = tuple(kwargs[key])
    return _builder(meta["builder"])(**kwargs, rngs=nnx.Rngs(int(meta.get("seed", 0))))


#: The "images" inputs: pT fractions on a 32 x 32 (d_eta, d_phi) grid, |d_eta|, |d_phi| < 0.8,
#: centred on the pT centroid, the principal axis rotated upright, flipped to put the most pT right.
IMAGE_SETTINGS = {"npix": 32, "extent": 0.8, "center": True, "rotate": True, "flip": True, "normalise": True}
FEATURE_INPUTS = ("hlf7", "expert14")  # made from a whole JetDataset (jet mass, full multiplicity)


#: How many leading columns of the 14 expert observables each feature input is
#: (:func:`jetkit.physics.expert_features` starts with the 7 :func:`~jetkit.physics.high_level_features`).
FEATURE_COLUMNS = {"hlf7": 7, "expert14": 14}


def jet_observables(kind: str, d) -> np.ndarray:
    """The unstandardised observables (N, 7 or 14) of a JetDataset for a feature tagger."""
    from jetkit.physics import expert_features, high_level_features

    return (high_level_features if kind == "hlf7" else expert_features)(d)[0]


def observables_from_expert(kind: str, expert) -> np.ndarray:
    """The observables of feature input ``kind`` ("hlf7" or "expert14") taken from the 14 expert
    observables (N, 14) of the same jets: equal to ``jet_observables(kind, d)`` without computing
    the 7 again (several feature taggers scored on the same jets share one computation)."""
    if kind not in FEATURE_COLUMNS:
        raise ValueError(f"unknown feature input {kind!r}; choose from {sorted(FEATURE_COLUMNS)}")
    expert = np.asarray(expert)
    if expert.ndim != 2 or expert.shape[1] != FEATURE_COLUMNS["expert14"]:
        raise ValueError(f"expected the 14 expert observables, shape (N, 14); got {expert.shape}")
    return expert[:, :FEATURE_COLUMNS[kind]]


def standardise(observables, scaler) -> np.ndarray:
    """(observables - mean) / scale as float32, with ``scaler`` = (mean, scale) of the training split."""
    return ((np.asarray(observables) - np.asarray(scaler[0])) / np.asarray(scaler[1])).astype(np.float32)


def inputs(kind: str, n_particles: int, scaler: tuple | None = None) -> Callable:
    """``prepare(jets, mask=None)`` -> the model's input tuple: from a JetDataset, or from padded
    ``(particles, mask)`` for the particle-level kinds, which see the ``n_particles`` leading
    constituents: ``"particles"``, ``"lorentz"``, ``"pairs"``, ``"images"`` (:data:`IMAGE_SETTINGS`);
    ``"hlf7"`` and ``"expert14"`` need a JetDataset and the ``scaler`` (mean, scale) of the training split (see :class:`Tagger`)."""
    from jetkit.models.inputs import particle_features
    from jetkit.models.lorentznet import lorentznet_inputs
    from jetkit.models.transformer import transformer_inputs
    from jetkit.physics.images import jet_image

    if kind not in ("particles", "lorentz", "pairs", "images", *FEATURE_INPUTS):
        raise ValueError(f"unknown inputs {kind!r}; use 'particles', 'lorentz', 'pairs', 'images', 'hlf7' or 'expert14'")
    if n_particles < 2:
        raise ValueError(f"need at least 2 constituents per jet, got {n_particles}")
    if kind in FEATURE_INPUTS and scaler is None:
        raise ValueError(f"{kind!r} inputs are standardised: pass scaler=(mean, scale) of the training split")

    def prepare(jets, mask=None):
        """Model inputs (a tuple), as in training."""
        if kind in FEATURE_INPUTS:
            if not hasattr(jets, "particles"):
                raise ValueError(f"{kind!r} inputs need a JetDataset (jet mass, full multiplicity), not arrays")
            return (standardise(jet_observables(kind, jets), scaler),)
        if hasattr(jets, "particles"):
            jets, mask = jets.particles, jets.mask
        p, m = np.asarray(jets, np.float32)[:, :n_particles], np.asarray(mask, bool)[:, :n_particles]
        if kind == "particles":
            return np.asarray(particle_features(p, m)), m
        if kind == "lorentz":
            return lorentznet_inputs(p, m)
        if kind == "images":
            return (np.asarray(jet_image(p, m, **IMAGE_SETTINGS)),)
        return transformer_inputs(p, m)

    return prepare
