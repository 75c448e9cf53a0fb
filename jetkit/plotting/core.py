"""Small mplhep-styled plotting helpers: labelled axes (with units), legends, one idea per figure.

>>> from jetkit import plotting
>>> plotting.style()                       # apply the jetkit style for the whole notebook
>>> with plotting.style():                 # ... or only inside a block
...     fig, ax = plt.subplots()
...     plotting.hist_by_class(ax, jets.jets[:, 3], jets.labels, jets.class_names,
...                            bins=60, range=(0, 300), xlabel="jet mass [GeV]")
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import matplotlib.colors as mcolors
import mplhep
import numpy as np

__all__ = [
    "ETA_LABEL",
    "PHI_LABEL",
    "hist_by_class",
    "image_norm",
    "plot_constituents",
    "plot_event",
    "plot_jet_image",
    "roc_curve_plot",
    "style",
]

ETA_LABEL = r"$\Delta\eta$"
PHI_LABEL = r"$\Delta\phi$ [rad]"

# mplhep's styles are made for 10 x 10 inch publication figures; notebooks need smaller ones.
_NOTEBOOK_RC = {
    "figure.figsize": (6.4, 4.8),
    "font.size": 13,
    "xtick.major.size": 6,
    "xtick.minor.size": 3,
    "ytick.major.size": 6,
    "ytick.minor.size": 3,
    "legend.frameon": False,
    "image.cmap": "viridis",
}


class style:  # noqa: N801 - used like a function: style() or `with style():`
    """Apply the jetkit plot style: an mplhep style (default ``"ROOT"``; no experiment label,
    since these are not an experiment's results) resized for notebooks, plus ``rc`` overrides.

    Calling ``style()`` applies it globally; ``with style(): ...`` restores the previous
    settings on exit."""

    def __init__(self, name: str = "ROOT", **rc) -> None:
        base = getattr(mplhep.style, name, None)
        if not isinstance(base, dict):
            raise ValueError(f"unknown mplhep style {name!r}; try 'ROOT', 'ATLAS', 'CMS' or 'LHCb'")
        self._saved = {k: v for k, v in mpl.rcParams.items() if k != "backend"}
        extra = {k.replace("_", "."): v for k, v in rc.items()}  # font_size -> font.size
        mpl.rcParams.update({**base, **_NOTEBOOK_RC, **extra})

    def __enter__(self) -> style:
        return self

    def __exit__(self, *exc) -> None:
        dict.update(mpl.rcParams, self._saved)  # as matplotlib's rc_context does


def plot_jet_image(
    ax,
    image,
    extent: float = 0.8,
    log: bool = True,
    *,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar: bool = True,
    label: str = r"pixel $p_T$ [GeV]",
    title: str | None = None,
):
    """Draw one jet image (npix, npix) (``image[j, i]``: d_phi row j, d_eta column i, as made by
    :func:`jetkit.physics.images.jet_image`) on ``ax`` with d_eta on x and d_phi on y.

    ``log`` uses a logarithmic colour scale (empty pixels are left blank); ``vmin`` defaults to
    ``max(smallest positive pixel, 1e-4 * vmax)``. Returns the ``AxesImage``."""
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"image must be 2-D (npix, npix), got shape {img.shape}")
    if not extent > 0:
        raise ValueError(f"extent must be > 0, got {extent!r}")
    im = ax.imshow(
        img,
        origin="lower",
        extent=(-extent, extent, -extent, extent),
        cmap=cmap,
        norm=image_norm(img, log, vmin, vmax),
        interpolation="nearest",
        aspect="equal",
    )
    ax.set_xlabel(ETA_LABEL)
    ax.set_ylabel(PHI_LABEL)
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, label=label)
    return im


def image_norm(image, log: bool = True, vmin: float | None = None, vmax: float | None = None):
    """A colour normalisation for a jet image: ``LogNorm`` (log) or ``Normalize`` from 0."""
    img = np.asarray(image, dtype=np.float64)
    positive = img[img > 0]
    top = float(vmax) if vmax is not None else (float(positive.max()) if positive.size else 1.0)
    if log:
        low = float(vmin) if vmin is not None else (
            max(float(positive.min()), 1e-4 * top) if positive.size else 1e-4 * top
        )
        low = min(low, top * (1 - 1e-9))
        return mcolors.LogNorm(vmin=low, vmax=top, clip=False)
    return mcolors.Normalize(vmin=0.0 if vmin is None else float(vmin), vmax=top)


def hist_by_class(
    ax,
    values,
    labels,
    class_names: Sequence[str],
    bins=50,
    xlabel: str = "",
    *,
    range: tuple[float, float] | None = None,  # noqa: A002 - same name as numpy/matplotlib
    density: bool = True,
    classes: Sequence[str] | None = None,
    ylabel: str | None = None,
    logy: bool = False,
):
    """One step histogram of ``values`` per class, normalised to unit area by default.

    Args:
        values: (N,) a feature per jet; ``labels``: (N,) integer class labels.
        class_names: names indexed by label; ``classes``: draw only these (default all).
        bins, range: as in ``numpy.histogram`` (shared by all classes).
        xlabel: the feature with its unit, e.g. ``"jet mass [GeV]"``.

    Returns the bin edges."""
    values = np.asarray(values, dtype=np.float64)
    labels = np.asarray(labels)
    if values.shape != labels.shape or values.ndim != 1:
        raise ValueError(
            f"values and labels must be 1-D of equal length, got {values.shape} and {labels.shape}"
        )
    names = list(class_names)
    chosen = list(classes) if classes is not None else names
    unknown = [c for c in chosen if c not in names]
    if unknown:
        raise ValueError(f"unknown class {unknown}; known classes: {names}")
    finite = np.isfinite(values)
    edges = np.histogram_bin_edges(values[finite], bins=bins, range=range)
    for name in chosen:
        sel = finite & (labels == names.index(name))
        counts, _ = np.histogram(values[sel], bins=edges)
        if density and counts.sum() > 0:
            counts = counts / (counts.sum() * np.diff(edges))
        label = f"{name} ({int(sel.sum())} jets)"
        mplhep.histplot(counts, edges, ax=ax, label=label, histtype="step")
    ax.set_xlabel(xlabel)
    if ylabel is None:
        unit = xlabel[xlabel.rfind("[") + 1 : xlabel.rfind("]")] if "[" in xlabel else ""
        if density:
            ylabel = f"density [1/{unit}]" if unit else "density"
        else:
            ylabel = "jets / bin"
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    ax.legend()
    return edges


def roc_curve_plot(
    ax,
    eff_s,
    eff_b,
    label: str | None = None,
    *,
    random_line: bool = True,
    **plot_kwargs,
):
    """Background rejection 1/eps_B against signal efficiency eps_S, log y (the top-tagging
    convention, arXiv:1902.09914). Call once per tagger on the same ``ax``; with
    ``fpr, tpr, _ = metrics.roc_curve(labels, scores)`` pass ``eff_s=tpr, eff_b=fpr``.

    Points with eps_B = 0 (infinite rejection) are dropped. ``random_line`` adds the
    random-guess reference 1/eps_B = 1/eps_S once per axes. Returns the ``Line2D``."""
    eff_s = np.asarray(eff_s, dtype=np.float64)
    eff_b = np.asarray(eff_b, dtype=np.float64)
    if eff_s.shape != eff_b.shape or eff_s.ndim != 1:
        raise ValueError(
            f"eff_s and eff_b must be 1-D of equal length, got {eff_s.shape}, {eff_b.shape}"
        )
    if np.any((eff_s < 0) | (eff_s > 1) | (eff_b < 0) | (eff_b > 1)):
        raise ValueError("efficiencies must lie in [0, 1]")
    keep = (eff_b > 0) & (eff_s > 0)
    (line,) = ax.plot(eff_s[keep], 1.0 / eff_b[keep], label=label, **plot_kwargs)
    if random_line and not getattr(ax, "_jetkit_random_line", False):
        x = np.linspace(0.01, 1.0, 200)
        ax.plot(x, 1.0 / x, ls="--", color="grey", lw=1, label="random")
        ax._jetkit_random_line = True
    ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_xlabel(r"signal efficiency $\varepsilon_S$")
    ax.set_ylabel(r"background rejection $1/\varepsilon_B$")
    ax.legend()
    return line


def plot_constituents(ax, particles, mask=None, *, title: str | None = None, extent: float = 0.8,
                      color=None, size_scale: float = 400.0):
    """The constituent cloud of one jet in (d_eta, d_phi): marker area proportional to pT
    (the leading constituent gets ``size_scale`` points^2), the jet cone R = 0.8 as a circle.

    ``particles``: (P, 3) = (pT [GeV], d_eta, d_phi); ``mask``: (P,) bool (default pT > 0)."""
    p = np.asarray(particles, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"particles must have shape (P, 3) for one jet, got {p.shape}")
    m = p[:, 0] > 0 if mask is None else np.asarray(mask, dtype=bool)
    pt, eta, phi = p[m].T
    if pt.size == 0:
        raise ValueError("this jet has no unmasked constituent")
    ax.scatter(eta, phi, s=size_scale * pt / pt.max(), c=color, alpha=0.7, edgecolors="none")
    ax.add_patch(mpl.patches.Circle((0, 0), 0.8, fill=False, ls="--", color="grey", lw=1))
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal")
    ax.set_xlabel(ETA_LABEL)
    ax.set_ylabel(PHI_LABEL)
    if title:
        ax.set_title(title)
    return ax


def plot_event(ax, event: dict, *, n_jets: int = 4, radius: float = 0.8):
    """Event display in (eta, phi): every visible particle (marker area ~ pT), coloured by the
    anti-kT jet it belongs to (the ``n_jets`` hardest; grey: softer jets or none), and a circle
    of ``radius`` around each jet that would enter the dataset.

    ``event`` is what :func:`jetkit.data.events.generate_event` returns."""
    pt, eta, phi = (np.asarray(event[k]) for k in ("pt", "eta", "phi"))
    idx = np.asarray(event["jet_index"])
    shown = idx < n_jets
    colors = mpl.colormaps["tab10"]
    ax.scatter(eta[~shown | (idx < 0)], phi[~shown | (idx < 0)], s=4 + 2 * pt[~shown | (idx < 0)],
               color="lightgrey", edgecolors="none", label="other particles")
    for j in range(min(n_jets, len(event["jets"]))):
        sel = idx == j
        jpt, jeta, jphi, jm = event["jets"][j]
        ax.scatter(eta[sel], phi[sel], s=4 + 2 * pt[sel], color=colors(j), edgecolors="none",
                   label=f"jet {j + 1}: $p_T$ = {jpt:.0f} GeV, m = {jm:.0f} GeV")
        if event["selected"][j]:
            ax.add_patch(mpl.patches.Circle((jeta, jphi), radius, fill=False, color=colors(j), lw=2))
    ax.set_xlim(-5, 5)
    ax.set_ylim(-np.pi, np.pi)
    ax.set_xlabel(r"pseudorapidity $\eta$")
    ax.set_ylabel(r"azimuth $\phi$ [rad]")
    ax.legend(loc="upper left", fontsize=9, markerscale=0.6, frameon=True)
    return ax
