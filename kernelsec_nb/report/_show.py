"""What a report notebook prints and displays, with attacker text shown, not obeyed."""

from __future__ import annotations

from typing import Any

import polars as pl

from kernelsec_nb._text import shown
from kernelsec_nb.report._table import FOLD_LINES, NONE_FOUND, Folded, Table


def show(value: object, *, title: str | None = None) -> None:
    """Print a string, or display a table, dict or chart, through :func:`kernelsec_nb.shown`.

    Every text a postmortem notebook prints goes through here: pod and node names, command lines,
    HTTP paths and labels come from the attacker, and printed raw a ``\\r`` erases the label before
    it in JupyterLab, an ANSI sequence colours or clears the output and U+202E reverses what
    follows.  A polars DataFrame is displayed as a :class:`~kernelsec_nb.report._table.Table`
    (one time format, ISO-8601 UTC with milliseconds; no quotes, empty cells for missing values,
    rounded numbers; every string shown), or as ``none found`` when it has no rows (the case's
    tables keep the exported bytes).  A text longer than 15 lines is folded (its first lines,
    then ``… N more lines``; in HTML the whole text in a collapsed ``<details>``, titled
    ``title`` when given).  An altair chart of :mod:`kernelsec_nb.viz` already shows its text.

    Examples
    --------
    >>> show("pod: web\\r\\x1b[2Jevil")
    pod: web␍␛[2Jevil
    >>> show(pl.DataFrame({"pod": []}, schema={"pod": pl.String}))
    none found
    """
    if isinstance(value, pl.DataFrame) and value.height == 0:
        print(NONE_FOUND)
        return
    if isinstance(value, str) and (title or len(value.splitlines()) <= FOLD_LINES):
        if not title:
            print(shown(value))
            return
    from IPython.display import display

    item: Any
    if isinstance(value, str):
        item = Folded(value, title=title)
    elif isinstance(value, pl.DataFrame):
        item = Table(value)
    else:
        item = shown(value)
    display(item)
