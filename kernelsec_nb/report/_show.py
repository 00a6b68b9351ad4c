"""What a report notebook prints and displays, with attacker text shown, not obeyed."""

from __future__ import annotations

from kernelsec_nb._text import shown


def show(value: object) -> None:
    """Print a string, or display a table, dict or chart, through :func:`kernelsec_nb.shown`.

    Every text a postmortem notebook prints goes through here: pod and node names, command lines,
    HTTP paths and labels come from the attacker, and printed raw a ``\\r`` erases the label before
    it in JupyterLab, an ANSI sequence colours or clears the output and U+202E reverses what
    follows.  A polars DataFrame is displayed with every string column shown (the case's tables
    keep the exported bytes); an altair chart of :mod:`kernelsec_nb.viz` already shows its text.

    Examples
    --------
    >>> show("pod: web\\r\\x1b[2Jevil")
    pod: web␍␛[2Jevil
    """
    if isinstance(value, str):
        print(shown(value))
        return
    from IPython.display import display

    display(shown(value))
