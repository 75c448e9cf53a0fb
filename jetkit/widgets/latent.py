"""LatentExplorer: look inside the latent space of any encoder/decoder pair.

>>> from jetkit.widgets import LatentExplorer
>>> LatentExplorer(encode, decode, x, labels, class_names=["qcd", "top"], scores={"MSE": s},
...                to_image=inputs.to_image)

It is built from *functions*, not from a model class, so autoencoders, VAEs, generative
models and contrastive representations (:meth:`LatentExplorer.nearest_decoder`: the nearest real
jet stands in for a decoder) share it: ``encode(x) -> (N, d)`` latent codes,
``decode(z) -> (M, ...)`` outputs that ``to_image`` turns into 2-D images.

Left: the jets in a 2-D view of the latent space, either the first two principal components of
the codes (``projection="pca"``) or the two latent dimensions with the largest variance
(``"variance"``), coloured by class or by an anomaly score. Right: the decoded image of the
point under the cross. Pick the point by clicking on the scatter plot (live ipympl canvas) or
with the ``x_slider``/``y_slider``; choose two jets (``jet_a``, ``jet_b``) and move
``interp_slider`` from 0 to 1 to walk from one to the other through latent space (the decoded
image morphs, the cross moves along the dashed line).

Controls carry CSS classes ``jetkit-latent-x``, ``jetkit-latent-y``, ``jetkit-interp-slider``,
``jetkit-latent-color``, ``jetkit-latent-jet-a``, ``jetkit-latent-jet-b`` (the box:
``jetkit-latent-explorer``). Every control works from Python (tests set ``.value``; a click is
``explorer.on_click(event)`` with an object that has ``inaxes``, ``xdata``, ``ydata``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets as W
import numpy as np

from jetkit.widgets.canvas import live_figure, redraw

__all__ = ["LatentExplorer", "project"]


def project(codes, method: str = "pca"):
    """2-D view of latent codes (N, d): returns ``(xy (N, 2), center (d,), basis (2, d))`` with
    ``xy = (codes - center) @ basis.T``. The inverse map used for decoding a picked point is
    ``z = center + xy @ basis`` (exact within the plane, other directions at their mean)."""
    codes = np.asarray(codes, np.float64)
    if codes.ndim != 2 or len(codes) < 2:
        raise ValueError(f"codes must be (N >= 2, d) latent vectors, got shape {codes.shape}")
    center = codes.mean(0)
    d = codes.shape[1]
    if d == 1:
        basis = np.array([[1.0], [0.0]])
    elif method == "pca":
        _, _, vt = np.linalg.svd(codes - center, full_matrices=False)
        basis = vt[:2]
    elif method == "variance":
        top = np.argsort(codes.var(0))[::-1][:2]
        basis = np.zeros((2, d))
        basis[0, top[0]] = basis[1, top[1]] = 1.0
    else:
        raise ValueError(f"projection must be 'pca' or 'variance', got {method!r}")
    return (codes - center) @ basis.T, center, basis


class LatentExplorer(W.VBox):
    """Interactive 2-D view of a latent space with decoding and interpolation.

    Args:
        encode: ``encode(x) -> (N, d)`` latent codes (e.g. an AE's encoder or a VAE's mean).
        decode: ``decode(z (M, d)) -> (M, ...)`` outputs.
        data: inputs for ``encode`` (array, first axis = jets); shown as the scatter.
        labels: (N,) int class codes.
        class_names: names of the classes (default "class 0", ...).
        scores: optional dict name -> (N,) score to colour by (e.g. anomaly scores).
        to_image: turns one decoded output into a 2-D image (default: reshape to a square).
        projection: ``"pca"`` or ``"variance"`` (see :func:`project`).
        extent: half-width of the image in d_eta, d_phi for the axes.
        max_points: at most this many jets are drawn (the first ones).
    Attributes: ``fig``, ``ax_latent``, ``ax_image``, ``scatter``, ``marker``, ``path``, ``im``;
    ``xy`` (N, 2) the projected codes; ``codes``; ``image_data`` the image on screen;
    ``current_z`` its latent vector.
    """

    @staticmethod
    def nearest_decoder(codes, outputs, projection: str = "pca") -> Callable:
        """A decoder for an encoder that has none (e.g. a contrastive representation):
        ``decode(z (M, d))`` returns the ``outputs`` (e.g. jet images) of the jets whose codes lie
        nearest to z in the explorer's 2-D plane (:func:`project` with the same ``projection``)."""
        codes, outputs = np.asarray(codes, np.float64), np.asarray(outputs)
        if len(outputs) != len(codes):
            raise ValueError(f"need one output per code, got {len(outputs)} outputs for {len(codes)} codes")
        xy, center, basis = project(codes, projection)

        def decode(z):
            q = (np.atleast_2d(np.asarray(z, np.float64)) - center) @ basis.T
            return outputs[np.argmin(((xy[None] - q[:, None]) ** 2).sum(-1), axis=1)]

        return decode

    def __init__(self, encode: Callable, decode: Callable, data, labels, *,
                 class_names: Sequence[str] | None = None, scores: dict | None = None,
                 to_image: Callable | None = None, projection: str = "pca", extent: float = 0.8,
                 max_points: int = 3000, figsize: tuple[float, float] = (10.0, 4.4)) -> None:
        self.decode_fn, self.to_image = decode, to_image or _square
        labels = np.asarray(labels)
        n = min(len(labels), int(max_points))
        if n < 2:
            raise ValueError("LatentExplorer needs at least two jets")
        self.labels = labels[:n]
        self.codes = np.asarray(encode(data[:n]), np.float64)
        if self.codes.shape[0] != n:
            raise ValueError(f"encode returned {self.codes.shape[0]} codes for {n} inputs")
        self.xy, self.center, self.basis = project(self.codes, projection)
        names = list(class_names) if class_names is not None else [
            f"class {c}" for c in range(int(self.labels.max()) + 1)]
        self.class_names = names
        self.scores = {k: np.asarray(v)[:n] for k, v in (scores or {}).items()}
        self._busy = False

        lo, hi = self.xy.min(0), self.xy.max(0)
        pad = 0.05 * (hi - lo + 1e-9)
        lo, hi = lo - pad, hi + pad
        self.x_slider = W.FloatSlider(value=0.0, min=lo[0], max=hi[0], step=(hi[0] - lo[0]) / 200,
                                      description="latent x", continuous_update=True)
        self.y_slider = W.FloatSlider(value=0.0, min=lo[1], max=hi[1], step=(hi[1] - lo[1]) / 200,
                                      description="latent y", continuous_update=True)
        self.color_select = W.Dropdown(options=["class", *self.scores], value="class", description="Colour")
        self.jet_a = W.BoundedIntText(value=0, min=0, max=n - 1, description="Jet A")
        b0 = int(np.flatnonzero(self.labels != self.labels[0])[0]) if len(set(self.labels)) > 1 else 1
        self.jet_b = W.BoundedIntText(value=b0, min=0, max=n - 1, description="Jet B")
        self.interp_slider = W.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.02,
                                           description="A → B", continuous_update=True)
        for ctrl, css in [(self.x_slider, "jetkit-latent-x"), (self.y_slider, "jetkit-latent-y"),
                          (self.interp_slider, "jetkit-interp-slider"),
                          (self.color_select, "jetkit-latent-color"), (self.jet_a, "jetkit-latent-jet-a"),
                          (self.jet_b, "jetkit-latent-jet-b")]:
            ctrl.add_class(css)
        self.controls = {"x_slider": self.x_slider, "y_slider": self.y_slider,
                         "color_select": self.color_select, "jet_a": self.jet_a,
                         "jet_b": self.jet_b, "interp_slider": self.interp_slider}
        self.info = W.HTML()
        self._build_figure(figsize, extent)

        self.x_slider.observe(self._on_xy, names="value")
        self.y_slider.observe(self._on_xy, names="value")
        self.color_select.observe(lambda _: self._recolor(), names="value")
        self.jet_a.observe(self._on_pair, names="value")
        self.jet_b.observe(self._on_pair, names="value")
        self.interp_slider.observe(self._on_interp, names="value")
        if self._live:
            self.fig.canvas.mpl_connect("button_press_event", self.on_click)
        self._on_pair()
        self._show_xy(0.0, 0.0)
        view = self.fig.canvas if self._live else self._png
        super().__init__([W.HBox([self.x_slider, self.y_slider, self.color_select]), view,
                          W.HBox([self.jet_a, self.jet_b, self.interp_slider]), self.info])
        self.add_class("jetkit-latent-explorer")

    # ---------------------------------------------------------------- drawing
    def _build_figure(self, figsize, extent):
        self.fig, self._live = live_figure(figsize)
        self.ax_latent = self.fig.add_subplot(1, 2, 1)
        self.ax_image = self.fig.add_subplot(1, 2, 2)
        self.scatter = self.ax_latent.scatter(self.xy[:, 0], self.xy[:, 1], s=6, alpha=0.6,
                                              c=self.labels, cmap="coolwarm", rasterized=True)
        handles = [self.ax_latent.scatter([], [], s=20, color=self.scatter.cmap(self.scatter.norm(c)),
                                          label=name) for c, name in enumerate(self.class_names)]
        self._legend = self.ax_latent.legend(handles=handles, loc="upper right", fontsize=8)
        (self.path,) = self.ax_latent.plot([], [], "k--", lw=1, label="A → B")
        (self.marker,) = self.ax_latent.plot([0.0], [0.0], "kx", ms=12, mew=2.5)
        self.ax_latent.set_xlabel("latent direction 1 [a.u.]")
        self.ax_latent.set_ylabel("latent direction 2 [a.u.]")
        self.ax_latent.set_title("latent space (click to decode)", fontsize=10)
        img = self._decode_point(np.zeros(2))
        self.im = self.ax_image.imshow(img, origin="lower", cmap="viridis",
                                       extent=(-extent, extent, -extent, extent))
        self.ax_image.set_xlabel("Δη (rotated)")
        self.ax_image.set_ylabel("Δφ (rotated)")
        self.cbar = self.fig.colorbar(self.im, ax=self.ax_image, label="decoded pT fraction")
        self.fig.tight_layout()
        self._png = None if self._live else W.Image(format="png")  # the static view outside Jupyter

    def _decode_z(self, z):
        out = np.asarray(self.decode_fn(np.asarray(z, np.float32)[None]))[0]
        return np.asarray(self.to_image(out), np.float64)

    def _decode_point(self, xy):
        self.current_z = self.center + np.asarray(xy, np.float64) @ self.basis
        self.image_data = self._decode_z(self.current_z)
        return self.image_data

    def _redraw(self):
        redraw(self.fig, self._live, self._png)

    def _show_image(self, image, xy, text):
        self.im.set_data(image)
        self.im.set_clim(0.0, max(float(image.max()), 1e-6))
        self.marker.set_data([xy[0]], [xy[1]])
        self.info.value = text
        self._redraw()

    def _show_xy(self, x, y):
        img = self._decode_point(np.array([x, y]))
        self._show_image(img, (x, y), f"decoded point ({x:.2f}, {y:.2f}) of the latent plane")

    # ---------------------------------------------------------------- callbacks
    def _on_xy(self, _=None):
        if not self._busy:
            self._show_xy(self.x_slider.value, self.y_slider.value)

    def on_click(self, event):
        """Canvas click: decode the clicked point of the latent plane (moves the sliders)."""
        if event.inaxes is not self.ax_latent or event.xdata is None:
            return
        x = float(np.clip(event.xdata, self.x_slider.min, self.x_slider.max))
        y = float(np.clip(event.ydata, self.y_slider.min, self.y_slider.max))
        self._busy = True
        try:
            self.x_slider.value, self.y_slider.value = x, y
        finally:
            self._busy = False
        self._show_xy(self.x_slider.value, self.y_slider.value)

    def _recolor(self):
        key = self.color_select.value
        if key == "class":
            values = self.labels.astype(float)
            self.scatter.set_cmap("coolwarm")
            self.scatter.set_clim(0, max(len(self.class_names) - 1, 1))
        else:
            s = self.scores[key]
            values = np.asarray(s, float)
            lo, hi = np.quantile(values, [0.01, 0.99])
            self.scatter.set_cmap("viridis")
            self.scatter.set_clim(lo, hi if hi > lo else lo + 1e-9)
        self.scatter.set_array(values)
        self._legend.set_visible(key == "class")
        self.ax_latent.set_title(f"latent space coloured by {key}", fontsize=10)
        self._redraw()

    def _on_pair(self, _=None):
        a, b = self.xy[self.jet_a.value], self.xy[self.jet_b.value]
        self.path.set_data([a[0], b[0]], [a[1], b[1]])
        self._on_interp()

    def _on_interp(self, _=None):
        t = float(self.interp_slider.value)
        ia, ib = self.jet_a.value, self.jet_b.value
        z = (1 - t) * self.codes[ia] + t * self.codes[ib]  # straight line in the full latent space
        self.current_z = z
        self.image_data = self._decode_z(z)
        xy = (z - self.center) @ self.basis.T
        na, nb = self.class_names[self.labels[ia]], self.class_names[self.labels[ib]]
        self._show_image(self.image_data, xy, f"{1 - t:.2f} × jet {ia} ({na}) + {t:.2f} × jet {ib} ({nb})")


def _square(y):
    y = np.asarray(y)
    if y.ndim == 2:
        return y
    side = int(round(np.sqrt(y.size)))
    if side * side != y.size:
        raise ValueError(f"cannot show a decoded output of shape {y.shape} as a square image; pass to_image")
    return y.reshape(side, side)
