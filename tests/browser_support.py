"""Shared machinery of the browser tests (issue 8): tests/test_browser_*.py import it from here.

Widget tutorials usually break on the JavaScript side: "Error displaying widget", a lab extension
that is missing or disabled, "Loading widget..." forever, a blank ipympl canvas. No Python-only
test sees that, so the browser tests

1. start JupyterLab from the kit's own environment on a temporary copy of notebooks/
   (:mod:`browser_server`),
2. drive Debian's Chromium with Playwright: open a notebook whose code uses ``jetkit.widgets``,
   clear the outputs and run all cells (the "Run > Run All Cells" command),
3. wait until the ipywidgets controls and their figures (ipympl canvases under
   ``%matplotlib widget``, else the viewers' static image) have rendered, failing on
   "Error displaying widget", "Loading widget..." that never resolves, widget outputs that fall
   back to plain text (manager extension missing), blank figures, errors in cell outputs, kernel
   tracebacks and browser errors from the widget stack (:mod:`browser_page`),
4. check that no control label, button or description is truncated (:func:`assert_labels_readable`),
5. move the jet slider with the keyboard (and change the class drop-down) and check that the
   figure's pixels change and that the kernel holds the value shown in the page.

One test module per widget (test_browser_<widget>.py) names its notebook in ``NOTEBOOK``;
test_browser_lab.py runs scratch notebooks with a plain ipympl figure and a slider through the same
harness, which proves the harness itself works (and, with a callback that raises or labels that
do not fit, that it can fail), and checks that every widget notebook has its test module.

Screenshots: the pytest tmp dir always; docs/images/<notebook>-<widget>.png (shown in the README)
when JETKIT_UPDATE_SCREENSHOTS=1 (`make screenshots`).
Without /usr/bin/chromium the tests skip, unless JETKIT_REQUIRE_BROWSER=1 (set by .ci/run), where
they fail. JETKIT_CHROMIUM overrides the browser path.

Not a test module (pytest collects only test_*.py); it imports as ``browser_support`` because
pytest puts tests/ on sys.path (no __init__.py there, default "prepend" import mode).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import nbformat
import pytest

from browser_page import JS_SHUTDOWN, Session, WidgetCheckFailed, _first_line
from browser_server import NOTEBOOKS, ROOT, Lab, running_lab

IMAGES = ROOT / "docs" / "images"
CHROMIUM = Path(os.environ.get("JETKIT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
SCRATCH = "zz_harness_check.ipynb"

# --------------------------------------------------------------------------- which notebooks

# How a notebook reaches the widgets: `import jetkit.widgets[.cuts]`, `from jetkit.widgets[.cuts]
# import CutExplorer`, `jetkit.widgets.CutExplorer(...)` after `import jetkit`, or
# `from jetkit import widgets` (also in a parenthesised import list over several lines).
WIDGET_IMPORT = re.compile(
    r"\bjetkit\.widgets\b"
    r"|\bfrom\s+jetkit\s+import\s+(?:\([^)]*|[^\n(]*)\bwidgets\b"
)


def uses_jetkit_widgets(source: str) -> bool:
    """Whether this code imports or names jetkit's widgets."""
    return WIDGET_IMPORT.search(source) is not None


def _code(nb) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "code"]


def _uses_jetkit_widgets(path: Path) -> bool:
    return any(uses_jetkit_widgets(src) for src in _code(nbformat.read(path, as_version=4)))


WIDGET_NOTEBOOKS = sorted(p for p in NOTEBOOKS.glob("*.ipynb") if _uses_jetkit_widgets(p))


def scratch_notebook(broken_callback: bool = False, truncated_labels: bool = False) -> nbformat.NotebookNode:
    """An ipympl figure with a slider, a drop-down and toggle buttons, shaped like jetkit's
    viewers (same CSS classes), that needs nothing but ipywidgets and ipympl. With
    ``truncated_labels`` the toggle buttons are too narrow for their labels."""
    raise_line = '    raise RuntimeError("deliberately broken widget callback")\n' if broken_callback else ""
    button_width = "24px" if truncated_labels else "auto"
    cells = [
        "%matplotlib widget\n"
        "import ipywidgets as widgets\n"
        "import matplotlib.pyplot as plt\n"
        "import numpy as np",
        "plt.ioff()\n"
        "fig, ax = plt.subplots(figsize=(4, 3))\n"
        "fig.canvas.header_visible = False\n"
        "x = np.linspace(0, 2 * np.pi, 200)\n"
        "(line,) = ax.plot(x, np.sin(x))\n"
        "ax.set_ylim(-1.1, 1.1)\n"
        'slider = widgets.IntSlider(value=1, min=1, max=8, description="k")\n'
        'slider.add_class("jetkit-jet-slider")\n'
        'choice = widgets.Dropdown(options=["sin", "cos"], value="sin", description="f")\n'
        'choice.add_class("jetkit-class-select")\n'
        'toggle = widgets.ToggleButtons(options=["centring", "leading"], description="centre",\n'
        f'                               style={{"button_width": "{button_width}"}})\n'
        "def update(change=None):\n"
        f"{raise_line}"
        '    f = np.sin if choice.value == "sin" else np.cos\n'
        "    line.set_ydata(f(slider.value * x))\n"
        "    fig.canvas.draw_idle()\n"
        'slider.observe(update, names="value")\n'
        'choice.observe(update, names="value")\n'
        "widgets.VBox([widgets.HBox([slider, choice]), toggle, fig.canvas])",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def scratch_notebooks() -> dict[str, nbformat.NotebookNode]:
    """The harness's own notebooks: a working one, one whose callback raises, one whose labels
    do not fit."""
    return {
        SCRATCH: scratch_notebook(),
        f"broken_{SCRATCH}": scratch_notebook(broken_callback=True),
        f"truncated_{SCRATCH}": scratch_notebook(truncated_labels=True),
    }


# --------------------------------------------------------------------------- fixtures
# Module-scoped: each test_browser_*.py module that imports them gets its own server and browser.


@pytest.fixture(scope="module")
def chromium() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    msg = (f"no browser at {CHROMIUM}: install Debian's chromium (apt-get install chromium) "
           "to run the browser test")
    if os.environ.get("JETKIT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"JETKIT_REQUIRE_BROWSER=1 but {msg}", pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="module")
def lab(chromium, tmp_path_factory):
    with running_lab(tmp_path_factory.mktemp("lab"), scratch_notebooks()) as server:
        yield server


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS,
                               timeout=60_000)
        try:
            yield b
        finally:
            b.close()


# --------------------------------------------------------------------------- widget names


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def jetkit_widget_classes() -> set[str]:
    """The classes defined in jetkit's widget modules: the package jetkit/widgets/ and the flat
    jetkit/*widgets*.py modules from before it."""
    package = ROOT / "jetkit"
    known = set()
    for module in [*package.glob("*widgets*.py"), *(package / "widgets").rglob("*.py")]:
        known |= set(re.findall(r"^class (\w+)", module.read_text(), re.M))
    return known


def _widget_name(source: str) -> str | None:
    """The jetkit.widgets class a cell builds (JetImageViewer -> jet-image-viewer), if any."""
    known = jetkit_widget_classes()
    for name in re.findall(r"\b([A-Z]\w+)\s*\(", source):
        if name in known or re.search(r"(Viewer|Explorer)$", name):
            return _kebab(name)
    return None


def screenshot_name(notebook: str, widget: str) -> str:
    """The screenshot of ``widget`` (a class name) in ``notebook``, without .png:
    ``00_tour_of_jets.ipynb``, ``JetImageViewer`` -> ``00_tour_of_jets-jet-image-viewer``."""
    return f"{Path(notebook).stem}-{_kebab(widget)}"


def publish_dir() -> Path | None:
    """docs/images when the README's screenshots are to be refreshed (`make screenshots`), else
    None, so that `make test` leaves the working tree clean."""
    return IMAGES if os.environ.get("JETKIT_UPDATE_SCREENSHOTS") == "1" else None


def widget_cells(session: Session, cells: list[dict], widget: str) -> list[int]:
    """The cells among ``cells`` (as ``after_render`` gets them) that build ``widget`` (a jetkit
    class name) and whose output holds the widget's root element, ``.jetkit-<kebab name>``."""
    name = _kebab(widget)
    mine = [c["i"] for c in cells if _widget_name(c["source"]) == name]
    if not mine:
        session.fail(f"no cell with a live widget view builds {widget} (widget cells: {[c['i'] for c in cells]})")
    shown = [i for i in mine if session.page.locator(
        f'[data-jetkit-cell="{i}"] .jp-OutputArea-output .jetkit-{name}').count()]
    if not shown:
        session.fail(f"{widget} did not render: no .jetkit-{name} element in the output of cells {mine}")
    return shown


# --------------------------------------------------------------------------- readable labels

# Every ipywidgets element that shows a short text in a box of its own width and cuts what does
# not fit with an ellipsis: buttons (also each button of ToggleButtons), descriptions, labels and
# the text of check boxes. Not ipympl's figure title and cursor read-out (also .widget-label).
LABEL_SELECTORS = (
    ".widget-button", ".widget-toggle-button", ".widget-toggle-buttons .widget-toggle-button",
    ".jupyter-button", ".widget-label", ".widget-inline-hbox .widget-label",
    ".jupyter-widget-label", ".widget-label-basic", ".jupyter-widget-label-basic",
)  # fmt: skip
NOT_LABELS = ".jupyter-matplotlib-header, .jupyter-matplotlib-footer"

JS_LABELS = """async ({cells, selector, skip}) => {
  await document.fonts.ready;  // widths are final only once the fonts are in
  const nb = window.jupyterapp.shell.currentWidget.content.node;
  const areas = cells === null ? [...nb.querySelectorAll('.jp-OutputArea-output')]
    : cells.flatMap(i => [...nb.querySelectorAll(`[data-jetkit-cell="${i}"] .jp-OutputArea-output`)]);
  const seen = new Set(), checked = [], truncated = [];
  for (const area of areas) for (const el of area.querySelectorAll(selector)) {
    if (seen.has(el) || el.closest(skip)) continue;
    seen.add(el);
    const text = (el.innerText || '').replace(/[\\s\\u200b]+/g, ' ').trim();  // U+200B: empty description
    const visible = el.checkVisibility ? el.checkVisibility({checkVisibilityCSS: true})
                                       : el.getClientRects().length > 0;
    if (!text || !visible || getComputedStyle(el).display === 'inline') continue;  // inline: never clipped
    checked.push(text);
    if (el.scrollWidth > el.clientWidth + 1)
      truncated.push({text, scrollWidth: el.scrollWidth, clientWidth: el.clientWidth});
  }
  return {checked, truncated};
}"""


def assert_labels_readable(target, cells: Iterable[int] | None = None, require: bool = True) -> dict:
    """Fail unless every visible control label, button and description in the output of
    ``cells`` (cell indices; None: every output of the notebook) shows its whole text:
    ``scrollWidth <= clientWidth + 1`` in the browser (ipywidgets cuts what does not fit with
    '…'). ``target`` is a :class:`Session` (fails through it: screenshot, kernel and browser
    errors) or a Playwright page. With ``require``, finding no label at all fails too.
    Returns ``{"checked": [text of every label checked], "truncated": [...]}``."""
    page = getattr(target, "page", target)
    arg = {"cells": None if cells is None else [int(i) for i in cells],
           "selector": ", ".join(LABEL_SELECTORS), "skip": NOT_LABELS}
    r = page.evaluate(JS_LABELS, arg)
    problem = None
    if r["truncated"]:
        shown = ", ".join(f"{t['text']!r} ({t['scrollWidth']} px of text in {t['clientWidth']} px)"
                          for t in r["truncated"])
        problem = f"{len(r['truncated'])} control label(s) truncated (shown cut, with '…'): {shown}"
    elif require and not r["checked"]:
        where = "the notebook" if cells is None else f"cells {arg['cells']}"
        problem = f"found no visible control label or button to check in {where}"
    if problem:
        if isinstance(target, Session):
            target.fail(problem)
        raise WidgetCheckFailed(problem)
    return r


# --------------------------------------------------------------------------- one notebook

AfterRender = Callable[[Session, list[dict]], None]


def exercise_notebook(browser, lab: Lab, name: str, out_dir: Path, publish: Path | None,
                      after_render: AfterRender | None = None) -> dict:
    """Run one notebook in the browser and exercise its controls; returns what was seen.

    ``after_render(session, cells)`` runs once the widgets have rendered, before any screenshot
    is taken or control moved; ``cells`` are the code cells with a live widget view (dicts with
    ``i``, the cell index, and ``source``)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    s = Session(page, lab, name, out_dir)
    page.on("console", lambda m: m.type == "error" and s.console.append(f"console: {_first_line(m.text)}"))
    page.on("pageerror", lambda e: s.console.append(f"pageerror: {_first_line(str(e))}"))
    source = (lab.root / name).read_text()
    expect_ipympl = bool(re.search(r"%matplotlib (widget|ipympl)", source))
    report: dict = {"notebook": name, "moved": [], "seconds": {}}
    t0 = time.monotonic()

    def lap(phase: str) -> None:
        report["seconds"][phase] = round(time.monotonic() - t0 - sum(report["seconds"].values()), 1)

    try:
        s.open()
        lap("open page + start kernel")
        cells = s.run_all()
        lap("run all cells")
        report["rendered"] = s.wait_rendered(expect_ipympl)
        lap("render widgets")
        s.check_no_errors()
        stem = Path(name).stem
        shots = [c for c in cells if c["widgets"] and page.locator(  # closed widgets leave no view
            f'[data-jetkit-cell="{c["i"]}"] .jp-OutputArea-output .jupyter-widgets').count()]
        if after_render is not None:  # before the screenshots: docs/images gets no broken widget
            after_render(s, shots)
            s.check_no_errors()
            lap("checks after render")
        for c in shots:  # only jetkit's own widgets go to docs/images (not e.g. tqdm bars)
            widget = _widget_name(c["source"])
            shot = f"{stem}-{widget or 'cell%d' % c['i']}"
            s.screenshot(c["i"], shot, [out_dir] + ([publish] if publish and widget else []))
            report.setdefault("screenshots", []).append(shot)
        # Every widget output that has them: its jet slider (else its first slider) and its
        # class drop-down (else its first drop-down), each moved with real input.
        controls = [
            ("slider", ".jetkit-jet-slider", ".widget-slider"),
            ("dropdown", ".jetkit-class-select", ".widget-dropdown"),
        ]
        for c in shots:
            for kind, preferred, generic in controls:
                cell = page.locator(f'[data-jetkit-cell="{c["i"]}"] .jp-OutputArea')
                loc = cell.locator(preferred)
                if not loc.count():
                    loc = cell.locator(generic)
                if loc.count():
                    report["moved"].append({"cell": c["i"], kind: s.interact(loc.first, kind)})
        lap("screenshots + move controls")
        if not report["moved"]:
            s.fail("found no slider or drop-down to move")
        for c in shots:
            s.screenshot(c["i"], f"{stem}-{_widget_name(c['source']) or 'cell%d' % c['i']}-after", [out_dir])
        s.check_no_errors()
        report["console"] = s.console
        return report
    finally:
        s._js(JS_SHUTDOWN)
        ctx.close()


def check_widget_notebook(lab, browser, tmp_path, notebook: str, widget: str, controls: set[str]) -> dict:
    """The whole browser check of one widget notebook: run it in JupyterLab + Chromium, require
    that ``widget`` rendered with every label whole, that real input moved ``controls`` (e.g.
    {"slider", "dropdown"}) and redrew the figure, and that its screenshot was taken (and, with
    JETKIT_UPDATE_SCREENSHOTS=1, published to docs/images). Returns the run's report."""

    def check_rendered(session, cells) -> None:
        assert_labels_readable(session, widget_cells(session, cells, widget))

    publish = publish_dir()
    report = exercise_notebook(browser, lab, notebook, tmp_path, publish=publish, after_render=check_rendered)
    print(report["seconds"], report["moved"])
    assert report["moved"], report
    moved = {kind for m in report["moved"] for kind in m.keys() - {"cell"}}
    assert moved >= controls, report
    shot = screenshot_name(notebook, widget)
    assert shot in report.get("screenshots", []), report
    if publish:
        assert (publish / f"{shot}.png").is_file()
    return report
