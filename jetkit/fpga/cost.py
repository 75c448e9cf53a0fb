"""What a quantized, pruned network costs on an FPGA: multiplications, effective bit operations,
a rough DSP/LUT count and latency (fully parallel hls4ml ``io_parallel`` + ``Latency`` strategy).

>>> c = estimate(net)          # net: a jetkit.fpga.QuantizedNetwork
>>> c.ebops, c.dsp, c.lut, c.latency_ns

Model (estimates to compare designs with each other, not a substitute for synthesis):

* Every nonzero weight is one multiplication by a constant. Its *effective bits* ``b_w`` are the
  significant bits of the weight's integer code (trailing zeros are free shifts); the input's
  ``b_a`` are the bits of the layer's input type (one fewer after a ReLU: the sign bit is 0).
* EBOPs (effective bit operations, in the spirit of HGQ, arXiv:2405.00645) = sum of
  ``b_a * b_w`` over the surviving multiplications.
* A constant multiplication is shift-and-add: its code in canonical signed digits (CSD) with
  ``n`` nonzero digits needs ``n - 1`` adders. With at least ``dsp_min_adders`` adders on an
  input of at least ``dsp_min_input_bits`` bits, synthesis tends to use a DSP block instead;
  otherwise the adders cost one LUT per bit (``b_a + b_w``). Accumulating ``m`` products and the
  bias of one neuron takes ``m`` adders, each about one bit wider than a product.
* Latency: per layer the multiplier stage (3 cycles on DSPs, 1 in LUTs), an adder tree of
  ``ceil(log2(m + 1))`` levels (``adds_per_cycle`` levels per clock) and one register for the
  cast/activation; plus one input register. ``latency_ns`` = cycles x ``clock_ns``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

__all__ = ["Cost", "LayerCost", "csd_digits", "effective_bits", "estimate", "pareto_front"]


def effective_bits(codes) -> np.ndarray:
    """Significant bits of integer codes ignoring the sign and trailing zeros (0 for 0):
    5 = 0b101 -> 3, 12 = 0b1100 -> 2, -8 -> 1."""
    a = np.abs(np.asarray(codes, dtype=np.int64))
    out = np.zeros(a.shape, dtype=np.int64)
    nz = a > 0
    odd = a[nz] // (a[nz] & -a[nz])  # strip trailing zeros
    out[nz] = np.floor(np.log2(odd)).astype(np.int64) + 1
    return out


def csd_digits(codes) -> np.ndarray:
    """Number of nonzero digits in the canonical signed-digit form of integer codes (the fewest
    +-powers of two that sum to the value): 7 = 8 - 1 -> 2, 5 = 4 + 1 -> 2, 0 -> 0."""
    a = np.abs(np.asarray(codes, dtype=np.int64))
    # the number of nonzero CSD (non-adjacent form) digits of a equals popcount(a XOR 3a)
    x = np.bitwise_xor(a, 3 * a)
    count = np.zeros(a.shape, dtype=np.int64)
    while np.any(x):
        count += x & 1
        x = x >> 1
    return count


@dataclasses.dataclass(frozen=True)
class LayerCost:
    n_mult: int  # surviving multiplications (nonzero weights)
    ebops: int
    dsp: int
    lut: int
    cycles: int


@dataclasses.dataclass(frozen=True)
class Cost:
    """Totals over the network (see the module docstring for the model)."""

    layers: tuple[LayerCost, ...]
    clock_ns: float

    @property
    def n_mult(self) -> int:
        return sum(c.n_mult for c in self.layers)

    @property
    def ebops(self) -> int:
        return sum(c.ebops for c in self.layers)

    @property
    def dsp(self) -> int:
        return sum(c.dsp for c in self.layers)

    @property
    def lut(self) -> int:
        return sum(c.lut for c in self.layers)

    @property
    def latency_cycles(self) -> int:
        return 1 + sum(c.cycles for c in self.layers)

    @property
    def latency_ns(self) -> float:
        return self.latency_cycles * self.clock_ns

    def as_dict(self) -> dict:
        return {"multiplications": self.n_mult, "EBOPs": self.ebops, "DSP": self.dsp,
                "LUT": self.lut, "latency [cycles]": self.latency_cycles,
                "latency [ns]": self.latency_ns}


def estimate(net, *, clock_ns: float = 5.0, dsp_min_adders: int = 3, dsp_min_input_bits: int = 8,
             adds_per_cycle: int = 3) -> Cost:
    """Resource and latency estimate of a :class:`jetkit.fpga.QuantizedNetwork`."""
    if clock_ns <= 0 or adds_per_cycle < 1:
        raise ValueError(f"need clock_ns > 0 and adds_per_cycle >= 1, got {clock_ns}, {adds_per_cycle}")
    layers = []
    b_a = net.input_type.width
    for layer in net.layers:
        codes = layer.weight_codes
        b_w = effective_bits(codes)
        live = b_w > 0
        adders = np.maximum(csd_digits(codes) - 1, 0)
        on_dsp = live & (adders >= dsp_min_adders) & (b_a >= dsp_min_input_bits)
        lut_mult = int(((adders * (b_a + b_w))[live & ~on_dsp]).sum())
        m = live.sum(axis=0)  # products per output neuron
        # adders of an accumulation tree are about one bit wider than the products they add
        lut_acc = int(((b_a + b_w + 1) * live).sum())
        depth = math.ceil(math.log2(int(m.max(initial=0)) + 1))
        mult_cycles = 3 if on_dsp.any() else (1 if (adders[live] > 0).any() else 0)
        cycles = mult_cycles + math.ceil(depth / adds_per_cycle) + 1
        layers.append(LayerCost(int(live.sum()), int((b_a * b_w).sum()), int(on_dsp.sum()),
                                lut_mult + lut_acc, cycles))
        b_a = layer.result_type.width - (1 if layer.activation == "relu" else 0)
    return Cost(tuple(layers), float(clock_ns))


def pareto_front(cost, score) -> np.ndarray:
    """Indices of the Pareto-optimal points (no other point is both cheaper-or-equal and
    better-or-equal, and strictly better in one), sorted by increasing cost."""
    cost, score = np.asarray(cost, float), np.asarray(score, float)
    if cost.shape != score.shape or cost.ndim != 1:
        raise ValueError(f"cost and score must be 1-d arrays of equal length, got "
                         f"{cost.shape}, {score.shape}")
    order = np.lexsort((-score, cost))
    front, best = [], -np.inf
    for i in order:
        if score[i] > best:
            front.append(i)
            best = score[i]
    return np.asarray(front, dtype=int)
