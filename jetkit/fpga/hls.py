"""Export a :class:`jetkit.fpga.QuantizedNetwork` to hls4ml through Keras 3 (JAX backend) and
compare hls4ml's C simulation with jetkit's integer emulation.

>>> model = hls.convert(net, "hls_projects/jet_tagger")   # keras model -> hls4ml project
>>> seconds = hls.compile(model)                          # g++ only, no Vivado/Vitis needed
>>> logits = hls.predict(model, x)                        # C simulation, bit-accurate
>>> hls.compare(logits, fpga.emulate(net, x))

The Keras model is only a carrier for the weights: Dense + ReLU layers named ``dense1``,
``relu1``, ..., and a final ``output`` Dense **without softmax** (hls4ml's default softmax uses
lookup tables and can flip the argmax, hls4ml issue 1512; a trigger only needs the argmax or the
logits). Every tensor gets the precision jetkit trained with: input, weights, biases, results,
and an accumulator wide enough to be exact, so the C simulation computes what
:func:`jetkit.fpga.emulate` computes.

The written project (``output_dir``) is a normal hls4ml project: ``build_prj.tcl`` runs C
synthesis in Vivado/Vitis HLS. Generated projects never belong in git (``hls_projects/`` and
``hls4ml_prj*/`` are ignored).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "jax")

__all__ = ["DEFAULT_PART", "compare", "compile", "convert", "gxx_available", "hls_config",
           "predict", "to_keras"]

DEFAULT_PART = "xcvu13p-flga2577-2-e"  # the Virtex UltraScale+ of the hls4ml jet-tagging papers


def gxx_available() -> bool:
    """True if a C++ compiler (``g++``) is on PATH; hls4ml's ``compile()`` needs it."""
    return shutil.which("g++") is not None


def _keras():
    import keras

    if keras.backend.backend() != "jax":
        raise RuntimeError(
            f"keras was imported with the {keras.backend.backend()!r} backend before jetkit.fpga.hls; "
            "restart the kernel and import jetkit.fpga.hls first, or set KERAS_BACKEND=jax")
    return keras


def layer_names(net) -> list[tuple[str, str | None]]:
    """(dense name, activation name or None) per layer: dense1/relu1, ..., output."""
    n = len(net.layers)
    return [("output" if i == n - 1 else f"dense{i + 1}",
             f"relu{i + 1}" if layer.activation == "relu" else None)
            for i, layer in enumerate(net.layers)]


def to_keras(net):
    """A Keras 3 model (JAX backend) with the network's on-grid weights (no softmax)."""
    keras = _keras()
    inp = keras.Input((net.sizes[0],), name="features")
    h = inp
    dense_layers = []
    for layer, (dname, aname) in zip(net.layers, layer_names(net)):
        d = keras.layers.Dense(layer.weight.shape[1], name=dname)
        h = d(h)
        dense_layers.append((d, layer))
        if aname:
            h = keras.layers.Activation(layer.activation, name=aname)(h)
    model = keras.Model(inp, h, name="jet_tagger")
    for d, layer in dense_layers:
        d.set_weights([layer.weight.astype(np.float32), layer.bias.astype(np.float32)])
    return model


def hls_config(net, keras_model, *, backend: str = "Vitis") -> dict:
    """hls4ml configuration with jetkit's per-layer precisions (granularity "name")."""
    import hls4ml

    config = hls4ml.utils.config_from_keras_model(keras_model, granularity="name", backend=backend)
    config["Model"].update({"ReuseFactor": 1, "Strategy": "Latency"})
    config["Model"]["Precision"] = {"default": str(net.input_type)}
    layers = config["LayerName"]
    layers["features"]["Precision"] = {"result": str(net.input_type)}
    for layer, (dname, aname) in zip(net.layers, layer_names(net)):
        layers[dname]["Precision"] = {
            "weight": str(layer.weight_type), "bias": str(layer.bias_type),
            "result": str(layer.result_type), "accum": str(layer.accum_type)}
        if aname:
            layers[aname]["Precision"] = {"result": str(layer.result_type)}
    return config


def convert(net, output_dir: str | Path, *, backend: str = "Vitis", part: str = DEFAULT_PART,
            clock_period: float = 5.0, project_name: str = "jet_tagger"):
    """Build the Keras model, configure and convert it with hls4ml (``io_parallel``, latency
    strategy, reuse factor 1) and write the project to ``output_dir``. Returns the hls4ml
    ``ModelGraph`` (call :func:`compile` before :func:`predict`)."""
    import hls4ml

    if backend not in ("Vitis", "Vivado"):
        raise ValueError(f"backend must be 'Vitis' or 'Vivado', got {backend!r}")
    keras_model = to_keras(net)
    config = hls_config(net, keras_model, backend=backend)
    return hls4ml.converters.convert_from_keras_model(
        keras_model, hls_config=config, output_dir=str(output_dir), project_name=project_name,
        backend=backend, part=part, clock_period=clock_period, io_type="io_parallel")


def _parallel_build_script(text: str, opt: str) -> str:
    """hls4ml's build_lib.sh with the two object files compiled at once and ``opt`` instead of
    -O3 (the C simulation's arithmetic is the same at any optimisation level)."""
    text = re.sub(r'CFLAGS="-O3', f'CFLAGS="{opt}', text)
    lines, out, jobs = text.splitlines(), [], 0
    for line in lines:
        if re.match(r"\$\{CC\}.* -c ", line):
            out.append(f"{line} &\npid{jobs}=$!")
            jobs += 1
            continue
        if re.match(r"\$\{CC\}.* -shared ", line) and jobs:
            out.extend(f"wait $pid{j}" for j in range(jobs))
        out.append(line)
    return "\n".join(out) + "\n"


def compile(hls_model, *, fast: bool = True) -> float:  # noqa: A001 - mirrors hls4ml's name
    """Write the project and build its C-simulation library with g++; returns seconds taken.

    ``fast`` builds with ``-O1`` and both translation units in parallel (same results, about
    half the time of hls4ml's serial ``-O3`` build); ``fast=False`` is plain
    ``hls_model.compile()``."""
    if not gxx_available():
        raise RuntimeError("hls4ml's compile() needs g++ (apt install g++; Binder installs it "
                           "from binder/apt.txt)")
    t0 = time.perf_counter()
    if not fast:
        hls_model.compile()
        return time.perf_counter() - t0
    hls_model.write()
    out = Path(hls_model.config.get_output_dir())
    for stale in (out / "firmware").glob("*.so"):  # libraries of earlier conversions
        stale.unlink()
    script = out / "build_lib.sh"
    script.write_text(_parallel_build_script(script.read_text(), "-O1"))
    hls_model._compile()  # build + load the library, as hls_model.compile() does after write()
    return time.perf_counter() - t0


def predict(hls_model, x) -> np.ndarray:
    """C-simulation outputs (float64) for features ``x`` (N, n_in) (converted with the input
    type's rounding and overflow, like the firmware's input cast)."""
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    return np.asarray(hls_model.predict(x), dtype=np.float64).reshape(len(x), -1)


def compare(a, b) -> dict:
    """How well two sets of outputs (N, C) agree: fraction of identical values, of identical
    rows (all outputs of a jet) and of identical argmax, and the largest difference."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"outputs differ in shape: {a.shape} vs {b.shape}")
    same = a == b
    return {"values_equal": float(same.mean()), "rows_equal": float(same.all(axis=1).mean()),
            "argmax_equal": float((a.argmax(1) == b.argmax(1)).mean()),
            "max_abs_diff": float(np.abs(a - b).max(initial=0.0)), "n": int(len(a))}
