"""Plot helpers: they draw, label axes with units, add legends, and reject bad input."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from jetkit import plotting  # noqa: E402
from jetkit.physics import images  # noqa: E402


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def test_style_applies_and_context_restores():
    size = matplotlib.rcParams["font.size"]
    with plotting.style(font_size=21):
        assert matplotlib.rcParams["font.size"] == 21
        assert matplotlib.rcParams["figure.figsize"][0] < 10  # notebook-sized, not 10 x 10
    assert matplotlib.rcParams["font.size"] == size
    with pytest.raises(ValueError, match="style"):
        plotting.style("NoSuchExperiment")


def test_plot_jet_image(ax, real_jets):
    img = images.jet_image(real_jets["particles"][0], real_jets["mask"][0], 15)
    im = plotting.plot_jet_image(ax, img, 0.8, title="one jet")
    assert "eta" in ax.get_xlabel() and "phi" in ax.get_ylabel() and "[rad]" in ax.get_ylabel()
    assert isinstance(im.norm, mcolors.LogNorm) and list(im.get_extent()) == [-0.8, 0.8, -0.8, 0.8]
    cbar_label = ax.figure.axes[-1].get_ylabel()
    assert "GeV" in cbar_label
    np.testing.assert_array_equal(np.ma.getdata(im.get_array()), np.asarray(img))
    lin = plotting.plot_jet_image(ax, img, log=False, colorbar=False)
    assert type(lin.norm) is mcolors.Normalize and lin.norm.vmin == 0
    empty = plotting.plot_jet_image(ax, np.zeros((4, 4)), colorbar=False)  # no crash, no NaN
    assert np.isfinite(empty.norm.vmin) and empty.norm.vmin < empty.norm.vmax
    with pytest.raises(ValueError, match="2-D"):
        plotting.plot_jet_image(ax, np.zeros((2, 4, 4)))


def test_hist_by_class(ax, real_jets):
    names = [str(c) for c in real_jets["class_names"]]
    edges = plotting.hist_by_class(ax, real_jets["jets"][:, 3], real_jets["labels"], names,
                                   bins=30, range=(0, 300), xlabel="jet mass [GeV]")
    assert len(edges) == 31 and ax.get_xlabel() == "jet mass [GeV]"
    assert ax.get_ylabel() == "density [1/GeV]"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    counts = np.bincount(real_jets["labels"])
    assert legend == [f"{n} ({counts[i]} jets)" for i, n in enumerate(names)]
    with pytest.raises(ValueError, match="unknown class"):
        plotting.hist_by_class(ax, [1.0], [0], names, classes=["higgs"])
    with pytest.raises(ValueError, match="equal length"):
        plotting.hist_by_class(ax, [1.0, 2.0], [0], names)


def test_roc_curve_plot(ax):
    eff_s = np.linspace(0, 1, 11)
    eff_b = eff_s**3
    line = plotting.roc_curve_plot(ax, eff_s, eff_b, label="cubic tagger")
    plotting.roc_curve_plot(ax, eff_s, eff_s**2, label="square tagger")
    assert ax.get_yscale() == "log"
    assert "efficiency" in ax.get_xlabel() and "rejection" in ax.get_ylabel()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend.count("random") == 1 and "cubic tagger" in legend and "square tagger" in legend
    x, y = line.get_data()
    assert len(x) == 10 and np.allclose(y, 1 / x**3)  # the eps_B = 0 point is dropped
    with pytest.raises(ValueError, match="efficiencies"):
        plotting.roc_curve_plot(ax, [0.5, 1.5], [0.1, 0.2])


def test_plot_constituents_and_event(real_jets):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jetkit.data import events

    fig, (a, b) = plt.subplots(1, 2)
    plotting.plot_constituents(a, real_jets["particles"][0], real_jets["mask"][0], title="a jet")
    assert a.get_xlabel() == plotting.ETA_LABEL and "rad" in a.get_ylabel()
    with pytest.raises(ValueError):
        plotting.plot_constituents(a, real_jets["particles"][:2])
    event = events.generate_event("top_qcd", "top", seed=3)
    plotting.plot_event(b, event)
    assert "GeV" in b.get_legend().get_texts()[1].get_text()
    assert len(b.patches) == int(event["selected"][:4].sum())  # one circle per selected jet
    plt.close(fig)


def test_fpga_pareto_families_and_bit_width_histograms():
    fig, ax = plt.subplots()
    families = {"uniform": ([1e4, 2e4, 4e4], [0.60, 0.64, 0.65]), "HGQ": ([3e3, 6e3], [0.63, 0.655])}
    plotting.fpga.pareto_families(ax, families, float_accuracy=0.66)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"uniform", "HGQ", "float"} <= set(labels) and ax.get_xscale() == "log"
    with pytest.raises(ValueError, match="equal length"):
        plotting.fpga.pareto_families(ax, {"bad": ([1, 2], [0.5])}, 0.6)
    plt.close(fig)
    fig, axes = plt.subplots(1, 2)
    widths = [np.array([[0, 3], [2, 2]]), np.array([0, 0, 5])]
    plotting.fpga.bit_width_histograms(axes, widths, input_widths=[7, 4])
    assert "25% at 0 bits" in axes[0].get_title() and "input 4 bits" in axes[1].get_title()
    assert sum(p.get_height() for p in axes[1].patches) == 3
    plotting.fpga.bit_width_histograms(axes, [np.array([-2, 3]), np.array([1])], xlabel="f",
                                       title_zero=False)
    assert axes[0].get_title() == "layer 1" and axes[1].get_xlabel() == "f"
    with pytest.raises(ValueError, match="one axis per layer"):
        plotting.fpga.bit_width_histograms(axes[:1], widths)
    plt.close(fig)
