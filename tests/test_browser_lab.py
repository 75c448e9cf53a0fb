"""The browser-test harness itself, and that every widget notebook has its browser test.

Scratch notebooks with a plain ipympl figure, a slider, a drop-down and toggle buttons (no jetkit
needed) run through the same harness as the widget notebooks: a working one must render, redraw
and sync to the kernel with every label readable; one whose callback raises and one whose
buttons are too narrow for their labels must fail. The widget notebooks themselves are driven by
tests/test_browser_<widget>.py, one module per widget; the machinery is in tests/browser_support.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from browser_support import (  # noqa: F401  (browser, chromium, lab: pytest fixtures)
    SCRATCH,
    WIDGET_NOTEBOOKS,
    WidgetCheckFailed,
    assert_labels_readable,
    browser,
    chromium,
    exercise_notebook,
    jetkit_widget_classes,
    lab,
    uses_jetkit_widgets,
)

TESTS = Path(__file__).resolve().parent


def _check_all_labels(seen: dict):
    """An ``after_render`` that checks the labels of every widget output and keeps the result."""

    def check(session, cells) -> None:
        seen.update(assert_labels_readable(session, [c["i"] for c in cells]))

    return check


# --------------------------------------------------------------------------- the harness


@pytest.mark.slow  # runs a notebook in the browser
def test_harness_on_scratch_widget(lab, browser, tmp_path):
    """A bare ipympl figure + slider + drop-down renders, redraws and syncs to the kernel."""
    labels: dict = {}
    report = exercise_notebook(browser, lab, SCRATCH, tmp_path, publish=None,
                               after_render=_check_all_labels(labels))
    print(report["seconds"])
    assert [m.keys() - {"cell"} for m in report["moved"]] == [{"slider"}, {"dropdown"}]
    slider = report["moved"][0]["slider"]
    assert (slider["old"], slider["new"]) == ("1", "2")
    # the check saw the descriptions and both buttons of the ToggleButtons, and found them whole
    # (ipywidgets 8 does not render a ToggleButtons description as a label element)
    assert {"k", "f", "centring", "leading"} <= set(labels["checked"]), labels
    assert not labels["truncated"], labels


@pytest.mark.slow
def test_harness_catches_a_raising_callback(lab, browser, tmp_path):
    """The harness must fail when a widget callback raises in the kernel."""
    with pytest.raises(WidgetCheckFailed, match="deliberately broken widget callback"):
        exercise_notebook(browser, lab, f"broken_{SCRATCH}", tmp_path, publish=None)


@pytest.mark.slow
def test_harness_catches_truncated_labels(lab, browser, tmp_path):
    """The label check must fail, naming the labels, when ToggleButtons are too narrow for them
    (what the jet-image viewer's centring buttons did: "centr…")."""
    with pytest.raises(WidgetCheckFailed, match=r"truncated.*'centring'.*'leading'"):
        exercise_notebook(browser, lab, f"truncated_{SCRATCH}", tmp_path, publish=None,
                          after_render=_check_all_labels({}))


# --------------------------------------------------------------------------- coverage (no browser)


def _widget_tests() -> dict[str, tuple[str, str | None]]:
    """Notebook -> (test module, widget class) for every tests/test_browser_<widget>.py, from
    its ``NOTEBOOK = "..."`` (or ``NOTEBOOKS = ("...", ...)``, one widget in several notebooks)
    and ``WIDGET = "..."`` lines."""
    out: dict[str, tuple[str, str | None]] = {}
    for path in sorted(TESTS.glob("test_browser_*.py")):
        text = path.read_text()
        one = re.search(r'^NOTEBOOK = "([^"]+)"', text, re.M)
        several = re.search(r"^NOTEBOOKS = \(([^)]*)\)", text, re.M)
        notebooks = [one.group(1)] if one else re.findall(r'"([^"]+)"', several.group(1)) if several else []
        widget = re.search(r'^WIDGET = "([^"]+)"', text, re.M)
        for notebook in notebooks:
            assert notebook not in out, f"{notebook} in {out[notebook][0]} and {path.name}"
            out[notebook] = (path.name, widget.group(1) if widget else None)
    return out


def test_every_widget_notebook_has_a_browser_test():
    tests = _widget_tests()
    detected = {p.name for p in WIDGET_NOTEBOOKS}
    assert detected, "no notebook found that uses jetkit.widgets (the detection in tests/browser_support.py?)"
    missing = sorted(detected - tests.keys())
    assert not missing, f"notebooks that use jetkit.widgets without a tests/test_browser_<widget>.py: {missing}"
    stale = {nb: module for nb, (module, _) in tests.items() if nb not in detected}
    assert not stale, f"browser tests whose NOTEBOOK is missing or does not use jetkit.widgets: {stale}"
    known = jetkit_widget_classes()
    for notebook, (module, widget) in tests.items():
        assert widget in known, f"{module}: WIDGET = {widget!r} is no class of jetkit's widget modules"
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", widget).lower()
        assert module == f"test_browser_{snake}.py", f"{module} tests {widget}: name it test_browser_{snake}.py"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from jetkit.widgets import CutExplorer", True),
        ("from jetkit.widgets.cuts import CutExplorer", True),
        ("import jetkit.widgets as jw", True),
        ("import jetkit\nviewer = jetkit.widgets.JetImageViewer(data)", True),
        ("from jetkit import widgets", True),
        ("from jetkit import datasets, widgets as W", True),
        ("from jetkit import (\n    datasets,\n    widgets,\n)", True),
        ("from jetkit.widgets_latent import LatentExplorer", False),  # the flat modules are gone
        ("import ipywidgets as widgets", False),
        ("from jetkit import datasets, plotting", False),
        ("from jetkit import datasets\nwidgets = []", False),
        ("from jetkit import (\n    datasets,\n)\nwidgets = []", False),
    ],
)
def test_widget_import_detection(source, expected):
    assert uses_jetkit_widgets(source) is expected
