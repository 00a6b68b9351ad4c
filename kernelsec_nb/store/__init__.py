"""The case store: a DuckDB file with the event model, load accounting and quarantine."""

from kernelsec_nb.store._discover import LoadPathError
from kernelsec_nb.store.case import Case, CaseError, open_case
from kernelsec_nb.store.report import FileResult, LoadReport

__all__ = ["Case", "CaseError", "FileResult", "LoadPathError", "LoadReport", "open_case"]
