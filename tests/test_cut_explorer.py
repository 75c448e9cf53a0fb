"""The CutExplorer widget (jetkit.widgets.cuts) driven from Python: callbacks without a browser,
bad input, and the live ipympl canvas under the widget backend. (In a real browser:
tests/test_browser_cut_explorer.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import z_closed


def test_cut_explorer_callbacks_run_without_a_browser(real_jets):
    from jetkit.widgets.cuts import CutExplorer

    mass = real_jets["jets"][:, 3].astype(np.float64)
    top = real_jets["labels"] == 1
    ex = CutExplorer(mass[top], mass[~top], 0.5, 2.0, keep="above", cut=100.0, temperature=5.0,
                     rel_unc=0.1, min_background_mc=10, range=(0.0, float(mass.max()) + 1.0),
                     xlabel="jet mass [GeV]")
    assert "jetkit-cut-slider" in ex.cut_slider._dom_classes
    assert "jetkit-temperature-slider" in ex.temperature_slider._dom_classes
    png_before = ex._view.value
    ex.cut_slider.value = 140.0
    st = ex.state
    s_hard = 0.5 * (mass[top] > 140).sum()
    b_hard = 2.0 * (mass[~top] > 140).sum()
    assert (st["s_hard"], st["b_hard"]) == pytest.approx((s_hard, b_hard))
    assert st["z_hard"] == pytest.approx(z_closed(s_hard, b_hard, 0.1 * b_hard), rel=1e-4)
    assert "Z = " in ex.info.value and ex._view.value != png_before
    assert st["n_background_mc"] == (mass[~top] > 140).sum()
    assert any("sim. bkg" in t.get_text() for t in ex.ax_z.get_legend().get_texts())
    ex.temperature_slider.value = 1e-3
    assert ex.state["z_relaxed"] == pytest.approx(ex.state["z_hard"], rel=1e-2)
    ex.temperature_slider.value = 20.0
    assert ex.state["z_relaxed"] != pytest.approx(ex.state["z_hard"], rel=1e-3)
    hard_curve, _ = ex.z_curves()
    ex.uncertainty_slider.value = 0.0
    hard_no_unc, _ = ex.z_curves()
    assert np.all(hard_no_unc >= hard_curve - 1e-6) and hard_no_unc.max() > hard_curve.max()
    assert ex.state["rel_unc"] == 0.0
    # the drawn selected histogram is the relaxed-cut-weighted yield
    assert float(np.sum(ex._stairs_b.get_data().values)) == pytest.approx(ex.state["b"], rel=1e-3)


def test_cut_explorer_rejects_bad_input():
    from jetkit.widgets.cuts import CutExplorer

    with pytest.raises(ValueError, match="at least one"):
        CutExplorer([], [1.0, 2.0])
    with pytest.raises(ValueError, match="keep"):
        CutExplorer([1.0], [2.0], keep="inside")
    with pytest.raises(ValueError, match="weights"):
        CutExplorer([1.0, 2.0], [2.0, 3.0], -1.0)
    with pytest.raises(ValueError, match="NaN"):
        CutExplorer([np.nan], [2.0])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # from ipympl's toolbar, not ours
def test_cut_explorer_uses_a_live_ipympl_canvas_under_the_widget_backend(real_jets, monkeypatch):
    import matplotlib
    import matplotlib.pyplot as plt
    from ipympl.backend_nbagg import Canvas

    from jetkit.widgets.cuts import CutExplorer

    mass = real_jets["jets"][:, 3].astype(np.float64)
    top = real_jets["labels"] == 1
    previous = plt.get_backend()
    plt.switch_backend("module://ipympl.backend_nbagg")
    try:
        monkeypatch.setattr(matplotlib, "get_backend", lambda: "widget")  # as %matplotlib widget reports it
        ex = CutExplorer(mass[top], mass[~top], keep="above", cut=120.0, xlabel="jet mass [GeV]")
        assert isinstance(ex.fig.canvas, Canvas) and ex.children[-1] is ex.fig.canvas
        drawn = []
        monkeypatch.setattr(ex.fig.canvas, "draw_idle", lambda: drawn.append(True))
        ex.cut_slider.value = 150.0
        assert drawn and ex.state["cut"] == 150.0
        plt.close(ex.fig)
    finally:
        monkeypatch.undo()
        plt.switch_backend(previous)
