"""Learned heterogeneous precision: High Granularity Quantization (HGQ, arXiv:2405.00645) of an MLP
(re-exported by :mod:`jetkit.fpga`).

Uniform QAT (:class:`~jetkit.fpga.QMLP`) gives every weight of a layer the same bit width. Here
every **weight** has its own number of fractional bits ``f`` and every **layer input** (the network
input and each hidden activation) has one, and they are trained by gradient descent together with
the weights, on ``cross-entropy + beta * EBOPs``::

    model = HGQMLP.from_float(mlp, members=4)          # four copies of a trained float MLP
    model.calibrate(x_train)                           # integer bits of the activations
    model.set_beta([1e-6, 3e-6, 1e-5, 3e-5], ramp_steps=steps // 2)
    fit(model, (x_train, y_train), loss_fn=hgq_loss, epochs=20, restore_best=False)
    net = model.export(0)                              # a QuantizedNetwork: emulate(), hls4ml

Forward: a weight ``w`` becomes ``q = round(w 2^f) 2^-f`` with ``f`` rounded to an integer (round
half up, as ``ap_fixed``'s ``AP_RND``); an activation is cast to ``ap_fixed<I + f, I>`` (round
half up, saturation), ``I`` from :meth:`HGQMLP.calibrate`. A weight whose ``f`` is so small that
it rounds to 0 is pruned: pruning falls out of the bit widths.

Gradients: straight-through for the rounding of ``w`` and of ``f`` (clipped outside a saturating
range), and for ``f`` HGQ's surrogate through the quantization error ``delta = q - x``: the error
scales as ``2^-f``, so ``d q / d f = -ln 2 * delta``. The EBOPs term (:meth:`HGQMLP.ebops`) is,
per layer, the input's bit width times the sum of the weights' effective bits; at the rounded
widths it equals :func:`jetkit.fpga.cost.estimate` of the exported network exactly, and its
gradient is 1 per bit for every surviving weight and for the input width.

Export (:meth:`HGQMLP.export`): each layer's weight type is the widest one its weights need (most
fractional bits, enough integer bits); every weight sits on its own coarser grid inside it, so the
integer emulation and hls4ml's C simulation compute exactly what the model computed.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jetkit.fpga.fixed_point import FixedType, _pow2, integer_bits_for, quantize
from jetkit.fpga.network import QLayer, QuantizedNetwork, _accum_type
from jetkit.fpga.qat import QuantState, _lecun_normal, predict_members

__all__ = ["F_RANGE", "HGQMLP", "effective_bits_jax", "hgq_loss", "total_ebops"]

#: Allowed fractional bits of a weight (below -3 every weight |w| < 4 rounds to zero).
F_RANGE = (-4, 12)
_W_INT = 8  # integer bits of the weights' training-time quantizer: |w| < 128 never saturates
_MAX_WIDTH = 20  # widest activation type


def effective_bits_jax(codes) -> jax.Array:
    """Significant bits of integer codes ignoring the sign and trailing zeros (0 for 0), as
    :func:`jetkit.fpga.cost.effective_bits` but in JAX (int32 codes below 2^24)."""
    a = jnp.abs(jnp.asarray(codes, jnp.int32))
    odd = jnp.where(a > 0, a // jnp.maximum(a & -a, 1), 0)
    return sum(((odd >> j) > 0).astype(jnp.int32) for j in range(25))


def _ste(x, value):
    """``value`` in the forward pass, the gradient of ``x`` in the backward pass."""
    return x + jax.lax.stop_gradient(value - x)


def _round_frac(f, lo, hi):
    """Integer fractional bits (int32) and their straight-through float version."""
    f_int = jnp.round(jnp.clip(jax.lax.stop_gradient(f), lo, hi))
    return f_int.astype(jnp.int32), _ste(f, f_int)


def _hq(x, f, integer, lo, hi):
    """Heterogeneous fake quantizer: ``x`` cast to ``ap_fixed<integer + f, integer>`` (RND, SAT)
    element-wise with ``f`` broadcast against ``x``; HGQ's surrogate gradient for ``f``."""
    f_int, _ = _round_frac(f, lo, hi)
    q = quantize(x, integer + f_int, integer, rounding="RND", overflow="SAT")
    inside = (jax.lax.stop_gradient(q) - jax.lax.stop_gradient(x)) ** 2 <= jnp.ldexp(1.0, -2 * f_int)
    delta = jnp.where(inside, jax.lax.stop_gradient(q - x), 0.0)
    # value 0, d/df = -ln 2 * delta: the quantization error halves with every fractional bit
    return q - np.log(2.0) * delta * (f - jax.lax.stop_gradient(f))


class HGQMLP(nnx.Module):
    """``members`` MLPs ``in_features -> hidden... -> out_features`` (ReLU) with learned
    per-weight and per-layer-input precision; ``__call__(x)`` -> logits (B, members, C).

    ``bit_scale``: the trained parameter is ``f / bit_scale``, so with Adam's step of ~``lr`` the
    bit widths move ``bit_scale`` times faster than the weights (HGQ trains them with a larger
    learning rate). ``bias_frac`` fractional bits for the biases (not trained: additions cost no
    multiplier); ``output`` = (W, I) of the logits."""

    def __init__(self, in_features: int, out_features: int, hidden: Sequence[int] = (64, 32, 32), *,
                 members: int = 1, weight_frac: float = 6.0, act_frac: float = 6.0,
                 bias_frac: int = 8, output: tuple[int, int] = (16, 6), bit_scale: float = 10.0,
                 rngs: nnx.Rngs):
        sizes = (int(in_features), *map(int, hidden), int(out_features))
        if min(sizes) < 1 or members < 1 or bit_scale <= 0:
            raise ValueError(f"need layer sizes, members >= 1 and bit_scale > 0, got {sizes}, "
                             f"{members}, {bit_scale}")
        if not 0 <= bias_frac <= 12 or not 1 <= output[0] <= 24:
            raise ValueError(f"need 0 <= bias_frac <= 12 and an output width in [1, 24], got "
                             f"{bias_frac}, {output}")
        E, L = int(members), len(sizes) - 1
        rng = np.random.default_rng(np.asarray(jax.random.key_data(rngs.params())).ravel())
        self.kernels = nnx.List([nnx.Param(jnp.asarray(_lecun_normal(rng, (E, a, b))))
                                 for a, b in zip(sizes[:-1], sizes[1:])])
        self.biases = nnx.List([nnx.Param(jnp.zeros((E, b), jnp.float32)) for b in sizes[1:]])
        s = float(bit_scale)
        self.weight_f = nnx.List([nnx.Param(jnp.full((E, a, b), weight_frac / s, jnp.float32))
                                  for a, b in zip(sizes[:-1], sizes[1:])])
        self.act_f = nnx.Param(jnp.full((E, L), act_frac / s, jnp.float32))  # layer inputs
        self.act_int = QuantState(jnp.full((E, L), 3, jnp.int32))
        self.beta = QuantState(jnp.zeros((E,), jnp.float32))
        self.step, self.ramp_steps = QuantState(jnp.int32(0)), QuantState(jnp.int32(1))
        self.sizes, self.members, self.bit_scale = sizes, E, s
        self.bias_frac, self.output = int(bias_frac), (int(output[0]), int(output[1]))
        self.deterministic = True
        self.bits_frozen = False  # True: the bit widths get no gradient (fine-tune the weights)

    # ----------------------------------------------------------------------------------------
    # precision

    def _frac(self, theta):
        """Fractional bits from their trained parameter (no gradient while ``bits_frozen``)."""
        f = theta * self.bit_scale
        return jax.lax.stop_gradient(f) if self.bits_frozen else f

    def _act_range(self, layer: int):
        """(lo, hi) fractional bits of the input of ``layer``: total width in [2, _MAX_WIDTH]."""
        i = self.act_int.get_value()[:, layer]
        return 2 - i, _MAX_WIDTH - i

    def _input_width(self, layer: int):
        """Bit width (E,) seen by the multipliers of ``layer`` (straight-through in f): the
        cast's width, one less after a ReLU (the sign bit is always 0)."""
        lo, hi = self._act_range(layer)
        _, f = _round_frac(self._frac(self.act_f.get_value()[:, layer]), lo, hi)
        return self.act_int.get_value()[:, layer] + f - (1 if layer > 0 else 0)

    def _weights(self, layer: int):
        """(on-grid weights, integer codes, straight-through fractional bits) of one layer."""
        w = self.kernels[layer].get_value()
        f = self._frac(self.weight_f[layer].get_value())
        f_int, f_ste = _round_frac(f, *F_RANGE)
        q = _hq(w, f, _W_INT, *F_RANGE)
        codes = jnp.round(jax.lax.stop_gradient(q) * _pow2(f_int, jnp.float32))
        return q, codes.astype(jnp.int32), f_ste

    def ebops(self) -> jax.Array:
        """Effective bit operations (E,): sum over layers of input width x effective weight bits
        (exactly :func:`jetkit.fpga.cost.estimate`'s count at the rounded widths)."""
        total = jnp.zeros((self.members,), jnp.float32)
        for layer in range(len(self.kernels)):
            _, codes, f = self._weights(layer)
            bits = effective_bits_jax(codes).astype(jnp.float32)
            # d b_w / d f = 1 and d b_w / d log2|w| = 1 while the weight survives (its bits run from
            # its leading bit, ~log2|w|, down to 2^-f): the penalty shrinks weights until they vanish
            log_w = jnp.log2(jnp.maximum(jnp.abs(self.kernels[layer].get_value()), 1e-12))
            b_w = jnp.where(codes != 0, _ste(f + log_w, bits), 0.0)
            total = total + self._input_width(layer) * b_w.sum(axis=(1, 2))
        return total

    # ----------------------------------------------------------------------------------------
    # forward

    def __call__(self, x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        """``x`` (B, in_features) -> logits (B, members, out_features). ``mask`` is unused."""
        x = jnp.asarray(x, jnp.float32)
        if x.ndim != 2 or x.shape[1] != self.sizes[0]:
            raise ValueError(f"HGQMLP expects features of shape (B, {self.sizes[0]}), got {x.shape}")
        n_layers = len(self.kernels)
        h = jnp.broadcast_to(x, (self.members, *x.shape))
        for layer in range(n_layers):
            lo, hi = self._act_range(layer)
            f_in = self._frac(self.act_f.get_value()[:, layer])
            h = _hq(h, f_in[:, None, None], self.act_int.get_value()[:, layer, None, None],
                    lo[:, None, None], hi[:, None, None])
            w, _, _ = self._weights(layer)
            b = quantize(self.biases[layer].get_value(), _W_INT + self.bias_frac, _W_INT,
                         rounding="RND", overflow="SAT")
            h = jnp.einsum("ebi,eio->ebo", h, w, precision=jax.lax.Precision.HIGHEST) + b[:, None, :]
            if layer < n_layers - 1:
                h = jax.nn.relu(h)  # the cast to the next layer's input type follows
            else:
                h = quantize(h, self.output[0], self.output[1], rounding="RND", overflow="SAT")
        if not self.deterministic:
            self.step.set_value(self.step.get_value() + 1)
        return jnp.swapaxes(h, 0, 1)

    def predict(self, x, batch_size: int = 8192) -> np.ndarray:
        """Logits (N, members, out_features) as numpy, in eval mode."""
        return predict_members(self, x, batch_size)

    # ----------------------------------------------------------------------------------------
    # construction and training settings

    @classmethod
    def from_float(cls, mlp, members: int = 1, **kwargs) -> HGQMLP:
        """``members`` copies of a trained :class:`jetkit.models.MLP` (keyword arguments as for
        the constructor, except ``rngs``)."""
        kernels = [np.asarray(layer.kernel.get_value()) for layer in mlp.layers]
        biases = [np.asarray(layer.bias.get_value()) for layer in mlp.layers]
        model = cls(kernels[0].shape[0], kernels[-1].shape[1], [k.shape[1] for k in kernels[:-1]],
                    members=members, rngs=nnx.Rngs(0), **kwargs)
        for p, k in zip(model.kernels, kernels):
            p.set_value(jnp.asarray(np.broadcast_to(k, (members, *k.shape)).copy()))
        for p, b in zip(model.biases, biases):
            p.set_value(jnp.asarray(np.broadcast_to(b, (members, *b.shape)).copy()))
        return model

    def calibrate(self, x, quantile: float = 0.9999) -> None:
        """Integer bits of every layer input from features ``x``: enough for the ``quantile`` of
        |input| (network input) and of the positive pre-activations (hidden layers), in float."""
        x = np.asarray(x, np.float64)[:8192]
        if x.ndim != 2 or x.shape[1] != self.sizes[0] or not np.all(np.isfinite(x)):
            raise ValueError(f"calibrate needs finite features of shape (N, {self.sizes[0]})")
        ints = np.zeros((self.members, len(self.kernels)), np.int32)
        for e in range(self.members):
            h = x
            for layer in range(len(self.kernels)):
                top = np.quantile(np.abs(h) if layer == 0 else h, quantile)
                ints[e, layer] = max(integer_bits_for(float(top)), 1)
                h = h @ np.asarray(self.kernels[layer].get_value()[e], np.float64)
                h = np.maximum(h + np.asarray(self.biases[layer].get_value()[e]), 0)
        self.act_int.set_value(jnp.asarray(ints))

    def set_beta(self, beta, ramp_steps: int) -> None:
        """Weight of the EBOPs term per member; it rises geometrically from ``beta / 100`` to
        ``beta`` over the next ``ramp_steps`` training steps, then stays."""
        beta = np.broadcast_to(np.asarray(beta, np.float32), (self.members,))
        if np.any(beta < 0) or ramp_steps < 1:
            raise ValueError(f"need beta >= 0 and ramp_steps >= 1, got {beta}, {ramp_steps}")
        self.beta.set_value(jnp.asarray(beta))
        self.step.set_value(jnp.int32(0))
        self.ramp_steps.set_value(jnp.int32(ramp_steps))

    def current_beta(self) -> jax.Array:
        t = jnp.clip(self.step.get_value() / self.ramp_steps.get_value(), 0.0, 1.0)
        return self.beta.get_value() * 100.0 ** (t - 1.0)

    # ----------------------------------------------------------------------------------------
    # what was learned, and export

    def bit_widths(self, member: int) -> list[np.ndarray]:
        """Effective bits of every weight of one member, per layer (0 = pruned)."""
        e = self._member(member)
        return [np.asarray(bits)[e] for bits in _export_arrays(self)["bits"]]

    def fractional_bits(self, member: int) -> list[np.ndarray]:
        """Fractional bits (the grid 2^-f) of every weight of one member, per layer, as used."""
        e = self._member(member)
        return [np.asarray(f)[e] for f in _export_arrays(self)["frac"]]

    def input_widths(self, member: int) -> list[int]:
        """Bit width of every layer's input type (network input, then hidden activations)."""
        e = self._member(member)
        return [int(w) for w in np.asarray(_export_arrays(self)["input_widths"])[e]]

    def _member(self, member: int) -> int:
        if not 0 <= int(member) < self.members:
            raise ValueError(f"member must be in [0, {self.members}), got {member}")
        return int(member)

    def export(self, member: int = 0) -> QuantizedNetwork:
        """The fixed-point network of one member: per layer the widest weight type its weights
        need, every weight on its own grid inside it (bit-exact with this model's forward)."""
        e = self._member(member)
        mk = lambda w, i: FixedType(int(w), int(i), rounding="RND", overflow="SAT")  # noqa: E731
        arrays = jax.tree.map(np.asarray, _export_arrays(self))
        widths, ints = arrays["input_widths"][e], np.asarray(self.act_int.get_value())[e]
        in_type = mk(widths[0], ints[0])
        layers, prev, n = [], in_type, len(self.kernels)
        for j in range(n):
            q, codes = arrays["weights"][j][e].astype(np.float64), arrays["codes"][j][e]
            f_int, b = arrays["frac"][j][e], arrays["biases"][j][e].astype(np.float64)
            live = codes != 0
            frac = int(f_int[live].max()) if live.any() else 0
            w_int = integer_bits_for(float(np.abs(q).max()))
            w_type = mk(w_int + frac, w_int)
            b_int = integer_bits_for(float(np.abs(b).max()))
            b_type = mk(b_int + self.bias_frac, b_int)
            res = mk(*self.output) if j == n - 1 else mk(widths[j + 1], ints[j + 1])
            if w_type.width > 24 or b_type.width > 24:
                raise ValueError(f"layer {j}: weight/bias type wider than 24 bits ({w_type}, {b_type})")
            layers.append(QLayer(weight=q, bias=b, weight_type=w_type, bias_type=b_type,
                                 result_type=res, accum_type=_accum_type(prev, w_type, b_type, q.shape[0]),
                                 activation=None if j == n - 1 else "relu"))
            prev = res
        return QuantizedNetwork(in_type, tuple(layers))


@nnx.jit
def _export_arrays(model: HGQMLP) -> dict:
    """Everything the export and the bit-width views need, for all members, in one program."""
    out = {"weights": [], "codes": [], "frac": [], "bits": [], "biases": []}
    for j in range(len(model.kernels)):
        q, codes, _ = model._weights(j)
        out["weights"].append(q)
        out["codes"].append(codes)
        out["frac"].append(_round_frac(model._frac(model.weight_f[j].get_value()), *F_RANGE)[0])
        out["bits"].append(effective_bits_jax(codes))
        out["biases"].append(quantize(model.biases[j].get_value(), _W_INT + model.bias_frac, _W_INT,
                                      rounding="RND", overflow="SAT"))
    f_in = [_round_frac(model._frac(model.act_f.get_value()[:, j]), *model._act_range(j))[0]
            for j in range(len(model.kernels))]
    out["input_widths"] = model.act_int.get_value() + jnp.stack(f_in, axis=1)
    return out


@nnx.jit
def total_ebops(model: HGQMLP) -> jax.Array:
    """:meth:`HGQMLP.ebops` of every member, compiled (for use outside a training step)."""
    return model.ebops()


def hgq_loss(model: HGQMLP, batch) -> jax.Array:
    """Mean over members of ``cross-entropy + beta(t) * EBOPs`` on ``batch = (x, labels)``
    (each member's parameters only see their own term)."""
    x, labels = batch
    logits = model(x)
    labels = jnp.broadcast_to(labels[:, None], logits.shape[:2])
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(axis=0)
    return jnp.mean(ce + model.current_beta() * model.ebops())
