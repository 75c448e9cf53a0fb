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

from browser_support import (  # noqa: F401  (browser, chromium, lab: pytest fixtures)
    assert_labels_readable,
    browser,
    chromium,
    exercise_notebook,
    lab,
    publish_dir,
    screenshot_name,
    widget_cells,
)

pytestmark = pytest.mark.slow  # runs a whole notebook

NOTEBOOK = "01_differentiable_programming.ipynb"
WIDGET = "CutExplorer"


def check_rendered(session, cells) -> None:
    """Once the widgets have rendered: the CutExplorer is on the page and its labels show whole."""
    assert_labels_readable(session, widget_cells(session, cells, WIDGET))


def test_cut_explorer_in_browser(lab, browser, tmp_path):
    publish = publish_dir()
    report = exercise_notebook(browser, lab, NOTEBOOK, tmp_path, publish=publish, after_render=check_rendered)
    print(report["seconds"], report["moved"])
    assert report["moved"], report
    moved = {kind for m in report["moved"] for kind in m.keys() - {"cell"}}
    assert moved >= {"slider"}, report
    shot = screenshot_name(NOTEBOOK, WIDGET)
    assert shot in report.get("screenshots", []), report
    if publish:
        assert (publish / f"{shot}.png").is_file()
