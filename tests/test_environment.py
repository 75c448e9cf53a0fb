"""The three install routes (pip/pyproject, conda environment.yml, Binder) pin the same packages."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _pyproject_pins() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = set(project["dependencies"])
    for extra, deps in project["optional-dependencies"].items():
        pins |= {d for d in deps if not d.startswith("jetkit[")}
    return pins


def _conda_pins(path: Path) -> set[str]:
    env = yaml.safe_load(path.read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert any(str(d).startswith("python=3.11") for d in env["dependencies"]), path
    return {p for p in pip if not p.startswith("-e")}


def test_every_pin_is_exact():
    for pin in _pyproject_pins():
        assert "==" in pin, f"{pin} is not pinned exactly"


def test_environment_yml_matches_pyproject():
    assert _conda_pins(ROOT / "environment.yml") == _pyproject_pins()


def test_binder_environment_matches_pyproject():
    assert _conda_pins(ROOT / "binder" / "environment.yml") == _pyproject_pins()


def test_binder_installs_jetkit_and_gxx():
    assert "pip install --no-deps -e ." in (ROOT / "binder" / "postBuild").read_text()
    assert "g++" in (ROOT / "binder" / "apt.txt").read_text().split()


def test_pythia_pinned_to_the_wheel_release():
    # 8.318.0 is source-only and takes ~40 min to build.
    assert "pythia8mc==8.317.2" in _pyproject_pins()
