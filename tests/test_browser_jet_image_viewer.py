"""JetImageViewer (notebook 00, the jet-image viewer) in a real browser.

Runs 00_tour_of_jets.ipynb in JupyterLab + Chromium: the widget renders (no error box, no "Loading
widget...", no blank figure), none of its control labels, buttons or descriptions is cut short, and
moving its jet slider and class drop-down with real input redraws the figure and reaches the
kernel. Its centring ToggleButtons (off / centroid / leading) must show their whole labels.
With JETKIT_UPDATE_SCREENSHOTS=1 (`make screenshots`) its screenshot goes to
docs/images/00_tour_of_jets-jet-image-viewer.png.
The machinery is in tests/browser_support.py.
"""

from __future__ import annotations

import pytest

from browser_support import browser, check_widget_notebook, chromium, lab  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow  # runs a whole notebook

NOTEBOOK = "00_tour_of_jets.ipynb"
WIDGET = "JetImageViewer"
CONTROLS = {"slider", "dropdown"}  # what real input must move


def test_jet_image_viewer_in_browser(lab, browser, tmp_path):
    check_widget_notebook(lab, browser, tmp_path, NOTEBOOK, WIDGET, CONTROLS)
