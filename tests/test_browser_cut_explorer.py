"""CutExplorer (notebook 01, the cut explorer on a live ipympl canvas) in a real browser.

Runs 01_differentiable_programming.ipynb in JupyterLab + Chromium: the widget renders (no error
box, no "Loading widget...", no blank figure), none of its control labels, buttons or descriptions
is cut short, and moving its cut slider with real input redraws the figure and reaches the kernel.
With JETKIT_UPDATE_SCREENSHOTS=1 (`make screenshots`) its screenshot goes to
docs/images/01_differentiable_programming-cut-explorer.png.
The machinery is in tests/browser_support.py.
"""

from __future__ import annotations

import pytest

from browser_support import browser, check_widget_notebook, chromium, lab  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow  # runs a whole notebook

NOTEBOOK = "01_differentiable_programming.ipynb"
WIDGET = "CutExplorer"
CONTROLS = {"slider"}  # what real input must move


def test_cut_explorer_in_browser(lab, browser, tmp_path):
    check_widget_notebook(lab, browser, tmp_path, NOTEBOOK, WIDGET, CONTROLS)
