"""Fixed-point numbers with ``ap_fixed`` semantics: quantizers and types.

>>> t = FixedType(6, 2, rounding="RND", overflow="SAT")   # ap_fixed<6,2,AP_RND,AP_SAT>
>>> t.quantize(jnp.array([0.3, 5.0]))                     # -> [0.3125, 1.9375]

``ap_fixed<W, I>`` stores an integer code ``k`` of ``W`` bits and means ``k * 2**-(W - I)``;
``I`` counts the integer bits including the sign. Quantization (rounding) modes decide what
happens to bits below the LSB, overflow modes what happens above the MSB; both follow the
Xilinx/AMD ``ap_fixed`` definitions (UG1399), which hls4ml's C simulation uses.

Exactness: the quantizers scale by exact powers of two and take ``floor``, so in float32 they
are exact for ``W <= 24``.
"""

from __future__ import annotations

import dataclasses
import math
import re

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["OVERFLOW_MODES", "ROUNDING_MODES", "FixedType", "integer_bits_for", "quantize", "requantize_codes"]

ROUNDING_MODES = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")


OVERFLOW_MODES = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")


def _check_modes(rounding: str, overflow: str) -> None:
    if rounding not in ROUNDING_MODES:
        raise ValueError(f"unknown rounding mode {rounding!r}; use one of {ROUNDING_MODES}")
    if overflow not in OVERFLOW_MODES:
        raise ValueError(f"unknown overflow mode {overflow!r}; use one of {OVERFLOW_MODES}")


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
