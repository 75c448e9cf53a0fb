"""One notebook open in one Chromium page: the JavaScript run in the page and :class:`Session`,
which opens the notebook, runs all cells, waits for the widgets to render, moves controls with
real input and reports what it saw. Used through :mod:`browser_support`; not a test module."""

from __future__ import annotations

import hashlib
import json
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from browser_server import Lab

# Bounded waits (seconds). A notebook may take 90 s on 2 cores (docs/DESIGN.md §4); the page and kernel
# start are slow on a busy machine but never unbounded. RUN_ALL only catches a hung kernel (speed is
# measured in benchmarks/notebooks.py): in the browser on a loaded CI machine notebooks 04 and 06 took
# over 180 s, so it allows ~4x the budget.
PAGE_LOAD = 120
RUN_ALL = 360
RENDER = 45
REACT = 30

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# Browser console messages that point at the widget stack (anything else is reported, not fatal).
WIDGET_CONSOLE = re.compile(
    r"widget|jupyter-matplotlib|ipympl|matplotlib|MPLCanvas|\bcomms?\b|model not found|"
    r"Could not create|Failed to load (model|view|class|module)|Class \S+ not found|module \S+ not found",
    re.I,
)


class WidgetCheckFailed(AssertionError):
    """The widgets did not work in the browser; the message says what was seen."""


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
