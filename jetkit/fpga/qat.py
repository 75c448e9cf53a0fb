"""Quantization-aware training and magnitude pruning of an MLP (re-exported by :mod:`jetkit.fpga`).

:class:`QMLP` holds ``members`` independent networks ``in -> hidden... -> out`` (ReLU), each with
its own weights, fixed-point precision and pruning target, so a scan over bit widths or sparsities
trains in one :func:`jetkit.train.fit` call::

    model = QMLP.from_float(mlp, members=4)                  # start from trained float weights
    for e, bits in enumerate([16, 8, 6, 4]):
        model.configure(QuantConfig(bits), member=e)
    fit(model, (x_train, y_train), (x_val, y_val), loss_fn=ensemble_loss, epochs=10)

Each dense layer computes ``q_res(q_in(x) @ q_w(W * mask) + q_b(b))`` followed by ReLU (hidden
layers), where ``q_*`` are :func:`jetkit.fpga.quantize` with straight-through gradients and the
precisions are stored as arrays (:class:`QuantState`). Pruning (Zhu & Gupta, arXiv:1710.01878):
during training the smallest ``s(t)`` fraction of each layer's weights (by magnitude) is masked,
with ``s(t)`` rising from 0 to the target between two steps as ``s_f (1 - (1 - t)^3)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jetkit.fpga.fixed_point import FixedType, integer_bits_for, quantize
from jetkit.fpga.network import QLayer, QuantizedNetwork, _accum_type

__all__ = ["QMLP", "QuantConfig", "QuantState", "ensemble_loss", "predict_members"]


class QuantState(nnx.Variable):
    """Precision, pruning mask and schedule: state that is part of the model but not trained."""


IntSpec = int | str | Sequence[int | str]


@dataclasses.dataclass(frozen=True)
class QuantConfig:
    """Precision of one network: ``bits`` total bits for weights, biases and hidden activations.

    Integer bits I (including the sign) trade range for resolution; each may be an int, one value
    per layer, or a rule:

    * ``weight_int=1`` (default, the QKeras convention): weights in [-1, 1);
    * ``"auto"``: just enough for the largest |weight| or |bias| of each layer;
    * ``act_int="half"`` (default): I = ceil(bits / 2), at most 6 (``ap_fixed<6,3>``,
      ``ap_fixed<16,6>``); ``act_int="auto"`` calibrates on data: enough for the
      ``calibration_quantile`` of each layer's float pre-activations.

    ``input`` and ``output`` are the (W, I) of the input features and the output logits.
    ``quantized=False`` runs the member in float."""

    bits: int = 6
    weight_int: IntSpec = 1
    bias_int: IntSpec = "auto"
    act_int: IntSpec = "half"
    input: tuple[int, int] = (12, 4)
    output: tuple[int, int] = (16, 6)
    quantized: bool = True
    calibration_quantile: float = 0.9999

    def __post_init__(self):
        if not 2 <= int(self.bits) <= 24:
            raise ValueError(f"bits must be between 2 and 24 (float32 stays exact), got {self.bits}")
        for name in ("input", "output"):
            w, i = getattr(self, name)
            if not 1 <= w <= 24:
                raise ValueError(f"{name} width must be between 1 and 24, got {w}")


def _per_layer(spec: IntSpec, n: int, name: str, rules: tuple[str, ...]) -> list[int | str]:
    specs = [spec] * n if isinstance(spec, (int, str, np.integer)) else list(spec)
    if len(specs) != n:
        raise ValueError(f"{name} needs one value per layer ({n}), got {len(specs)}")
    for s in specs:
        if isinstance(s, str) and s not in rules:
            raise ValueError(f"{name}={s!r}: use an integer or one of {rules}")
    return [s if isinstance(s, str) else int(s) for s in specs]


def ensemble_loss(model: QMLP, batch) -> jax.Array:
    """Cross-entropy of every member on ``batch = (x, labels)``, averaged over members (each
    member's parameters only see their own term, so members train independently)."""
    x, labels = batch
    logits = model(x)  # (B, E, C)
    labels = jnp.broadcast_to(labels[:, None], logits.shape[:2])
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


@nnx.jit
def _forward(model, x):
    return model(x)


def predict_members(model, x, batch_size: int = 8192) -> np.ndarray:
    """Logits (N, members, C) of an ensemble model (:class:`QMLP`, :class:`~jetkit.fpga.HGQMLP`)
    in eval mode, as numpy, one compiled forward pass per batch shape."""
    model.eval()
    x = np.asarray(x, np.float32)
    if x.ndim != 2 or not np.all(np.isfinite(x)):
        raise ValueError(f"features must be a finite (N, {model.sizes[0]}) array; got shape "
                         f"{x.shape}{'' if np.all(np.isfinite(x)) else ' with NaN/inf'}")
    return np.concatenate([np.asarray(_forward(model, x[s:s + batch_size]))
                           for s in range(0, len(x), batch_size)])


class QMLP(nnx.Module):
    """``members`` quantized MLPs ``in_features -> hidden... -> out_features`` with ReLU.

    ``__call__(x)`` maps (B, in_features) to logits (B, members, out_features). Rounding and
    overflow modes (``ap_fixed`` names, default round-half-up and saturation) apply to every
    quantizer; widths and integer bits are per member and layer (:meth:`configure`)."""

    def __init__(self, in_features: int, out_features: int, hidden: Sequence[int] = (64, 32, 32),
                 *, members: int = 1, rounding: str = "RND", overflow: str = "SAT",
                 rngs: nnx.Rngs):
        FixedType(8, 2, rounding=rounding, overflow=overflow)  # validates the modes
        sizes = (int(in_features), *map(int, hidden), int(out_features))
        if min(sizes) < 1 or members < 1:
            raise ValueError(f"layer sizes and members must be >= 1, got {sizes}, {members}")
        E, L = int(members), len(sizes) - 1
        # numpy initialisation (LeCun normal, truncated at 2 sigma, as nnx.Linear): eager JAX
        # ops would compile once per shape, which costs seconds on a small CPU
        rng = np.random.default_rng(np.asarray(jax.random.key_data(rngs.params())).ravel())
        self.kernels = nnx.List([nnx.Param(jnp.asarray(_lecun_normal(rng, (E, a, b))))
                                 for a, b in zip(sizes[:-1], sizes[1:])])
        self.biases = nnx.List([nnx.Param(jnp.asarray(np.zeros((E, b), np.float32)))
                                for b in sizes[1:]])
        self.masks = nnx.List([QuantState(jnp.asarray(np.ones((E, a, b), np.float32)))
                               for a, b in zip(sizes[:-1], sizes[1:])])
        i32 = lambda v, shape: QuantState(jnp.asarray(np.full(shape, v, np.int32)))  # noqa: E731
        self.weight_bits, self.weight_int = i32(16, (E, L)), i32(6, (E, L))
        self.bias_bits, self.bias_int = i32(16, (E, L)), i32(6, (E, L))
        self.act_bits, self.act_int = i32(16, (E, L)), i32(6, (E, L))
        self.input_bits, self.input_int = i32(12, (E,)), i32(4, (E,))
        self.quantized = QuantState(jnp.asarray(np.zeros((E,), bool)))
        self.target_sparsity = QuantState(jnp.asarray(np.zeros((E,), np.float32)))
        self.step, self.prune_begin, self.prune_end = i32(0, ()), i32(0, ()), i32(1, ())
        self.sizes, self.members = sizes, E
        self.rounding, self.overflow = rounding, overflow
        self.pruning = False
        self.deterministic = True

    # ----------------------------------------------------------------------------------------
    # forward

    def _q(self, x, bits, integer, on):
        q = quantize(x, bits, integer, rounding=self.rounding, overflow=self.overflow)
        return jnp.where(on, q, x)

    def _mask(self, layer: int, w):
        """The layer's pruning mask; in training it follows the schedule and is stored."""
        if self.deterministic or not self.pruning:
            return self.masks[layer].get_value()
        span = jnp.maximum(self.prune_end.get_value() - self.prune_begin.get_value(), 1)
        t = jnp.clip((self.step.get_value() - self.prune_begin.get_value()) / span, 0.0, 1.0)
        s = self.target_sparsity.get_value() * (1.0 - (1.0 - t) ** 3)  # (E,)
        a = jnp.abs(jax.lax.stop_gradient(w)).reshape(self.members, -1)
        k = jnp.floor(s * a.shape[1]).astype(jnp.int32)
        kth = jnp.take_along_axis(jnp.sort(a, axis=1), jnp.maximum(k - 1, 0)[:, None], 1)[:, 0]
        threshold = jnp.where(k > 0, kth, -1.0)
        mask = (jnp.abs(jax.lax.stop_gradient(w)) > threshold[:, None, None]).astype(w.dtype)
        self.masks[layer].set_value(mask)
        return mask

    def __call__(self, x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        """``x`` (B, in_features) -> logits (B, members, out_features). ``mask`` is unused."""
        x = jnp.asarray(x, jnp.float32)
        if x.ndim != 2 or x.shape[1] != self.sizes[0]:
            raise ValueError(f"QMLP expects features of shape (B, {self.sizes[0]}), got {x.shape}")
        on = self.quantized.get_value()[:, None, None]
        col = lambda v, layer: v[:, layer, None, None]  # noqa: E731  (E,) -> (E, 1, 1)
        h = jnp.broadcast_to(x, (self.members, *x.shape))
        h = self._q(h, self.input_bits.get_value()[:, None, None],
                    self.input_int.get_value()[:, None, None], on)
        wb, wi = self.weight_bits.get_value(), self.weight_int.get_value()
        bb, bi = self.bias_bits.get_value(), self.bias_int.get_value()
        ab, ai = self.act_bits.get_value(), self.act_int.get_value()
        n_layers = len(self.kernels)
        for layer in range(n_layers):
            w = self.kernels[layer].get_value()
            w = self._q(w * self._mask(layer, w), col(wb, layer), col(wi, layer), on)
            b = self._q(self.biases[layer].get_value(), bb[:, layer, None], bi[:, layer, None],
                        on[:, 0])
            h = jnp.einsum("ebi,eio->ebo", h, w, precision=jax.lax.Precision.HIGHEST)
            h = self._q(h + b[:, None, :], col(ab, layer), col(ai, layer), on)
            if layer < n_layers - 1:
                h = jax.nn.relu(h)
        if not self.deterministic and self.pruning:
            self.step.set_value(self.step.get_value() + 1)
        return jnp.swapaxes(h, 0, 1)

    def predict(self, x, batch_size: int = 8192) -> np.ndarray:
        """Logits (N, members, out_features) as numpy, in eval mode, without recompiling when
        only precisions or weights change."""
        return predict_members(self, x, batch_size)

    # ----------------------------------------------------------------------------------------
    # construction and configuration

    @classmethod
    def from_float(cls, mlp, members: int = 1, *, rounding: str = "RND", overflow: str = "SAT",
                   seed: int = 0) -> QMLP:
        """``members`` copies of a trained :class:`jetkit.models.MLP` (float, unpruned)."""
        kernels = [np.asarray(layer.kernel.get_value()) for layer in mlp.layers]
        biases = [np.asarray(layer.bias.get_value()) for layer in mlp.layers]
        hidden = [k.shape[1] for k in kernels[:-1]]
        model = cls(kernels[0].shape[0], kernels[-1].shape[1], hidden, members=members,
                    rounding=rounding, overflow=overflow, rngs=nnx.Rngs(seed))
        for p, k in zip(model.kernels, kernels):
            p.set_value(jnp.asarray(np.broadcast_to(k, (members, *k.shape))))
        for p, b in zip(model.biases, biases):
            p.set_value(jnp.asarray(np.broadcast_to(b, (members, *b.shape))))
        return model

    def select(self, members: Sequence[int] | int) -> QMLP:
        """A new QMLP holding copies of the given members (weights, masks, precisions)."""
        idx = np.atleast_1d(np.asarray(members, dtype=int))
        new = QMLP(self.sizes[0], self.sizes[-1], self.sizes[1:-1], members=len(idx),
                   rounding=self.rounding, overflow=self.overflow, rngs=nnx.Rngs(0))
        for name in ("kernels", "biases", "masks"):
            for dst, src in zip(getattr(new, name), getattr(self, name)):
                dst.set_value(jnp.asarray(np.asarray(src.get_value())[idx]))
        for name in ("weight_bits", "weight_int", "bias_bits", "bias_int", "act_bits", "act_int",
                     "input_bits", "input_int", "quantized", "target_sparsity"):
            getattr(new, name).set_value(jnp.asarray(np.asarray(getattr(self, name).get_value())[idx]))
        return new

    def _members(self, member) -> np.ndarray:
        idx = np.arange(self.members) if member is None else np.atleast_1d(np.asarray(member, int))
        if idx.size == 0 or idx.min() < 0 or idx.max() >= self.members:
            raise ValueError(f"member must be in [0, {self.members}), got {member}")
        return idx

    def effective_weights(self, member: int) -> list[np.ndarray]:
        """Float weights of one member with its pruning mask applied."""
        return [np.asarray(k.get_value())[member] * np.asarray(m.get_value())[member]
                for k, m in zip(self.kernels, self.masks)]

    def float_activations(self, x, member: int) -> list[np.ndarray]:
        """Pre-activation outputs of every layer of one member in float64 (no quantization)."""
        h = np.asarray(x, np.float64)
        out = []
        for layer, w in enumerate(self.effective_weights(member)):
            h = h @ w + np.asarray(self.biases[layer].get_value())[member]
            out.append(h)
            h = np.maximum(h, 0)
        return out

    def configure(self, config: QuantConfig, member: int | Sequence[int] | None = None,
                  calibration=None) -> None:
        """Set the precision of ``member`` (one, several, or all when ``None``) from ``config``,
        resolving "auto" integer bits from the member's weights and ``calibration`` features."""
        n = len(self.kernels)
        w_int = _per_layer(config.weight_int, n, "weight_int", ("auto",))
        b_int = _per_layer(config.bias_int, n, "bias_int", ("auto",))
        a_int = _per_layer(config.act_int, n - 1, "act_int", ("auto", "half"))
        calibrate = config.quantized and "auto" in a_int
        if calibrate and calibration is None:
            raise ValueError("act_int='auto' needs calibration features (e.g. calibration=x_train)")
        arrays = {k: np.array(getattr(self, k).get_value()) for k in (
            "weight_bits", "weight_int", "bias_bits", "bias_int", "act_bits", "act_int",
            "input_bits", "input_int", "quantized")}
        for e in self._members(member):
            ws = self.effective_weights(e)
            acts = self.float_activations(np.asarray(calibration)[:4096], e) if calibrate else None
            for layer in range(n):
                bits = config.bits
                arrays["weight_bits"][e, layer] = arrays["bias_bits"][e, layer] = bits
                arrays["weight_int"][e, layer] = _auto(w_int[layer], np.abs(ws[layer]).max(), bits)
                b_max = np.abs(np.asarray(self.biases[layer].get_value())[e]).max()
                arrays["bias_int"][e, layer] = _auto(b_int[layer], b_max, bits)
                if layer == n - 1:
                    arrays["act_bits"][e, layer], arrays["act_int"][e, layer] = config.output
                    continue
                arrays["act_bits"][e, layer] = bits
                if a_int[layer] == "half":
                    arrays["act_int"][e, layer] = min(-(-bits // 2), 6)
                elif a_int[layer] == "auto" and config.quantized:
                    # negative sums become 0 after ReLU, so only the positive side matters
                    top = np.quantile(np.maximum(acts[layer], 0), config.calibration_quantile)
                    arrays["act_int"][e, layer] = _auto("auto", top, bits)
                elif a_int[layer] != "auto":
                    arrays["act_int"][e, layer] = a_int[layer]
            arrays["input_bits"][e], arrays["input_int"][e] = config.input
            arrays["quantized"][e] = config.quantized
        for k, v in arrays.items():
            getattr(self, k).set_value(jnp.asarray(v))

    def schedule_pruning(self, target, begin_step: int, end_step: int,
                         member: int | Sequence[int] | None = None) -> None:
        """Prune ``member`` to ``target`` sparsity (fraction of each layer's weights set to
        zero) between training steps ``begin_step`` and ``end_step`` (counted from now)."""
        target = np.broadcast_to(np.asarray(target, np.float32), (len(self._members(member)),))
        if np.any((target < 0) | (target >= 1)):
            raise ValueError(f"target sparsity must be in [0, 1), got {target}")
        if not 0 <= begin_step < end_step:
            raise ValueError(f"need 0 <= begin_step < end_step, got {begin_step}, {end_step}")
        t = np.array(self.target_sparsity.get_value())
        t[self._members(member)] = target
        self.target_sparsity.set_value(jnp.asarray(t))
        self.step.set_value(jnp.asarray(np.int32(0)))
        self.prune_begin.set_value(jnp.asarray(np.int32(begin_step)))
        self.prune_end.set_value(jnp.asarray(np.int32(end_step)))
        self.pruning = True

    # ----------------------------------------------------------------------------------------
    # export

    def types(self, member: int) -> tuple[FixedType, list[dict[str, FixedType]]]:
        """The input type and, per layer, the weight/bias/result types of one member."""
        e = int(self._members(member)[0])
        g = {k: np.asarray(getattr(self, k).get_value()) for k in (
            "weight_bits", "weight_int", "bias_bits", "bias_int", "act_bits", "act_int",
            "input_bits", "input_int")}
        mk = lambda w, i: FixedType(int(w), int(i), rounding=self.rounding,  # noqa: E731
                                    overflow=self.overflow)
        layers = [{"weight": mk(g["weight_bits"][e, j], g["weight_int"][e, j]),
                   "bias": mk(g["bias_bits"][e, j], g["bias_int"][e, j]),
                   "result": mk(g["act_bits"][e, j], g["act_int"][e, j])}
                  for j in range(len(self.kernels))]
        return mk(g["input_bits"][e], g["input_int"][e]), layers

    def export(self, member: int = 0) -> QuantizedNetwork:
        """The fixed-point network of one (quantized) member, with weights on their grids."""
        e = int(self._members(member)[0])
        if not bool(np.asarray(self.quantized.get_value())[e]):
            raise ValueError(f"member {e} is not quantized; call configure(QuantConfig(...)) first")
        in_type, types = self.types(e)
        layers, prev = [], in_type
        for j, (w, t) in enumerate(zip(self.effective_weights(e), types)):
            wq = t["weight"].values(t["weight"].codes(w))
            bq = t["bias"].values(t["bias"].codes(np.asarray(self.biases[j].get_value())[e]))
            acc = _accum_type(prev, t["weight"], t["bias"], w.shape[0])
            act = "relu" if j < len(types) - 1 else None
            layers.append(QLayer(wq, bq, t["weight"], t["bias"], t["result"], acc, act))
            prev = t["result"]
        return QuantizedNetwork(in_type, tuple(layers))


def _lecun_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """LeCun normal over the fan-in (axis -2), truncated at two standard deviations."""
    z = rng.standard_normal(shape)
    while np.any(bad := np.abs(z) > 2):
        z[bad] = rng.standard_normal(int(bad.sum()))
    return (z * np.sqrt(1.0 / shape[-2]) / 0.87962566103423978).astype(np.float32)


def _auto(spec: int | str, max_abs: float, bits: int) -> int:
    """Explicit integer bits, or ("auto") just enough for ``max_abs``, within [bits - 16, bits]."""
    if spec != "auto":
        return int(spec)
    return int(np.clip(integer_bits_for(float(max_abs)), bits - 16, bits))
