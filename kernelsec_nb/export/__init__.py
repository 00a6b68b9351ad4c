"""Exports of a case to the tools next door: Timesketch, Elastic (ECS), CSV, Parquet.

Each format is one small module that registers an :class:`Exporter` in :data:`EXPORTERS`
(``timesketch``, ``ecs``, ``csv``, ``parquet``); :func:`export` looks the format up there.  What
is written is a table of the case (default ``events``), a query method's result or a saved
query, filtered with the query methods' filters, with the team's tags (``case.tag``) of each row.
Writers stream from DuckDB (``COPY`` for CSV, Parquet and Timesketch, Arrow record batches for
ECS), so a large table never sits in memory whole.  The exported values are the bytes of the
case, as exported by the sensors (data files: nothing is made safe to print here).

Examples
--------
>>> import kernelsec_nb as kn, tempfile, os
>>> case = kn.open_case()
>>> out = export(case, os.path.join(tempfile.mkdtemp(), "t.jsonl"), "timesketch")
>>> out["rows"], sorted(EXPORTERS)
(0, ['csv', 'ecs', 'parquet', 'timesketch'])
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Exporter:
    """One export format: ``write(case, path, **source)`` returns what it wrote (a dict with
    ``format``, ``path``, ``rows``, ``files``, and ``without_time`` where rows were left out)."""

    name: str
    describe: str
    write: Callable[..., dict[str, Any]]
    folder: bool = False  # the path is a folder (one file per table)


#: The export formats by name.
EXPORTERS: dict[str, Exporter] = {}


def register(exporter: Exporter) -> Exporter:
    """Add ``exporter`` to :data:`EXPORTERS` (each format module calls it once)."""
    EXPORTERS[exporter.name] = exporter
    return exporter


def export(case: Any, path: str | Path, format: str = "timesketch", **source: Any) -> dict[str, Any]:  # noqa: A002
    """Write ``table=`` (default ``events``), ``method=`` or ``query=`` (a saved query) of ``case``,
    filtered by the other keyword arguments, to ``path`` in ``format``.

    Examples
    --------
    >>> export(case, "timeline.jsonl", "timesketch", namespace="default", tag="star")  # doctest: +SKIP
    """
    exporter = EXPORTERS.get(format)
    if exporter is None:
        raise ValueError(f"no export format {format!r}; one of {', '.join(sorted(EXPORTERS))}")
    target = Path(path).expanduser()
    if exporter.folder:
        if target.exists() and not target.is_dir():
            raise ValueError(f"{target} is a file; {format} writes a folder (one file per table)")
        target.mkdir(parents=True, exist_ok=True)
    else:
        if target.is_dir():
            raise ValueError(f"{target} is a folder; {format} writes one file")
        target.parent.mkdir(parents=True, exist_ok=True)
    with _quiet(case.con):
        return exporter.write(case, target, **source)


@contextlib.contextmanager
def _quiet(con: Any) -> Iterator[None]:
    """No DuckDB progress bar on stdout while an export runs (restored after)."""
    was = con.execute("SELECT current_setting('enable_progress_bar'), "
                      "current_setting('preserve_insertion_order')").fetchall()[0]
    con.execute("SET enable_progress_bar = false")
    con.execute("SET preserve_insertion_order = true")
    try:
        yield
    finally:
        con.execute(f"SET enable_progress_bar = {'true' if was[0] else 'false'}")
        con.execute(f"SET preserve_insertion_order = {'true' if was[1] else 'false'}")


from kernelsec_nb.export import csv, ecs, parquet, timesketch  # noqa: E402,F401  (they register)

__all__ = ["EXPORTERS", "Exporter", "export", "register"]
