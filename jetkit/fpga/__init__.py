"""FPGA inference: fixed-point types with ``ap_fixed`` semantics, quantization-aware training with
pruning, a bit-exact integer emulation, a resource/latency cost model and the hls4ml export.

>>> from jetkit.fpga import FixedType, QMLP, QuantConfig, emulate
>>> model = QMLP.from_float(mlp, members=3)               # three copies of a float MLP
>>> model.configure(QuantConfig(bits=6), member=0)        # 6-bit weights and activations
>>> net = model.export(0)                                 # a QuantizedNetwork (numpy)
>>> emulate(net, x)                                       # integer arithmetic, like the firmware

Modules: :mod:`~jetkit.fpga.fixed_point` (FixedType, quantize), :mod:`~jetkit.fpga.network`
(QuantizedNetwork, emulate), :mod:`~jetkit.fpga.qat` (QMLP, QuantConfig), :mod:`~jetkit.fpga.hgq`
(HGQMLP: learned per-weight bit widths), :mod:`~jetkit.fpga.cost`
(EBOPs, LUT/DSP, latency), :mod:`~jetkit.fpga.hls` (hls4ml export; needs the ``fpga`` extra).
QKeras: arXiv:2006.10159; HGQ: arXiv:2405.00645; hls4ml: arXiv:1804.06913.
"""

from jetkit.fpga import cost
from jetkit.fpga.fixed_point import (OVERFLOW_MODES, ROUNDING_MODES, FixedType, integer_bits_for, quantize,
                                     requantize_codes)
from jetkit.fpga.network import (QLayer, QuantizedNetwork, Standardizer, emulate, emulate_codes,
                                 float32_exact, sparsity)
from jetkit.fpga.hgq import HGQMLP, hgq_loss
from jetkit.fpga.qat import QMLP, QuantConfig, QuantState, ensemble_loss

__all__ = [
    "HGQMLP", "OVERFLOW_MODES", "ROUNDING_MODES", "FixedType", "QLayer", "QMLP", "QuantConfig", "QuantState",
    "QuantizedNetwork", "Standardizer", "cost", "emulate", "emulate_codes", "ensemble_loss",
    "float32_exact", "hgq_loss", "integer_bits_for", "quantize", "requantize_codes", "sparsity",
]
