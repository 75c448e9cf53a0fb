"""hls4ml export and C simulation; jetkit's quantizers against the real ap_fixed C++ library.

Both need g++ (hls4ml's ``compile()`` builds a shared library); without it they skip with a
message saying so.
"""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import numpy as np
import pytest
from flax import nnx

from jetkit import fpga
from jetkit.fpga import hls
from jetkit.fpga import FixedType, QMLP, QuantConfig

pytestmark = [
    pytest.mark.skipif(
        not hls.gxx_available(), reason="g++ is missing: hls4ml compile() and the ap_fixed "
        "reference test need a C++ compiler (apt install g++)"),
    # keras 3.15's JAX backend calls np.array(x, copy=False) on its variables (harmless)
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]

AP_TYPES = Path(__import__("hls4ml").__file__).parent / "templates" / "vivado" / "ap_types"


def test_quantizer_matches_the_ap_fixed_library(tmp_path):
    """Every rounding x overflow mode of FixedType against Xilinx's ap_fixed.h (as shipped with
    hls4ml), on random values, ties and out-of-range values, signed and unsigned."""
    types = [FixedType(w, i, signed=s, rounding=r, overflow=o)
             for (w, i, s) in ((6, 3, True), (5, 2, False))
             for r, o in itertools.product(fpga.ROUNDING_MODES, fpga.OVERFLOW_MODES)]
    types += [FixedType(4, 6, rounding="RND", overflow=o) for o in fpga.OVERFLOW_MODES]  # F < 0
    rng = np.random.default_rng(0)
    x = np.r_[rng.uniform(-20, 20, 300), np.arange(-80, 81) / 8.0, [0.0, 1e-9, -1e-9]]
    lines = [f'    {{ {t} v(x); std::printf("%.17g ", v.to_double()); }}'
             for t in types]
    src = tmp_path / "ref.cpp"
    src.write_text("#include <cstdio>\n#include \"ap_fixed.h\"\nint main() {\n  double x;\n"
                   "  while (std::scanf(\"%lf\", &x) == 1) {\n" + "\n".join(lines) +
                   "\n    std::printf(\"\\n\");\n  }\n}\n")
    exe = tmp_path / "ref"
    subprocess.run(["g++", "-O0", "-std=c++14", f"-I{AP_TYPES}", str(src), "-o", str(exe)],
                   check=True, capture_output=True)
    out = subprocess.run([str(exe)], input="\n".join(f"{v:.17g}" for v in x), text=True,
                         capture_output=True, check=True).stdout
    reference = np.array([[float(v) for v in line.split()] for line in out.strip().splitlines()])
    assert reference.shape == (len(x), len(types))
    for j, t in enumerate(types):
        ours = t.values(t.codes(x))
        assert np.array_equal(ours, reference[:, j]), f"{t}: {np.flatnonzero(ours != reference[:, j])[:5]}"


@pytest.fixture(scope="module")
def small_net():
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(400, 16)) * np.linspace(0.5, 3, 16)).astype(np.float32)
    model = QMLP(16, 5, (8,), members=1, rngs=nnx.Rngs(3))
    model.configure(QuantConfig(6, act_int=2), calibration=x)
    return model, model.export(0), x


def test_keras_model_carries_the_weights(small_net):
    model, net, x = small_net
    keras_model = hls.to_keras(net)
    assert [layer.name for layer in keras_model.layers] == ["features", "dense1", "relu1", "output"]
    h = np.maximum(x.astype(np.float64) @ net.layers[0].weight + net.layers[0].bias, 0)
    expected = h @ net.layers[1].weight + net.layers[1].bias  # float forward, no casts
    np.testing.assert_allclose(np.asarray(keras_model(x)), expected, rtol=1e-4,
                               atol=1e-4)
    config = hls.hls_config(net, keras_model)
    assert config["LayerName"]["dense1"]["Precision"]["weight"] == str(net.layers[0].weight_type)
    assert config["LayerName"]["relu1"]["Precision"]["result"] == str(net.layers[0].result_type)
    assert config["LayerName"]["features"]["Precision"]["result"] == "ap_fixed<12,4,AP_RND,AP_SAT>"


def test_hls4ml_round_trip_is_bit_exact(small_net, tmp_path):
    model, net, x = small_net
    hls_model = hls.convert(net, tmp_path / "prj", backend="Vitis")
    seconds = hls.compile(hls_model)
    assert seconds > 0
    csim = hls.predict(hls_model, x)
    emulated = fpga.emulate(net, x)
    agreement = hls.compare(csim, emulated)
    assert agreement["values_equal"] == 1.0, agreement
    assert np.array_equal(emulated, model.predict(x)[:, 0])  # and the JAX fake-quant model
    # a project for Vitis HLS: the synthesis script, the firmware and the weights are there
    for name in ("build_prj.tcl", "firmware/jet_tagger.cpp", "firmware/parameters.h"):
        assert (tmp_path / "prj" / name).exists(), name
    assert "-O1" in (tmp_path / "prj" / "build_lib.sh").read_text()


def test_parallel_build_script():
    script = ('CFLAGS="-O3 -fPIC"\n${CC} ${CFLAGS} -c a.cpp -o a.o\n${CC} ${CFLAGS} -c b.cpp -o b.o\n'
              '${CC} ${CFLAGS} -shared a.o b.o -o lib.so\n')
    out = hls._parallel_build_script(script, "-O1")
    assert 'CFLAGS="-O1 -fPIC"' in out
    assert out.index("wait $pid1") < out.index("-shared") and out.count(" &\n") == 2


def test_compare_and_errors():
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    b = np.array([[1.0, 2.0], [3.0, 4.5]])
    c = hls.compare(a, b)
    assert c["values_equal"] == 0.75 and c["rows_equal"] == 0.5 and c["max_abs_diff"] == 0.5
    with pytest.raises(ValueError, match="shape"):
        hls.compare(a, b[:1])
    with pytest.raises(ValueError, match="backend"):
        hls.convert(None, "x", backend="Quartus")
