"""Self-supervised jet representations: JetCLR (arXiv:2108.04253) with a ParT-lite encoder.

A :class:`ContrastiveModel` is an encoder f (a :class:`~jetkit.models.transformer.ParticleTransformer`
whose class token is the jet representation h = f(jet)) and a small projection head g. Training
never reads a label: every batch of jets is augmented twice
(:func:`jetkit.physics.augmentations.augment`: rotations, translations, collinear splittings, soft
particles) and the NT-Xent loss (:func:`jetkit.models.contrastive.nt_xent`) pulls g(f(view 1)) and
g(f(view 2)) of the same jet together and pushes all other jets of the batch away::

    model = ContrastiveModel(rngs=nnx.Rngs(0))
    train.fit(model, (jets.particles, jets.mask), loss_fn=contrastive_loss, epochs=2)   # no labels
    h = representations(model, jets.particles, jets.mask)                             # (N, dim)
    f = probe_features(model, jets.particles, jets.mask)                              # (N, 2 dim)
    scores = linear_probe(f[few], labels[few], f[test])                               # few labels

The representation h (before the head, as in SimCLR arXiv:2002.05709) is then used with few
labels: a linear probe (:func:`linear_probe`) on the frozen encoder's :func:`probe_features` (h and
the mean particle token, as DINOv2's linear evaluation, arXiv:2304.07193), or fine-tuning ``model.encoder`` (a tagger: its
``head`` gives logits) with ``train.fit`` on :func:`tagger_inputs`. The encoder sees the ``size``
(default 32) hardest constituents of each (augmented) jet; jets with fewer slots are zero-padded.
Particles are (N, P, 3) = (pT [GeV], d_eta, d_phi [rad]) relative to the jet axis, as shipped.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jetkit import validation
from jetkit.models.contrastive import nt_xent
from jetkit.models.generative import NoiseKey
from jetkit.models.inputs import N_FEATURES, particle_features
from jetkit.models.transformer import ParticleTransformer, _pairwise
from jetkit.physics import augmentations

__all__ = ["AUGMENTATION", "SIZE", "ContrastiveModel", "balanced_subset", "contrastive_loss", "encoder_features",
           "encoder_inputs", "linear_probe", "probe_features", "projections", "representations", "tagger_inputs", "view"]

SIZE = 32  # constituents the encoder sees (the hardest ones)
# JetCLR's recipe (arXiv:2108.04253): symmetries and IRC-safe changes, no pT smearing
AUGMENTATION = {"rotation": True, "width": 0.1, "n_split": 8, "n_soft": 4, "pt_max": 1.0, "radius": 0.8,
                "resolution": 0.0}


def _fit_slots(p, m, size: int):
    """The ``size`` hardest constituents (sorted by pT, descending), zero-padded if P < size."""
    n = m.shape[-1]
    if n < size:
        p = jnp.pad(p, ((0, 0), (0, size - n), (0, 0)))
        m = jnp.pad(m, ((0, 0), (0, size - n)))
    order = jnp.argsort(jnp.where(m, -p[..., 0], jnp.inf), axis=-1, stable=True)[..., :size]
    p = jnp.take_along_axis(p, order[..., None], axis=-2)
    m = jnp.take_along_axis(m, order, axis=-1)
    return jnp.where(m[..., None], p, 0.0), m


def _encoder_inputs(p, m, size: int):
    p, m = _fit_slots(p, m, size)
    return particle_features(p, m), m, _pairwise(p, m)


def encoder_inputs(particles, mask=None, size: int = SIZE) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(x, mask, pair)`` of the ``size`` hardest constituents, the inputs of a
    :class:`~jetkit.models.transformer.ParticleTransformer`: x (N, size, 5) per-particle
    features, mask (N, size) bool, pair (N, size, size, 4) ParT pair features. JAX arrays."""
    if np.ndim(particles) != 3:
        raise ValueError(f"particles must have shape (N, P, 3) = (pT, d_eta, d_phi), got {np.shape(particles)}")
    if int(size) < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    particles, mask = validation.check_particles(particles, mask, allow_empty=True)
    return _encoder_inputs(jnp.asarray(particles, jnp.float32), jnp.asarray(mask, bool), int(size))


def tagger_inputs(particles, mask=None, size: int = SIZE, *, batch: int = 4096):
    """:func:`encoder_inputs` as numpy arrays, computed ``batch`` jets at a time: train
    ``model.encoder`` as a tagger with ``train.fit(encoder, (*tagger_inputs(p, m), labels),
    loss_fn=train.cross_entropy_loss)``."""
    parts = [encoder_inputs(particles[s:s + batch], None if mask is None else mask[s:s + batch], size)
             for s in range(0, len(particles), batch)]
    if not parts:
        raise ValueError("tagger_inputs needs at least one jet")
    return tuple(np.concatenate([np.asarray(p[i]) for p in parts]) for i in range(3))


def encoder_features(encoder: ParticleTransformer, x, mask, pair) -> jax.Array:
    """(N, 2 dim): a ParT-lite encoder's representation h and the mean of its particle tokens after
    the last particle block, from its inputs ``(x, mask, pair)`` (:func:`encoder_inputs`); what
    :meth:`ContrastiveModel.probe_features` returns, for any such encoder (pretrained or supervised)."""
    h, tokens = encoder.encode(x, mask, pair)
    count = jnp.maximum(jnp.sum(mask, -1, keepdims=True), 1)
    return jnp.concatenate([h, tokens.sum(-2) / count], axis=-1)


class ContrastiveModel(nnx.Module):
    """JetCLR model (arXiv:2108.04253): ``encoder`` (ParT-lite, representation = its class token,
    ``dim`` wide) + ``projector`` (MLP dim -> ``projection`` widths, GELU between) + a PRNG key
    for the augmentations (a :class:`~jetkit.models.generative.NoiseKey`, advanced at every
    :meth:`views` call; ``seed`` sets it).

    ``model(particles, mask)`` -> projections (N, projection[-1]);
    ``model.represent(particles, mask)`` -> representations (N, dim);
    ``model.views(particles, mask)`` -> two augmented views ``((p1, m1), (p2, m2))`` (:func:`view`).
    ``augmentation`` overrides keys of :data:`AUGMENTATION` (arguments of
    :func:`~jetkit.physics.augmentations.augment`). The default (dim 48, 4 heads, 2 + 1 blocks,
    projection (64, 32)) has 93,157 parameters (90,949 in the encoder).
    """

    def __init__(self, dim: int = 48, heads: int = 4, n_blocks: int = 2, n_class_blocks: int = 1,
                 projection: tuple[int, ...] = (64, 32), temperature: float = 0.1, size: int = SIZE,
                 augmentation: Mapping | None = None, *, rngs: nnx.Rngs, seed: int = 0):
        if not projection or min(projection) < 1 or int(size) < 1:
            raise ValueError(f"projection needs widths >= 1 and size must be >= 1; got {projection}, {size}")
        validation.check_positive(float(temperature), "temperature")
        unknown = set(augmentation or {}) - set(AUGMENTATION)
        if unknown:
            raise ValueError(f"unknown augmentation options {sorted(unknown)}; known: {sorted(AUGMENTATION)}")
        options = {**AUGMENTATION, **(augmentation or {})}
        augmentations.check_options(**options)
        self.encoder = ParticleTransformer(N_FEATURES, 1, dim, heads, n_blocks, n_class_blocks, rngs=rngs)
        widths = (dim, *projection)
        self.projector = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(widths[:-1], widths[1:])])
        self.noise = NoiseKey(jax.random.PRNGKey(seed))
        self.temperature, self.size = float(temperature), int(size)
        self.sizes = (("dim", int(dim)), ("heads", int(heads)), ("n_blocks", int(n_blocks)),
                      ("n_class_blocks", int(n_class_blocks)))  # the encoder's shape (hashable)
        self.augmentation = tuple(sorted(options.items()))  # hashable: part of the static graph

    def represent(self, particles, mask=None) -> jax.Array:
        """Jet representations (N, dim) of the ``size`` hardest constituents."""
        mask = (jnp.asarray(particles)[..., 0] > 0) if mask is None else mask
        return self.encoder.embed(*_encoder_inputs(jnp.asarray(particles, jnp.float32),
                                                   jnp.asarray(mask, bool), self.size))

    def probe_features(self, particles, mask=None) -> jax.Array:
        """Frozen features for a linear probe (N, 2 dim): the representation h and the mean of the
        encoder's particle tokens after its last particle block, DINOv2's linear evaluation
        (class token + average-pooled patch tokens, arXiv:2304.07193)."""
        mask = (jnp.asarray(particles)[..., 0] > 0) if mask is None else mask
        x, m, pair = _encoder_inputs(jnp.asarray(particles, jnp.float32), jnp.asarray(mask, bool), self.size)
        return encoder_features(self.encoder, x, m, pair)

    def project(self, h: jax.Array) -> jax.Array:
        for i, layer in enumerate(self.projector):
            h = layer(nnx.gelu(h) if i else h)
        return h

    def __call__(self, particles, mask=None) -> jax.Array:
        return self.project(self.represent(particles, mask))

    def new_encoder(self, n_classes: int = 1, *, seed: int, pretrained: bool = True) -> ParticleTransformer:
        """A tagger with this encoder's shape and a fresh ``n_classes`` head (``seed``): a copy of
        the pretrained encoder (``pretrained=True``, for fine-tuning) or randomly initialised
        (``False``, the from-scratch baseline)."""
        rngs = nnx.Rngs(seed)
        c = dict(self.sizes)
        fresh = ParticleTransformer(N_FEATURES, 1, c["dim"], c["heads"], c["n_blocks"], c["n_class_blocks"],
                                    rngs=rngs)
        if pretrained:
            nnx.update(fresh, nnx.state(self.encoder))
        fresh.head = nnx.Linear(c["dim"], int(n_classes), rngs=rngs)
        return fresh

    def views(self, particles, mask):
        """Two independent :func:`view` s of every jet (the key advances at each call)."""
        key, sub = jax.random.split(self.noise.get_value())
        self.noise.set_value(key)
        k1, k2 = jax.random.split(sub)
        options = dict(self.augmentation)
        return view(k1, particles, mask, options), view(k2, particles, mask, options)


def view(key: jax.Array, particles, mask=None, augmentation: Mapping | None = None):
    """One augmented view of every jet: :func:`~jetkit.physics.augmentations.augment` with the
    options :data:`AUGMENTATION` (overridden by ``augmentation``), after giving each jet
    ``n_split + n_soft`` extra empty slots (at least the default's 12, so options up to the
    default share one shape), so that also a jet whose slots are all filled takes its collinear
    splittings and soft particles. Returns ``(particles, mask)`` with P + max(n_split + n_soft,
    12) slots, sorted by pT."""
    options = {**AUGMENTATION, **(augmentation or {})}
    # at least the default's room, so every option up to the default compiles one shape
    extra = max(options["n_split"] + options["n_soft"], AUGMENTATION["n_split"] + AUGMENTATION["n_soft"])
    if mask is None:
        mask = jnp.asarray(particles)[..., 0] > 0
    particles = jnp.pad(jnp.asarray(particles, jnp.float32), ((0, 0), (0, extra), (0, 0)))
    mask = jnp.pad(jnp.asarray(mask, bool), ((0, 0), (0, extra)))
    return augmentations.augment(key, particles, mask, **options)


def contrastive_loss(model: ContrastiveModel, batch) -> jax.Array:
    """NT-Xent loss of two augmented views of each jet of ``batch = (particles, mask)``
    (no labels: the batch has none to read). Both views go through the encoder as one batch."""
    if len(batch) != 2:
        raise ValueError("contrastive_loss takes batch = (particles, mask) and no labels; "
                         f"got {len(batch)} arrays")
    (p1, m1), (p2, m2) = model.views(*batch)
    z = model(jnp.concatenate([p1, p2]), jnp.concatenate([m1, m2]))
    n = p1.shape[0]
    return nt_xent(z[:n], z[n:], model.temperature)


@nnx.jit
def _represent(model, p, m):
    return model.represent(p, m)


@nnx.jit
def _project(model, p, m):
    return model(p, m)


@nnx.jit
def _probe_features(model, p, m):
    return model.probe_features(p, m)


def _batched(fn, model: ContrastiveModel, particles, mask, batch_size: int, width: int) -> np.ndarray:
    """``fn(model, p, m)`` over batches of ``batch_size`` jets. A short batch is padded to the next
    power of two (at most ``batch_size``), so a handful of compiled shapes serve every call."""
    if np.ndim(particles) != 3:
        raise ValueError(f"particles must have shape (N, P, 3) = (pT, d_eta, d_phi), got {np.shape(particles)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    particles, mask = validation.check_particles(particles, mask, allow_empty=True)
    particles, mask = np.asarray(particles, np.float32), np.asarray(mask, bool)
    model.eval()
    out = []
    for s in range(0, len(particles), batch_size):
        p, m = particles[s:s + batch_size], mask[s:s + batch_size]
        k = len(p)
        size = min(batch_size, 1 << (k - 1).bit_length())
        if size > k:
            p = np.concatenate([p, np.zeros((size - k, *p.shape[1:]), p.dtype)])
            m = np.concatenate([m, np.zeros((size - k, m.shape[1]), bool)])
        out.append(np.asarray(fn(model, p, m))[:k])
    return np.concatenate(out) if out else np.zeros((0, width), np.float32)


def representations(model: ContrastiveModel, particles, mask=None, *, batch_size: int = 256) -> np.ndarray:
    """Representations (N, dim) float32 of all jets (compiled, ``batch_size`` at a time; the model
    is put in eval mode)."""
    return _batched(_represent, model, particles, mask, batch_size, model.encoder.dim)


def probe_features(model: ContrastiveModel, particles, mask=None, *, batch_size: int = 256) -> np.ndarray:
    """:meth:`ContrastiveModel.probe_features` (N, 2 dim) float32 of all jets: what
    :func:`linear_probe` reads (the representation and the mean particle token)."""
    return _batched(_probe_features, model, particles, mask, batch_size, 2 * model.encoder.dim)


def projections(model: ContrastiveModel, particles, mask=None, *, batch_size: int = 256) -> np.ndarray:
    """Projections z = g(h) (N, projection[-1]) float32, the vectors the contrastive loss compares."""
    return _batched(_project, model, particles, mask, batch_size, model.projector[-1].out_features)


def balanced_subset(labels, n: int, *, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` jets drawn without replacement, as equal per class as possible (sorted):
    the 'few labelled jets' of a few-label study."""
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if n < len(classes) or n > len(labels):
        raise ValueError(f"n must be between the number of classes ({len(classes)}) and the number of jets "
                         f"({len(labels)}), got {n}")
    rng = np.random.default_rng(seed)
    share = np.full(len(classes), n // len(classes)) + (np.arange(len(classes)) < n % len(classes))
    picks = []
    for c, k in zip(classes, share):
        pool = np.flatnonzero(labels == c)
        if k > len(pool):
            raise ValueError(f"class {c} has {len(pool)} jets, fewer than the {k} asked for")
        picks.append(rng.choice(pool, size=k, replace=False))
    return np.sort(np.concatenate(picks))


def linear_probe(h_train, y_train, h_test, *, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Logistic regression on frozen representations (the linear probe of SimCLR, arXiv:2002.05709).

    Features are standardised with the training rows; the L2 strength is chosen by ``folds``-fold
    cross-validation *within the training rows* (scikit-learn ``LogisticRegressionCV``, inverse
    strengths C = 1e-4 ... 1e2, one per decade: weaker regularisation only overfits a few labels and
    slows the fit), so no other labels are used. Returns test scores: (N,) decision values for two classes, (N, C)
    class probabilities for more."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.preprocessing import StandardScaler

    h_train, h_test, y_train = np.asarray(h_train, np.float64), np.asarray(h_test, np.float64), np.asarray(y_train)
    if h_train.ndim != 2 or h_test.ndim != 2 or h_train.shape[1] != h_test.shape[1] or len(y_train) != len(h_train):
        raise ValueError(f"h_train (N, D), y_train (N,) and h_test (M, D) must agree; got {h_train.shape}, "
                         f"{y_train.shape}, {h_test.shape}")
    if not (np.all(np.isfinite(h_train)) and np.all(np.isfinite(h_test))):
        raise ValueError("representations must be finite")
    counts = np.unique(y_train, return_counts=True)[1]
    if len(counts) < 2 or counts.min() < folds:
        raise ValueError(f"every class needs at least folds={folds} labelled jets; counts {counts.tolist()}")
    scaler = StandardScaler().fit(h_train)
    clf = LogisticRegressionCV(Cs=np.logspace(-4, 2, 7), cv=folds, max_iter=5000, random_state=seed, l1_ratios=(0.0,),
                               scoring="neg_log_loss", use_legacy_attributes=False)
    clf.fit(scaler.transform(h_train), y_train)
    z = scaler.transform(h_test)
    return clf.decision_function(z) if len(counts) == 2 else clf.predict_proba(z)
