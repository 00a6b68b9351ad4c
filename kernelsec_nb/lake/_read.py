"""Open a lake as a read-only :class:`~kernelsec_nb.Case`: one DuckDB view per table.

Each table is a view over its Parquet files (``read_parquet``, ``hive_partitioning``), so a
filter on ``node`` (or on anything of ``node`` alone) reads the files of that node only, and
every :class:`~kernelsec_nb.Case` method, widget, ``findings`` and the report run on it as on
a case file.  The view reads the files of the manifest's runs (:func:`~._layout.live_runs`);
the rows of the default node partition (NULL, empty or over-long node names) take ``node``
from the file, where it is exact.

A lake is read-only: the team's tags, notes and saved queries are kept in a case file (they are
refused here with a one-line message), and ``case.load`` says to use :func:`~kernelsec_nb.load_lake`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any

import duckdb

from kernelsec_nb import sources
from kernelsec_nb.lake import _layout
from kernelsec_nb.store import filters
from kernelsec_nb.store.case import _EVENTS_VIEW_SQL, Case, CaseError
from kernelsec_nb.store.report import LoadReport

_GLOB_CHARS = frozenset("*?[]{}")


def _literal(text: str) -> str:
    """``text`` as a SQL string literal (for paths in a view's definition, which takes no
    parameters)."""
    return "'" + text.replace("'", "''") + "'"


def _files(root: Path, table: str) -> list[Path]:
    """The Parquet files under the table's folder (partitioned: two folder levels down)."""
    base = root / table
    if not base.is_dir():
        return []
    if table not in _layout.PARTITIONED:
        return sorted(p for p in base.iterdir() if p.suffix == ".parquet" and p.is_file())
    return sorted(p for p in base.glob("*/*/*.parquet") if p.is_file())


def _columns(manifest: dict[str, Any], table: str) -> list[tuple[str, str]]:
    cols = manifest["tables"].get(table, {}).get("columns")
    return [(c, k) for c, k in cols] if cols else _layout.schema()[table]


#: The table of the files a lake's views read, each with a number (the keyed views' ``rowid``).
FILES_TABLE = "_kn_lake_files"
#: Tables the flow attribution needs a stable integer ``rowid`` of (see CorrelateMixin._ROWS_SQL).
KEYED = ("flows", "kprobes", "http_requests")


def _select(columns: list[tuple[str, str]], source: str, where: str = "", keyed: bool = False) -> str:
    cols = ", ".join(f'CAST(r."{c}" AS {k}) AS "{c}"' for c, k in columns)
    if not keyed:
        return f"SELECT {cols} FROM {source} AS r{where}"  # noqa: S608 - our columns and quoted paths
    # file number and row number in the file: stable whatever a query's filters prune
    return (f"SELECT {cols}, lf.idx * 4294967296 + r.file_row_number AS rowid "  # noqa: S608
            f"FROM {source} AS r JOIN {FILES_TABLE} AS lf ON lf.path = r.filename{where}")


def _read(paths: list[str], hive: bool, keyed: bool = False) -> str:
    listed = _literal(paths[0]) if len(paths) == 1 else "[" + ", ".join(_literal(p) for p in paths) + "]"
    extra = ", filename = true, file_row_number = true" if keyed else ""
    if not hive:
        return f"read_parquet({listed}, hive_partitioning = false{extra})"
    types = ", ".join(f"'{k}': '{v}'" for k, v in _layout.PARTITION_TYPES.items())
    return f"read_parquet({listed}, hive_partitioning = true, hive_types = {{{types}}}{extra})"


def table_sql(root: Path, manifest: dict[str, Any], table: str, keyed: bool = False,
              days: tuple[dt.date | None, dt.date | None] | None = None,
              found: list[Path] | None = None) -> tuple[str, list[Path]]:
    """The SELECT that reads ``table`` of the lake at ``root``, and the files it reads.

    Files of runs that are not live (a write not finished) are left out: the table is then read
    from the list of its files rather than a glob.  ``keyed``: with a ``rowid`` column, from the
    numbers of the files in :data:`FILES_TABLE`.  ``days``: only the partitions of those days
    (first, last; None: open), for a query with a time range (the rows without a time are in
    none).  ``found``: the table's files on disk, listed before.
    """
    columns = _columns(manifest, table)
    live = set(_layout.live_runs(manifest, table))
    found = _files(root, table) if found is None else found
    files = [p for p in found if _layout.run_of(p.name) in live]
    exact = len(files) == len(found) and not (_GLOB_CHARS & set(str(root)))
    if not files:
        nulls = ", ".join([*(f'NULL::{k} AS "{c}"' for c, k in columns), *(["NULL::BIGINT AS rowid"] if keyed else [])])
        return f"SELECT {nulls} WHERE false", []  # noqa: S608 - our columns
    if table not in _layout.PARTITIONED:
        paths = [str(root / table / "*.parquet")] if exact else [str(p) for p in files]
        return _select(columns, _read(paths, hive=False, keyed=keyed), keyed=keyed), files
    default = f"node={_layout.DEFAULT_PARTITION}"
    named = [p for p in files if p.parent.parent.name != default]
    unnamed = [p for p in files if p.parent.parent.name == default]
    parts = []
    if named:
        paths = [str(root / table / "*" / "*" / "*.parquet")] if exact else [str(p) for p in named]
        # the default partition's files match the glob too: left out by their NULL node
        where = " WHERE r.node IS NOT NULL" + "".join(
            f" AND r.day {op} DATE '{d.isoformat()}'" for op, d in zip((">=", "<="), days or (), strict=False) if d)
        parts.append(_select(columns, _read(paths, hive=True, keyed=keyed), where, keyed))
    if unnamed:
        paths = [str(root / table / default / "*" / "*.parquet")] if exact else [str(p) for p in unnamed]
        parts.append(_select(columns, _read(paths, hive=False, keyed=keyed), keyed=keyed))
    return "\nUNION ALL\n".join(parts), files


def create_views(con: duckdb.DuckDBPyConnection, root: Path, manifest: dict[str, Any],
                 schema: str | None = None) -> dict[str, list[Path]]:
    """Create a view per lake table (and ``events``) on ``con``, in ``schema`` if given; the
    files each one reads."""
    prefix = f'"{schema}".' if schema else ""
    read: dict[str, list[Path]] = {}  # the files each view reads (the live ones)
    for table in _layout.TABLES:
        sql, read[table] = table_sql(root, manifest, table)
        con.execute(f'CREATE OR REPLACE VIEW {prefix}"{table}" AS {sql}')
    if schema is not None:
        return read
    for spec in sources.tables():  # the views a source declares over its tables (api_calls)
        for view in re.findall(r"CREATE OR REPLACE VIEW .*?(?=;\s*(?:CREATE|$))", spec.ddl.strip().rstrip(";") + ";", re.S):
            con.execute(view)
    con.execute(_EVENTS_VIEW_SQL)
    paths = [str(p) for t in KEYED for p in read[t]]
    con.execute(f"CREATE TABLE {FILES_TABLE} AS SELECT unnest(?::VARCHAR[]) AS path, "
                "unnest(range(?::BIGINT)) AS idx", [paths, len(paths)])
    for table in KEYED:
        sql, _ = table_sql(root, manifest, table, keyed=True)
        con.execute(f'CREATE OR REPLACE VIEW "_{table}_rows" AS {sql}')
    return read


class LakeCase(Case):
    """A lake opened with :func:`kernelsec_nb.open_case`: a read-only case over Parquet files."""

    _ROWS_SQL = {"{flows_rows}": "_flows_rows", "{kprobes_rows}": "_kprobes_rows",
                 "{http_requests_rows}": "_http_requests_rows", "{http_requests_star}": "r.* EXCLUDE (rowid)",
                 "{flows_star}": "f.* EXCLUDE (rowid)"}

    _lake: tuple[Path, dict[str, Any], dict[str, list[Path]]]  # root, manifest, files of each table

    def _select(self, table: str, order: str = "time_ns", limit: int | None = None,
                **flt: Any) -> Any:
        """As :meth:`Case._select`; ``events`` with a time range reads the partitions of its days
        only (a view cannot: ``day`` is not one of its columns)."""
        days = _days(flt)
        if table != "events" or days is None:
            return super()._select(table, order, limit, **flt)
        root, manifest, found = self._lake
        tables = [t for t, col in _layout.PARTITIONED.items() if col == "time_ns"]
        ctes = ",\n".join(f'"{t}" AS ({table_sql(root, manifest, t, days=days, found=found[t])[0]})' for t in tables)
        events = _EVENTS_VIEW_SQL.split(" AS\n", 1)[1].rstrip().rstrip(";")
        cond, params = filters.where(table, **flt)
        lim = f" LIMIT {int(limit)}" if limit is not None else ""
        return self.sql(f"WITH {ctes},\nevents AS ({events})\n"  # noqa: S608 - our SQL; values are parameters
                        f"SELECT * FROM events WHERE {cond} ORDER BY {order}{lim}", params)

    def load_report(self) -> LoadReport:
        """As :meth:`Case.load_report`, with one note per load run of the manifest (in order): who
        wrote it, when, and its accounting (``lines = loaded + duplicates + quarantined + blank``,
        as ``load_lake`` or ``spark-load`` reported it; a file read again by a later run counts
        there as already loaded)."""
        report = super().load_report()
        runs = self._lake[1].get("runs", [])
        report.notes.append(f"a lake of {len(runs)} load run{'s' if len(runs) != 1 else ''} (its manifest, "
                            f"{_layout.MANIFEST}); the files above are those it holds now")
        report.notes.extend(run_text(r) for r in runs)
        return report

    def _writable(self, what: str) -> None:
        raise CaseError(f"{self.path} is a lake, read-only: to {what}, keep the team's notes in a case file "
                        "(kernelsec-nb load incident.duckdb <exports>)")

    def load(self, paths: Any, **kw: Any) -> Any:  # noqa: D102 - see Case.load
        raise CaseError(f"{self.path} is a lake, opened read-only: add exports with "
                        f"kn.load_lake({str(self.path)!r}, paths) or `kernelsec-nb load --lake`")

    def __repr__(self) -> str:
        return f"<Case {self.path!r}, lake, read-only>"


def run_text(run: dict[str, Any]) -> str:
    """One line for a load run of the manifest: its id, writer, end and accounting.

    >>> run_text({"id": "r1", "written_by": "kernelsec_nb 0.1", "finished": "2026-12-07T13:38:47+00:00",
    ...           "files": 2, "lines": 5, "loaded": 3, "duplicates": 1, "quarantined": 1, "blank": 0})
    'run r1 (kernelsec_nb 0.1, finished 2026-12-07T13:38:47+00:00): 2 files, 5 lines = 3 loaded + 1 duplicates + 1 quarantined + 0 blank'
    """
    counts = {k: int(run.get(k) or 0) for k in ("files", "lines", "loaded", "duplicates", "quarantined", "blank")}
    return (f"run {run.get('id')} ({run.get('written_by')}, finished {run.get('finished')}): "
            f"{counts['files']} files, {counts['lines']} lines = {counts['loaded']} loaded + "
            f"{counts['duplicates']} duplicates + {counts['quarantined']} quarantined + {counts['blank']} blank")


_TEAM_SQL = Path(__file__).resolve().parent.parent / "store" / "schema.sql"


def open_lake(path: str | os.PathLike[str]) -> LakeCase:
    """Open the lake at ``path`` read-only (see :func:`kernelsec_nb.open_case`).

    Examples
    --------
    >>> import kernelsec_nb as kn, tempfile, os
    >>> lake = os.path.join(tempfile.mkdtemp(), "lake")
    >>> _ = kn.load_lake(lake, [], progress=False)
    >>> kn.open_case(lake).sql("select count(*) as n from events")["n"][0]
    0
    """
    root = Path(path).expanduser().absolute()
    try:
        manifest = _layout.read_manifest(root)
    except _layout.LakeError as exc:
        raise CaseError(str(exc)) from None
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET preserve_insertion_order = false")
        found = create_views(con, root, manifest)
        _team_tables(con)
    except duckdb.Error as exc:
        con.close()
        raise CaseError(f"cannot read the lake {root}: {str(exc).splitlines()[0]}") from None
    case = LakeCase(con, str(root), read_only=True)
    case._lake = (root, manifest, found)
    return case


def _days(flt: dict[str, Any]) -> tuple[dt.date | None, dt.date | None] | None:
    """The first and last UTC day a query's ``since``/``until``/``around`` allow, None without any."""
    if flt.get("around") is not None:
        pivot = filters.to_ns(flt["around"])
        half = filters.to_duration_ns(flt.get("window", "5m")) // 2
        since, until = flt.get("since", pivot - half), flt.get("until", pivot + half)
    else:
        since, until = flt.get("since"), flt.get("until")
    if since is None and until is None:
        return None
    return (None if since is None else _layout.day_of(filters.to_ns(since)),
            None if until is None else _layout.day_of(filters.to_ns(until)))


def _team_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Empty team tables (a lake keeps no notes): ``case.notes()`` and ``tag=`` find nothing."""
    import re

    from kernelsec_nb.store.case import TEAM_TABLES

    text = _TEAM_SQL.read_text()
    for table in TEAM_TABLES:
        body = re.search(rf"CREATE TABLE IF NOT EXISTS {table} (\(.*?\n\));", text, re.S)
        assert body is not None
        con.execute(f"CREATE TABLE {table} {body.group(1)}")  # in memory: the lake is not touched
