"""A live cut explorer: move a cut (and its temperature) and watch the selected
histogram and the significance update.

>>> %matplotlib widget
>>> from jetkit.widgets.cuts import CutExplorer
>>> CutExplorer(tau32[top], tau32[qcd], w_top, w_qcd, keep="below", xlabel=r"$\\tau_{32}$")

The figure is an ipympl canvas updated in place (``set_data`` + ``draw_idle``) in any Jupyter
kernel (see ``jetkit.widgets.canvas.live_figure``); outside one (tests, scripts) it is rendered to a PNG
in an ``ipywidgets.Image``. Every control is an ordinary ipywidgets object, so setting
``explorer.cut_slider.value = 0.6`` from Python runs the same callback as dragging the slider.
CSS classes for browser tests: ``jetkit-cut-slider``, ``jetkit-temperature-slider``,
``jetkit-uncertainty-slider``, ``jetkit-cut-info``; the box has ``jetkit-cut-explorer``.
"""

from __future__ import annotations


import ipywidgets as W
import numpy as np

from jetkit import stats
from jetkit.widgets.canvas import live_figure, redraw

__all__ = ["CutExplorer"]


class CutExplorer(W.VBox):
    """One cut on one feature, hard or relaxed, and its Asimov significance.

    Left panel: the expected signal and background yields (stacked) after the relaxed cut
    ``stats.relaxed_cut(x, cut, T, keep)``, over the full distributions (outlined). Right
    panel: the significance as a function of the cut position for the hard cut and for the
    relaxed cut at the current temperature, with a marker at the current cut.

    Args:
        x_signal, x_background: the feature of signal and background events (1-D).
        w_signal, w_background: expected events per signal/background event (scalars or arrays).
        keep: ``"below"`` keeps ``x < cut``, ``"above"`` keeps ``x > cut``.
        cut, temperature, rel_unc: starting values (temperature in units of x; ``rel_unc`` the
            relative background uncertainty, sigma_b = rel_unc * b).
        min_background_mc: cut positions that keep fewer simulated background events than this
            are shaded as untrustworthy (their background prediction is a fluctuation).
        bins, range: histogram binning (range defaults to the 0.5-99.5% quantiles).
        xlabel: the feature with its unit.

    Attributes: ``cut_slider``, ``temperature_slider``, ``uncertainty_slider`` (controls),
    ``info`` (HTML readout), ``state`` (dict: s, b, z_hard, z_relaxed for the current values),
    ``fig``, ``ax_hist``, ``ax_z``.
    """

    def __init__(self, x_signal, x_background, w_signal=1.0, w_background=1.0, *, keep: str = "below",
                 cut: float | None = None, temperature: float | None = None, rel_unc: float = 0.1,
                 min_background_mc: int = 0, bins: int = 40, range: tuple[float, float] | None = None,  # noqa: A002
                 xlabel: str = "feature", figsize: tuple[float, float] = (9.0, 3.6)) -> None:
        xs = np.asarray(x_signal, dtype=np.float64).ravel()
        xb = np.asarray(x_background, dtype=np.float64).ravel()
        if xs.size == 0 or xb.size == 0:
            raise ValueError("need at least one signal and one background event")
        if not (np.all(np.isfinite(xs)) and np.all(np.isfinite(xb))):
            raise ValueError("the feature contains NaN or infinite values")
        ws = np.broadcast_to(np.asarray(w_signal, dtype=np.float64), xs.shape)
        wb = np.broadcast_to(np.asarray(w_background, dtype=np.float64), xb.shape)
        if np.any(ws < 0) or np.any(wb < 0):
            raise ValueError("event weights must be >= 0 (expected events per event)")
        if keep not in ("above", "below"):
            raise ValueError(f"keep must be 'above' or 'below', got {keep!r}")
        self.keep = keep
        self.x = np.concatenate([xs, xb])
        self.is_signal = np.r_[np.ones(xs.size, bool), np.zeros(xb.size, bool)]
        self.w = np.concatenate([ws, wb])
        lo, hi = range if range is not None else tuple(np.quantile(self.x, [0.005, 0.995]))
        if not hi > lo:
            raise ValueError(f"empty range ({lo}, {hi})")
        self.edges = np.linspace(lo, hi, bins + 1)
        self.cut_grid = np.linspace(lo, hi, 121)
        self.min_background_mc = int(min_background_mc)
        width = hi - lo
        step = float(10 ** np.floor(np.log10(width / 100)))
        cut = float(np.median(self.x)) if cut is None else float(cut)
        temperature = width / 50 if temperature is None else float(temperature)

        self.cut_slider = W.FloatSlider(value=cut, min=lo, max=hi, step=step, description="cut",
                                        continuous_update=True, readout_format=".3g")
        self.temperature_slider = W.FloatLogSlider(value=temperature, base=10,
                                                   min=np.log10(width) - 4, max=np.log10(width) - 0.5,
                                                   step=0.05, description="temperature",
                                                   readout_format=".2g")
        self.uncertainty_slider = W.FloatSlider(value=rel_unc, min=0.0, max=0.5, step=0.01,
                                                description="σ_b / b", readout_format=".2f")
        self.info = W.HTML()
        for slider in (self.cut_slider, self.temperature_slider, self.uncertainty_slider):
            slider.style.description_width = "initial"
        for control, css in ((self.cut_slider, "cut-slider"), (self.temperature_slider, "temperature-slider"),
                             (self.uncertainty_slider, "uncertainty-slider"), (self.info, "cut-info")):
            control.add_class(f"jetkit-{css}")

        self.fig, self._live = live_figure(figsize)
        self.ax_hist, self.ax_z = self.fig.subplots(1, 2)
        self._draw_static(xlabel)
        self._view = self.fig.canvas if self._live else W.Image(format="png")
        self.cut_slider.observe(self._on_cut, names="value")
        self.temperature_slider.observe(self._on_curves, names="value")
        self.uncertainty_slider.observe(self._on_curves, names="value")
        super().__init__([W.HBox([self.cut_slider, self.temperature_slider, self.uncertainty_slider]),
                          self.info, self._view])
        self.add_class("jetkit-cut-explorer")
        self.state: dict = {}
        self._on_curves()

    # --------------------------------------------------------------------------------- numbers

    def yields(self, cut: float, temperature: float | None) -> tuple[float, float]:
        """Expected (signal, background) events passing the cut; ``temperature=None``: hard."""
        if temperature is None:
            p = np.asarray(stats.hard_cut(self.x, cut, self.keep), dtype=np.float64)
        else:
            p = np.asarray(stats.relaxed_cut(self.x, cut, temperature, self.keep), dtype=np.float64)
        pw = p * self.w
        return float(pw[self.is_signal].sum()), float(pw[~self.is_signal].sum())

    def _n_background_mc(self, cut: float) -> int:
        """Number of simulated background events passing the hard cut."""
        xb = self.x[~self.is_signal]
        return int(np.sum(xb < cut) if self.keep == "below" else np.sum(xb > cut))

    def _z(self, s, b):
        s, b = np.asarray(s, dtype=np.float64), np.asarray(b, dtype=np.float64)
        ok = b > 0
        sb = np.where(ok, b, 1.0)
        rel = self.uncertainty_slider.value
        z = np.asarray(stats.asimov_significance(np.where(ok, s, 0.0), sb, rel * sb if rel > 0 else None))
        return np.where(ok, z, 0.0)

    def z_curves(self) -> tuple[np.ndarray, np.ndarray]:
        """Significance on ``cut_grid`` for the hard cut and for the relaxed cut at the current
        temperature (0 where no background passes)."""
        x, w, sig = self.x[None, :], self.w[None, :], self.is_signal[None, :]
        c = self.cut_grid[:, None]
        hard = (x < c) if self.keep == "below" else (x > c)
        relaxed = np.asarray(stats.relaxed_cut(x, c, self.temperature_slider.value, self.keep), np.float64)
        out = []
        for p in (hard, relaxed):
            s = (p * w * sig).sum(axis=1)
            b = (p * w * ~sig).sum(axis=1)
            out.append(self._z(s, b))
        return out[0], out[1]

    # --------------------------------------------------------------------------------- drawing

    def _draw_static(self, xlabel: str) -> None:
        ax = self.ax_hist
        full_b, _ = np.histogram(self.x[~self.is_signal], self.edges, weights=self.w[~self.is_signal])
        full_s, _ = np.histogram(self.x[self.is_signal], self.edges, weights=self.w[self.is_signal])
        ax.stairs(full_b + full_s, self.edges, color="grey", lw=1, ls="--", label="before cut")
        self._stairs_b = ax.stairs(full_b, self.edges, fill=True, color="C0", alpha=0.6, label="background")
        self._stairs_sb = ax.stairs(full_b + full_s, self.edges, baseline=full_b, fill=True, color="C3",
                                    alpha=0.8, label="signal")
        self._cut_line_h = ax.axvline(self.cut_slider.value, color="k", lw=1.5)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("expected events / bin")
        ax.set_yscale("log")
        ax.set_ylim(max(0.05, 0.3 * min(full_s[full_s > 0].min(initial=1.0), 1.0)), 3 * (full_b + full_s).max())
        ax.legend(fontsize="small", loc="upper right")
        az = self.ax_z
        (self._line_hard,) = az.plot(self.cut_grid, np.zeros_like(self.cut_grid), color="k", lw=1,
                                     label="hard cut")
        (self._line_relaxed,) = az.plot(self.cut_grid, np.zeros_like(self.cut_grid), color="C1", lw=2,
                                        label="relaxed cut")
        (self._marker,) = az.plot([self.cut_slider.value], [0.0], "o", color="C1")
        n_mc = np.array([self._n_background_mc(c) for c in self.cut_grid])
        if self.min_background_mc > 0 and np.any(n_mc < self.min_background_mc):
            az.fill_between(self.cut_grid, 0, 1, where=n_mc < self.min_background_mc, color="grey", alpha=0.25,
                            transform=az.get_xaxis_transform(), lw=0,
                            label=f"< {self.min_background_mc} sim. bkg events")
        az.set_xlabel(f"cut position ({xlabel})")
        az.set_ylabel("Asimov significance Z")
        az.legend(fontsize="small")
        self.fig.tight_layout()

    def _on_curves(self, change=None) -> None:
        hard, relaxed = self.z_curves()
        self._line_hard.set_data(self.cut_grid, hard)
        self._line_relaxed.set_data(self.cut_grid, relaxed)
        top = max(float(hard.max()), float(relaxed.max()), 1e-3)
        self.ax_z.set_ylim(0, 1.15 * top)
        self._on_cut()

    def _on_cut(self, change=None) -> None:
        cut, t = self.cut_slider.value, self.temperature_slider.value
        p = np.asarray(stats.relaxed_cut(self.x, cut, t, self.keep), dtype=np.float64)
        sel_b, _ = np.histogram(self.x[~self.is_signal], self.edges, weights=(p * self.w)[~self.is_signal])
        sel_s, _ = np.histogram(self.x[self.is_signal], self.edges, weights=(p * self.w)[self.is_signal])
        self._stairs_b.set_data(sel_b)
        self._stairs_sb.set_data(sel_b + sel_s, baseline=sel_b)
        self._cut_line_h.set_xdata([cut, cut])
        s_hard, b_hard = self.yields(cut, None)
        s_rel, b_rel = self.yields(cut, t)
        z_hard, z_rel = (float(z) for z in self._z([s_hard, s_rel], [b_hard, b_rel]))
        self._marker.set_data([cut], [z_rel])
        self.state = {"cut": cut, "temperature": t, "rel_unc": self.uncertainty_slider.value,
                      "s": s_rel, "b": b_rel, "z_relaxed": z_rel, "s_hard": s_hard, "b_hard": b_hard,
                      "z_hard": z_hard, "n_background_mc": self._n_background_mc(cut)}
        side = "&lt;" if self.keep == "below" else "&gt;"
        self.info.value = (
            f"keep x {side} {cut:.3g}: relaxed (T = {t:.2g}) s = {s_rel:.1f}, b = {b_rel:.1f}, "
            f"<b>Z = {z_rel:.2f}</b> &nbsp;|&nbsp; hard cut: s = {s_hard:.1f}, b = {b_hard:.1f}, "
            f"<b>Z = {z_hard:.2f}</b> (σ_b = {self.uncertainty_slider.value:.0%} of b; "
            f"{self.state['n_background_mc']} simulated background events pass)"
        )
        self._redraw()

    def _redraw(self) -> None:
        redraw(self.fig, self._live, self._view)
