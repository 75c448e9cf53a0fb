"""JetImageViewer: browse jet images and their preprocessing steps.

>>> from jetkit import data, widgets
>>> widgets.JetImageViewer(data.load("top_qcd"))

Every control is an ordinary ipywidgets object, so the viewers also work without a browser:
setting ``viewer.class_select.value = "top"`` from Python runs the same callback a click would.
In a Jupyter kernel the figure is a live ipympl canvas whatever the global backend (so notebooks
keep ``%matplotlib inline`` for static plots); outside one (plain scripts, tests) it is rendered
to a PNG shown in an ``ipywidgets.Image``.

Controls carry stable CSS classes (``jetkit-class-select``, ``jetkit-jet-slider``,
``jetkit-center``, ``jetkit-rotate``, ``jetkit-flip``, ``jetkit-normalise``, ``jetkit-log``,
``jetkit-average``; the box itself has ``jetkit-jet-image-viewer``) so browser tests can find them.
"""

from __future__ import annotations

import contextlib

import ipywidgets as W
import numpy as np

from jetkit import plotting
from jetkit.physics import images
from jetkit.widgets.canvas import live_figure, redraw

__all__ = ["JetImageViewer"]



class JetImageViewer(W.VBox):
    """Browse jet images of a :class:`~jetkit.data.JetDataset` jet by jet, or the class
    average, with the preprocessing steps of :mod:`jetkit.physics.images` switched on and off.

    Controls (also in the dict ``controls``): ``class_select`` (Dropdown: "all" or a class
    name), ``jet_slider`` (IntSlider: index among the jets of that class), ``center_select``
    (ToggleButtons: "off", "centroid", "leading"), ``rotate_check``, ``flip_check``,
    ``normalise_check``, ``log_check`` (log colour scale), ``average_check`` (show the class
    average instead of one jet). ``info`` is an HTML line with the jet's pT, eta, mass and
    multiplicity; ``image_data`` the image on screen; ``jet_index`` the dataset index of the jet
    shown (``None`` in average mode); ``fig``, ``ax``, ``im`` the matplotlib objects.

    Args:
        dataset: the jets to show.
        npix, extent: image grid (see :func:`jetkit.physics.images.jet_image`).
        max_average: at most this many jets (the first of the class) enter an average image.
        figsize: figure size in inches.
    """

    def __init__(self, dataset, npix: int = 32, extent: float = 0.8, *, max_average: int = 5000,
                 figsize: tuple[float, float] = (5.6, 4.6)) -> None:
        self.npix, self.extent = images._check_grid(npix, extent)
        if len(dataset) == 0:
            raise ValueError("the dataset has no jets")
        self.dataset = dataset
        self.max_average = int(max_average)
        self._labels = np.asarray(dataset.labels)
        names = list(dataset.class_names) or [str(c) for c in range(int(self._labels.max()) + 1)]
        self._class_names = names
        self._indices = {"all": np.arange(len(self._labels))}
        for code, name in enumerate(names):
            self._indices[name] = np.flatnonzero(self._labels == code)
        self._average_cache: dict[tuple, np.ndarray] = {}
        self._busy = False
        self.image_data: np.ndarray = np.zeros((self.npix, self.npix), np.float32)
        self.jet_index: int | None = None

        options = ["all"] + [n for n in names if len(self._indices[n])]
        self.class_select = W.Dropdown(options=options, value="all", description="Class")
        self.jet_slider = W.IntSlider(value=0, min=0, max=len(self._labels) - 1, description="Jet",
                                      continuous_update=True)
        self.center_select = W.ToggleButtons(options=["off", "centroid", "leading"], value="off",
                                             description="Center", style={"button_width": "auto"})
        self.rotate_check = W.Checkbox(value=False, description="rotate", indent=False)
        self.flip_check = W.Checkbox(value=False, description="flip", indent=False)
        self.normalise_check = W.Checkbox(value=False, description="normalise", indent=False)
        self.log_check = W.Checkbox(value=True, description="log colour scale", indent=False)
        self.average_check = W.Checkbox(value=False, description="average of the class",
                                        indent=False)
        self.info = W.HTML()
        self.controls = {
            "class": self.class_select,
            "jet": self.jet_slider,
            "center": self.center_select,
            "rotate": self.rotate_check,
            "flip": self.flip_check,
            "normalise": self.normalise_check,
            "log": self.log_check,
            "average": self.average_check,
        }
        for name, control in self.controls.items():
            css = {"class": "class-select", "jet": "jet-slider"}.get(name, name)
            control.add_class(f"jetkit-{css}")
        self.info.add_class("jetkit-info")

        self.fig, live = live_figure(figsize)
        self.ax = self.fig.add_subplot()
        self.im = plotting.plot_jet_image(self.ax, self.image_data + 1.0, self.extent, log=True,
                                          colorbar=False)
        self.colorbar = self.fig.colorbar(self.im, ax=self.ax)
        if live:
            self._view = self.fig.canvas
        else:
            self._view = W.Image(format="png")
        self._live = live

        self.class_select.observe(self._on_class, names="value")
        for name, control in self.controls.items():
            if name != "class":
                control.observe(self._on_change, names="value")

        toggles = W.HBox([self.rotate_check, self.flip_check, self.normalise_check,
                          self.log_check, self.average_check])
        super().__init__([W.HBox([self.class_select, self.jet_slider]), self.center_select, toggles,
                          self.info, self._view])
        self.add_class("jetkit-jet-image-viewer")
        self._on_class()

    # ----------------------------------------------------------------------------------------
    # state

    @property
    def jet_indices(self) -> np.ndarray:
        """Dataset indices of the jets the slider runs over (the selected class)."""
        return self._indices[self.class_select.value]

    @property
    def options(self) -> dict:
        """The preprocessing options as keyword arguments of :func:`jetkit.physics.images.jet_image`."""
        return {
            "center": False if self.center_select.value == "off" else self.center_select.value,
            "rotate": self.rotate_check.value,
            "flip": self.flip_check.value,
            "normalise": self.normalise_check.value,
        }

    def compute_image(self) -> np.ndarray:
        """The image for the current control values (a single jet or the class average)."""
        d = self.dataset
        if self.average_check.value:
            idx = self.jet_indices[: self.max_average]
            key = (self.class_select.value, tuple(sorted(self.options.items())))
            if key not in self._average_cache:
                self._average_cache[key] = images.average_image(
                    np.asarray(d.particles)[idx], np.asarray(d.mask)[idx], None, self.npix,
                    self.extent, **self.options,
                )
            return self._average_cache[key]
        i = self.jet_index
        return np.asarray(images.jet_image(np.asarray(d.particles)[i], np.asarray(d.mask)[i],
                                           self.npix, self.extent, **self.options))

    # ----------------------------------------------------------------------------------------
    # callbacks

    @contextlib.contextmanager
    def _hold(self):
        """Suppress redraws while several controls change together."""
        busy, self._busy = self._busy, True
        try:
            yield
        finally:
            self._busy = busy

    def _on_class(self, change=None) -> None:
        n = len(self.jet_indices)
        with self._hold():
            self.jet_slider.value = 0
            self.jet_slider.max = max(n - 1, 0)
        self.update()

    def _on_change(self, change=None) -> None:
        if not self._busy:
            self.update()

    def update(self) -> None:
        """Recompute the image for the current controls and redraw in place."""
        average = self.average_check.value
        self.jet_slider.disabled = average
        idx = self.jet_indices
        self.jet_index = None if average else int(idx[self.jet_slider.value])
        image = np.asarray(self.compute_image(), dtype=np.float32)
        self.image_data = image
        norm = plotting.image_norm(image, self.log_check.value)
        self.im.set_data(image)
        self.im.set_norm(norm)
        unit = "fraction of jet $p_T$" if self.options["normalise"] else r"pixel $p_T$ [GeV]"
        if average:
            unit = "mean " + unit
        self.colorbar.set_label(unit)
        self.ax.set_title(self._title(), fontsize="medium")
        self.info.value = self._info_html()
        redraw(self.fig, self._live, self._view)

    # ----------------------------------------------------------------------------------------
    # text

    def _jet_numbers(self) -> dict:
        d, i = self.dataset, self.jet_index
        pt, eta, _, mass = (float(x) for x in np.asarray(d.jets)[i])
        shown = int(np.asarray(d.mask)[i].sum())
        total = int(np.asarray(d.n_constituents)[i]) if d.n_constituents is not None else shown
        label = self._class_names[int(self._labels[i])]
        return {"pt": pt, "eta": eta, "mass": mass, "n": total, "shown": shown, "label": label}

    def _title(self) -> str:
        if self.jet_index is None:
            n = min(len(self.jet_indices), self.max_average)
            return f"average of {n} {self.class_select.value} jets"
        j = self._jet_numbers()
        return (f"{j['label']} jet #{self.jet_index}: $p_T$ = {j['pt']:.0f} GeV, "
                f"$\\eta$ = {j['eta']:.2f}, m = {j['mass']:.0f} GeV")

    def _info_html(self) -> str:
        if self.jet_index is None:
            return f"<b>{self._title()}</b>"
        j = self._jet_numbers()
        return (f"<b>{j['label']}</b> jet #{self.jet_index}: p<sub>T</sub> = {j['pt']:.1f} GeV, "
                f"η = {j['eta']:.2f}, mass = {j['mass']:.1f} GeV, "
                f"{j['n']} constituents ({j['shown']} stored)")
