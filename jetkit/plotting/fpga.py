"""Figures of the FPGA topic (quantization): labelled axes, legends, one idea per figure."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np

from jetkit import metrics
from jetkit.fpga import cost as fpga_cost
from jetkit.plotting import core as plotting
from jetkit.fpga.fixed_point import FixedType

__all__ = ["accuracy_vs_bits", "accuracy_vs_sparsity", "bit_width_histograms", "confusion",
           "one_vs_rest_roc", "pareto", "pareto_families", "quantizer_modes", "softmax"]


def softmax(logits) -> np.ndarray:
    z = np.asarray(logits, np.float64)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def one_vs_rest_roc(ax, labels, logits, class_names) -> dict[str, float]:
    """Background rejection vs signal efficiency of each class against all others; returns the
    AUC per class."""
    probs, aucs = softmax(logits), {}
    for c, name in enumerate(class_names):
        fpr, tpr, _ = metrics.roc_curve(labels == c, probs[:, c])
        aucs[name] = metrics.auc(labels == c, probs[:, c])
        plotting.roc_curve_plot(ax, tpr, fpr, label=f"{name} (AUC {aucs[name]:.3f})")
    ax.set(xlabel=r"signal efficiency $\varepsilon_S$", ylabel=r"rejection $1/\varepsilon_B$",
           title="one class vs the rest")
    ax.legend(fontsize="small")
    return aucs


def confusion(ax, labels, predictions, class_names) -> np.ndarray:
    """Row-normalised confusion matrix (true class in rows); returns it."""
    n = len(class_names)
    m = np.bincount(np.asarray(labels) * n + np.asarray(predictions), minlength=n * n)
    m = m.reshape(n, n) / np.maximum(m.reshape(n, n).sum(axis=1, keepdims=True), 1)
    ax.imshow(m, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center",
                    color="white" if m[i, j] > 0.5 else "black", fontsize="small")
    ax.set(xticks=range(n), yticks=range(n), xticklabels=class_names, yticklabels=class_names,
           xlabel="predicted class", ylabel="true class", title="fraction of each true class")
    ax.minorticks_off()
    return m


def quantizer_modes(axes, width: int = 4, integer: int = 2, span: float = 3.0) -> None:
    """Two panels: rounding (TRN vs RND) and overflow (WRAP vs SAT) of ap_fixed<width,integer>."""
    x = np.linspace(-span, span, 2001)
    ax1, ax2 = axes
    for rounding, style in (("TRN", "-"), ("RND", "--")):
        t = FixedType(width, integer, rounding=rounding, overflow="SAT")
        ax1.plot(x, t.values(t.codes(x)), style, label=f"AP_{rounding}")
    ax1.plot(x, x, ":", color="grey", lw=1, label="x")
    ax1.set(xlim=(-1, 1), ylim=(-1.2, 1.2), xlabel="real value x", ylabel="stored value",
            title=f"rounding, LSB = {2.0 ** -(width - integer):g}")
    wide = np.linspace(-3 * span, 3 * span, 4001)
    for overflow, style in (("WRAP", "-"), ("SAT", "--")):
        t = FixedType(width, integer, rounding="TRN", overflow=overflow)
        ax2.plot(wide, t.values(t.codes(wide)), style, label=f"AP_{overflow}")
    ax2.set(xlabel="real value x", ylabel="stored value",
            title=f"overflow of ap_fixed<{width},{integer}>")
    for ax in axes:
        ax.legend(fontsize="small")


def accuracy_vs_bits(ax, bits_ptq, acc_ptq, bits_qat, acc_qat, float_accuracy: float) -> None:
    ax.axhspan(float_accuracy - 0.01, float_accuracy, color="0.85", label="float - 1 point")
    ax.axhline(float_accuracy, color="k", ls="--", lw=1, label="float")
    ax.plot(bits_ptq, acc_ptq, "o-", label="post-training quantization")
    ax.plot(bits_qat, acc_qat, "s-", label="quantization-aware training")
    ax.set(xlabel="total bits W of weights and activations", ylabel="test accuracy (5 classes)",
           title="accuracy vs precision")
    ax.legend(fontsize="small", loc="lower right")


def accuracy_vs_sparsity(ax, sparsity, accuracy, float_accuracy: float, bits: int) -> None:
    ax.axhspan(float_accuracy - 0.01, float_accuracy, color="0.85", label="float - 1 point")
    ax.axhline(float_accuracy, color="k", ls="--", lw=1, label="float")
    ax.plot(np.asarray(sparsity) * 100, accuracy, "o-", label=f"QAT {bits} bits + pruning")
    ax.set(xlabel="pruned weights [%]", ylabel="test accuracy (5 classes)",
           title="accuracy vs sparsity")
    ax.legend(fontsize="small", loc="lower left")


def pareto(ax, names, ebops, accuracy, float_accuracy: float) -> np.ndarray:
    """Accuracy against EBOPs (log x) with the Pareto front; returns the front's indices."""
    ebops, accuracy = np.asarray(ebops, float), np.asarray(accuracy, float)
    front = fpga_cost.pareto_front(ebops, accuracy)
    ax.axhline(float_accuracy, color="k", ls="--", lw=1, label="float")
    ax.scatter(ebops, accuracy, color="tab:blue", s=25, label="trained models")
    ax.step(ebops[front], accuracy[front], where="post", color="tab:red", label="Pareto front")
    for k, i in enumerate(front):  # alternate below / above so neighbours do not overlap
        ax.annotate(names[i], (ebops[i], accuracy[i]), textcoords="offset points",
                    xytext=(5, -11) if k % 2 == 0 else (-5, 5), fontsize="x-small",
                    ha="left" if k % 2 == 0 else "right")
    ax.set(xscale="log", xlabel="effective bit operations (EBOPs)",
           ylabel="test accuracy (5 classes)", title="accuracy vs FPGA cost")
    ax.legend(fontsize="small", loc="lower right")
    return front


def pareto_families(ax, families: dict, float_accuracy: float, budget: float | None = 0.01) -> None:
    """Accuracy against EBOPs (log x) for several families of networks, each ``label -> (ebops,
    accuracy)`` in its own colour, with each family's Pareto front; ``budget`` draws the line
    ``float_accuracy - budget`` (the accuracy a design may give up)."""
    ax.axhline(float_accuracy, color="k", ls="--", lw=1, label="float")
    if budget is not None:
        ax.axhline(float_accuracy - budget, color="0.5", ls=":", lw=1,
                   label=f"float - {budget * 100:g} point")
    for (label, (ebops, accuracy)), color in zip(families.items(), mpl.rcParams["axes.prop_cycle"].by_key()["color"]):
        ebops, accuracy = np.asarray(ebops, float), np.asarray(accuracy, float)
        if ebops.shape != accuracy.shape or ebops.ndim != 1:
            raise ValueError(f"{label}: ebops and accuracy must be 1-d arrays of equal length")
        front = fpga_cost.pareto_front(ebops, accuracy)
        ax.scatter(ebops, accuracy, color=color, s=25, label=label)
        ax.step(ebops[front], accuracy[front], where="post", color=color, lw=1, alpha=0.7)
    ax.set(xscale="log", xlabel="effective bit operations (EBOPs)",
           ylabel="test accuracy (5 classes)", title="accuracy vs FPGA cost")
    ax.legend(fontsize="small", loc="lower right")


def bit_width_histograms(axes, widths: list, input_widths: list[int] | None = None, *,
                         xlabel: str = "weight bits", title_zero: bool = True) -> None:
    """One histogram per layer of integer widths of its weights (effective bits, 0 = pruned; or
    fractional bits), with the fraction at 0 (``title_zero``) and the layer's input width in the
    title."""
    if len(axes) != len(widths):
        raise ValueError(f"need one axis per layer: {len(axes)} axes for {len(widths)} layers")
    lo = min(int(np.min(w)) for w in widths)
    hi = max(int(np.max(w)) for w in widths) + 1
    for j, (ax, w) in enumerate(zip(axes, widths)):
        w = np.asarray(w).ravel()
        ax.hist(w, bins=np.arange(lo, hi + 1) - 0.5, color="tab:purple")
        title = f"layer {j + 1}" + (f": {np.mean(w == 0):.0%} at 0 bits" if title_zero else "")
        if input_widths is not None:
            title += f"\ninput {input_widths[j]} bits"
        ax.set(title=title, xlabel=xlabel, ylabel="weights" if j == 0 else None)
