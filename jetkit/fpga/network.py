"""The deployable network: numpy weights on the fixed-point grid, one :class:`FixedType` per
tensor, and a bit-exact integer emulation of what the firmware computes.

>>> net = model.export(0)          # a QuantizedNetwork from a trained QMLP member
>>> emulate(net, x)                # integer arithmetic (int64), like the FPGA

A fake-quantized network run in float32 equals the integer emulation whenever every accumulator
fits float32's 24-bit significand; :func:`float32_exact` checks that worst case, :func:`emulate`
never needs it. :class:`Standardizer` folds the input scaling into the first layer.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from jetkit.fpga.fixed_point import FixedType, requantize_codes

__all__ = ["QLayer", "QuantizedNetwork", "Standardizer", "emulate", "emulate_codes", "float32_exact", "sparsity"]


@dataclasses.dataclass(frozen=True)
class QLayer:
    """One dense layer of a :class:`QuantizedNetwork`: ``result = act(cast(x @ W + b))``.

    ``weight`` (n_in, n_out) and ``bias`` (n_out,) are float64 values on their grids (pruned
    weights are 0); ``accum`` is wide enough that every product and sum is exact."""

    weight: np.ndarray
    bias: np.ndarray
    weight_type: FixedType
    bias_type: FixedType
    result_type: FixedType
    accum_type: FixedType
    activation: str | None  # "relu" or None

    @property
    def weight_codes(self) -> np.ndarray:
        return self.weight_type.codes(self.weight)

    @property
    def bias_codes(self) -> np.ndarray:
        return self.bias_type.codes(self.bias)


@dataclasses.dataclass(frozen=True)
class QuantizedNetwork:
    """A fixed-point MLP as the firmware sees it (made by :meth:`QMLP.export`)."""

    input_type: FixedType
    layers: tuple[QLayer, ...]

    @property
    def sizes(self) -> list[int]:
        return [self.layers[0].weight.shape[0]] + [layer.weight.shape[1] for layer in self.layers]

    def summary(self) -> str:
        """One line per layer: shape, types and surviving weights."""
        lines = [f"input  {self.sizes[0]:>3}              {self.input_type}"]
        for i, layer in enumerate(self.layers):
            n_in, n_out = layer.weight.shape
            nz = int(np.count_nonzero(layer.weight))
            lines.append(f"dense{i + 1} {n_in:>3} -> {n_out:<3}  w {layer.weight_type}  "
                         f"b {layer.bias_type}  out {layer.result_type}  "
                         f"{nz}/{layer.weight.size} weights nonzero"
                         + (f" + {layer.activation}" if layer.activation else ""))
        return "\n".join(lines)


def _accum_type(in_type: FixedType, w: FixedType, b: FixedType, n_in: int) -> FixedType:
    """An accumulator in which every product and the sum of ``n_in`` of them plus the bias are
    exact (no rounding, no overflow)."""
    frac = max(in_type.fractional + w.fractional, b.fractional)
    integer = max(in_type.integer + w.integer + math.ceil(math.log2(max(n_in, 1))), b.integer) + 1
    return FixedType(integer + frac, integer)


def emulate_codes(net: QuantizedNetwork, x) -> tuple[np.ndarray, int]:
    """Run ``net`` on features ``x`` (N, n_in) in integer arithmetic (int64), as the firmware does:
    input cast, exact multiply-accumulate, cast of the sum to the result type, ReLU.

    Returns the output codes (N, n_out) and their number of fractional bits."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != net.sizes[0]:
        raise ValueError(f"x must have shape (N, {net.sizes[0]}), got {x.shape}")
    if max(layer.accum_type.width for layer in net.layers) > 62:
        raise ValueError("an accumulator is wider than 62 bits; int64 emulation would overflow")
    k, frac = net.input_type.codes(x), net.input_type.fractional
    for layer in net.layers:
        kw, kb = layer.weight_codes, layer.bias_codes
        f_acc = max(frac + layer.weight_type.fractional, layer.bias_type.fractional)
        acc = np.left_shift(k @ kw, f_acc - frac - layer.weight_type.fractional)
        acc = acc + np.left_shift(kb, f_acc - layer.bias_type.fractional)
        k = requantize_codes(acc, f_acc, layer.result_type)
        if layer.activation == "relu":
            k = np.maximum(k, 0)
        frac = layer.result_type.fractional
    return k, frac


def emulate(net: QuantizedNetwork, x) -> np.ndarray:
    """Output values (float64) of the integer emulation :func:`emulate_codes`."""
    k, frac = emulate_codes(net, x)
    return np.ldexp(k.astype(np.float64), -frac)


def float32_exact(net: QuantizedNetwork) -> bool:
    """True if a float32 fake-quantized forward pass of ``net`` is exact in the worst case: every
    type and every accumulator (products and sums) fits in float32's 24-bit significand."""
    ok = net.input_type.width <= 24
    for layer in net.layers:
        ok &= all(t.width <= 24 for t in (layer.weight_type, layer.bias_type, layer.result_type))
        ok &= layer.accum_type.width <= 24
    return bool(ok)


def sparsity(net: QuantizedNetwork) -> float:
    """Fraction of weights that are exactly zero (pruned or rounded to zero)."""
    n = sum(layer.weight.size for layer in net.layers)
    return float(sum((layer.weight == 0).sum() for layer in net.layers) / n)


@dataclasses.dataclass(frozen=True)
class Standardizer:
    """``(x - mean) / scale`` per feature, fitted on training data. The FPGA either gets the
    standardised (and quantized) features from upstream, or the affine map is folded into the
    first layer with :meth:`fold`."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x) -> Standardizer:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or len(x) < 2:
            raise ValueError(f"fit needs features of shape (N >= 2, F), got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("features contain NaN or infinite values; clean them first")
        scale = x.std(axis=0)
        return cls(x.mean(axis=0).astype(np.float32), np.where(scale > 0, scale, 1.0).astype(np.float32))

    def __call__(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.shape[-1] != len(self.mean):
            raise ValueError(f"expected {len(self.mean)} features, got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("features contain NaN or infinite values; clean them first")
        return ((x - self.mean) / self.scale).astype(np.float32)

    def fold(self, kernel, bias) -> tuple[np.ndarray, np.ndarray]:
        """First-layer weights that act on raw features: ``W' = W / scale``,
        ``b' = b - (mean / scale) @ W``, so ``raw @ W' + b' == standardise(raw) @ W + b``."""
        kernel, bias = np.asarray(kernel, np.float64), np.asarray(bias, np.float64)
        s, m = self.scale.astype(np.float64), self.mean.astype(np.float64)
        return kernel / s[:, None], bias - (m / s) @ kernel
