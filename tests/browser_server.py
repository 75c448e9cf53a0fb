"""JupyterLab for the browser tests: started from the kit's own environment on a temporary copy
of notebooks/, isolated from the user's Jupyter configuration, and stopped without leaving a
process behind. Used through :mod:`browser_support` (the ``lab`` fixture); not a test module."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import nbformat
import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
JUPYTER = Path(sys.prefix) / "bin" / "jupyter"  # the kit's own environment, not whatever is on PATH

# Bounded wait (seconds): the server start is slow on a busy machine but never unbounded.
SERVER_START = 120


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


@contextlib.contextmanager
def running_lab(tmp: Path, extra_notebooks: dict[str, nbformat.NotebookNode] | None = None):
    """JupyterLab from the kit's environment on a temp copy of notebooks/ (plus
    ``extra_notebooks``, name -> notebook, e.g. the harness's scratch notebooks), on 127.0.0.1,
    a free port and a random token; stopped on exit."""
    if not JUPYTER.exists():
        pytest.fail(f"{JUPYTER} is missing: install the kit with `make install` (extra [lab])")
    root = tmp / "notebooks"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    for name, nb in (extra_notebooks or {}).items():
        nbformat.write(nb, root / name)
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
