"""EdgeConv graph network (ParticleNet-lite, arXiv:1902.08570) written with ``jax.lax.top_k``
and gathers, for padded jets with a mask.

A jet is a graph: every constituent is a node and is linked to its k nearest neighbours, first in
the (d_eta, d_phi) plane, then (in later blocks) in the learned feature space ("dynamic graph").
An EdgeConv block computes, for node i with neighbours j,

    h_i = mean_j  MLP([x_i, x_j - x_i])        (padding is never a neighbour)

**Factoring the first edge layer.** The first linear map of the edge MLP acts on the concatenation,
so ``W [x_i, x_j - x_i] = (W_a - W_b) x_i + W_b x_j``: apply two linear maps *per node* (P of
them) and gather the result, instead of building a (P, k, 2F) edge tensor and multiplying it
(P*k of them). With ``factored=True`` the block holds ``center`` (= W_a - W_b, with the bias)
and ``neighbour`` (= W_b) directly; :func:`factor_edge_weights` converts a concatenated kernel.
The fast configuration keeps only that one layer per edge and moves the remaining depth to
per-node layers after the aggregation (``node_channels``); see benchmarks/edgeconv.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from jetkit.models.inputs import COORDS, N_FEATURES, RandomRotation

__all__ = ["EdgeConv", "EdgeConvNet", "factor_edge_weights", "gather_neighbours", "knn",
           "naive_particlenet_lite", "fast_edgeconv", "masked_mean", "max_edgeconv", "take_per_channel",
           "winning_neighbour"]

_INT_MAX = 2**31 - 1


def knn(coords, mask, k: int):
    """Indices (B, P, k) of each node's k nearest other nodes by Euclidean distance in
    ``coords`` (B, P, D), nearest first, and a (B, P, k) bool saying which of them are real.
    Padded nodes are pushed infinitely far away, so they are chosen only when a jet has fewer
    than k + 1 real constituents, and then flagged invalid. A node is never its own neighbour.

    The selection is k minimum-reductions over *packed keys*: a non-negative float32 orders like
    its bit pattern read as an int32, so the squared distance's bits, with the lowest
    ceil(log2 P) mantissa bits replaced by the candidate's index, sort by distance and carry the
    index along. One plain ``min`` per neighbour then yields both, which on a CPU is about 3x
    faster than ``lax.top_k`` at P = 32 (benchmarks/edgeconv.py). Distances that agree to within
    2**-(23 - ceil(log2 P)) relative (4e-6 at P = 32, below the rounding of the distance itself)
    count as ties and go to the lower index."""
    coords = jax.lax.stop_gradient(coords)
    p = coords.shape[1]
    if k < 1:
        raise ValueError(f"need k >= 1 neighbours, got {k}")
    bits = max(1, (p - 1).bit_length())
    sq = jnp.sum(coords * coords, axis=-1)
    d = jnp.maximum(sq[:, :, None] + sq[:, None, :] - 2.0 * jnp.einsum("bpd,bqd->bpq", coords, coords), 0.0)
    far = (~mask[:, None, :]) | jnp.eye(p, dtype=bool)[None]
    high = jax.lax.bitcast_convert_type(d.astype(jnp.float32), jnp.int32) >> bits
    unreachable = jnp.int32(_INT_MAX >> bits)  # above every finite float's high bits
    key = (jnp.where(far, unreachable, high) << bits) | jnp.arange(p, dtype=jnp.int32)
    chosen = []
    for _ in range(min(k, p)):
        best = jnp.min(key, axis=-1)
        chosen.append(best)
        key = jnp.where(key == best[..., None], _INT_MAX, key)
    keys = jnp.stack(chosen, axis=-1)
    return keys & ((1 << bits) - 1), (keys >> bits) < unreachable


def gather_neighbours(x, idx):
    """x (B, P, C), idx (B, P, k) -> (B, P, k, C) with out[b, i, n] = x[b, idx[b, i, n]]."""
    return jax.vmap(lambda xb, ib: xb[ib])(x, idx)


def _monotone_int(x):
    """int32 keys that order like the float32 values ``x`` (negative floats' bits reversed)."""
    i = jax.lax.bitcast_convert_type(x.astype(jnp.float32), jnp.int32)
    return jnp.where(i < 0, i ^ jnp.int32(_INT_MAX), i)


def winning_neighbour(values, idx, valid):
    """For every node i and channel c, the neighbour j (a node index, (B, P, C)) with the
    largest ``values[b, j, c]`` among the valid ``idx[b, i]``; no gradient flows through it.

    Packed keys as in :func:`knn`: the value's order-preserving int32 with its lowest
    ceil(log2 P) bits replaced by j, so one ``max`` over the gathered keys gives the winner
    (values within 2**-(23 - ceil(log2 P)) relative of each other tie and go to the larger j).
    ``idx, valid`` as :func:`knn` returns them (valid slots first): invalid slots repeat the
    first one; a node with no valid neighbour gets an arbitrary j, to be masked by the caller."""
    b, p, c = values.shape
    bits = max(1, (p - 1).bit_length())
    key = ((_monotone_int(jax.lax.stop_gradient(values)) >> bits) << bits) | jnp.arange(p, dtype=jnp.int32)[:, None]
    rows = jnp.where(valid, idx, idx[..., :1]) + (jnp.arange(b, dtype=idx.dtype) * p)[:, None, None]
    cand = key.reshape(b * p, c)[rows.reshape(-1)].reshape(b, p, -1, c)
    return jnp.max(cand, axis=2) & ((1 << bits) - 1)


@jax.custom_vjp
def take_per_channel(values, nodes):
    """``out[b, i, c] = values[b, nodes[b, i, c], c]`` for (B, P, C) ``values`` and int ``nodes``.
    Its gradient is a flat scatter-add of B*P*C scalars (about twice as fast on a CPU as the
    row-wise scatter that differentiating ``take_along_axis`` produces)."""
    if values.shape != nodes.shape:
        raise ValueError(f"values {values.shape} and nodes {nodes.shape} must have one shape")
    return jnp.take_along_axis(values, nodes, axis=1)


def _take_per_channel_fwd(values, nodes):
    return take_per_channel(values, nodes), nodes


def _take_per_channel_bwd(res, g):
    nodes = res
    (b, p, c), dtype = nodes.shape, g.dtype  # out and values have the same shape
    flat = ((jnp.arange(b, dtype=nodes.dtype)[:, None, None] * p + nodes) * c
            + jnp.arange(c, dtype=nodes.dtype)).reshape(-1)
    grad = jnp.zeros(b * p * c, dtype).at[flat].add(g.reshape(-1))
    return grad.reshape(b, p, c), None


take_per_channel.defvjp(_take_per_channel_fwd, _take_per_channel_bwd)


def masked_mean(x, mask, axis):
    """Mean of ``x`` over ``axis`` counting only entries where ``mask`` (broadcast) is True;
    0 where nothing is valid."""
    w = mask.astype(x.dtype)[..., None]
    return jnp.sum(x * w, axis=axis) / jnp.maximum(jnp.sum(w, axis=axis), 1.0)


def factor_edge_weights(kernel, bias=None):
    """Split a kernel (2F, C) acting on [x_i, x_j - x_i] into (centre, neighbour) kernels
    (F, C) with W [x_i, x_j - x_i] = (W_a - W_b) x_i + W_b x_j."""
    f = kernel.shape[0] // 2
    w_a, w_b = kernel[:f], kernel[f:]
    return w_a - w_b, w_b


class EdgeConv(nnx.Module):
    """One EdgeConv block: kNN graph on ``coords``, edge MLP, masked mean over neighbours,
    layer norm + linear shortcut (as ParticleNet), optional per-node layers.

    Args:
        in_features: F, features per node.
        edge_channels: widths of the edge MLP (the first layer is the one that can be factored).
        k: neighbours per node.
        node_channels: widths of per-node layers after the aggregation.
        factored: apply the first edge layer per node before gathering (same function class).
        aggregation: ``"mean"`` over neighbours (ParticleNet) or ``"max"`` (DGCNN,
            arXiv:1801.07829). With max, a factored block with one edge layer needs no message
            tensor: relu and adding the centre term are monotonic, so max_j relu(c_i + n_j) =
            relu(c_i + max_j n_j), and the backward pass scatters one (B, P, C) gradient (the
            winning neighbour per channel, :func:`winning_neighbour`) instead of a (B, P, k, C)
            one.
    """

    def __init__(self, in_features: int, edge_channels: Sequence[int], k: int = 16, *,
                 node_channels: Sequence[int] = (), factored: bool = True, aggregation: str = "mean",
                 rngs: nnx.Rngs):
        if k < 1 or not edge_channels:
            raise ValueError(f"need k >= 1 and at least one edge layer, got k={k}, {edge_channels}")
        if aggregation not in ("mean", "max"):
            raise ValueError(f"aggregation must be 'mean' or 'max', got {aggregation!r}")
        self.k, self.factored, self.aggregation = int(k), bool(factored), aggregation
        c0 = edge_channels[0]
        if factored:
            self.center = nnx.Linear(in_features, c0, rngs=rngs)
            self.neighbour = nnx.Linear(in_features, c0, use_bias=False, rngs=rngs)
        else:
            self.edge = nnx.Linear(2 * in_features, c0, rngs=rngs)
        self.edge_layers = nnx.List([nnx.Linear(a, b, rngs=rngs)
                                     for a, b in zip(edge_channels[:-1], edge_channels[1:])])
        c = edge_channels[-1]
        self.norm = nnx.LayerNorm(c, rngs=rngs)
        self.shortcut = nnx.Linear(in_features, c, rngs=rngs)
        sizes = [c, *node_channels]
        self.node_layers = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:])])
        self.out_features = sizes[-1]

    def edge_messages(self, x, idx):
        """First edge layer (pre-activation) for every (node, neighbour) pair: (B, P, k, C0)."""
        if self.factored:
            return self.center(x)[:, :, None, :] + gather_neighbours(self.neighbour(x), idx)
        xi = jnp.broadcast_to(x[:, :, None, :], idx.shape + x.shape[-1:])
        xj = gather_neighbours(x, idx)
        return self.edge(jnp.concatenate([xi, xj - xi], axis=-1))

    def aggregate(self, x, idx, valid):
        """Edge MLP on every (node, neighbour) pair, reduced over the neighbours: (B, P, C)."""
        if self.aggregation == "max" and self.factored and not self.edge_layers:
            nb = self.neighbour(x)  # (B, P, C): the winning neighbour per channel, found without
            best = take_per_channel(nb, winning_neighbour(nb, idx, valid))  # gradients, then taken
            return jnp.where(jnp.any(valid, axis=2)[..., None], nnx.relu(self.center(x) + best), 0.0)
        h = nnx.relu(self.edge_messages(x, idx))
        for layer in self.edge_layers:
            h = nnx.relu(layer(h))
        if self.aggregation == "max":
            best = jnp.max(jnp.where(valid[..., None], h, -jnp.inf), axis=2)
            return jnp.where(jnp.any(valid, axis=2)[..., None], best, 0.0)
        return masked_mean(h, valid, axis=2)

    def __call__(self, x, coords, mask):
        idx, valid = knn(coords, mask, self.k)
        h = self.aggregate(x, idx, valid)
        h = nnx.relu(self.norm(h) + self.shortcut(x))
        for layer in self.node_layers:
            h = nnx.relu(layer(h))
        return jnp.where(mask[..., None], h, 0.0)


class EdgeConvNet(nnx.Module):
    """ParticleNet-style tagger: EdgeConv blocks (kNN in (d_eta, d_phi), then in feature space),
    masked mean pooling over constituents, dense head, ``out_features`` logits.

    ``model(x, mask)`` with ``x`` (B, P, F) from :func:`jetkit.models.inputs.particle_features`
    (columns ``coords`` give the first graph) and ``mask`` (B, P). Permutation invariant, and
    padded slots never change the output.

    ``blocks``: one ``(k, edge_channels, node_channels)`` per EdgeConv block. ``augment`` turns
    and mirrors every jet at random about its axis in train mode
    (:class:`~jetkit.models.inputs.RandomRotation`; needs the default ``coords``).
    """

    def __init__(self, in_features: int = N_FEATURES,
                 blocks: Sequence[tuple[int, Sequence[int], Sequence[int]]] = (
                     (16, (32,), (32,)), (16, (64,), (64,))),
                 head: Sequence[int] = (64,), out_features: int = 1, *, factored: bool = True,
                 aggregation: str = "mean", coords: Sequence[int] = COORDS, augment: bool = False,
                 rngs: nnx.Rngs):
        self.coords = tuple(int(c) for c in coords)
        if augment and self.coords != tuple(COORDS):
            raise ValueError(f"augment rotates the (d_eta, d_phi) columns {COORDS}; coords {self.coords} differ")
        convs, f = [], in_features
        for k, edge, node in blocks:
            conv = EdgeConv(f, edge, k, node_channels=node, factored=factored, aggregation=aggregation,
                            rngs=rngs)
            convs.append(conv)
            f = conv.out_features
        self.convs = nnx.List(convs)
        sizes = [f, *head]
        self.head = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:])])
        self.out = nnx.Linear(sizes[-1], out_features, rngs=rngs)
        self.augment = RandomRotation(rngs=rngs) if augment else None  # last: the weights' init is unchanged

    def embed(self, x, mask):
        """Per-node features after the last EdgeConv block (B, P, C)."""
        mask = jnp.asarray(mask, bool)
        if self.augment is not None:
            x = self.augment(x)
        coords = x[..., self.coords]
        for conv in self.convs:
            x = conv(x, coords, mask)
            coords = x
        return x

    def __call__(self, x, mask):
        mask = jnp.asarray(mask, bool)
        h = masked_mean(self.embed(x, mask), mask, axis=1)
        for layer in self.head:
            h = nnx.relu(layer(h))
        return self.out(h)


def naive_particlenet_lite(rngs: nnx.Rngs, in_features: int = N_FEATURES, k: int = 7) -> EdgeConvNet:
    """The straightforward ParticleNet-lite (arXiv:1902.08570): k = 7, edge MLPs (32, 32, 32)
    and (64, 64, 64) on concatenated [x_i, x_j - x_i], fully connected 128."""
    return EdgeConvNet(in_features, blocks=((k, (32, 32, 32), ()), (k, (64, 64, 64), ())),
                       head=(128,), factored=False, rngs=rngs)


def fast_edgeconv(rngs: nnx.Rngs, in_features: int = N_FEATURES, k: int = 7) -> EdgeConvNet:
    """The kit's tagger: factored first edge layer, one edge layer per block, the rest of the
    depth per node (see the module docstring and benchmarks/edgeconv.py)."""
    return EdgeConvNet(in_features, blocks=((k, (32,), (32,)), (k, (64,), (64,))), head=(64,),
                       factored=True, rngs=rngs)


def max_edgeconv(rngs: nnx.Rngs, in_features: int = N_FEATURES, k: int = 7) -> EdgeConvNet:
    """:func:`fast_edgeconv` with max aggregation over the neighbours (DGCNN, arXiv:1801.07829):
    the same layers and parameters, and no (B, P, k, C) message tensor (see :class:`EdgeConv`)."""
    return EdgeConvNet(in_features, blocks=((k, (32,), (32,)), (k, (64,), (64,))), head=(64,),
                       factored=True, aggregation="max", rngs=rngs)
