"""Particle Transformer "lite" (ParT, arXiv:2202.03772) for jet tagging, also usable as the
encoder of self-supervised learning (:meth:`ParticleTransformer.embed`).

A jet is a set of particles. Each particle is embedded by a small MLP; then particle-attention
blocks let every particle look at every other one. ParT's idea is the *interaction* term: the
attention logits of head h between particles a and b get an additive bias U[h, a, b], computed
by a pointwise MLP from physics features of the pair (:func:`pairwise_features`)::

    attention_h = softmax( Q_h K_h^T / sqrt(d) + U_h ) V_h,    U = MLP(ln dR, ln kT, ln z, ln m^2)

U is computed once and shared by all particle blocks (as in ParT). A learned class token then
attends to the particles (class attention, CaiT arXiv:2103.17239) and its final state is the jet
representation. Nothing depends on the order of the particles (no positional encoding) and padded
particles are never attended to, so the model is permutation invariant and padding-blind.

>>> from flax import nnx
>>> from jetkit import data, train
>>> from jetkit.models.transformer import ParticleTransformer, transformer_inputs
>>> jets = data.load("top_qcd", max_per_class=1000)
>>> x, mask, pair = transformer_inputs(jets.particles[:, :32], jets.mask[:, :32])
>>> model = ParticleTransformer(x.shape[-1], rngs=nnx.Rngs(0))     # 205,029 parameters
>>> history = train.fit(model, (x, mask, pair, jets.labels.astype("float32")),
...                     loss_fn=train.cross_entropy_loss, epochs=5)
>>> scores = train.predict(model, x, mask, pair)[:, 0]                 # logits (N, 1)

``x`` comes from :func:`jetkit.models.inputs.particle_features`. ``train.cross_entropy_loss``
takes ``batch = (*inputs, labels)`` and calls ``model(*inputs)``, so the 4-tuple
``(x, mask, pair, labels)`` trains the model as is. Memory: the pair features take
N * P^2 * 16 bytes (2000 jets at P = 32: 33 MB; 50000 jets at P = 64: 3.3 GB), so keep the
hardest 32 or so constituents (the shipped jets are sorted by pT).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jetkit import validation
from jetkit.models.inputs import N_FEATURES, RandomRotation, particle_features

__all__ = ["ClassAttentionBlock", "N_PAIR_FEATURES", "PairEmbedding", "ParticleAttentionBlock",
           "ParticleTransformer", "pairwise_features", "transformer_inputs"]

N_PAIR_FEATURES = 4
EPS = 1e-8  # safe logs: ln(max(arg, EPS))
_NEG = -1e9  # logit of a masked key (finite, so a row with no valid key stays finite)
# rough mean and std of (ln dR, ln kT, ln z, ln m^2) over the real pairs of the 32 hardest
# constituents of top_qcd jets (GeV units): brings the pair features to O(1) for the pair MLP
_PAIR_SHIFT = (-1.7, 0.0, -1.5, 1.0)
_PAIR_SCALE = (1.3, 1.3, 0.8, 2.6)


def _safe_log(x):
    return jnp.log(jnp.maximum(x, EPS))


@jax.jit
def _pairwise(p, mask):
    valid = mask[:, :, None] & mask[:, None, :] & ~jnp.eye(p.shape[1], dtype=bool)[None]
    p = jnp.where(mask[..., None], p, jnp.array([1.0, 0.0, 0.0], p.dtype))  # junk never enters
    pt, eta, phi = p[..., 0], p[..., 1], p[..., 2]
    pa, pb = pt[:, :, None], pt[:, None, :]
    # |a - b| is exactly |b - a| in floating point, so the features are exactly symmetric
    deta = jnp.abs(eta[:, :, None] - eta[:, None, :])
    dphi = jnp.mod(jnp.abs(phi[:, :, None] - phi[:, None, :]), 2 * jnp.pi)
    dphi = jnp.minimum(dphi, 2 * jnp.pi - dphi)  # |d_phi wrapped to (-pi, pi]|
    dr = jnp.sqrt(jnp.maximum(deta**2 + dphi**2, EPS**2))
    low = jnp.minimum(pa, pb)
    # cosh(x) - cos(y) = 2 sinh^2(x/2) + 2 sin^2(y/2): no cancellation at small angles
    m2 = 4.0 * pa * pb * (jnp.sinh(deta / 2) ** 2 + jnp.sin(dphi / 2) ** 2)
    f = jnp.stack([_safe_log(dr), _safe_log(low * dr), _safe_log(low / jnp.maximum(pa + pb, EPS)),
                   _safe_log(m2)], axis=-1)
    return jnp.where(valid[..., None], f, 0.0)


def pairwise_features(particles, mask=None) -> jax.Array:
    """ParT interaction features of every pair of constituents (arXiv:2202.03772, eq. 3).

    Args:
        particles: (N, P, 3) = (pT [GeV], d_eta, d_phi [rad]), padded.
        mask: (N, P) bool, True for real constituents (default pT > 0).
    Returns:
        (N, P, P, 4) float32 = (ln dR, ln kT, ln z, ln m^2) with dR = sqrt(deta^2 + dphi^2)
        (dphi wrapped to (-pi, pi]), kT = min(pT_a, pT_b) dR [GeV], z = min(pT_a, pT_b) /
        (pT_a + pT_b), m^2 = 2 pT_a pT_b (cosh deta - cos dphi) [GeV^2] (massless constituents).
        Logs are of max(arg, 1e-8), so nothing is NaN or inf; the diagonal and every pair with a
        padded constituent are 0. Symmetric: f[:, a, b] == f[:, b, a].
    Raises:
        ValueError: wrong shapes, NaN or negative pT in real constituents.
    """
    if np.ndim(particles) != 3:
        raise ValueError(f"particles must have shape (N, P, 3) = (pT, d_eta, d_phi), got {np.shape(particles)}")
    particles, mask = validation.check_particles(particles, mask, allow_empty=True)
    return _pairwise(jnp.asarray(particles, jnp.float32), jnp.asarray(mask, bool))


def transformer_inputs(particles, mask=None, *, batch: int = 4096) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x, mask, pair)`` for :class:`ParticleTransformer` from padded constituents (N, P, 3)
    = (pT [GeV], d_eta, d_phi): ``x`` (N, P, 5) from
    :func:`jetkit.models.inputs.particle_features`, ``mask`` (N, P) bool and ``pair``
    (N, P, P, 4) from :func:`pairwise_features`, as float32 numpy arrays, computed ``batch``
    jets at a time. Train with ``train.fit(model, (x, mask, pair, labels), loss_fn=...)``."""
    if np.ndim(particles) != 3:
        raise ValueError(f"particles must have shape (N, P, 3) = (pT, d_eta, d_phi), got {np.shape(particles)}")
    particles, mask = validation.check_particles(particles, mask, allow_empty=True)
    particles, mask = np.asarray(particles, np.float32), np.asarray(mask, bool)
    xs, pairs = [], []
    for s in range(0, len(particles), batch):
        p, m = particles[s:s + batch], mask[s:s + batch]
        xs.append(np.asarray(particle_features(p, m)))
        pairs.append(np.asarray(_pairwise(jnp.asarray(p), jnp.asarray(m))))
    n, p = particles.shape[:2]
    if not xs:
        return (np.zeros((0, p, N_FEATURES), np.float32), mask,
                np.zeros((0, p, p, N_PAIR_FEATURES), np.float32))
    return np.concatenate(xs), mask, np.concatenate(pairs)


def _attention(q, k, v, key_mask, bias=None):
    """Scaled dot-product attention. q (N, H, Q, d), k/v (N, H, K, d), key_mask (N, K) bool,
    bias (N, H, Q, K) or None -> (N, H, Q, d). Masked keys get the logit -1e9, so they weigh
    exactly 0, and a query with no valid key averages uniformly (finite)."""
    logits = jnp.einsum("nhqd,nhkd->nhqk", q, k) / jnp.sqrt(jnp.asarray(q.shape[-1], q.dtype))
    if bias is not None:
        logits = logits + bias
    logits = jnp.where(key_mask[:, None, None, :], logits, _NEG)
    return jnp.einsum("nhqk,nhkd->nhqd", jax.nn.softmax(logits, axis=-1), v)


class _MultiHeadAttention(nnx.Module):
    """Multi-head attention of queries (N, Q, dim) on keys/values (N, K, dim)."""

    def __init__(self, dim: int, heads: int, *, rngs: nnx.Rngs):
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be a multiple of heads ({heads})")
        self.heads = int(heads)
        self.q = nnx.Linear(dim, dim, rngs=rngs)
        self.kv = nnx.Linear(dim, 2 * dim, rngs=rngs)
        self.out = nnx.Linear(dim, dim, rngs=rngs)

    def _split(self, t):
        n, length, c = t.shape
        return t.reshape(n, length, self.heads, c // self.heads).transpose(0, 2, 1, 3)

    def __call__(self, query, context, key_mask, bias=None):
        k, v = jnp.split(self.kv(context), 2, axis=-1)
        o = _attention(self._split(self.q(query)), self._split(k), self._split(v), key_mask, bias)
        n, _, length, _ = o.shape
        return self.out(o.transpose(0, 2, 1, 3).reshape(n, length, -1))


def _dropout(rate: float, rngs: nnx.Rngs):
    """Residual dropout (ParT uses 0.1; on only in train mode), or the identity for rate 0, which
    keeps the module free of random state (the shipped checkpoints hold no dropout streams)."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {rate}")
    return nnx.Dropout(rate, rngs=rngs) if rate > 0 else _identity


def _identity(h):
    return h


class _FeedForward(nnx.Module):
    def __init__(self, dim: int, ratio: int, *, rngs: nnx.Rngs):
        self.norm = nnx.LayerNorm(dim, rngs=rngs)
        self.up = nnx.Linear(dim, ratio * dim, rngs=rngs)
        self.down = nnx.Linear(ratio * dim, dim, rngs=rngs)

    def __call__(self, h):
        return self.down(nnx.gelu(self.up(self.norm(h))))


class PairEmbedding(nnx.Module):
    """ParT's interaction term: a pointwise MLP (4 -> ``hidden`` -> ``heads``, GELU) on the
    standardised pair features (N, P, P, 4) -> attention bias U (N, heads, P, P)."""

    def __init__(self, heads: int, hidden: int = 32, *, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(N_PAIR_FEATURES, hidden, rngs=rngs)
        self.out = nnx.Linear(hidden, heads, rngs=rngs)

    def __call__(self, pair):
        f = (pair - jnp.asarray(_PAIR_SHIFT)) / jnp.asarray(_PAIR_SCALE)
        return self.out(nnx.gelu(self.hidden(f))).transpose(0, 3, 1, 2)


class ParticleAttentionBlock(nnx.Module):
    """Pre-LayerNorm multi-head self-attention over particles with an additive per-head logit
    bias ``bias`` (N, heads, P, P) (from :class:`PairEmbedding`), key padding mask, then a
    pre-LN feed-forward (width ``ffn_ratio * dim``); both with residual connections.
    ``block(h, mask, bias=None)`` with ``h`` (N, P, dim) -> (N, P, dim), 0 at padded slots."""

    def __init__(self, dim: int, heads: int, *, ffn_ratio: int = 4, dropout: float = 0.0, rngs: nnx.Rngs):
        self.norm = nnx.LayerNorm(dim, rngs=rngs)
        self.attn = _MultiHeadAttention(dim, heads, rngs=rngs)
        self.ffn = _FeedForward(dim, ffn_ratio, rngs=rngs)
        self.drop = _dropout(dropout, rngs)

    def __call__(self, h, mask, bias=None):
        u = self.norm(h)
        h = h + self.drop(self.attn(u, u, mask, bias))
        h = h + self.drop(self.ffn(h))
        return jnp.where(mask[..., None], h, 0.0)


class ClassAttentionBlock(nnx.Module):
    """Class attention (CaiT arXiv:2103.17239, as in ParT): the class token (N, 1, dim) attends
    to itself and the real particles (N, P, dim) (pre-LN, masked), then a pre-LN feed-forward;
    residual connections. Returns the updated class token (N, 1, dim). The class token is always
    a valid key, so a jet with no real particle is safe."""

    def __init__(self, dim: int, heads: int, *, ffn_ratio: int = 4, dropout: float = 0.0, rngs: nnx.Rngs):
        self.norm = nnx.LayerNorm(dim, rngs=rngs)
        self.attn = _MultiHeadAttention(dim, heads, rngs=rngs)
        self.ffn = _FeedForward(dim, ffn_ratio, rngs=rngs)
        self.drop = _dropout(dropout, rngs)

    def __call__(self, cls, h, mask):
        context = self.norm(jnp.concatenate([cls, h], axis=1))
        key_mask = jnp.concatenate([jnp.ones(mask.shape[:1] + (1,), bool), mask], axis=1)
        cls = cls + self.drop(self.attn(context[:, :1], context, key_mask))
        return cls + self.drop(self.ffn(cls))


class ParticleTransformer(nnx.Module):
    """Particle Transformer lite (arXiv:2202.03772): particle embedding MLP (F -> dim -> dim),
    ``n_blocks`` :class:`ParticleAttentionBlock` with the shared :class:`PairEmbedding` bias,
    ``n_class_blocks`` :class:`ClassAttentionBlock`, final LayerNorm and a linear head.

    ``model(x, mask=None, pair=None)`` -> logits (N, ``n_classes``); (N, 1) for a binary
    tagger, like :class:`~jetkit.models.DeepSets` and :class:`~jetkit.models.EdgeConvNet`
    (``train.cross_entropy_loss`` then uses a sigmoid). ``x`` (N, P, F) from
    :func:`~jetkit.models.inputs.particle_features`, ``mask`` (N, P) bool (None: every slot is
    real), ``pair`` (N, P, P, 4) from :func:`pairwise_features` (required unless
    ``pair_hidden=0``, which builds the plain-Transformer ablation without interaction term).
    ``model.embed(x, mask, pair)`` -> (N, dim) jet representation before the head (SSL encoder).
    ``dropout`` > 0 drops the attention and feed-forward outputs before each residual sum in
    train mode (ParT trains with 0.1; the default 0 has no random state). ``augment`` turns and
    mirrors every jet at random about its axis in train mode
    (:class:`~jetkit.models.inputs.RandomRotation`); the pair features are invariant already.

    The default size (F = 5, dim 64, 4 heads, 3 + 1 blocks, FFN ratio 4, pair MLP 32) has
    205,029 parameters (204,964 + 65 * ``n_classes``): 49,984 per attention block, 4,544 in
    the embedding, 292 in the pair MLP, 64 in the class token, 128 in the final norm.
    """

    def __init__(self, in_features: int = N_FEATURES, n_classes: int = 1, dim: int = 64, heads: int = 4,
                 n_blocks: int = 3, n_class_blocks: int = 1, pair_hidden: int = 32, *, ffn_ratio: int = 4,
                 dropout: float = 0.0, augment: bool = False, rngs: nnx.Rngs):
        if min(in_features, n_classes, dim, heads, n_class_blocks, ffn_ratio) < 1 or min(n_blocks, pair_hidden) < 0:
            raise ValueError("in_features, n_classes, dim, heads, n_class_blocks and ffn_ratio must be >= 1 and "
                             f"n_blocks, pair_hidden >= 0; got {in_features}, {n_classes}, {dim}, {heads}, "
                             f"{n_class_blocks}, {ffn_ratio}, {n_blocks}, {pair_hidden}")
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be a multiple of heads ({heads})")
        self.in_features, self.dim = int(in_features), int(dim)
        self.embed_in = nnx.Linear(in_features, dim, rngs=rngs)
        self.embed_out = nnx.Linear(dim, dim, rngs=rngs)
        self.pair_embed = PairEmbedding(heads, pair_hidden, rngs=rngs) if pair_hidden else None
        self.blocks = nnx.List([ParticleAttentionBlock(dim, heads, ffn_ratio=ffn_ratio, dropout=dropout, rngs=rngs)
                                for _ in range(n_blocks)])
        self.class_blocks = nnx.List([ClassAttentionBlock(dim, heads, ffn_ratio=ffn_ratio, dropout=dropout, rngs=rngs)
                                      for _ in range(n_class_blocks)])
        self.cls_token = nnx.Param(0.02 * jax.random.truncated_normal(rngs.params(), -2.0, 2.0, (1, 1, dim)))
        self.norm = nnx.LayerNorm(dim, rngs=rngs)
        self.head = nnx.Linear(dim, n_classes, rngs=rngs)
        self.augment = RandomRotation(rngs=rngs) if augment else None  # last: the weights' init is unchanged

    def _check(self, x, mask, pair):
        shape = np.shape(x)
        if len(shape) != 3 or shape[-1] != self.in_features:
            raise ValueError(f"x must have shape (N, P, {self.in_features}) (per-particle features, e.g. "
                             f"particle_features(particles, mask)); got {shape}")
        mask = jnp.ones(shape[:2], bool) if mask is None else jnp.asarray(mask, bool)
        if mask.shape != shape[:2]:
            raise ValueError(f"mask must have shape {shape[:2]} (one flag per particle), got {mask.shape}")
        if self.pair_embed is None:
            if pair is not None:
                raise ValueError("this model was built with pair_hidden=0 (no interaction term); pass pair=None")
            return mask, None
        want = shape[:2] + (shape[1], N_PAIR_FEATURES)
        if pair is None:
            raise ValueError("this model uses pair features: pass pair=pairwise_features(particles, mask) "
                             "(see transformer_inputs), or build it with pair_hidden=0")
        if np.shape(pair) != want:
            raise ValueError(f"pair must have shape {want} (pairwise_features of the same jets), got {np.shape(pair)}")
        return mask, pair

    def embed(self, x, mask=None, pair=None) -> jax.Array:
        """Jet representation (N, dim): the normalised class token before the head."""
        return self.encode(x, mask, pair)[0]

    def encode(self, x, mask=None, pair=None) -> tuple[jax.Array, jax.Array]:
        """(representation (N, dim) as :meth:`embed`, the particle tokens after the last particle
        block (N, P, dim), zero at masked slots)."""
        mask, pair = self._check(x, mask, pair)
        x = jnp.where(mask[..., None], jnp.asarray(x, jnp.float32), 0.0)
        if self.augment is not None:
            x = self.augment(x)
        h = jnp.where(mask[..., None], self.embed_out(nnx.gelu(self.embed_in(x))), 0.0)
        bias = None
        if pair is not None:
            pmask = mask[:, :, None] & mask[:, None, :]
            bias = self.pair_embed(jnp.where(pmask[..., None], jnp.asarray(pair, jnp.float32), 0.0))
        for block in self.blocks:
            h = block(h, mask, bias)
        cls = jnp.broadcast_to(self.cls_token[...], (h.shape[0], 1, self.dim))
        for block in self.class_blocks:
            cls = block(cls, h, mask)
        return self.norm(cls[:, 0]), jnp.where(mask[..., None], h, 0.0)

    def __call__(self, x, mask=None, pair=None) -> jax.Array:
        return self.head(self.embed(x, mask, pair))
