"""Postmortem reports: run a notebook against a case and write one standalone, safe HTML file.

:func:`render` executes a postmortem notebook (papermill, parameters ``case_path`` and
``exports``) and assembles the executed outputs into one HTML file with no JavaScript: charts
are static SVG images, tables and text from the data are escaped, and a manifest lists the
input files (name, sha256, lines) and the versions used.  :func:`demo` does it for the bundled
capture.  The findings the template shows are ``case.findings()``
(:mod:`kernelsec_nb.findings`); :func:`show` is how it prints and displays: every text through :func:`kernelsec_nb.shown`, every table through :func:`tidy` (one time
format, ISO-8601 UTC with milliseconds: :func:`time_text`; no quotes, no ``null``, rounded
numbers), an empty one as "none found", a long text folded (:func:`fold`).

Examples
--------
>>> from kernelsec_nb import report
>>> sorted(report.NOTEBOOKS)[:1]
['postmortem']
"""

from __future__ import annotations

from kernelsec_nb.report import render as render_module
from kernelsec_nb.report._show import show
from kernelsec_nb.report._table import Table, fold, tidy, time_text, use_tables
from kernelsec_nb.report.render import (
    NOTEBOOKS,
    bundled_capture,
    demo,
    find_notebook,
    main_job,
    render,
)

__all__ = ["render_module", "NOTEBOOKS", "Table", "bundled_capture", "demo", "find_notebook", "fold", "main_job", "render",
           "show", "tidy", "time_text", "use_tables"]
