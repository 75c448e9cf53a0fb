"""Architecture rules for the ``jetkit`` package, checked statically from the source.

1. ``jetkit/`` has at most :data:`MAX_TOP_ENTRIES` top-level entries (subpackages and ``.py``
   modules; ``__init__.py``, ``__pycache__`` and non-Python files are not counted).
2. No ``.py`` file under ``jetkit/`` or ``tests/`` is longer than :data:`MAX_LINES` lines.
3. No import cycles between jetkit modules (graph built with :mod:`ast`; every import
   statement counts, lazy ones inside functions too, except under ``if TYPE_CHECKING:``).
4. Domain code (everything outside ``jetkit/exercises``) never imports ``jetkit.exercises``
   and never names a notebook ("notebook 01", "Notebook-05", ...).
5. From a fresh interpreter, ``jetkit.exercises.available()`` lists every exercise id that the
   notebooks (and their builders in ``notebooks/build``) pass to ``exercises.check``/``hint``.

Every checker is a plain function taking a root path, so the self-tests at the bottom can point
them at small fake packages in ``tmp_path`` and prove each rule actually fails when broken.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "jetkit"
TESTS = ROOT / "tests"
NOTEBOOKS = ROOT / "notebooks"

MAX_TOP_ENTRIES = 13
MAX_LINES = 400
EXERCISES = "exercises"  # name of the exercises subpackage (or module) inside jetkit/
NOTEBOOK_NAME = re.compile(r"notebook[ _-]?0\d", re.IGNORECASE)
EXERCISE_CALL = re.compile(r"""exercises\.(?:check|hint)\(\s*["']([^"']+)["']""")

Graph = dict[str, set[str]]


# ----------------------------------------------------------------------------- discovery


def _python_files(root: Path) -> Iterator[Path]:
    """Every ``.py`` file under ``root``, sorted, skipping ``__pycache__``."""
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" not in path.parts:
            yield path


def module_name(pkg_dir: Path, path: Path) -> str:
    """Dotted name of ``path`` inside the package at ``pkg_dir``; ``a/__init__.py`` -> ``a``."""
    parts = [pkg_dir.name, *path.relative_to(pkg_dir).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def discover_modules(pkg_dir: Path) -> dict[str, Path]:
    """Map every module name of the package at ``pkg_dir`` to its file."""
    return {module_name(pkg_dir, p): p for p in _python_files(pkg_dir)}


# ----------------------------------------------------------------------------- rules 1 and 2


def top_level_entries(pkg_dir: Path) -> list[str]:
    """Top-level subpackages and modules of ``pkg_dir``, ``__init__.py`` not counted.

    A directory counts when it is Python (an ``__init__.py``, or any ``.py`` inside, so a
    namespace package cannot dodge the rule); data folders and ``__pycache__`` are ignored."""
    entries = []
    for entry in sorted(pkg_dir.iterdir()):
        if entry.is_dir() and entry.name != "__pycache__":
            if next(_python_files(entry), None) is not None:
                entries.append(entry.name + "/")
        elif entry.suffix == ".py" and entry.name != "__init__.py":
            entries.append(entry.name)
    return entries


def long_files(root: Path, limit: int = MAX_LINES) -> list[tuple[str, int]]:
    """``(relative path, line count)`` of every ``.py`` under ``root`` longer than ``limit``."""
    out = []
    for path in _python_files(root):
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > limit:
            out.append((path.relative_to(root.parent).as_posix(), n))
    return out


# ----------------------------------------------------------------------------- imports


def _is_type_checking(test: ast.expr) -> bool:
    """True for ``TYPE_CHECKING`` and ``typing.TYPE_CHECKING`` (or any ``x.TYPE_CHECKING``)."""
    return getattr(test, "id", getattr(test, "attr", None)) == "TYPE_CHECKING"


def _import_nodes(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement anywhere below ``node`` (functions, classes, try blocks, ...),
    except the body of ``if TYPE_CHECKING:`` (its ``else:`` branch is still walked)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            yield from _import_nodes(ast.Module(body=child.orelse, type_ignores=[]))
        else:
            yield from _import_nodes(child)


def imported_names(name: str, path: Path) -> list[tuple[int, str, list[str]]]:
    """The imports of module ``name`` (file ``path``), absolute: ``(line, module, names)``.

    ``import a.b`` gives ``(line, "a.b", [])``; ``from a import x, y`` gives
    ``(line, "a", ["x", "y"])``; relative imports are resolved against ``name``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out: list[tuple[int, str, list[str]]] = []
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name, []) for alias in node.names)
            continue
        module = node.module or ""
        if node.level:
            anchor = base[: len(base) - node.level + 1]
            module = ".".join([*anchor, *([module] if module else [])])
        out.append((node.lineno, module, [alias.name for alias in node.names]))
    return out


def import_graph(pkg_dir: Path) -> Graph:
    """Static import graph of the package at ``pkg_dir``: module -> modules it imports.

    ``from pkg import name`` points at ``pkg.name`` when that module exists, else at ``pkg``;
    ``import a.b.c`` points at the longest existing prefix. No implicit parent-package edges
    are added, but explicit ones (``from jetkit.fpga import FixedType``) are kept."""
    modules = discover_modules(pkg_dir)
    graph: Graph = {m: set() for m in modules}
    for mod, path in modules.items():
        for _, module, names in imported_names(mod, path):
            targets = [f"{module}.{n}" if f"{module}.{n}" in modules else module for n in names]
            for target in targets or [module]:
                parts = target.split(".")  # longest prefix that is a jetkit module, if any
                prefixes = (".".join(parts[:i]) for i in range(len(parts), 0, -1))
                resolved = next((p for p in prefixes if p in modules), None)
                if resolved is not None and resolved != mod:
                    graph[mod].add(resolved)
    return graph


def strongly_connected(graph: Graph) -> list[list[str]]:
    """Tarjan's algorithm: the strongly connected components of ``graph`` (each sorted)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for child in sorted(graph[node]):
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            i = stack.index(node)
            components.append(sorted(stack[i:]))
            del stack[i:]

    for start in sorted(graph):
        if start not in index:
            visit(start)
    return components


def _cycle_in(component: list[str], graph: Graph) -> list[str]:
    """One shortest cycle through ``component[0]`` that stays inside ``component`` (BFS)."""
    members, start = set(component), component[0]
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for child in sorted(graph[node] & members):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [*reversed(path), start]
                if child not in parent:
                    parent[child] = node
                    nxt.append(child)
        frontier = nxt
    return [start, start]  # unreachable for a real SCC of size > 1


def find_cycles(pkg_dir: Path) -> list[str]:
    """One cycle ``"a -> b -> ... -> a"`` per import cycle (non-trivial SCC) in the package."""
    graph = import_graph(pkg_dir)
    return [" -> ".join(_cycle_in(c, graph)) for c in strongly_connected(graph) if len(c) > 1]


# ----------------------------------------------------------------------------- rule 4


def _in_exercises(pkg_dir: Path, path: Path) -> bool:
    """True for ``jetkit/exercises/**`` (target layout) and ``jetkit/exercises.py`` (flat)."""
    first = path.relative_to(pkg_dir).parts[0]
    return first in (EXERCISES, EXERCISES + ".py")


def domain_violations(pkg_dir: Path) -> list[str]:
    """``"file:line: why"`` for each domain module line that imports the exercises package
    (any form, lazy too) or names a notebook."""
    forbidden = f"{pkg_dir.name}.{EXERCISES}"
    out = []
    for mod, path in discover_modules(pkg_dir).items():
        if _in_exercises(pkg_dir, path):
            continue
        where = path.relative_to(pkg_dir.parent).as_posix()
        for line, module, names in imported_names(mod, path):
            for target in [module, *(f"{module}.{n}" for n in names)]:
                if target == forbidden or target.startswith(forbidden + "."):
                    out.append(f"{where}:{line}: imports {target}")
                    break
        for i, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if match := NOTEBOOK_NAME.search(text):
                out.append(f"{where}:{i}: names a notebook ({match.group(0)!r})")
    return out


# ----------------------------------------------------------------------------- rule 5


def used_exercise_ids(notebook_dir: Path) -> dict[str, set[str]]:
    """Exercise ids passed to ``exercises.check``/``hint``: id -> files that use it, from the
    code cells of ``*.ipynb`` and from the notebook builders ``build/*.py``."""
    used: dict[str, set[str]] = {}
    sources: list[tuple[str, str]] = []
    for nb in sorted(notebook_dir.glob("*.ipynb")):
        cells = json.loads(nb.read_text(encoding="utf-8")).get("cells", [])
        for cell in cells:
            if cell.get("cell_type") == "code":
                src = cell.get("source", "")
                sources.append((nb.name, "".join(src) if isinstance(src, list) else src))
    for builder in sorted((notebook_dir / "build").glob("*.py")):
        sources.append((f"build/{builder.name}", builder.read_text(encoding="utf-8")))
    for where, text in sources:
        for ex_id in EXERCISE_CALL.findall(text):
            used.setdefault(ex_id, set()).add(where)
    return used


def fresh_registry(root: Path) -> tuple[list[str], list[str]]:
    """``(available exercise ids, loaded jetkit modules)`` after ``import jetkit.exercises``
    in a fresh interpreter started in ``root``."""
    code = (
        "import jetkit.exercises as e, sys, json; print(json.dumps(e.available())); "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('jetkit'))))"
    )
    cmd = [sys.executable, "-c", code]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"import jetkit.exercises failed:\n{proc.stderr[-3000:]}"
    lines = proc.stdout.strip().splitlines()
    return json.loads(lines[-2]), json.loads(lines[-1])


# ----------------------------------------------------------------------------- the rules


def test_top_level_is_small() -> None:
    entries = top_level_entries(PACKAGE)
    n = len(entries)
    assert n <= MAX_TOP_ENTRIES, f"jetkit/ has {n} top-level entries: " + ", ".join(entries)


def test_package_modules_are_short() -> None:
    offenders = [f"{p} ({n})" for p, n in long_files(PACKAGE)]
    assert not offenders, f"modules over {MAX_LINES} lines: " + ", ".join(offenders)


def test_test_modules_are_short() -> None:
    offenders = [f"{p} ({n})" for p, n in long_files(TESTS)]
    assert not offenders, f"test modules over {MAX_LINES} lines: " + ", ".join(offenders)


def test_no_import_cycles() -> None:
    cycles = find_cycles(PACKAGE)
    assert not cycles, "import cycles in jetkit:\n  " + "\n  ".join(cycles)


def test_domain_code_is_independent_of_exercises_and_notebooks() -> None:
    offenders = domain_violations(PACKAGE)
    why = "domain code must not know about exercises or notebooks"
    assert not offenders, why + ":\n  " + "\n  ".join(offenders)


def test_exercise_registry_is_complete_from_a_fresh_interpreter() -> None:
    used = used_exercise_ids(NOTEBOOKS)
    assert used, "no exercises.check/hint calls found in notebooks/ (did the regex rot?)"
    available, loaded = fresh_registry(ROOT)
    assert available, "jetkit.exercises.available() is empty after a fresh import"
    missing = {ex_id: sorted(files) for ex_id, files in used.items() if ex_id not in available}
    assert not missing, (
        f"exercise ids used in notebooks but not registered by a fresh "
        f"`import jetkit.exercises`: {missing}\n(jetkit modules loaded: {loaded})"
    )
    assert set(used) <= set(available)


# ----------------------------------------------------------------------------- self-tests


def _write(root: Path, files: dict[str, str]) -> Path:
    """Create the files ``{relative path: text}`` under ``root`` and return ``root/jetkit``."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "jetkit"


def test_self_cycle_finder(tmp_path: Path) -> None:
    pkg = _write(
        tmp_path,
        {
            "jetkit/__init__.py": "",
            "jetkit/a.py": "def f():\n    from jetkit import b  # lazy still counts\n",
            "jetkit/b.py": "import jetkit.a\n",
            "jetkit/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from jetkit import d\n",
            "jetkit/d.py": "from . import c\n",
            "jetkit/fpga/__init__.py": "from .qat import qat\nfrom .types import FixedType\n",
            "jetkit/fpga/types.py": "FixedType = int\n",
            "jetkit/fpga/qat.py": "from jetkit.fpga import FixedType\nqat = 1\n",
            "jetkit/ok/__init__.py": "from jetkit.ok.x import X\n",
            "jetkit/ok/x.py": "from .y import Y\nX = Y\n",
            "jetkit/ok/y.py": "Y = 1\n",
        },
    )
    graph = import_graph(pkg)  # lazy import kept, TYPE_CHECKING dropped, relative resolved
    assert graph["jetkit.a"] == {"jetkit.b"} and graph["jetkit.c"] == set()
    assert graph["jetkit.d"] == {"jetkit.c"} and graph["jetkit.ok.x"] == {"jetkit.ok.y"}
    assert graph["jetkit.fpga"] == {"jetkit.fpga.qat", "jetkit.fpga.types"}
    assert sorted(find_cycles(pkg)) == [
        "jetkit.a -> jetkit.b -> jetkit.a",
        "jetkit.fpga -> jetkit.fpga.qat -> jetkit.fpga",
    ]


def test_self_long_module_and_top_level(tmp_path: Path) -> None:
    pkg = _write(
        tmp_path,
        {
            "jetkit/__init__.py": "\n" * 1000,
            "jetkit/short.py": "x = 1\n" * 400,
            "jetkit/long.py": "x = 1\n" * 401,
            "jetkit/sub/__init__.py": "",
            "jetkit/notes.txt": "",
            "jetkit/__pycache__/stale.py": "x = 1\n" * 500,
        },
    )
    assert long_files(pkg) == [("jetkit/__init__.py", 1000), ("jetkit/long.py", 401)]
    assert top_level_entries(pkg) == ["long.py", "short.py", "sub/"]


def test_self_domain_violations(tmp_path: Path) -> None:
    pkg = _write(
        tmp_path,
        {
            "jetkit/__init__.py": "",
            "jetkit/exercises/__init__.py": "from jetkit import tagging  # notebook 02\n",
            "jetkit/tagging.py": "from jetkit import exercises, metrics\n",
            "jetkit/metrics.py": "def f():\n    import jetkit.exercises.core\n",
            "jetkit/plots.py": '"""Figures of Notebook-05."""\n',
            "jetkit/clean.py": "from jetkit import metrics  # notebooks live elsewhere\n",
        },
    )
    assert domain_violations(pkg) == [
        "jetkit/metrics.py:2: imports jetkit.exercises.core",
        "jetkit/plots.py:1: names a notebook ('Notebook-05')",
        "jetkit/tagging.py:1: imports jetkit.exercises",
    ]


def test_self_used_exercise_ids(tmp_path: Path) -> None:
    cell = {"cell_type": "code", "source": ["exercises.check(\n", "    '00_mass', x)\n"]}
    text = {"cell_type": "markdown", "source": 'exercises.check("md_only")'}
    (tmp_path / "build").mkdir()
    (tmp_path / "00_x.ipynb").write_text(json.dumps({"cells": [cell, text]}), encoding="utf-8")
    (tmp_path / "build" / "build_00.py").write_text('exercises.hint("00_hint")\n', "utf-8")
    assert used_exercise_ids(tmp_path) == {
        "00_mass": {"00_x.ipynb"},
        "00_hint": {"build/build_00.py"},
    }

