"""JetImageViewer driven from Python, as a learner's clicks would drive it (Agg backend)."""

from __future__ import annotations

import ipywidgets as W
import matplotlib
import matplotlib.colors as mcolors
import numpy as np
import pytest

from jetkit import widgets
from jetkit.physics import images
from jetkit.data import JetDataset

matplotlib.use("Agg")
NPIX = 15


@pytest.fixture(scope="module")
def dataset(real_jets):
    return JetDataset(
        particles=real_jets["particles"],
        mask=real_jets["mask"],
        jets=real_jets["jets"],
        labels=real_jets["labels"],
        n_constituents=real_jets["n_constituents"],
        name="top_qcd",
        class_names=tuple(str(c) for c in real_jets["class_names"]),
    )


def _expected(ds, i, **options):
    return np.asarray(images.jet_image(ds.particles[i], ds.mask[i], NPIX, 0.8, **options))


def _shown(viewer):
    """The pixel values the figure holds (masked pixels of a log scale count as their data)."""
    return np.ma.getdata(viewer.im.get_array())


STEPS = [("center_select", "centroid", "center", "centroid"),
         ("center_select", "leading", "center", "leading"),
         ("rotate_check", True, "rotate", True),
         ("flip_check", True, "flip", True),
         ("normalise_check", True, "normalise", True)]


def _jet_changed_by_every_step(ds, indices):
    """Position (in ``indices``) of the first jet whose image changes at every step of STEPS."""
    for k, i in enumerate(indices[1:20], start=1):
        opts: dict = {}
        last = _expected(ds, i)
        for _, _, key, option in STEPS:
            opts[key] = option
            new = _expected(ds, i, **opts)
            if np.array_equal(new, last):
                break
            last = new
        else:
            return k
    raise AssertionError("no jet among the first 20 changes at every step")


def test_every_control_updates_the_image(dataset):
    v = widgets.JetImageViewer(dataset, npix=NPIX, max_average=60)
    assert isinstance(v, W.VBox)
    # Start: all jets, jet 0, no preprocessing, log colour scale.
    assert v.class_select.options[0] == "all" and v.jet_index == 0
    np.testing.assert_array_equal(v.image_data, _expected(dataset, 0))
    np.testing.assert_array_equal(_shown(v), v.image_data)
    assert isinstance(v.im.norm, mcolors.LogNorm)

    # Class selector: the slider now runs over the top jets only.
    top = list(dataset.class_names).index("top")
    v.class_select.value = "top"
    tops = np.flatnonzero(dataset.labels == top)
    assert v.jet_slider.max == len(tops) - 1 and v.jet_index == tops[0]
    np.testing.assert_array_equal(v.image_data, _expected(dataset, tops[0]))
    pt, eta, _, mass = dataset.jets[tops[0]]
    assert "top" in v.info.value and f"{pt:.1f} GeV" in v.info.value
    assert f"{mass:.1f} GeV" in v.info.value and f"{eta:.2f}" in v.info.value
    assert f"{dataset.n_constituents[tops[0]]} constituents" in v.info.value
    assert f"{pt:.0f} GeV" in v.ax.get_title()

    # Jet slider, moved to a jet that every preprocessing step below changes visibly.
    k = _jet_changed_by_every_step(dataset, tops)
    before = v.image_data.copy()
    v.jet_slider.value = k
    assert v.jet_index == tops[k]
    assert not np.array_equal(v.image_data, before)
    np.testing.assert_array_equal(v.image_data, _expected(dataset, tops[k]))

    # Each preprocessing control, switched on in turn, gives exactly jetkit.physics.images' output.
    opts: dict = {}
    for control, value, key, option in STEPS:
        before = v.image_data.copy()
        getattr(v, control).value = value
        opts[key] = option
        assert v.options == {"center": False, "rotate": False, "flip": False, "normalise": False,
                             **opts}
        np.testing.assert_allclose(v.image_data, _expected(dataset, tops[k], **opts), rtol=1e-6)
        np.testing.assert_array_equal(_shown(v), v.image_data)
        assert not np.array_equal(v.image_data, before), control
    assert v.image_data.sum() == pytest.approx(1.0, rel=1e-5)
    assert "fraction" in v.colorbar.ax.get_ylabel()

    # Log scale off: same data, linear norm from 0.
    before = v.image_data.copy()
    v.log_check.value = False
    assert type(v.im.norm) is mcolors.Normalize and v.im.norm.vmin == 0
    assert v.im.norm.vmax == pytest.approx(before.max())
    np.testing.assert_array_equal(v.image_data, before)
    v.log_check.value = True
    assert isinstance(v.im.norm, mcolors.LogNorm)

    # Average of the class.
    v.average_check.value = True
    assert v.jet_index is None and v.jet_slider.disabled
    expected = images.average_image(dataset.particles[tops[:60]], dataset.mask[tops[:60]], None,
                                    NPIX, 0.8, **opts)
    np.testing.assert_allclose(v.image_data, expected, rtol=1e-5, atol=1e-8)
    assert "average" in v.ax.get_title() and "top" in v.ax.get_title()
    v.class_select.value = "all"
    assert "all" in v.ax.get_title()
    assert not np.allclose(v.image_data, expected)
    v.average_check.value = False
    assert not v.jet_slider.disabled and v.jet_index == 0


def test_static_fallback_and_css_classes(dataset):
    v = widgets.JetImageViewer(dataset, npix=NPIX)
    view = v.children[-1]
    assert isinstance(view, W.Image) and view.value[:4] == b"\x89PNG"
    png = view.value
    v.jet_slider.value = 1
    assert view.value != png  # the picture is re-rendered on every change
    classes = {name: c._dom_classes for name, c in v.controls.items()}
    assert "jetkit-class-select" in classes["class"] and "jetkit-jet-slider" in classes["jet"]
    for name in ("center", "rotate", "flip", "normalise", "log", "average"):
        assert f"jetkit-{name}" in classes[name]
    assert "jetkit-jet-image-viewer" in v._dom_classes
    with pytest.raises(ValueError, match="npix"):
        widgets.JetImageViewer(dataset, npix=0)


@pytest.mark.filterwarnings("ignore:Passing unrecognized arguments:DeprecationWarning")
@pytest.mark.parametrize("name", ["module://ipympl.backend_nbagg", "widget"])
def test_live_ipympl_canvas(dataset, monkeypatch, name):
    """With ``%matplotlib widget`` (backend reported as "widget" or by its module name) the
    live ipympl canvas sits in the box and is redrawn in place."""
    import matplotlib.pyplot as plt

    previous = matplotlib.get_backend()
    plt.switch_backend("module://ipympl.backend_nbagg")
    monkeypatch.setattr(widgets.canvas.matplotlib, "get_backend", lambda: name)
    try:
        v = widgets.JetImageViewer(dataset, npix=NPIX)
        assert isinstance(v.children[-1], W.DOMWidget) and v.children[-1] is v.fig.canvas
        v.jet_slider.value = 2
        np.testing.assert_array_equal(_shown(v), _expected(dataset, 2))
        plt.close(v.fig)
    finally:
        monkeypatch.undo()
        plt.switch_backend(previous)


def test_every_explorer_is_importable_from_jetkit_widgets():
    import importlib

    from jetkit import widgets

    modules = {"JetImageViewer": "jet_images", "CutExplorer": "cuts", "LatentExplorer": "latent",
               "QuantizationExplorer": "quantization"}
    for name, module in modules.items():
        assert getattr(widgets, name) is getattr(importlib.import_module(f"jetkit.widgets.{module}"), name)
        assert name in widgets.__all__
    with pytest.raises(AttributeError):
        widgets.NoSuchExplorer  # noqa: B018
