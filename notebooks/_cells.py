"""The pieces every notebook's cells are made of: markdown and code cells, the setup cell, and
the cells that open the case (the bundled capture, or a case file or lake given as a parameter).

Used by ``_build.py`` and the cell lists beside it (``_cells_*.py``); edit cells there.
"""

from __future__ import annotations

from nbformat.v4 import new_code_cell, new_markdown_cell


def md(text: str) -> dict:
    return new_markdown_cell(text.strip("\n"))


def code(text: str, *tags: str) -> dict:
    c = new_code_cell(text.strip("\n"))
    if tags:
        c.metadata["tags"] = list(tags)
    return c


SETUP = '''
import json, os, shutil
from pathlib import Path
import altair as alt
import polars as pl
import kernelsec_nb as kn

alt.renderers.enable("svg")          # static charts: the saved notebook shows them everywhere
kn.report.use_tables()               # tables as a report shows them: no quotes, no null, one time format
_ = (pl.Config.set_tbl_rows(25), pl.Config.set_fmt_str_lengths(80), pl.Config.set_tbl_cols(14))
'''


#: The parameters cell of a notebook on the bundled capture (papermill's ``parameters`` tag): the
#: same notebook runs on a fresh case it loads, on a case file or on a lake (``kn.load_lake``).
PARAMETERS = ("case_path = None   # a case file or a lake holding the bundled capture (read-only); "
              "None: a fresh case in .cases/ loaded from it")


def parameters() -> dict:
    return code(PARAMETERS, "parameters")


def open_bundled(name: str) -> str:
    return f'''
CAPTURE = Path("../data/deathstar")
if case_path is None:                  # a clean case on every run, the capture loaded into it
    Path(".cases").mkdir(exist_ok=True)
    case_path = Path(".cases") / "{name}.duckdb"
    for stale in (case_path, Path(str(case_path) + ".wal")):
        stale.unlink(missing_ok=True)
    case = kn.open_case(case_path)
    load = case.load(CAPTURE, progress=False)
else:                                  # a case file or a lake: read it, and what its loads counted
    case = kn.open_case(case_path, read_only=True)
    load = case.load_report()
'''
