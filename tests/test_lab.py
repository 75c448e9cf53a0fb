"""The widget stack's JupyterLab extensions are installed in the kit's environment, enabled and
compatible (issue 8). Without them every widget shows "Error displaying widget" or falls back to
plain text, and no Python-side test notices; tests/test_browser_*.py check the rendered result."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

JUPYTER = Path(sys.prefix) / "bin" / "jupyter"
REQUIRED = ["@jupyter-widgets/jupyterlab-manager", "jupyter-matplotlib"]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def parse_labextension_list(text: str) -> dict[str, dict[str, str]]:
    """{name: {version, state, check, dir}} from `jupyter labextension list` output; `dir` is the
    labextensions folder the listing groups the extension under."""
    found: dict[str, dict[str, str]] = {}
    folder = ""
    for line in ANSI.sub("", text).splitlines():
        if line.strip().startswith("/") or re.match(r"^[A-Za-z]:\\", line.strip()):
            folder = line.strip()
            continue
        m = re.match(r"^\s+(\S+) v(\S+) (enabled|disabled) (OK|X)\b", line)
        if m:
            found[m[1]] = {"version": m[2], "state": m[3], "check": m[4], "dir": folder}
    return found


@pytest.fixture(scope="module")
def extensions() -> dict[str, dict[str, str]]:
    assert JUPYTER.exists(), f"{JUPYTER} is missing: install the kit with `make install` (extra [lab])"
    r = subprocess.run([str(JUPYTER), "labextension", "list"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    found = parse_labextension_list(r.stdout + r.stderr)  # JupyterLab prints the list on stderr
    assert found, f"could not parse `jupyter labextension list`:\n{r.stdout}{r.stderr}"
    return found


@pytest.mark.parametrize("name", REQUIRED)
def test_widget_extension_enabled_and_ok(extensions, name):
    assert name in extensions, f"{name} is not installed: `pip install -e .[lab]`"
    ext = extensions[name]
    assert ext["state"] == "enabled", f"{name} is disabled: `jupyter labextension enable {name}`"
    assert ext["check"] == "OK", f"{name} v{ext['version']} is not compatible with this JupyterLab"


@pytest.mark.parametrize("name", REQUIRED)
def test_widget_extension_comes_from_the_kit_environment(extensions, name):
    # A stale copy under ~/.local/share/jupyter would be listed (and loaded) from elsewhere.
    folder = Path(extensions[name]["dir"]).resolve()
    assert folder.is_relative_to(Path(sys.prefix).resolve()), f"{name} is loaded from {folder}"


def test_no_widget_plugin_is_disabled():
    # `labextension list` still says "enabled" when a single plugin is disabled, and ipympl's
    # plugin id (matplotlib-jupyter:main) does not start with its extension's name
    # (jupyter-matplotlib), so `jupyter labextension disable jupyter-matplotlib` does not even
    # disable it. Read the merged page config that the lab server sends to the browser instead.
    from jupyter_core.paths import jupyter_path
    from jupyterlab.commands import get_app_dir
    from jupyterlab_server.config import get_page_config

    config = get_page_config(jupyter_path("labextensions"), str(Path(get_app_dir()) / "settings"))
    disabled = config.get("disabledExtensions", [])
    if isinstance(disabled, dict):
        disabled = [k for k, v in disabled.items() if v]
    widget_stack = [k for k in disabled if re.search(r"jupyter-widgets|matplotlib", k)]
    assert not widget_stack, (
        f"widget plugins disabled in the lab config: {widget_stack}; "
        f"re-enable with `jupyter labextension enable {' '.join(widget_stack)}`"
    )


def caret_allows(spec: str, version: str) -> bool:
    """npm caret ranges as ipympl states them (^0.12 allows 0.12.x; ^1.2 allows 1.x >= 1.2)."""
    want = [int(x) for x in spec.lstrip("^").split(".")]
    have = [int(x) for x in re.findall(r"\d+", version)[:3]]
    want += [0] * (3 - len(want))
    fixed = 1 if want[0] else 2  # leading parts that must match exactly
    return have[:fixed] == want[:fixed] and have >= want


def test_caret_allows():
    assert caret_allows("^0.12", "0.12.0") and caret_allows("^0.12", "0.12.7")
    assert not caret_allows("^0.12", "0.13.0") and not caret_allows("^0.12", "0.11.9")
    assert caret_allows("^1.2", "1.9.0") and not caret_allows("^1.2", "2.0.0")
    assert not caret_allows("^1.2.3", "1.2.2")


def test_ipympl_frontend_matches_its_python_package(extensions):
    # ipympl's Python side names the JS versions it can talk to; a mismatch renders
    # "Error displaying widget" in the browser while every Python test passes.
    import matplotlib

    before = matplotlib.get_backend()
    from ipympl._version import js_semver  # importing ipympl switches matplotlib's backend

    matplotlib.use(before)  # ... so later tests in this process keep theirs

    version = extensions["jupyter-matplotlib"]["version"]
    assert caret_allows(js_semver, version), (
        f"ipympl wants jupyter-matplotlib {js_semver}, JupyterLab has v{version}"
    )
