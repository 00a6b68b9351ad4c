"""Build the notebooks in this folder from their cell lists, then execute and save them.

    python notebooks/_build.py            # write + execute every notebook (outputs saved)
    python notebooks/_build.py 02         # only those whose name contains "02"

Edit the cells in the modules beside this one, not in JupyterLab, so the notebooks stay
reproducible: ``_cells.py`` (the cell makers, the setup cell, the cells that open the case) and
one cell list per notebook (``_cells_getting_started.py``, ``_cells_postmortem.py``,
``_cells_hunting.py``, ``_cells_template.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_notebook

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the cell lists beside this file (also when a test loads it by path)
    sys.path.insert(0, str(HERE))

from _cells_getting_started import GETTING_STARTED  # noqa: E402
from _cells_hunting import HUNTING  # noqa: E402
from _cells_postmortem import POSTMORTEM  # noqa: E402
from _cells_template import TEMPLATE  # noqa: E402

KERNELSPEC = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
              "language_info": {"name": "python"}}

NOTEBOOKS = {
    "01-getting-started.ipynb": GETTING_STARTED,
    "02-deathstar-postmortem.ipynb": POSTMORTEM,
    "03-hunting.ipynb": HUNTING,
    "postmortem-template.ipynb": TEMPLATE,
}


def build(name: str, cells: list) -> Path:
    for i, c in enumerate(cells):  # stable ids: a rebuild changes only what changed
        c["id"] = f"{Path(name).stem[:20]}-{i:03d}"
    nb = new_notebook(cells=cells, metadata=KERNELSPEC)
    path = HERE / name
    nbformat.write(nb, str(path))
    return path


def execute(path: Path) -> None:
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()
    for c in nb.cells:  # no execution timing noise in the saved file
        c.get("metadata", {}).pop("execution", None)
    nbformat.write(nb, str(path))


if __name__ == "__main__":
    want = sys.argv[1:]
    for name, cells in NOTEBOOKS.items():
        if want and not any(w in name for w in want):
            continue
        p = build(name, cells)
        execute(p)
        print("built and executed", p.name)
