"""The case: one DuckDB file holding every event of an incident, and the queries on it."""

from __future__ import annotations

import functools
import os
import re
import threading
import weakref
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from kernelsec_nb import sources
from kernelsec_nb.correlate._api_methods import ApiMixin
from kernelsec_nb.correlate._case_methods import CorrelateMixin
from kernelsec_nb.correlate._http import HttpMixin
from kernelsec_nb.correlate._hunt_methods import HuntMixin
from kernelsec_nb.findings._case import FindingsMixin
from kernelsec_nb.store import _connection, _derived, _ids, _lines, _split, filters
from kernelsec_nb.store.load import discard, load_files
from kernelsec_nb.store.notes import NotesMixin
from kernelsec_nb.store.report import LoadReport

# The event model's tables, then the tables the sources add (each declared in its own module).
_SCHEMA_SQL = Path(__file__).with_name("schema.sql").read_text() + "".join(
    f"\n{t.ddl.strip().rstrip(';')};\n" for t in sources.tables())
# The events view: the model's tables, then the rows of the sources' own tables.
_EVENTS_VIEW_SQL = Path(__file__).with_name("events_view.sql").read_text().rstrip().rstrip(";") + "".join(
    f"\nUNION ALL\n{t.view.strip().rstrip(';')}" for t in sources.tables() if t.view) + ";\n"
_PROCESSES_QUERY = Path(__file__).with_name("processes.sql").read_text().split(" AS\n", 1)[1]
_EMPTY_PROCESSES = (  # the processes table's shape before anything is loaded
    "CREATE TABLE IF NOT EXISTS processes AS SELECT * FROM ("  # noqa: S608 - our own SQL file
    + _PROCESSES_QUERY.rstrip().rstrip(";")
    + ") WHERE false"
)

# One row per line: the k-th line of a run starts k line lengths after its first (the lines are
# byte-identical, line ends included); a row of a pretty-printed document stays one row.
_EXPANDED_QUARANTINE = """
SELECT file, line + k AS line,
       byte_offset + k * ((byte_end - byte_offset) // greatest(repeat_count, 1)) AS byte_offset,
       reason, raw, raw_bytes
FROM quarantine, LATERAL (SELECT unnest(range(greatest(repeat_count, 1))) AS k)
ORDER BY file, line
"""

TABLES = ("events", "processes", "process_events", "kprobes", "flows", "alerts", "other_events",
          *(t.name for t in sources.tables()), "files", "quarantine", "annotations", "saved_queries")

#: The tables the sources add (``Source.tables``): a case made before a source gains its table
#: when opened for writing (empty: its files were loaded before it), a read-only look sees it empty.
SOURCE_TABLES = tuple(t.name for t in sources.tables())

#: The team's tables (store/notes.py): a case made before them gains them when opened for writing
#: (they only add rows of their own), and a read-only look at such a case sees them empty.
TEAM_TABLES = ("annotations", "saved_queries")


class CaseError(Exception):
    """A problem with the case file itself (locked, not a case, missing)."""


class _Closed:
    """The connection of a closed case: any use says so in one line (not DuckDB's exception)."""

    def __init__(self, path: str) -> None:
        self._path = path

    def __getattr__(self, name: str) -> Any:
        raise CaseError(f"the case {self._path} is closed: kn.open_case({self._path!r}) opens it again")


class Case(CorrelateMixin, ApiMixin, HttpMixin, HuntMixin, FindingsMixin, NotesMixin):
    """An incident case: a single DuckDB file, no server.

    Create or open one with :func:`open_case`.  Query it with :meth:`events`, :meth:`sql` or
    any SQL client; every table is documented in the README.

    Examples
    --------
    >>> import kernelsec_nb as kn, tempfile, os
    >>> case = kn.open_case(os.path.join(tempfile.mkdtemp(), "incident.duckdb"))
    >>> case.sql("select count(*) as n from events")["n"][0]
    0
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, path: str, read_only: bool) -> None:
        self.con = con
        self.path = path
        self.read_only = read_only
        self._opens = 1  # open_case calls this object answers; closed by as many close() calls

    # -- loading ---------------------------------------------------------------------------
    def load(self, paths: str | Path | Iterable[str | Path], *, progress: bool = True,
             follow_links: bool = False) -> LoadReport:
        """Load export files, folders (recursive) or glob patterns; sources are detected per line.

        Each file loads atomically: its blocks are committed as they are read and its ``files`` row
        last; what an interrupted load left is removed.  ``processes`` (and the other tables derived
        from the events) are rebuilt at the end, and also when the load fails, for the files loaded
        before the failure (see the README's Reliability section).  Lines already in the case (same bytes) count as
        duplicates; a file whose content was loaded before adds nothing.  Bad lines go to the
        ``quarantine`` table with file, line and reason.  For every file
        ``lines == loaded + duplicates + quarantined + blank``.

        Only regular files are read.  In a folder, a FIFO, device, socket or symlink loop, and a
        link to a file or folder outside the folder unless ``follow_links=True``, is not read: it
        gets a ``skipped`` row of the report with the reason.  A FIFO or device named explicitly
        is an ``error`` row.
        """
        if self.read_only:
            raise CaseError(f"{self.path} is open read-only; open it without read_only to load")
        return load_files(self.con, paths, progress=progress, follow_links=follow_links)

    # -- querying --------------------------------------------------------------------------
    def sql(self, query: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pl.DataFrame:
        """Run SQL on the case and return a polars DataFrame.  Pass values as ``params``.

        ``binary`` may be written bare, as a column name (DuckDB takes it for the type keyword;
        it is quoted here, outside strings and comments).

        Examples
        --------
        >>> case = open_case()
        >>> case.sql("select binary, count(*) as n from processes where pod = ? group by 1", ["x"]).shape
        (0, 2)
        """
        rel = self.con.sql(_quote_keyword_columns(query), params=params or None)
        return pl.from_arrow(rel.to_arrow_table()) if rel is not None else pl.DataFrame()  # type: ignore[return-value]

    def _select(self, table: str, order: str = "time_ns", limit: int | None = None,
                **flt: Any) -> pl.DataFrame:
        cond, params = filters.where(table, **flt)
        lim = f" LIMIT {int(limit)}" if limit is not None else ""
        return self.sql(f"SELECT * FROM {table} WHERE {cond} ORDER BY {order}{lim}", params)  # noqa: S608

    def events(self, limit: int | None = None, **flt: Any) -> pl.DataFrame:
        """Events of every source in the common model, filtered (see :mod:`kernelsec_nb.store.filters`).

        Examples
        --------
        >>> case.events(namespace="default", since="2026-11-20T10:00Z")  # doctest: +SKIP
        """
        return self._select("events", "time_ns, event_id", limit, **flt)

    def files(self) -> pl.DataFrame:
        """The ``files`` table: what was loaded, with line accounting and sha256."""
        return self.sql("SELECT * FROM files ORDER BY path")

    def load_report(self) -> LoadReport:
        """The load report of the files the case holds, rebuilt from its tables: each file's line
        accounting as its load counted it (``files``), in load order, and the clock skew the last
        load found; on a lake, also each load run of its manifest with its accounting.

        What a load only said (files found already loaded, errors, skipped entries, its notes) is
        not kept: ``case.load`` returned it.  A case opened read-only, or a lake, shows its
        loads this way.

        Examples
        --------
        >>> case = open_case()
        >>> case.load_report().total("lines")
        0
        """
        from kernelsec_nb.store.report import held_report

        return held_report(self.con)

    def quarantine(self, *, expand: bool = False, limit: int | None = None) -> pl.DataFrame:
        """Lines that could not be loaded, with file, line, reason and raw text.

        By default the ``quarantine`` table as stored: a run of byte-identical consecutive lines
        is one row standing for ``repeat_count`` lines, ``line`` to ``line_end`` (a file of a
        million copies of one junk line is one row per block read, not a million).
        ``expand=True`` gives one row per quarantined line, with the table's first columns
        (``file``, ``line``, ``byte_offset``, ``reason``, ``raw``, ``raw_bytes``); ``limit`` caps
        the rows returned.

        Examples
        --------
        >>> case = open_case()
        >>> case.quarantine(expand=True).columns
        ['file', 'line', 'byte_offset', 'reason', 'raw', 'raw_bytes']
        """
        lim = f" LIMIT {int(limit)}" if limit is not None else ""
        if not expand:
            return self.sql(f"SELECT * FROM quarantine ORDER BY file, line{lim}")  # noqa: S608
        return self.sql(_EXPANDED_QUARANTINE + lim)

    def raw(self, event_id: str) -> str:
        """The exported JSON text of an event, read again from its file and line.

        The case stores a pointer (file, line, byte offset), not the text: the event model stays
        small and fast, and the evidence stays in the analyst's export files.  The text read back
        is checked against ``event_id`` (a hash of the line), so a moved or changed file
        gives a clear error instead of the wrong line.
        """
        row = self.con.execute(
            "SELECT e.file, e.line, e.byte_offset, f.format FROM events e JOIN files f ON f.path = e.file "
            "WHERE e.event_id = ?", [event_id]).fetchall()
        if not row:
            raise KeyError(f"no event {event_id!r} in this case")
        file, line, offset, fmt = row[0]
        path = Path(file)
        if not path.is_absolute() and self.path != ":memory:":  # a share bundle's: next to the case file
            path = Path(self.path).parent / path
        if not path.exists():
            raise CaseError(f"{file} (line {line}) is no longer there; the raw event cannot be read")
        text = _lines.read_record(path, int(offset), fmt == "json-documents")
        if _ids.event_id(text.rstrip(_lines.TRAILING_WS).encode()) != event_id:
            # one of the events of a line that holds several (a webhook batch)
            item = _split.find_item(text, event_id, sources.splitters())
            if item is None:
                raise CaseError(f"{file} changed since it was loaded: line {line} is not event {event_id}")
            return item
        return text

    def export(self, path: str | Path, format: str = "timesketch", **source: Any) -> dict[str, Any]:  # noqa: A002
        """Write the case for the tools next door: ``format`` is ``timesketch`` (JSONL),
        ``ecs`` (NDJSON for Elastic), ``csv`` or ``parquet`` (a folder, one file per table).

        What is written: ``table=`` (default ``events``), ``method=`` (a query method, e.g.
        ``"flows"`` with their processes) or ``query=`` (a saved query), filtered by the other
        keyword arguments (the query methods' filters, ``tag=`` too), with the team's tags.
        Returns what was written (``rows``, ``files`` …).  See :mod:`kernelsec_nb.export`.

        Examples
        --------
        >>> case.export("timeline.jsonl", "timesketch", namespace="default")  # doctest: +SKIP
        >>> case.export("flows.ndjson", "ecs", method="flows", verdict="DROPPED")  # doctest: +SKIP
        """
        from kernelsec_nb.export import export

        return export(self, path, format, **source)

    def share(self, out_dir: str | Path, *, pods: Sequence[str] | str | None = None, since: Any = None,
              until: Any = None, incident: int | None = None, redact: str | Path | None = "default") -> Any:
        """Write a redacted share bundle: a smaller case with only the selected rows and their raw lines.

        The rows of every event table on ``pods`` (prefixes, as the ``pod`` filter) between ``since``
        and ``until``, or of the postmortem's ``incident`` (1: the attacker's pod from 5 minutes before
        its entry process on), plus the exec/exit events of the processes they name and of their
        ancestors.  ``redact`` is ``"default"``, ``"none"`` or a YAML/JSON rules file.  ``out_dir``
        receives ``case.duckdb``, ``exports/`` (the redacted lines) and ``manifest.json`` (every
        replacement, never the secret; each line's original and bundle event_id).  See the README,
        "Sharing a redacted bundle".

        Examples
        --------
        >>> result = case.share("bundle/", pods=["tiefighter"], since="2024-05-14T08:20Z")  # doctest: +SKIP
        >>> kn.open_case("bundle/case.duckdb").raw(event_id)  # doctest: +SKIP
        """
        from kernelsec_nb.share import share

        return share(self, out_dir, pods=pods, since=since, until=until, incident=incident, redact=redact)

    def tables(self) -> pl.DataFrame:
        """Row counts of every table in the case."""
        parts = " UNION ALL ".join(
            f"SELECT {i} AS i, '{t}' AS table, count(*) AS rows FROM {t}" for i, t in enumerate(TABLES))  # noqa: S608
        return self.sql(f"SELECT \"table\", rows FROM ({parts}) ORDER BY i")  # noqa: S608

    def close(self) -> None:
        """Close the case; a case that :func:`open_case` returned again (the same file, in this
        process) closes when each of those opens is closed."""
        with _OPEN_LOCK:
            self._opens -= 1
            if self._opens > 0:
                return
            self._opens = 0
            key = _open_key(self.path, self.read_only)
            if _OPEN.get(key) is self:
                del _OPEN[key]
        if isinstance(self.con, _Closed):
            return
        self.con.close()
        self.con = _Closed(self.path)  # type: ignore[assignment]

    def __enter__(self) -> Case:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = ", read-only" if self.read_only else ""
        return f"<Case {self.path!r}{mode}>"


#: Column names of the case that DuckDB's grammar reads as keywords when written bare.
_KEYWORD_COLUMNS = frozenset({"binary"})


def _quote_keyword_columns(query: str) -> str:
    """``query`` with each bare keyword token of :data:`_KEYWORD_COLUMNS` double-quoted (a quoted
    ``"binary"`` still names the type where a type is meant: ``x::"binary"`` works).

    >>> print(_quote_keyword_columns("select binary, 'binary' from processes -- binary"))
    select "binary", 'binary' from processes -- binary
    """
    tokens = duckdb.tokenize(query)
    out, last = [], 0
    for i, (start, kind) in enumerate(tokens):
        if kind != duckdb.token_type.keyword:
            continue
        end = tokens[i + 1][0] if i + 1 < len(tokens) else len(query)
        word = query[start:end].rstrip()
        if word.lower() in _KEYWORD_COLUMNS:
            out += [query[last:start], f'"{word}"']
            last = start + len(word)
    return "".join(out) + query[last:]


def _refusal(target: str, exc: duckdb.Error) -> str:
    """One line on why DuckDB would not open the case file ``target``.

    The file itself is never opened here to look at it: closing any handle on a file drops the
    lock this process holds on it (POSIX locks are per process), so a case already open in this
    process would be left unlocked against others.
    """
    text = str(exc)
    if "not a valid DuckDB database file" in text:
        return (f"{target} is not a case file (not a DuckDB database): an export to load? "
                "Open a case with kn.open_case('incident.duckdb'), then case.load(...)")
    if "Unique file handle conflict" in text:
        return (f"{target} is already open for writing in this process: use that case object "
                "(or close() it first)")
    held = re.search(r"Conflicting lock is held in .*?\(PID (\d+)\)", text)
    if held:
        return (f"{target} is open in another process (PID {held.group(1)}): close the case there "
                "first (a case is read by several processes only when none writes to it)")
    return f"cannot open case {target}: {text}"


# tables only: a view a source declares (api_calls) is made again on every open for writing
_COLUMNS_SQL = ("SELECT table_name, list(column_name ORDER BY column_index) FROM duckdb_columns() "
                "WHERE database_name = current_database() AND table_name IN "
                "(SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()) GROUP BY 1")


@functools.cache
def _expected_columns() -> dict[str, list[str]]:
    """The columns of each table of schema.sql, as this version creates them."""
    with duckdb.connect() as con:
        con.execute(_SCHEMA_SQL)
        return dict(con.execute(_COLUMNS_SQL).fetchall())


def _outdated(con: duckdb.DuckDBPyConnection) -> str | None:
    """What makes the case file older than this version's schema, if anything (a table of
    schema.sql missing or lacking a column, or ``events`` stored as a table)."""
    if con.execute("SELECT 1 FROM duckdb_tables() WHERE database_name = current_database() "
                   "AND table_name = 'events'").fetchall():
        return "its events are a table, now a view"
    have = dict(con.execute(_COLUMNS_SQL).fetchall())
    if "files" in have:  # a case (not a new file): every table of the schema is there
        missing = [t for t in _expected_columns()
                   if t not in have and t not in _ADDED_ON_WRITE and t not in TEAM_TABLES and t not in SOURCE_TABLES]
        if missing:
            return f"it has no {', '.join(missing)} table"
    for table, columns in _expected_columns().items():
        missing = [c for c in columns if table in have and c not in have[table]]
        if missing:
            return f"its {table} table has no {', '.join(missing)}"
    missing = [c for c in _DERIVED_COLUMNS if "processes" in have and c not in have["processes"]]
    if missing:  # built by processes.sql of an older version (not rebuilt: its files are the same)
        return f"its processes table has no {', '.join(missing)}"
    return None


#: Columns of ``processes`` (built by processes.sql, not schema.sql) that older versions lacked.
_DERIVED_COLUMNS = ("exec_event_id", "source")


#: The cases open in this process, by file and mode: opened again, a case file is the same case.
#: (Weak: a case nothing refers to any more is closed by the garbage collector, as before.)
_OPEN: weakref.WeakValueDictionary[tuple[str, bool], Case] = weakref.WeakValueDictionary()
_OPEN_LOCK = threading.Lock()


def _open_key(target: str, read_only: bool) -> tuple[str, bool]:
    return os.path.realpath(target), read_only


def _already_open(target: str, read_only: bool) -> Case | None:
    """The case this process has open on ``target`` in that mode, counted as opened once more."""
    with _OPEN_LOCK:
        case = _OPEN.get(_open_key(target, read_only))
        if case is None:
            return None
        try:
            case.con.execute("SELECT 1").fetchall()
        except duckdb.ConnectionException:  # its connection was closed directly (case.con.close())
            del _OPEN[_open_key(target, read_only)]
            return None
        case._opens += 1
        return case


#: Bookkeeping tables a case made before them gets on its next open for writing (``case_state``:
#: its derived tables are then rebuilt once; a read-only open asks for that open first).
_ADDED_ON_WRITE = frozenset({"case_state"})

def _empty_team_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Empty temporary team tables on a read-only connection to a case made before them (the
    ``tag=`` filter and ``case.notes()`` then find nothing instead of failing)."""
    have = {r[0] for r in con.execute(_COLUMNS_SQL).fetchall()}
    for table in TEAM_TABLES:
        if table not in have:
            body = re.search(rf"CREATE TABLE IF NOT EXISTS {table} (\(.*?\n\));", _SCHEMA_SQL, re.S)
            assert body is not None
            con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} {body.group(1)}")
    for spec in sources.tables():  # a source's table, on a case made before that source
        if spec.name not in have:
            ddl = re.sub(r"^\s*CREATE TABLE IF NOT EXISTS", "CREATE TEMP TABLE IF NOT EXISTS", spec.ddl)
            con.execute(re.sub(r"CREATE OR REPLACE VIEW", "CREATE OR REPLACE TEMP VIEW", ddl))


#: An empty file with one of these suffixes becomes a new case; any other empty file is refused.
CASE_SUFFIXES = (".duckdb", ".db", ".ddb")


def open_case(path: str | Path = ":memory:", *, read_only: bool = False) -> Case:
    """Create or open a case file (one DuckDB file; no server).

    ``read_only=True`` lets a second process explore a case while nothing is writing to it; it
    refuses (one line saying how to repair) a case that a crash left unclean, which an open for
    writing repairs.  Opened again in this process, a case file gives the same :class:`Case`.

    ``path`` may also be a lake folder (:func:`kernelsec_nb.load_lake`): it is opened read-only,
    its tables views over its Parquet files (:mod:`kernelsec_nb.lake`).

    Examples
    --------
    >>> import kernelsec_nb as kn
    >>> case = kn.open_case()          # in memory, for a quick look
    >>> case.tables()["table"].to_list()[:3]
    ['events', 'processes', 'process_events']
    """
    target = str(path)
    if target != ":memory:" and Path(target).expanduser().is_dir():
        from kernelsec_nb.lake import is_lake, open_lake

        if not is_lake(Path(target).expanduser()):
            raise CaseError(f"{target} is a folder, neither a case file nor a lake (no _kernelsec_lake.json): "
                            "load exports with kn.open_case('incident.duckdb').load(folder)")
        return open_lake(target)  # read-only, whatever read_only says: a lake is written by load_lake
    if target != ":memory:":
        p = Path(target).expanduser()
        case = _already_open(str(p), read_only)
        if case is not None:  # a notebook cell run twice: the same case, still locked
            return case
        if read_only and not p.exists():
            raise CaseError(f"no case file at {p}")
        if not read_only:
            p.parent.mkdir(parents=True, exist_ok=True)
            if p.is_file() and not p.stat().st_size:
                if p.suffix.lower() not in CASE_SUFFIXES:  # a quiet node's empty export is evidence
                    raise CaseError(f"{p} is an empty file, not a case file: an export to load? Open a case "
                                    "with kn.open_case('incident.duckdb'), then case.load(...)")
                p.unlink()  # an empty incident.duckdb (e.g. from mktemp --suffix .duckdb) becomes a new case
        target = str(p)
    try:
        con = _connection.connect(target, read_only=read_only)
    except duckdb.Error as exc:
        raise CaseError(_refusal(target, exc)) from None
    try:
        con.execute("SET preserve_insertion_order = false")
        outdated = _outdated(con)
        if outdated:
            raise CaseError(f"{target} was made by an older kernelsec_nb ({outdated}): load the exports "
                            "into a new case file")
        if not read_only:
            # in one transaction: a crash while a case is made leaves an empty database, not half a case
            con.execute("BEGIN TRANSACTION")
            con.execute(_SCHEMA_SQL)
            con.execute(_EVENTS_VIEW_SQL)
            con.execute(_EMPTY_PROCESSES)
            con.execute("COMMIT")
            discard(con)  # rows of a load that a crash left unfinished (no ``files`` row)
            _derived.refresh(con)  # processes & co. of files a crash left committed but not derived
        elif target != ":memory:":
            if "files" not in dict(con.execute(_COLUMNS_SQL).fetchall()):
                raise CaseError(f"{target} holds no case yet (an empty DuckDB database: its making did not "
                                "finish?): open it once for writing to make it a case: kn.open_case(path)")
            _empty_team_tables(con)  # (before the check, which reads every event table)
            unclean = _derived.check(con, target)
            if unclean:
                raise CaseError(unclean)
    except (duckdb.Error, CaseError) as exc:
        con.close()
        raise exc if isinstance(exc, CaseError) else CaseError(_refusal(target, exc)) from None
    case = Case(con, target, read_only)
    if target != ":memory:":
        with _OPEN_LOCK:
            _OPEN[_open_key(target, read_only)] = case
    return case
