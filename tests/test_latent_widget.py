"""LatentExplorer: every control driven from Python updates the figure's data in place."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from jetkit.widgets.latent import LatentExplorer, project


def _toy(n=200, d=4, npix=6, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(n, d)).astype(np.float32)
    labels = (rng.random(n) > 0.5).astype(int)
    data[labels == 1, 0] += 3.0
    w = rng.normal(size=(d, npix * npix))
    encode = lambda x: np.asarray(x)[:, :d]  # noqa: E731  (identity "encoder")
    decode = lambda z: np.abs(np.asarray(z) @ w)  # noqa: E731
    return encode, decode, data, labels


@pytest.fixture
def explorer():
    encode, decode, data, labels = _toy()
    return LatentExplorer(encode, decode, data, labels, class_names=["qcd", "top"],
                          scores={"MSE": data[:, 1] ** 2})


def test_project_pca_and_variance():
    rng = np.random.default_rng(1)
    codes = rng.normal(size=(500, 3)) * [5.0, 0.1, 1.0]
    xy, center, basis = project(codes, "pca")
    assert xy.shape == (500, 2)
    assert abs(abs(basis[0, 0]) - 1) < 0.01  # the widest direction first
    np.testing.assert_allclose(basis @ basis.T, np.eye(2), atol=1e-10)
    xy2, _, b2 = project(codes, "variance")
    assert b2[0, 0] == 1 and b2[1, 2] == 1
    with pytest.raises(ValueError):
        project(codes, "tsne")


def test_css_classes_and_controls(explorer):
    classes = {k: set(c._dom_classes) for k, c in explorer.controls.items()}
    assert "jetkit-latent-x" in classes["x_slider"]
    assert "jetkit-latent-y" in classes["y_slider"]
    assert "jetkit-interp-slider" in classes["interp_slider"]
    assert "jetkit-latent-explorer" in explorer._dom_classes


def test_sliders_decode_the_point(explorer):
    before = explorer.im.get_array().copy()
    explorer.x_slider.value = explorer.x_slider.max * 0.8
    explorer.y_slider.value = explorer.y_slider.min * 0.5
    x, y = explorer.x_slider.value, explorer.y_slider.value
    np.testing.assert_allclose(explorer.marker.get_data(), [[x], [y]])
    z = explorer.center + np.array([x, y]) @ explorer.basis
    np.testing.assert_allclose(explorer.current_z, z)
    expected = explorer.decode_fn(z[None].astype(np.float32))[0].reshape(6, 6)
    np.testing.assert_allclose(explorer.im.get_array(), expected, rtol=1e-5)
    assert not np.allclose(explorer.im.get_array(), before)


def test_click_on_canvas_moves_sliders(explorer):
    event = SimpleNamespace(inaxes=explorer.ax_latent, xdata=1.0, ydata=-0.5)
    explorer.on_click(event)
    assert explorer.x_slider.value == pytest.approx(1.0, abs=explorer.x_slider.step)
    assert explorer.y_slider.value == pytest.approx(-0.5, abs=explorer.y_slider.step)
    xy = [[explorer.x_slider.value], [explorer.y_slider.value]]
    np.testing.assert_allclose(explorer.marker.get_data(), xy)
    old = explorer.x_slider.value
    explorer.on_click(SimpleNamespace(inaxes=explorer.ax_image, xdata=0.3, ydata=0.3))  # ignored
    assert explorer.x_slider.value == old


def test_interpolation_slider_and_jet_choice(explorer):
    explorer.jet_a.value, explorer.jet_b.value = 3, 7
    np.testing.assert_allclose(explorer.path.get_data(), explorer.xy[[3, 7]].T)
    explorer.interp_slider.value = 0.0
    np.testing.assert_allclose(explorer.current_z, explorer.codes[3])
    img0 = explorer.im.get_array().copy()
    explorer.interp_slider.value = 1.0
    np.testing.assert_allclose(explorer.current_z, explorer.codes[7])
    np.testing.assert_allclose(explorer.marker.get_data(), explorer.xy[[7]].T, atol=1e-9)
    explorer.interp_slider.value = 0.5
    np.testing.assert_allclose(explorer.current_z, 0.5 * (explorer.codes[3] + explorer.codes[7]))
    assert not np.allclose(explorer.im.get_array(), img0)
    assert "jet 3" in explorer.info.value


def test_colour_by_score_and_back(explorer):
    explorer.color_select.value = "MSE"
    np.testing.assert_allclose(explorer.scatter.get_array(), explorer.scores["MSE"])
    assert not explorer._legend.get_visible()
    explorer.color_select.value = "class"
    np.testing.assert_allclose(explorer.scatter.get_array(), explorer.labels)
    assert explorer._legend.get_visible()


def test_offline_figure_is_png(explorer):
    assert not explorer._live and len(explorer._png.value) > 1000


def test_bad_inputs():
    encode, decode, data, labels = _toy()
    with pytest.raises(ValueError, match="codes"):
        LatentExplorer(lambda x: np.zeros((len(x) - 1, 2)), decode, data, labels)
    with pytest.raises(ValueError, match="square"):
        LatentExplorer(encode, lambda z: np.ones((len(z), 7)), data, labels)


@pytest.mark.filterwarnings("ignore:Passing unrecognized arguments:DeprecationWarning")
def test_live_canvas_redraws_in_place(monkeypatch):
    """Under ``%matplotlib widget`` the explorer shows the live ipympl canvas and redraws it
    (no static PNG view exists then)."""
    import matplotlib
    import matplotlib.pyplot as plt
    import ipywidgets as W

    from jetkit.widgets import canvas

    previous = matplotlib.get_backend()
    plt.switch_backend("module://ipympl.backend_nbagg")
    monkeypatch.setattr(canvas.matplotlib, "get_backend", lambda: "widget")
    try:
        encode, decode, data, labels = _toy()
        ex = LatentExplorer(encode, decode, data, labels, class_names=["qcd", "top"])
        assert ex._live and isinstance(ex.fig.canvas, W.DOMWidget) and ex.fig.canvas in ex.children
        before = np.array(ex.image_data)
        ex.x_slider.value = ex.x_slider.max
        assert not np.allclose(ex.image_data, before)
        plt.close(ex.fig)
    finally:
        monkeypatch.undo()
        plt.switch_backend(previous)
