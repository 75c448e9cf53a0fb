"""LatentExplorer on a contrastive representation (notebook 06, self-supervised jets) in a real
browser.

Runs 06_self_supervised.ipynb in JupyterLab + Chromium: the widget renders (no error box, no
"Loading widget...", no blank figure), none of its control labels, buttons or descriptions is cut
short, and moving a latent slider and the colour drop-down with real input redraws the figure and
reaches the kernel. Here the explorer has no decoder: the image is the nearest real jet
(LatentExplorer.nearest_decoder).
With JETKIT_UPDATE_SCREENSHOTS=1 (`make screenshots`) its screenshot goes to
docs/images/06_self_supervised-latent-explorer.png.
The machinery is in tests/browser_support.py.
"""

from __future__ import annotations

import pytest

from browser_support import browser, check_widget_notebook, chromium, lab  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow  # runs a whole notebook

NOTEBOOK = "06_self_supervised.ipynb"
WIDGET = "LatentExplorer"
CONTROLS = {"slider", "dropdown"}  # what real input must move


def test_latent_explorer_on_representations_in_browser(lab, browser, tmp_path):
    check_widget_notebook(lab, browser, tmp_path, NOTEBOOK, WIDGET, CONTROLS)
