"""Every notebook reads like a short lecture (docs/DESIGN.md §4). Execution itself is nbval's job:
`make test` runs `pytest tests notebooks --nbval-lax`, which executes every notebook top to
bottom and compares the cells tagged `# NBVAL_CHECK_OUTPUT`."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
MAX_CELL_LINES = 30  # logic worth testing belongs in jetkit, not in long cells


def _text(cell) -> str:
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


def test_there_are_notebooks():
    assert any(p.name.startswith("00_tour_of_jets") for p in NOTEBOOKS)


@pytest.fixture(params=NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def nb(request):
    return nbformat.read(request.param, as_version=4)


def test_first_cell_states_goals_prerequisites_and_time(nb):
    first = nb.cells[0]
    assert first.cell_type == "markdown"
    text = _text(first)
    assert text.lstrip().startswith("# ")
    assert re.search(r"you will learn", text, re.I)
    assert re.search(r"prerequisite", text, re.I)
    assert re.search(r"\d+\s*min", text), "give a time estimate in minutes"


def test_last_cell_summarises_with_further_reading(nb):
    last = _text(nb.cells[-1])
    assert nb.cells[-1].cell_type == "markdown"
    assert re.search(r"summary", last, re.I)
    assert re.search(r"arXiv:\d{4}\.\d{4,5}", last), "cite further reading by arXiv id"


def test_exercises_are_checked_and_solutions_hidden(nb):
    code = [_text(c) for c in nb.cells if c.cell_type == "code"]
    assert sum("exercises.check(" in c for c in code) >= 2
    hidden = [c for c in nb.cells if c.metadata.get("jupyter", {}).get("source_hidden")]
    assert hidden, "put exercise solutions in collapsed (source_hidden) cells"


def test_key_results_are_checked_by_nbval(nb):
    assert any("# NBVAL_CHECK_OUTPUT" in _text(c) for c in nb.cells if c.cell_type == "code")


def test_outputs_are_committed_with_pictures(nb):
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), "re-execute with `make notebooks`"
    assert any(o.get("data", {}).get("image/png") for c in code for o in c.get("outputs", []))


def test_cells_stay_short(nb):
    for c in nb.cells:
        if c.cell_type == "code":
            n = len(_text(c).splitlines())
            assert n <= MAX_CELL_LINES, f"a {n}-line cell: move the logic into jetkit"


def test_no_errors_in_committed_outputs(nb):
    for c in nb.cells:
        for o in c.get("outputs", []):
            assert o.get("output_type") != "error", _text(c)[:200]
