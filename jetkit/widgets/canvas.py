"""The live canvas every explorer draws on: an ipympl figure updated in place.

In a Jupyter kernel the figure is a live ipympl canvas whatever the global backend (so notebooks
keep ``%matplotlib inline`` for static plots); outside one (plain scripts, tests) it is a static
Agg figure, which the explorers render to a PNG shown in an ``ipywidgets.Image``.
"""

from __future__ import annotations

import io

import ipywidgets as W
import matplotlib

__all__ = ["live_figure", "redraw"]


def _in_kernel() -> bool:
    """True inside a Jupyter kernel (where a canvas widget can be displayed)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def live_figure(figsize):
    """A figure whose canvas is a live ipympl widget when we can show one: under the ipympl
    backend (``%matplotlib widget``), or in any Jupyter kernel where ipympl is installed, so a
    notebook can keep ``%matplotlib inline`` for its static plots. Otherwise (scripts, tests) a
    static Agg figure that pyplot does not know about (``%matplotlib inline`` does not show it a
    second time). Returns ``(figure, is_live)``."""
    backend = matplotlib.get_backend().lower()
    if "ipympl" in backend or backend == "widget":
        import matplotlib.pyplot as plt

        with plt.ioff():
            fig = plt.figure(figsize=figsize)
        if isinstance(fig.canvas, W.DOMWidget):
            fig.canvas.header_visible = False
            fig.canvas.toolbar_position = "right"
            return fig, True
        plt.close(fig)
    from matplotlib.figure import Figure

    if _in_kernel():
        try:
            before = matplotlib.get_backend()
            from ipympl.backend_nbagg import Canvas, FigureManager
        except ImportError:
            pass
        else:
            # Importing ipympl switches pyplot to its backend; keep the notebook's own choice
            # (e.g. %matplotlib inline) for every figure that is not ours.
            if matplotlib.get_backend() != before:
                matplotlib.use(before)
            fig = Figure(figsize=figsize)
            FigureManager(Canvas(fig), 0)  # a canvas widget, not registered with pyplot
            fig.canvas.header_visible = False
            fig.canvas.toolbar_position = "right"
            return fig, True
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, False


def redraw(fig, live: bool, image: W.Image | None = None) -> None:
    """Show the figure's new state: ``draw_idle`` on a live canvas, else render it to a PNG in
    ``image`` (an Agg canvas would draw at once in draw_idle; savefig draws it anyway)."""
    if live:
        fig.canvas.draw_idle()
        return
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72)
    image.value = buf.getvalue()
