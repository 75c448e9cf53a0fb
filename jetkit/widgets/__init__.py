"""Interactive explorers: ipywidgets controls driving an ipympl figure updated in place.

>>> from jetkit import data, widgets
>>> widgets.JetImageViewer(data.load("top_qcd"))

Every control is an ordinary ipywidgets object, so the explorers also work without a browser:
setting ``viewer.class_select.value = "top"`` from Python runs the same callback a click would.
Modules: :mod:`~jetkit.widgets.canvas` (the live figure), :mod:`~jetkit.widgets.jet_images`
(JetImageViewer), :mod:`~jetkit.widgets.cuts` (CutExplorer), :mod:`~jetkit.widgets.latent`
(LatentExplorer), :mod:`~jetkit.widgets.quantization` (QuantizationExplorer).
"""

from jetkit.widgets.canvas import live_figure
from jetkit.widgets.cuts import CutExplorer
from jetkit.widgets.jet_images import JetImageViewer
from jetkit.widgets.latent import LatentExplorer, project
from jetkit.widgets.quantization import QuantizationExplorer

__all__ = ["CutExplorer", "JetImageViewer", "LatentExplorer", "QuantizationExplorer", "live_figure", "project"]
