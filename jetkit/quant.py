"""Fixed-point arithmetic for FPGA taggers: ``ap_fixed`` quantizers, quantization-aware training
with magnitude pruning, and a bit-exact integer emulation of the quantized network.

>>> t = FixedType(6, 2, rounding="RND", overflow="SAT")   # ap_fixed<6,2,AP_RND,AP_SAT>
>>> t.quantize(jnp.array([0.3, 5.0]))                     # -> [0.3125, 1.9375]
>>> model = QMLP.from_float(mlp, members=3)               # three copies of a float MLP
>>> model.configure(QuantConfig(bits=6), member=0)        # 6-bit weights and activations
>>> net = model.export(0)                                 # a QuantizedNetwork (numpy)
>>> emulate(net, x)                                       # integer arithmetic, like the firmware

Fixed point (GUIDE §5): ``ap_fixed<W, I>`` stores an integer code ``k`` of ``W`` bits and means
``k * 2**-(W - I)``; ``I`` counts the integer bits including the sign. Quantization (rounding)
modes decide what happens to bits below the LSB, overflow modes what happens above the MSB; both
follow the Xilinx/AMD ``ap_fixed`` definitions (UG1399), which hls4ml's C simulation uses.

Exactness: the quantizers scale by exact powers of two and take ``floor``, so in float32
they are exact for ``W <= 24``. A fake-quantized network run in float32 equals the integer
emulation whenever every accumulator fits float32's 24-bit significand; :func:`float32_exact`
checks that worst case, :func:`emulate` never needs it (int64).

Several *members* (independent networks with their own weights, precision and sparsity) live in
one :class:`QMLP`, so a whole bit-width or sparsity scan trains in one call of
:func:`jetkit.train.fit` with one compilation. Precisions are arrays, not Python constants, so
changing them never recompiles a jitted forward pass. The cost model is in
:mod:`jetkit.fpga_cost`, the hls4ml export in :mod:`jetkit.hls`.
"""

from __future__ import annotations

import dataclasses
import math
import re
import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "OVERFLOW_MODES", "ROUNDING_MODES", "FixedType", "QLayer", "QMLP", "QuantConfig",
    "QuantizedNetwork", "Standardizer", "emulate", "emulate_codes", "ensemble_loss",
    "float32_exact", "integer_bits_for", "quantize", "requantize_codes", "sparsity",
]

ROUNDING_MODES = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")
OVERFLOW_MODES = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")


def _check_modes(rounding: str, overflow: str) -> None:
    if rounding not in ROUNDING_MODES:
        raise ValueError(f"unknown rounding mode {rounding!r}; use one of {ROUNDING_MODES}")
    if overflow not in OVERFLOW_MODES:
        raise ValueError(f"unknown overflow mode {overflow!r}; use one of {OVERFLOW_MODES}")


# --------------------------------------------------------------------------------------------
# Rounding and overflow on integer-valued numbers (shared by the float and the int paths)
# --------------------------------------------------------------------------------------------


def _round_scaled(s, rounding: str, xp):
    """Round ``s = x * 2**F`` (exact) to an integer-valued array following ``rounding``."""
    fl = xp.floor(s)
    frac = s - fl  # exact: s and floor(s) share their exponent range
    return _apply_rounding(fl, frac > 0, frac > 0.5, frac == 0.5, s < 0, rounding, xp)


def _apply_rounding(fl, has_frac, above_half, is_half, negative, rounding: str, xp):
    """``fl`` = floor; the flags describe the dropped fraction. Returns the rounded integer."""
    if rounding == "TRN":  # toward minus infinity
        up = xp.zeros_like(has_frac)
    elif rounding == "TRN_ZERO":  # toward zero
        up = has_frac & negative
    elif rounding == "RND":  # to nearest, ties toward plus infinity
        up = above_half | is_half
    elif rounding == "RND_ZERO":  # ties toward zero
        up = above_half | (is_half & negative)
    elif rounding == "RND_INF":  # ties away from zero
        up = above_half | (is_half & ~negative)
    elif rounding == "RND_MIN_INF":  # ties toward minus infinity
        up = above_half
    elif rounding == "RND_CONV":  # ties to even
        up = above_half | (is_half & (xp.remainder(fl, 2) == 1))
    else:
        raise ValueError(f"unknown rounding mode {rounding!r}; use one of {ROUNDING_MODES}")
    return fl + up.astype(fl.dtype)


def _apply_overflow(k, width, signed: bool, overflow: str, xp, one):
    """Bring the integer code ``k`` into the ``width``-bit range following ``overflow``.

    ``one`` is 1 in the dtype of ``k`` (float or int); ``width`` may be an array."""
    if xp is jnp:
        pow2 = lambda n: _pow2(n, one.dtype)  # noqa: E731
    elif np.issubdtype(np.asarray(one).dtype, np.integer):
        pow2 = lambda n: np.left_shift(one, n)  # noqa: E731
    else:
        pow2 = lambda n: np.ldexp(one, n)  # noqa: E731
    span = pow2(width)
    if signed:
        half = pow2(width - 1)
        hi, lo = half - 1, -half
    else:
        hi, lo = span - 1, xp.zeros_like(span)
    if overflow == "WRAP":
        r = xp.remainder(k, span)  # exact for integer-valued floats below 2**24 (float32)
        return xp.where(r > hi, r - span, r) if signed else r
    if overflow == "SAT":
        return xp.clip(k, lo, hi)
    if overflow == "SAT_SYM":
        return xp.clip(k, -hi if signed else lo, hi)
    if overflow == "SAT_ZERO":
        return xp.where((k < lo) | (k > hi), xp.zeros_like(k), k)
    raise ValueError(f"unknown overflow mode {overflow!r}; use one of {OVERFLOW_MODES}")


def _pow2(n, dtype):
    """Exactly ``2.0**n`` for integer arrays ``n`` in [-126, 127], built from the float32
    exponent bits (cheaper to compile than ``ldexp``, and exact unlike some ``exp2``)."""
    n = jnp.clip(jnp.asarray(n, jnp.int32), -126, 127)
    return jax.lax.bitcast_convert_type((n + 127) << 23, jnp.float32).astype(dtype)


def quantize(x, width, integer, *, signed: bool = True, rounding: str = "TRN",
             overflow: str = "WRAP", ste: bool = True):
    """Fake-quantize ``x`` to ``ap_fixed<width, integer>`` (``ap_ufixed`` if not ``signed``).

    Returns floats on the fixed-point grid (multiples of ``2**-(width - integer)``), exactly what
    the C++ type would hold. ``width`` and ``integer`` may be traced arrays (broadcast against
    ``x``), so a jitted model can change its precision without recompiling.

    Gradient (``ste=True``): straight-through, i.e. ``d q / d x = 1``; with a saturating overflow
    mode it is 0 outside the representable range (clipped STE), with WRAP it is 1 everywhere.
    """
    _check_modes(rounding, overflow)
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.float32)
    width = jnp.asarray(width, jnp.int32)
    frac = width - jnp.asarray(integer, jnp.int32)
    one = jnp.ones((), x.dtype)
    up, down = _pow2(frac, x.dtype), _pow2(-frac, x.dtype)
    s = jax.lax.stop_gradient(x) * up  # exact: a power-of-two scale
    k = _apply_overflow(_round_scaled(s, rounding, jnp), width, signed, overflow, jnp, one)
    q = k * down
    if not ste:
        return q
    if overflow == "WRAP":
        inside = jnp.isfinite(x)
    else:
        span = _pow2(width - (1 if signed else 0), x.dtype)
        lo = -span * down if signed else jnp.zeros_like(down)
        inside = (x >= lo) & (x <= (span - 1) * down)
    # q + (x - x): forward is exactly q, the gradient flows through x where `inside`
    return jax.lax.stop_gradient(q) + jnp.where(inside, x - jax.lax.stop_gradient(x), 0)


def requantize_codes(codes, from_frac: int, t: FixedType) -> np.ndarray:
    """Integer codes with ``from_frac`` fractional bits -> codes of type ``t`` (int64), with
    ``t``'s rounding and overflow. This is the ``(res_T) acc`` cast of the firmware."""
    codes = np.asarray(codes, dtype=np.int64)
    shift = int(from_frac) - t.fractional
    if shift <= 0:
        k = np.left_shift(codes, -shift)
    else:
        fl = np.right_shift(codes, shift)  # arithmetic shift = floor
        rem = codes - np.left_shift(fl, shift)
        half = np.int64(1) << (shift - 1)
        k = _apply_rounding(fl, rem > 0, rem > half, rem == half, codes < 0, t.rounding, np)
    return _apply_overflow(k, t.width, t.signed, t.overflow, np, np.int64(1))


# --------------------------------------------------------------------------------------------
# Fixed-point types
# --------------------------------------------------------------------------------------------

_TYPE_RE = re.compile(
    r"^\s*(?:ap_)?(u?)fixed\s*<\s*(-?\d+)\s*,\s*(-?\d+)\s*(?:,\s*(?:AP_)?(\w+)\s*)?"
    r"(?:,\s*(?:AP_)?(\w+)\s*)?(?:,\s*\d+\s*)?>\s*$")


@dataclasses.dataclass(frozen=True)
class FixedType:
    """``ap_fixed<width, integer, AP_<rounding>, AP_<overflow>>`` (``ap_ufixed`` if unsigned).

    ``width`` W: total bits; ``integer`` I: integer bits including the sign (may exceed W or be
    negative); ``fractional`` = W - I; the grid step (LSB) is ``2**-fractional``."""

    width: int
    integer: int
    signed: bool = True
    rounding: str = "TRN"
    overflow: str = "WRAP"

    def __post_init__(self):
        if int(self.width) != self.width or self.width < 1:
            raise ValueError(f"width must be an integer >= 1, got {self.width}")
        if int(self.integer) != self.integer:
            raise ValueError(f"integer bits must be an integer, got {self.integer}")
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "integer", int(self.integer))
        _check_modes(self.rounding, self.overflow)

    @property
    def fractional(self) -> int:
        return self.width - self.integer

    @property
    def lsb(self) -> float:
        return math.ldexp(1.0, -self.fractional)

    @property
    def min_code(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_code(self) -> int:
        return (1 << (self.width - (1 if self.signed else 0))) - 1

    @property
    def min_value(self) -> float:
        return math.ldexp(self.min_code, -self.fractional)

    @property
    def max_value(self) -> float:
        return math.ldexp(self.max_code, -self.fractional)

    def __str__(self) -> str:
        base = f"ap_{'' if self.signed else 'u'}fixed<{self.width},{self.integer}"
        if (self.rounding, self.overflow) != ("TRN", "WRAP"):
            base += f",AP_{self.rounding},AP_{self.overflow}"
        return base + ">"

    @classmethod
    def parse(cls, text: str) -> FixedType:
        """Read ``"ap_fixed<6,2,AP_RND,AP_SAT>"``, ``"ap_ufixed<8,3>"`` or hls4ml's
        ``"fixed<6,2,RND,SAT,0>"``."""
        m = _TYPE_RE.match(str(text))
        if not m:
            raise ValueError(f"cannot read {text!r} as a fixed-point type like 'ap_fixed<6,2>'")
        u, w, i, rnd, ovf = m.groups()
        return cls(int(w), int(i), signed=not u, rounding=rnd or "TRN", overflow=ovf or "WRAP")

    def replace(self, **changes) -> FixedType:
        return dataclasses.replace(self, **changes)

    def quantize(self, x, ste: bool = True):
        """Fake-quantize (JAX, straight-through gradient); see :func:`quantize`."""
        return quantize(x, self.width, self.integer, signed=self.signed, rounding=self.rounding,
                        overflow=self.overflow, ste=ste)

    def codes(self, x) -> np.ndarray:
        """Integer codes (int64) of real values ``x``, computed in float64 numpy (exact for
        float32 inputs and W <= 53): ``value = code * 2**-fractional``."""
        x = np.asarray(x, dtype=np.float64)
        if not np.all(np.isfinite(x)):
            raise ValueError("cannot convert NaN or infinite values to fixed point")
        k = _round_scaled(np.ldexp(x, self.fractional), self.rounding, np)
        k = _apply_overflow(k, self.width, self.signed, self.overflow, np, np.float64(1))
        return k.astype(np.int64)

    def values(self, codes) -> np.ndarray:
        """Real values (float64) of integer codes."""
        return np.ldexp(np.asarray(codes, dtype=np.float64), -self.fractional)


def integer_bits_for(max_abs: float, signed: bool = True) -> int:
    """Smallest integer bits I such that ``|x| <= max_abs`` fits below the type's top
    (``max_abs < 2**(I-1)`` for signed types). E.g. 0.9 -> 1, 1.0 -> 2, 0.3 -> 0, 5 -> 4."""
    if not np.isfinite(max_abs):
        raise ValueError(f"max_abs must be finite, got {max_abs}")
    if max_abs <= 0:
        return 1 if signed else 0
    return int(np.floor(np.log2(max_abs))) + (2 if signed else 1)


# --------------------------------------------------------------------------------------------
# The deployable network: numpy weights on the grid + one fixed-point type per tensor
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Input scaling
# --------------------------------------------------------------------------------------------


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


_FROM_QAT = ("QMLP", "QuantConfig", "QuantState", "ensemble_loss")


def __getattr__(name: str):
    """``quant.QMLP`` etc. live in :mod:`jetkit.qat` (imported lazily: it imports this module)."""
    if name in _FROM_QAT:
        from jetkit import qat

        return getattr(qat, name)
    raise AttributeError(f"module 'jetkit.quant' has no attribute {name!r}")


# --------------------------------------------------------------------------------------------
# Notebook 05 exercises (checks print a verdict and a hint, never the answer)
# --------------------------------------------------------------------------------------------

from jetkit import exercises  # noqa: E402


@exercises.register(
    "05_fixed_point",
    hint="Multiply by 2**(W - I) to get the integer code, round half up (floor of code + 0.5), "
    "clip the code to the signed W-bit range, then divide by 2**(W - I).",
)
def _check_fixed_point(answer) -> bool:
    """``answer(x, width, integer)`` must return ap_fixed<W, I, AP_RND, AP_SAT> values."""
    if not callable(answer):
        return exercises.fail("pass your function itself, e.g. exercises.check(name, to_fixed).")
    rng = np.random.default_rng(5)
    for width, integer in ((6, 2), (8, 3), (4, 1), (10, 0)):
        t = FixedType(width, integer, rounding="RND", overflow="SAT")
        inside = rng.uniform(t.min_value, t.max_value, 400)
        ties = (rng.integers(t.min_code, t.max_code, 50) + 0.5) * t.lsb
        outside = np.r_[rng.uniform(t.max_value, 4 * t.max_value + 8, 50),
                        rng.uniform(4 * t.min_value - 8, t.min_value, 50)]
        for x, what in ((inside, "in-range values"), (ties, "values exactly halfway between two "
                        "grid points"), (outside, "values outside the range")):
            got = np.asarray(answer(x.copy(), width, integer), dtype=np.float64)
            if got.shape != x.shape:
                return exercises.fail(f"your function should return one value per input "
                                      f"(shape {x.shape}), got shape {got.shape}.")
            if not np.array_equal(got, t.values(t.codes(x))):
                advice = {"in-range values": "check the scale 2**(W - I) and the rounding.",
                          "values outside the range": "check the saturation: the largest code "
                          "is 2**(W-1) - 1, the smallest -2**(W-1).",
                          }.get(what, "AP_RND rounds a tie towards plus infinity (also for "
                                      "negative numbers).")
                return exercises.fail(f"ap_fixed<{width},{integer}> differs for {what}; {advice}")
    return exercises.ok("Your quantizer is bit-exact with ap_fixed<W, I, AP_RND, AP_SAT>.")


@exercises.register(
    "05_cheapest_tagger",
    hint="Keep only the models whose accuracy is at most 0.01 below the float model, then take "
    "the one with the fewest EBOPs.",
)
def _check_cheapest(answer, results: dict, float_accuracy: float, max_loss: float = 0.01) -> bool:
    """``results``: {name: (accuracy, ebops)}; ``answer``: the name of the cheapest model that
    loses at most ``max_loss`` accuracy with respect to ``float_accuracy``."""
    if answer not in results:
        return exercises.fail(f"{answer!r} is not one of the names in the results table.")
    good = {k: v for k, v in results.items() if v[0] >= float_accuracy - max_loss}
    acc, ebops = results[answer]
    if answer not in good:
        return exercises.fail("that model loses more than one point of accuracy with respect to "
                              "float; look at cheaper ones only after filtering on accuracy.")
    if ebops > min(v[1] for v in good.values()):
        return exercises.fail("that model is accurate enough, but another one within one point "
                              "costs fewer EBOPs.")
    return exercises.ok(f"{answer}: accuracy {acc:.3f} with {ebops:,} EBOPs.")
