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

NOTEBOOK = "03_anomaly_detection.ipynb"
WIDGET = "LatentExplorer"


def check_rendered(session, cells) -> None:
    """Once the widgets have rendered: the LatentExplorer is on the page and its labels show whole."""
    assert_labels_readable(session, widget_cells(session, cells, WIDGET))


def test_latent_explorer_in_browser(lab, browser, tmp_path):
    publish = publish_dir()
    report = exercise_notebook(browser, lab, NOTEBOOK, tmp_path, publish=publish, after_render=check_rendered)
    print(report["seconds"], report["moved"])
    assert report["moved"], report
    moved = {kind for m in report["moved"] for kind in m.keys() - {"cell"}}
    assert moved >= {"slider", "dropdown"}, report
    shot = screenshot_name(NOTEBOOK, WIDGET)
    assert shot in report.get("screenshots", []), report
    if publish:
        assert (publish / f"{shot}.png").is_file()
