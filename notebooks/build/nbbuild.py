"""Shared helpers of the notebook builder scripts (``build_NN.py``).

Each builder writes one notebook from readable Python source::

    from nbbuild import Notebook
    nb = Notebook()
    md, code = nb.md, nb.code
    md("# Title ...")
    code("print(1)")
    nb.write("00_tour_of_jets.ipynb")

then ``python benchmarks/notebooks.py 00_ --write`` executes it and saves the outputs.
``NB_BUILD_OUT`` redirects the output folder (e.g. to compare a rebuild with the committed one).
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat as nbf

NOTEBOOKS = Path(__file__).resolve().parent.parent


class Notebook:
    """Cells collected in order; ``write`` saves them with the python3 kernelspec."""

    def __init__(self) -> None:
        self.cells: list = []

    def md(self, text: str) -> None:
        self.cells.append(nbf.v4.new_markdown_cell(text.strip("\n")))

    def code(self, text: str, hidden: bool = False) -> None:
        """A code cell; ``hidden`` collapses its source (exercise solutions)."""
        cell = nbf.v4.new_code_cell(text.strip("\n"))
        if hidden:
            cell.metadata["jupyter"] = {"source_hidden": True}
        self.cells.append(cell)

    def write(self, name: str) -> Path:
        nb = nbf.v4.new_notebook(cells=self.cells)
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                     "language": "python"}
        nb.metadata["language_info"] = {"name": "python"}
        out = Path(os.environ.get("NB_BUILD_OUT", NOTEBOOKS)) / name
        nbf.write(nb, out)
        print("wrote", out, len(self.cells), "cells")
        return out
