"""kernelsec_nb: Kubernetes runtime-security forensics in Jupyter.

Load Cilium Tetragon events, Hubble flows and Falco alerts into one DuckDB case, correlate them
with polars, and look at them with altair and ipywidgets.

Examples
--------
>>> import kernelsec_nb as kn
>>> case = kn.open_case()                       # or kn.open_case("incident.duckdb")
>>> report = case.load([], progress=False)      # files, folders, globs
>>> report.total("lines")
0

A lake (a folder of Parquet files, see the README) is built with ``kn.load_lake(folder, exports)``
and opened, read-only, with ``kn.open_case(folder)``.
"""

from __future__ import annotations

from kernelsec_nb._text import shown
from kernelsec_nb.findings._records import Findings
from kernelsec_nb.store import Case, CaseError, LoadPathError, LoadReport, open_case

__version__ = "0.1.0"

__all__ = ["Case", "CaseError", "Findings", "LoadPathError", "LoadReport", "load_lake", "open_case", "shown", "correlate", "hunt", "export",
           "viz", "widgets", "__version__"]

_LAZY = {"viz", "widgets", "correlate", "hunt", "export", "report", "synth", "findings", "lake"}


def __getattr__(name: str):  # light import: altair and ipywidgets load on first use
    if name == "load_lake":
        from kernelsec_nb.lake import load_lake

        return load_lake
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"kernelsec_nb.{name}")
    raise AttributeError(f"module 'kernelsec_nb' has no attribute {name!r}")
