"""QuantizationExplorer: move the precision and sparsity of a jet tagger and watch accuracy, ROC
curves and FPGA cost change.

>>> %matplotlib widget
>>> from jetkit.widgets.quantization import QuantizationExplorer
>>> QuantizationExplorer(model, x_test, y_test, class_names, sparsity_members={0.0: 0, 0.5: 1})

``model`` is a :class:`jetkit.fpga.QMLP`; each sparsity on the slider is one of its members
(trained with pruning). The bit sliders quantize that member's weights after training (as PTQ
would) and re-run the test set: the jitted forward pass keeps its compilation because precisions
are arrays, so an update takes milliseconds. Controls are ordinary ipywidgets (setting
``explorer.bits_slider.value = 5`` from Python runs the same callback as a drag) with CSS classes
``jetkit-bits-slider``, ``jetkit-int-bits-slider``, ``jetkit-sparsity-slider``; the box has
``jetkit-quantization-explorer`` and the text line ``jetkit-quant-info``.
"""

from __future__ import annotations


import ipywidgets as W
import matplotlib
import matplotlib.ticker
import numpy as np

from jetkit import metrics
from jetkit.fpga import cost as fpga_cost
from jetkit.fpga import QuantConfig
from jetkit.widgets.canvas import live_figure, redraw

__all__ = ["QuantizationExplorer"]

_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def _thin(x, y, n=400):
    """At most ``n`` points of a curve (for drawing)."""
    if len(x) <= n:
        return x, y
    idx = np.unique(np.linspace(0, len(x) - 1, n).astype(int))
    return x[idx], y[idx]


class QuantizationExplorer(W.VBox):
    """Sliders for total bits, integer bits of the hidden activations and sparsity; a figure
    with one-vs-rest ROC curves (left) and accuracy against EBOPs (right, with optional
    ``reference`` points from a scan: a dict with arrays ``"ebops"``, ``"accuracy"`` and optional
    ``"label"``, ``"color"``, ``"marker"``, or a list of such dicts, e.g. uniform QAT and HGQ).

    Attributes after each update: ``accuracy``, ``cost`` (:class:`jetkit.fpga.cost.Cost`),
    ``logits`` (N, C), ``network`` (the :class:`jetkit.fpga.QuantizedNetwork` on show)."""

    def __init__(self, model, x, labels, class_names, sparsity_members: dict[float, int], *,
                 bits: int = 6, act_int: int = 3, bits_range: tuple[int, int] = (3, 16),
                 int_range: tuple[int, int] = (0, 8), float_accuracy: float | None = None,
                 reference: dict | list[dict] | None = None, figsize: tuple[float, float] = (9.5, 4.0)):
        if not sparsity_members:
            raise ValueError("sparsity_members must map at least one sparsity to a member index")
        self.x = np.asarray(x, np.float32)
        self.labels = np.asarray(labels)
        if len(self.x) != len(self.labels) or len(self.x) == 0:
            raise ValueError(f"x and labels must be non-empty and of equal length, got "
                             f"{len(self.x)} and {len(self.labels)}")
        self.class_names = list(class_names)
        self._models = {float(s): model.select(int(e)) for s, e in sorted(sparsity_members.items())}
        self.bits_slider = W.IntSlider(value=bits, min=bits_range[0], max=bits_range[1],
                                       description="total bits", continuous_update=False)
        self.int_slider = W.IntSlider(value=act_int, min=int_range[0], max=int_range[1],
                                      description="integer bits", continuous_update=False)
        self.sparsity_slider = W.SelectionSlider(
            options=[(f"{s:.0%}", s) for s in self._models], description="sparsity",
            continuous_update=False)
        self.info = W.HTML()
        for control, css in ((self.bits_slider, "bits-slider"), (self.int_slider, "int-bits-slider"),
                             (self.sparsity_slider, "sparsity-slider")):
            control.add_class(f"jetkit-{css}")
            control.observe(self._on_change, names="value")
        self.info.add_class("jetkit-quant-info")

        self.fig, self._live = live_figure(figsize)
        self.ax_roc, self.ax_cost = self.fig.subplots(1, 2)
        self.roc_lines = [self.ax_roc.plot([], [], color=_COLORS[i % len(_COLORS)],
                                           label=f"{name} vs rest")[0]
                          for i, name in enumerate(self.class_names)]
        self.ax_roc.set(xlabel=r"signal efficiency $\varepsilon_S$",
                        ylabel=r"rejection $1/\varepsilon_B$", yscale="log", xlim=(0, 1),
                        ylim=(1, 1e4), title="one class vs the rest")
        self.ax_roc.legend(loc="upper right", fontsize="small")
        self._ref = ([], [])
        for ref in [reference] if isinstance(reference, dict) else list(reference or []):
            self._ref[0].extend(ref["ebops"])
            self._ref[1].extend(ref["accuracy"])
            self.ax_cost.scatter(ref["ebops"], ref["accuracy"], s=14, color=ref.get("color", "0.6"),
                                 marker=ref.get("marker", "o"), label=ref.get("label", "trained networks"))
        self._float = float_accuracy
        if float_accuracy is not None:
            self.ax_cost.axhline(float_accuracy, color="k", ls="--", lw=1, label="float")
        (self.marker,) = self.ax_cost.plot([], [], "r*", ms=14, label="current")
        self.ax_cost.set(xscale="log", xlabel="EBOPs", ylabel="accuracy", title="accuracy vs cost")
        self.ax_cost.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        self.ax_cost.legend(loc="lower right", fontsize="small")
        self.fig.tight_layout()
        self._view = self.fig.canvas if self._live else W.Image(format="png")
        super().__init__([W.HBox([self.bits_slider, self.int_slider, self.sparsity_slider]),
                          self.info, self._view])
        self.add_class("jetkit-quantization-explorer")
        self.update()

    @property
    def model(self):
        """The single-member QMLP for the selected sparsity."""
        return self._models[self.sparsity_slider.value]

    def _on_change(self, change=None) -> None:
        self.update()

    def update(self) -> None:
        """Quantize, evaluate and redraw in place for the current slider values."""
        bits = self.bits_slider.value
        act_int = min(self.int_slider.value, bits)
        model = self.model
        model.configure(QuantConfig(bits, act_int=act_int), member=0)
        self.network = model.export(0)
        self.logits = model.predict(self.x)[:, 0]
        self.accuracy = metrics.accuracy(self.labels, self.logits)
        self.cost = fpga_cost.estimate(self.network)
        scores = self.logits - self.logits.max(axis=1, keepdims=True)
        probs = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
        for c, line in enumerate(self.roc_lines):
            fpr, tpr, _ = metrics.roc_curve(self.labels == c, probs[:, c])
            keep = fpr > 0
            line.set_data(*_thin(tpr[keep], 1.0 / fpr[keep]))
        self.marker.set_data([max(self.cost.ebops, 1)], [self.accuracy])
        xs = self._ref[0] + [max(self.cost.ebops, 1)]
        ys = self._ref[1] + [self.accuracy] + ([self._float] if self._float is not None else [])
        self.ax_cost.set_xlim(min(xs) / 1.5, max(xs) * 1.5)
        self.ax_cost.set_ylim(min(ys) - 0.02, max(ys) + 0.01)
        self.ax_cost.set_title(f"ap_fixed<{bits},{act_int}> activations, "
                               f"{self.sparsity_slider.label} pruned", fontsize="medium")
        c = self.cost
        self.info.value = (f"<b>accuracy {self.accuracy:.3f}</b> &nbsp; EBOPs {c.ebops:,} &nbsp; "
                           f"multiplications {c.n_mult:,} &nbsp; DSP ≈ {c.dsp} &nbsp; "
                           f"LUT ≈ {c.lut:,} &nbsp; latency ≈ {c.latency_ns:.0f} ns")
        redraw(self.fig, self._live, self._view)
