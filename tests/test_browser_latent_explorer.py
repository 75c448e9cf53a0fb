"""LatentExplorer (notebook 03, the latent-space explorer) in a real browser.

Runs 03_anomaly_detection.ipynb in JupyterLab + Chromium: the widget renders (no error box, no
"Loading widget...", no blank figure), none of its control labels, buttons or descriptions is cut
short, and moving a latent slider and the colour drop-down with real input redraws the figure and
reaches the kernel.
With JETKIT_UPDATE_SCREENSHOTS=1 (`make screenshots`) its screenshot goes to
docs/images/03_anomaly_detection-latent-explorer.png.
The machinery is in tests/browser_support.py.
"""

from __future__ import annotations

import pytest

from browser_support import browser, check_widget_notebook, chromium, lab  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow  # runs a whole notebook

NOTEBOOK = "03_anomaly_detection.ipynb"
WIDGET = "LatentExplorer"
CONTROLS = {"slider", "dropdown"}  # what real input must move


def test_latent_explorer_in_browser(lab, browser, tmp_path):
    check_widget_notebook(lab, browser, tmp_path, NOTEBOOK, WIDGET, CONTROLS)
