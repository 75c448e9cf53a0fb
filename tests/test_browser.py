"""Widgets work in a real browser (issue 8).

Widget tutorials usually break on the JavaScript side: "Error displaying widget", a lab extension
that is missing or disabled, "Loading widget..." forever, a blank ipympl canvas. No Python-only
test sees that, so this test

1. starts JupyterLab from the kit's own environment on a temporary copy of notebooks/,
2. drives Debian's Chromium with Playwright: opens every notebook whose code uses
   ``jetkit.widgets``, clears the outputs and runs all cells (the "Run > Run All Cells" command),
3. waits until the ipywidgets controls and their figures (ipympl canvases under
   ``%matplotlib widget``, else the viewers' static image) have rendered, failing on
   "Error displaying widget", "Loading widget..." that never resolves, widget outputs that fall
   back to plain text (manager extension missing), blank figures, errors in cell outputs, kernel
   tracebacks and browser errors from the widget stack,
4. moves the jet slider with the keyboard (and changes the class drop-down) and checks that the
   figure's pixels change and that the kernel holds the value shown in the page.

A scratch notebook with a plain ipympl figure and a slider runs through the same harness, which
proves the harness itself works (and, with a callback that raises, that it can fail).

Screenshots: the pytest tmp dir always; docs/images/<notebook>-<widget>.png (shown in the README)
when JETKIT_UPDATE_SCREENSHOTS=1 (`make screenshots`).
Without /usr/bin/chromium the test skips, unless JETKIT_REQUIRE_BROWSER=1 (set by .ci/run), where
it fails. JETKIT_CHROMIUM overrides the browser path.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
IMAGES = ROOT / "docs" / "images"
CHROMIUM = Path(os.environ.get("JETKIT_CHROMIUM", "/usr/bin/chromium"))
JUPYTER = Path(sys.prefix) / "bin" / "jupyter"  # the kit's own environment, not whatever is on PATH
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
]

# Bounded waits (seconds). A notebook may take 90 s on 2 cores (GUIDE §4); the page and kernel
# start are slow on a busy machine but never unbounded.
SERVER_START = 120
PAGE_LOAD = 120
RUN_ALL = 180
RENDER = 45
REACT = 30

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
SCRATCH = "zz_harness_check.ipynb"
# Browser console messages that point at the widget stack (anything else is reported, not fatal).
WIDGET_CONSOLE = re.compile(
    r"widget|jupyter-matplotlib|ipympl|matplotlib|MPLCanvas|\bcomms?\b|model not found|"
    r"Could not create|Failed to load (model|view|class|module)|Class \S+ not found|module \S+ not found",
    re.I,
)


pytestmark = pytest.mark.slow  # runs whole notebooks


class WidgetCheckFailed(AssertionError):
    """The widgets did not work in the browser; the message says what was seen."""


def _code(nb) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "code"]


def _uses_jetkit_widgets(path: Path) -> bool:
    # jetkit.widgets and the modules of the other explorers (widgets_latent, quant_widgets, ...)
    pattern = re.compile(r"jetkit\.\w*widgets|from\s+jetkit\s+import\s+[^\n]*\b\w*widgets\b")
    return any(pattern.search(src) for src in _code(nbformat.read(path, as_version=4)))


WIDGET_NOTEBOOKS = sorted(p for p in NOTEBOOKS.glob("*.ipynb") if _uses_jetkit_widgets(p))


def scratch_notebook(broken_callback: bool = False) -> nbformat.NotebookNode:
    """An ipympl figure with a slider and a drop-down, shaped like jetkit's viewers (same CSS
    classes), that needs nothing but ipywidgets and ipympl."""
    raise_line = '    raise RuntimeError("deliberately broken widget callback")\n' if broken_callback else ""
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
        "def update(change=None):\n"
        f"{raise_line}"
        '    f = np.sin if choice.value == "sin" else np.cos\n'
        "    line.set_ydata(f(slider.value * x))\n"
        "    fig.canvas.draw_idle()\n"
        'slider.observe(update, names="value")\n'
        'choice.observe(update, names="value")\n'
        "widgets.VBox([widgets.HBox([slider, choice]), fig.canvas])",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


# --------------------------------------------------------------------------- server and browser


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    log: Path
    proc: subprocess.Popen

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no server log)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def _isolated_env(home: Path) -> dict[str, str]:
    """The venv first on PATH; user-level Jupyter config, data, runtime and IPython dirs in a
    temp dir, so a learner's ~/.jupyter cannot change what is tested (and no kernelspec there can
    shadow the venv's python3)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "IPYTHON"))}
    env.pop("MPLBACKEND", None)
    config = home / "config"
    env.update(
        PATH=f"{JUPYTER.parent}{os.pathsep}{env.get('PATH', '')}",
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        IPYTHONDIR=str(home / "ipython"),
    )
    settings = config / "lab" / "user-settings" / "@jupyterlab"
    # No news/update toast over the page; keep every cell in the DOM (no windowing); no autosave.
    _write_json(settings / "apputils-extension" / "notification.jupyterlab-settings",
                {"fetchNews": "false", "checkForUpdates": False})
    _write_json(settings / "notebook-extension" / "tracker.jupyterlab-settings", {"windowingMode": "none"})
    _write_json(settings / "docmanager-extension" / "plugin.jupyterlab-settings", {"autosave": False})
    return env


def _die_with_parent() -> None:
    """Linux: SIGTERM the server if pytest itself is killed (the server then stops its kernels)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _get(url: str, timeout: float = 5) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 (local server)
        return r.read()


def _stop(lab: Lab) -> None:
    """Shut the server down and leave no process behind: kernels run in their own sessions, so
    they are collected as descendants first and killed by pid if the server leaves any."""
    try:
        procs = psutil.Process(lab.proc.pid).children(recursive=True)
    except psutil.Error:
        procs = []
    if lab.proc.poll() is None:
        try:
            req = urllib.request.Request(f"{lab.url}/api/shutdown", method="POST",
                                         headers={"Authorization": f"token {lab.token}"})
            urllib.request.urlopen(req, timeout=5).close()  # noqa: S310
        except OSError:
            pass
        try:
            lab.proc.wait(10)
        except subprocess.TimeoutExpired:
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                try:
                    os.killpg(lab.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    lab.proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
    alive = [p for p in procs if p.is_running()]
    for p in alive:
        p.terminate()
    _, alive = psutil.wait_procs(alive, timeout=10)
    for p in alive:
        p.kill()
    psutil.wait_procs(alive, timeout=5)


@pytest.fixture(scope="module")
def chromium() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    msg = (f"no browser at {CHROMIUM}: install Debian's chromium (apt-get install chromium) "
           "to run the browser test")
    if os.environ.get("JETKIT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"JETKIT_REQUIRE_BROWSER=1 but {msg}", pytrace=False)
    pytest.skip(msg)


@contextlib.contextmanager
def running_lab(tmp: Path):
    """JupyterLab from the kit's environment on a temp copy of notebooks/ (plus the scratch
    notebooks), on 127.0.0.1, a free port and a random token; stopped on exit."""
    if not JUPYTER.exists():
        pytest.fail(f"{JUPYTER} is missing: install the kit with `make install` (extra [lab])")
    root = tmp / "notebooks"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    nbformat.write(scratch_notebook(), root / SCRATCH)
    nbformat.write(scratch_notebook(broken_callback=True), root / f"broken_{SCRATCH}")
    env = _isolated_env(tmp / "home")
    token, port = secrets.token_hex(16), _free_port()
    log = tmp / "server.log"
    cmd = [
        str(JUPYTER), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}", "--ServerApp.terminals_enabled=False",
        "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root
        cmd.append("--allow-root")
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    server = Lab(f"http://127.0.0.1:{port}", token, root, log, proc)
    try:
        deadline = time.monotonic() + SERVER_START
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{server.log_tail()}")
            try:
                json.loads(_get(f"{server.url}/api/status?token={token}", timeout=2))
                break
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not answer /api/status in {SERVER_START} s:\n"
                            f"{server.log_tail()}")
            time.sleep(0.5)
        yield server
    finally:
        _stop(server)


@pytest.fixture(scope="module")
def lab(chromium, tmp_path_factory):
    with running_lab(tmp_path_factory.mktemp("lab")) as server:
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


# --------------------------------------------------------------------------- page-side helpers

JS_READY = """() => {
  const app = window.jupyterapp;
  if (!app) return {stage: 'app'};
  const p = app.shell.currentWidget;
  if (!p || !p.sessionContext || !p.content) return {stage: 'panel'};
  if (!p.context.isReady) return {stage: 'document'};
  const k = p.sessionContext.session && p.sessionContext.session.kernel;
  if (!k) return {stage: 'kernel', dialog: document.querySelector('.jp-Dialog') ? document.querySelector('.jp-Dialog').innerText : null};
  return {stage: (k.connectionStatus === 'connected' && k.status === 'idle') ? 'ready' : 'kernel ' + k.status,
          dialog: document.querySelector('.jp-Dialog') ? document.querySelector('.jp-Dialog').innerText : null};
}"""

JS_HOOK = """() => {
  const p = window.jupyterapp.shell.currentWidget;
  window.__jetkit = {kernel: [], run: null};
  p.sessionContext.iopubMessage.connect((_, msg) => {
    const t = msg.header.msg_type, c = msg.content;
    if (t === 'error') window.__jetkit.kernel.push(c.ename + ': ' + c.evalue);
    else if (t === 'stream' && c.name === 'stderr' && /Traceback/.test(c.text)) window.__jetkit.kernel.push(c.text);
  });
}"""

JS_RUN_ALL = """() => {
  const app = window.jupyterapp;
  app.commands.execute('notebook:clear-all-cell-outputs')
    .then(() => app.commands.execute('notebook:run-all-cells'))
    .then(r => { window.__jetkit.run = {ok: r}; }, e => { window.__jetkit.run = {error: String(e)}; });
}"""

JS_CELLS = """() => {
  const p = window.jupyterapp.shell.currentWidget;
  const k = p.sessionContext.session.kernel;
  const cells = p.content.widgets.map((c, i) => {
    c.node.setAttribute('data-jetkit-cell', String(i));
    const m = c.model;
    const outputs = m.type === 'code' ? m.outputs.toJSON() : [];
    return {i, type: m.type, source: m.sharedModel.getSource(), count: m.type === 'code' ? m.executionCount : 0,
            errors: outputs.filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue),
            widgets: outputs.filter(o => o.data && o.data['%s']).length};
  });
  return {cells, status: k ? k.status : 'dead', run: window.__jetkit.run, kernel: window.__jetkit.kernel};
}""" % WIDGET_MIME

JS_RENDERED = """() => {
  const p = window.jupyterapp.shell.currentWidget;
  const nb = p.content.node;
  // only outputs: a markdown cell may well quote "Error displaying widget" in its advice
  const text = [...nb.querySelectorAll('.jp-OutputArea-output')].map(o => o.innerText).join('\\n');
  const widgetOutputs = [];  // the DOM node of every output whose model is a widget view
  for (const cell of p.content.widgets) {
    if (cell.model.type !== 'code') continue;
    const children = [...cell.outputArea.node.querySelectorAll(':scope > .jp-OutputArea-child')];
    cell.model.outputs.toJSON().forEach((o, j) => {
      if (o.data && o.data['%s']) widgetOutputs.push({node: children[j] || null, id: o.data['%s'].model_id});
    });
  }
  const figures = window.__jetkitFigures(false);
  const rendered = widgetOutputs.filter(o => o.node && o.node.querySelector('.jupyter-widgets'));
  return {
    errorWidgets: nb.querySelectorAll('.jupyter-widgets-error-widget').length,
    errorDisplaying: (text.match(/Error displaying widget[^\\n]*/g) || []),
    loading: (text.match(/Loading widget\\.\\.\\./g) || []).length,
    widgetOutputs: widgetOutputs.length,
    renderedWidgets: rendered.length,
    unrendered: widgetOutputs.filter(o => !rendered.includes(o))
      .map(o => ({id: o.id, text: o.node ? o.node.innerText.slice(0, 200) : ''})),
    figures,
  };
}""" % (WIDGET_MIME, WIDGET_MIME)

# Every figure a widget shows: ipympl's main canvas (the first one; the second is the rubber band
# overlay) and static ipywidgets.Image figures (the viewers' fallback under %matplotlib inline).
# `colours` counts distinct pixel values in a sample (1 = blank); `data` is the pixels as a PNG URL.
JS_FIGURES = """() => {
  window.__jetkitFigures = (withData) => {
    const nb = window.jupyterapp.shell.currentWidget.content.node;
    const out = [];
    for (const f of nb.querySelectorAll('.jupyter-matplotlib-figure')) {
      const c = f.querySelector('canvas');
      out.push({kind: 'ipympl', el: c});
    }
    for (const img of nb.querySelectorAll('.jp-OutputArea-output img.widget-image')) {
      out.push({kind: 'image', el: img});
    }
    return out.map(({kind, el}) => {
      let c = el;
      if (el && el.tagName === 'IMG') {
        c = document.createElement('canvas');
        c.width = el.naturalWidth; c.height = el.naturalHeight;
        if (c.width && c.height) c.getContext('2d').drawImage(el, 0, 0);
      }
      if (!c || !c.width || !c.height) return {kind, w: 0, h: 0, colours: 0, data: ''};
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      const seen = new Set();
      const step = Math.max(1, Math.floor(d.length / 4 / 20000)) * 4;
      for (let j = 0; j < d.length && seen.size < 50; j += step) seen.add(d[j] << 24 | d[j+1] << 16 | d[j+2] << 8 | d[j+3]);
      return {kind, w: c.width, h: c.height, colours: seen.size, data: withData ? c.toDataURL() : ''};
    });
  };
}"""

JS_EXECUTE = """async (code) => {
  const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const future = k.requestExecute({code, silent: false, store_history: false});
  let out = '';
  future.onIOPub = msg => {
    if (msg.header.msg_type === 'stream' && msg.content.name === 'stdout') out += msg.content.text;
    if (msg.header.msg_type === 'error') out += 'ERROR ' + msg.content.ename + ': ' + msg.content.evalue;
  };
  await future.done;
  return out;
}"""

JS_SELECTED = "s => s.options[s.selectedIndex] ? s.options[s.selectedIndex].text : ''"

JS_SHUTDOWN = """async () => {
  const p = window.jupyterapp.shell.currentWidget;
  if (p && p.sessionContext) await p.sessionContext.shutdown();
}"""

# Asked of the kernel: the value of every selection-type control that exists there.
KERNEL_CONTROLS = """\
def __jetkit_controls():
    import json
    from ipywidgets.widgets.widget import _instances
    out = {}
    for mid, w in list(_instances.items()):
        view = getattr(w, "_view_name", None) or ""
        if view.endswith("SliderView") or view in ("DropdownView", "SelectView"):
            out[mid] = {"view": view, "value": repr(w.value), "label": str(getattr(w, "label", "") or "")}
    print("__JETKIT__" + json.dumps(out))
__jetkit_controls()
del __jetkit_controls
"""


@dataclass
class Session:
    """One notebook open in one browser page."""

    page: object
    lab: Lab
    name: str
    out_dir: Path
    console: list[str] = field(default_factory=list)

    # -- reporting
    def fail(self, what: str) -> None:
        shot = self.out_dir / f"{Path(self.name).stem}-failure.png"
        try:
            self.page.screenshot(path=str(shot), full_page=True)
        except Exception:  # noqa: BLE001 (the page may be gone; the message matters more)
            shot = None
        kernel = self._js("() => window.__jetkit ? window.__jetkit.kernel : []") or []
        widget_console = list(dict.fromkeys(m for m in self.console if WIDGET_CONSOLE.search(m)))
        raise WidgetCheckFailed(
            f"{self.name}: {what}\n"
            f"  kernel errors: {kernel[-5:] or 'none'}\n"
            f"  browser errors: {widget_console[-8:] or self.console[-5:] or 'none'}\n"
            f"  screenshot: {shot}\n"
            f"  server log (tail):\n{self.lab.log_tail(15)}"
        )

    def _js(self, fn, arg=None):
        try:
            return self.page.evaluate(fn, arg)
        except Exception:  # noqa: BLE001
            return None

    def check_no_errors(self) -> None:
        kernel = self._js("() => window.__jetkit.kernel") or []
        if kernel:
            self.fail(f"the kernel raised: {kernel[0].strip()[-400:]}")
        bad = [m for m in self.console if m.startswith("pageerror") or WIDGET_CONSOLE.search(m)]
        bad = list(dict.fromkeys(bad))
        if bad:
            self.fail(f"browser errors from the widget stack: {bad[:3]}")

    # -- steps
    def open(self) -> None:
        # A workspace of its own, reset: otherwise JupyterLab reopens the notebooks of earlier
        # pages, and starts a kernel for each of them.
        workspace = re.sub(r"\W", "-", Path(self.name).stem)
        url = (f"{self.lab.url}/lab/workspaces/{workspace}/tree/{urllib.parse.quote(self.name)}"
               f"?reset&token={self.lab.token}")
        self.page.goto(url, wait_until="domcontentloaded", timeout=PAGE_LOAD * 1000)
        deadline, state = time.monotonic() + PAGE_LOAD, None
        while time.monotonic() < deadline:
            state = self._js(JS_READY) or {"stage": "app"}
            if state["stage"] == "ready":
                break
            if state.get("dialog"):
                self.fail(f"JupyterLab asked: {state['dialog']!r} (kernelspec python3 not found?)")
            time.sleep(0.5)
        else:
            self.fail(f"the notebook and its kernel were not ready within {PAGE_LOAD} s (stuck at {state})")
        self.page.evaluate(JS_HOOK)
        self.page.evaluate(JS_FIGURES)
        self.page.evaluate("() => window.jupyterapp.shell.collapseLeft()")  # room for the widgets

    def run_all(self) -> list[dict]:
        self.page.evaluate(JS_RUN_ALL)
        deadline = time.monotonic() + RUN_ALL
        while True:
            state = self.page.evaluate(JS_CELLS)
            errors = [e for c in state["cells"] for e in c["errors"]]
            if errors:
                self.fail(f"a cell raised: {errors[0]}")
            if state["run"] and state["status"] == "idle":
                break
            if time.monotonic() > deadline:
                self.fail(f"Run All Cells did not finish within {RUN_ALL} s")
            time.sleep(1)
        if "error" in state["run"]:
            self.fail(f"Run All Cells failed: {state['run']['error']}")
        code = [c for c in state["cells"] if c["type"] == "code" and c["source"].strip()]
        unrun = [c["i"] for c in code if not c["count"]]
        if unrun:
            self.fail(f"cells {unrun} were not executed")
        return state["cells"]

    def wait_rendered(self, expect_ipympl: bool) -> dict:
        deadline = time.monotonic() + RENDER
        while True:
            r = self.page.evaluate(JS_RENDERED)
            if r["errorDisplaying"]:
                self.fail(f"the page says {r['errorDisplaying'][0]!r}")
            if r["errorWidgets"]:
                self.fail(f"{r['errorWidgets']} widget(s) replaced by ipywidgets' error box "
                          "('Click to show javascript error.')")
            self.check_no_errors()
            figures = r["figures"]
            if r["unrendered"] and not any(u["text"].strip() for u in r["unrendered"]):
                # Empty outputs of widgets closed in the kernel (finished tqdm bars) are fine.
                alive = self.kernel_alive([u["id"] for u in r["unrendered"]])
                r["unrendered"] = [u for u in r["unrendered"] if u["id"] in alive]
            done = (
                r["renderedWidgets"] > 0
                and not r["unrendered"]
                and not r["loading"]
                and figures
                and all(f["colours"] > 1 for f in figures)
                and (not expect_ipympl or any(f["kind"] == "ipympl" for f in figures))
            )
            if done:
                return r
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        if r["renderedWidgets"] == 0 and not r["unrendered"]:
            self.fail("no cell displayed a widget "
                      "(is @jupyter-widgets/jupyterlab-manager installed and enabled?)")
        if r["loading"]:
            self.fail(f"'Loading widget...' still shown after {RENDER} s ({r['loading']} outputs)")
        if r["unrendered"]:
            shown = [u["text"] for u in r["unrendered"][:2]]
            self.fail(f"{len(r['unrendered'])} widget outputs did not render (page shows {shown})")
        if expect_ipympl and not any(f["kind"] == "ipympl" for f in figures):
            self.fail("no ipympl canvas rendered (is the jupyter-matplotlib lab extension enabled?)")
        if not figures:
            self.fail("the widgets show no figure (no ipympl canvas, no image)")
        self.fail(f"blank figure: {figures}")

    def kernel_alive(self, model_ids: list[str]) -> set[str]:
        """Which of these widget models still exist in the kernel (not closed)."""
        code = ("import json\nfrom ipywidgets.widgets.widget import _instances\n"
                f"print('__JETKIT__' + json.dumps([m for m in {model_ids!r} if m in _instances]))")
        out = self.page.evaluate(JS_EXECUTE, code)
        m = re.search(r"__JETKIT__(\[.*\])", out or "")
        if not m:
            self.fail(f"could not ask the kernel about widgets {model_ids}: {out!r}")
        return set(json.loads(m.group(1)))

    def kernel_controls(self) -> dict:
        out = self.page.evaluate(JS_EXECUTE, KERNEL_CONTROLS)
        m = re.search(r"__JETKIT__(\{.*\})", out or "")
        if not m:
            self.fail(f"could not read the widget values from the kernel: {out!r}")
        return json.loads(m.group(1))

    def figures(self) -> list[str]:
        """A fingerprint of the pixels of every figure on the page."""
        figs = self.page.evaluate("() => window.__jetkitFigures(true)")
        return [hashlib.sha1(f["data"].encode()).hexdigest() for f in figs]

    def interact(self, control, kind: str) -> dict:
        """Change one control with real input; a figure must redraw and the kernel must hold
        the value the page shows."""
        before_figures, before_kernel = self.figures(), self.kernel_controls()
        control.scroll_into_view_if_needed()
        if kind == "slider":
            handle = control.locator(".noUi-handle").first
            readout = control.locator(".widget-readout").first
            old = readout.inner_text().strip()
            at_max = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
            handle.focus()
            self.page.keyboard.press("ArrowLeft" if at_max else "ArrowRight")
            shown = lambda: readout.inner_text().strip()  # noqa: E731
        else:
            select = control.locator("select").first
            old = select.evaluate(JS_SELECTED)
            last = select.evaluate("s => s.selectedIndex === s.options.length - 1")
            # Open it with the mouse and pick with the keyboard: a focused but closed <select>
            # never sees the arrow keys, JupyterLab's command mode takes them for cell navigation.
            select.click()
            self.page.keyboard.press("ArrowUp" if last else "ArrowDown")
            self.page.keyboard.press("Enter")
            shown = lambda: select.evaluate(JS_SELECTED)  # noqa: E731
        deadline = time.monotonic() + REACT
        while shown() == old:
            if time.monotonic() > deadline:
                self.fail(f"the {kind} did not react to keyboard input (still {old!r})")
            time.sleep(0.2)
        new = shown()
        while self.figures() == before_figures:
            self.check_no_errors()
            if time.monotonic() > deadline:
                self.fail(f"moving the {kind} from {old!r} to {new!r} did not redraw any figure "
                          f"within {REACT} s")
            time.sleep(0.3)
        self.check_no_errors()
        while True:  # the comm message that carries the value may trail the redraw of other views
            after_kernel = self.kernel_controls()
            changed = {k: v for k, v in after_kernel.items() if before_kernel.get(k) != v}
            if any(_matches(v, new) for v in changed.values()):
                return {"old": old, "new": new, "kernel": changed}
            if time.monotonic() > deadline:
                self.fail(f"the page shows the {kind} at {new!r} but the kernel has {changed or 'no change'}")
            time.sleep(0.3)

    def screenshot(self, cell: int, name: str, dirs: list[Path]) -> None:
        selector = f'[data-jetkit-cell="{cell}"] .jp-OutputArea-output:has(.jupyter-widgets)'
        area = self.page.locator(selector).first
        area.scroll_into_view_if_needed()
        png = area.screenshot(animations="disabled", timeout=20_000)
        for d in dirs:
            d.mkdir(parents=True, exist_ok=True)
            (d / f"{name}.png").write_bytes(png)


def _matches(kernel: dict, shown: str) -> bool:
    """Whether a kernel-side control value is what the page shows (ipywidgets renders the
    spaces of option labels as no-break spaces)."""
    shown = " ".join(shown.replace("\xa0", " ").split())
    if kernel["label"] and " ".join(kernel["label"].split()) == shown:
        return True
    try:
        value, text = float(kernel["value"]), float(shown)
    except ValueError:
        return kernel["value"].strip("'\"") == shown
    decimals = len(shown.partition(".")[2])
    return abs(value - text) <= 0.51 * 10.0**-decimals


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else ""


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _widget_name(source: str) -> str | None:
    """The jetkit.widgets class a cell builds (JetImageViewer -> jet-image-viewer), if any."""
    known = set()
    for module in (ROOT / "jetkit").glob("*widgets*.py"):
        known |= set(re.findall(r"^class (\w+)", module.read_text(), re.M))
    for name in re.findall(r"\b([A-Z]\w+)\s*\(", source):
        if name in known or re.search(r"(Viewer|Explorer)$", name):
            return _kebab(name)
    return None


def exercise_notebook(browser, lab: Lab, name: str, out_dir: Path, publish: Path | None) -> dict:
    """Run one notebook in the browser and exercise its controls; returns what was seen."""
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


# --------------------------------------------------------------------------- tests


def test_harness_on_scratch_widget(lab, browser, tmp_path):
    """A bare ipympl figure + slider + drop-down renders, redraws and syncs to the kernel."""
    report = exercise_notebook(browser, lab, SCRATCH, tmp_path, publish=None)
    print(report["seconds"])
    assert [m.keys() - {"cell"} for m in report["moved"]] == [{"slider"}, {"dropdown"}]
    slider = report["moved"][0]["slider"]
    assert (slider["old"], slider["new"]) == ("1", "2")


def test_harness_catches_a_raising_callback(lab, browser, tmp_path):
    """The harness must fail when a widget callback raises in the kernel."""
    with pytest.raises(WidgetCheckFailed, match="deliberately broken widget callback"):
        exercise_notebook(browser, lab, f"broken_{SCRATCH}", tmp_path, publish=None)


@pytest.mark.skipif(not WIDGET_NOTEBOOKS, reason="no notebook uses jetkit.widgets yet")
@pytest.mark.parametrize("notebook", WIDGET_NOTEBOOKS, ids=[p.stem for p in WIDGET_NOTEBOOKS])
def test_notebook_widgets_in_browser(lab, browser, tmp_path, notebook):
    # Refresh the README's screenshots only on request (`make screenshots`), so `make test`
    # leaves the working tree clean.
    publish = IMAGES if os.environ.get("JETKIT_UPDATE_SCREENSHOTS") == "1" else None
    report = exercise_notebook(browser, lab, notebook.name, tmp_path, publish=publish)
    print(report["seconds"], report["moved"])
    assert report["moved"], report
