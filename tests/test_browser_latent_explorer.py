"""LatentExplorer (the latent-space explorer) in a real browser, in every notebook that uses it:
03_anomaly_detection (a VAE's latent space, decoded by the VAE), 04_generative_models (the
generative VAE of gluon jets, decoded into jet images) and 06_self_supervised (a
contrastive representation, with the nearest real jet in place of a decoder,
LatentExplorer.nearest_decoder).

Runs each notebook in JupyterLab + Chromium: the widget renders (no error box, no "Loading
widget...", no blank figure), none of its control labels, buttons or descriptions is cut short,
and moving a latent slider and the colour drop-down with real input redraws the figure and
reaches the kernel.
With JETKIT_UPDATE_SCREENSHOTS=1 (`make screenshots`) the screenshots go to
docs/images/<notebook>-latent-explorer.png.
The machinery is in tests/browser_support.py.
"""

from __future__ import annotations

import pytest

from browser_support import browser, check_widget_notebook, chromium, lab  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow  # runs whole notebooks

NOTEBOOKS = ("03_anomaly_detection.ipynb", "04_generative_models.ipynb", "06_self_supervised.ipynb")
WIDGET = "LatentExplorer"
CONTROLS = {"slider", "dropdown"}  # what real input must move


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_latent_explorer_in_browser(lab, browser, tmp_path, notebook):
    check_widget_notebook(lab, browser, tmp_path, notebook, WIDGET, CONTROLS)
