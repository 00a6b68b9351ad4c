"""Build or extend a lake on this machine: the normal loader, then each table as Parquet.

A run loads the exports into a temporary case file inside the lake's folder (``.work-*``; on
disk, so memory stays bounded as in ``case.load``), holding what the lake already has, so that
duplicates, the merge of processes by ``exec_id`` and the accounting are those of one case.
Then each table is written with DuckDB's ``COPY ... (FORMAT parquet, PARTITION_BY ...)`` into a
staging folder, whose files are moved into the lake's layout (:mod:`~kernelsec_nb.lake._layout`),
and the run is committed by adding it to the manifest, last.

What a later load can change decides how a table is written:

* the event tables ``process_events``, ``kprobes``, ``flows``, ``other_events`` only gain rows:
  a run writes the rows of the files it loaded (new files, or files that grew), nothing else;
* ``processes`` (merged by exec_id), ``alerts`` (their Kubernetes fields come from the Tetragon
  processes of their container, which may come later), ``files``, ``quarantine`` (a file that
  grew is read again), ``clock_offsets`` and ``case_state`` are written whole, and the run
  becomes their ``base_run``.

Appending therefore reads the lake into the temporary case first: its cost grows with the lake
(the Spark ingest is the way for a fleet).  One writer at a time (a lock file in the lake).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import duckdb

from kernelsec_nb.lake import _layout
from kernelsec_nb.lake._read import create_views, table_sql
from kernelsec_nb.store._discover import discover
from kernelsec_nb.store.case import CaseError, open_case
from kernelsec_nb.store.report import LoadReport

#: Tables a load only adds rows to (the rows of the files it reads).
APPEND_ONLY = ("process_events", "kprobes", "flows", "other_events")
_LOCK = ".kernelsec-lake.lock"
#: DuckDB's memory budget while the tables are written.
WRITE_MEMORY_LIMIT = "512MB"


def _version() -> str:
    from kernelsec_nb import __version__

    return f"kernelsec_nb {__version__}"


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    with open(root / _LOCK, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise _layout.LakeError(f"{root} is being written by another load; wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _prepare(root: Path) -> dict[str, Any]:
    """The lake's manifest, a new lake's if ``root`` is new or an empty folder."""
    if root.exists() and not root.is_dir():
        raise _layout.LakeError(f"{root} is a file, not a lake folder")
    if _layout.is_lake(root):
        return _layout.read_manifest(root)
    if root.is_dir() and any(p.name != _LOCK for p in root.iterdir()):
        raise _layout.LakeError(f"{root} is a folder with other files, not a lake: give a new or empty folder")
    return _layout.new_manifest(_version())


def _tidy(root: Path, manifest: dict[str, Any]) -> None:
    """Remove what a stopped write left: work folders, files of runs never committed, and files
    of runs a later run made obsolete (they are not read; removed only under the lock)."""
    for p in root.glob(".work-*"):
        shutil.rmtree(p, ignore_errors=True)
    for table in _layout.TABLES:
        live = set(_layout.live_runs(manifest, table))
        base = root / table
        if not base.is_dir():
            continue
        pattern = "*/*/*.parquet" if table in _layout.PARTITIONED else "*.parquet"
        for p in base.glob(pattern):
            if _layout.run_of(p.name) not in live:
                p.unlink()


def load_lake(lake: str | os.PathLike[str], paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *,
              progress: bool = True, follow_links: bool = False) -> LoadReport:
    """Load export files, folders or globs into the Parquet lake at ``lake`` (made if new).

    Same loading as :meth:`kernelsec_nb.Case.load` (its report, its accounting per file): a lake
    built in several runs has the same tables as one built in one run.  Open the lake with
    :func:`kernelsec_nb.open_case`; any Parquet reader reads it (see the README, "The lake").

    Examples
    --------
    >>> import kernelsec_nb as kn, tempfile, os
    >>> lake = os.path.join(tempfile.mkdtemp(), "lake")
    >>> kn.load_lake(lake, [], progress=False).total("lines")
    0
    >>> sorted(os.listdir(lake))[:4]  # the manifest, a folder per table (and the writers' lock)
    ['.kernelsec-lake.lock', '_kernelsec_lake.json', 'alerts', 'audit_events']
    """
    root = Path(lake).expanduser().absolute()
    _prepare(root)  # a file, or a folder of other files, is refused before anything is made
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    try:
        return _load_locked(root, paths, progress, follow_links)
    except BaseException:
        if created and not _layout.is_lake(root):  # a typo in a path leaves no empty lake behind
            shutil.rmtree(root, ignore_errors=True)
        raise


def _load_locked(root: Path, paths: Any, progress: bool, follow_links: bool) -> LoadReport:
    with _locked(root):
        manifest = _prepare(root)  # again, under the lock
        _tidy(root, manifest)
        run = _layout.new_run_id()
        started = dt.datetime.now(dt.UTC)
        work = Path(tempfile.mkdtemp(prefix=".work-", dir=root))
        try:
            report, written = _run(root, manifest, run, work, paths, progress, follow_links)
            runs = manifest.setdefault("runs", [])
            runs.append({"id": run, "written_by": _version(), "started": started.isoformat(),
                         "finished": dt.datetime.now(dt.UTC).isoformat(),
                         **{k: report.total(k) for k in ("lines", "loaded", "duplicates", "quarantined", "blank")},
                         "files": sum(1 for f in report.files if f.status in ("loaded", "damaged")),
                         "rows": written})
            for table in _layout.TABLES:
                if table not in APPEND_ONLY:
                    manifest["tables"][table]["base_run"] = run
            _layout.write_manifest(root, manifest)  # the commit
            _tidy(root, manifest)  # the parts the rewritten tables had before
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return report


def _run(root: Path, manifest: dict[str, Any], run: str, work: Path, paths: Any, progress: bool,
         follow_links: bool) -> tuple[LoadReport, dict[str, int]]:
    case = open_case(work / "case.duckdb")
    try:
        con = case.con
        if manifest.get("runs"):
            _import(con, root, manifest)
        before = dict(con.execute("SELECT path, sha256 FROM files").fetchall())
        # rows of a file loaded before that grew since: its new lines are the new rows
        again = [str(p) for p in discover(paths, follow_links=follow_links).files if str(p) in before]
        con.execute("CREATE TEMP TABLE _kn_old_ids (event_id VARCHAR)")
        for table in APPEND_ONLY:
            con.execute(f"INSERT INTO _kn_old_ids SELECT event_id FROM {table} "  # noqa: S608 - our names
                        "WHERE file IN (SELECT unnest(?::VARCHAR[]))", [again])
        report = case.load(paths, progress=progress, follow_links=follow_links)
        after = con.execute("SELECT path, sha256 FROM files").fetchall()
        changed = [p for p, sha in after if before.get(p) != sha]
        con.execute("CREATE TEMP TABLE _kn_changed AS SELECT unnest(?::VARCHAR[]) AS path", [changed])
        con.execute(f"SET memory_limit = '{WRITE_MEMORY_LIMIT}'")
        had = {t: bool(table_sql(root, manifest, t)[1]) for t in APPEND_ONLY}
        written = {t: _write_table(con, t, work / "out", had.get(t, False)) for t in _layout.TABLES}
        con.execute("RESET memory_limit")
    finally:
        case.close()
    _move_into(root, work / "out", run)
    return report, written


def _import(con: duckdb.DuckDBPyConnection, root: Path, manifest: dict[str, Any]) -> None:
    """Copy what the lake holds into the (new) working case."""
    con.execute(f"SET memory_limit = '{WRITE_MEMORY_LIMIT}'")  # streamed into the file: bounded
    con.execute("CREATE SCHEMA lake")
    create_views(con, root, manifest, schema="lake")
    con.execute("BEGIN TRANSACTION")
    for table in _layout.TABLES:
        con.execute(f"DELETE FROM {table}")  # noqa: S608 - the new case's own bookkeeping (case_state)
        con.execute(f"INSERT INTO {table} SELECT * FROM lake.{table}")  # noqa: S608
    con.execute("COMMIT")
    con.execute("DROP SCHEMA lake CASCADE")
    con.execute("RESET memory_limit")


def _write_table(con: duckdb.DuckDBPyConnection, table: str, out: Path, had_files: bool) -> int:
    """COPY the table's rows this run writes into ``out/<table>``; the number of rows.

    A table gets one file even without rows (in the default partitions), unless the lake had
    files of it already that stay: every reader then finds the table and its schema."""
    cols = ", ".join(f'"{c}"' for c, _ in _layout.schema()[table])
    where = (" WHERE file IN (SELECT path FROM _kn_changed) AND event_id NOT IN (SELECT event_id FROM _kn_old_ids)"
             if table in APPEND_ONLY else "")
    rows = con.execute(f"SELECT count(*) FROM {table}{where}").fetchall()[0][0]  # noqa: S608
    dest = out / table
    dest.mkdir(parents=True)
    if table in _layout.PARTITIONED:
        if not rows:
            if not had_files:
                empty = dest / f"_k={_layout.DEFAULT_PARTITION}" / f"_d={_layout.DEFAULT_PARTITION}"
                empty.mkdir(parents=True)
                con.execute(f"COPY (SELECT {cols} FROM {table} WHERE false) TO "  # noqa: S608
                            f"{_literal(str(empty / 'p0.parquet'))} (FORMAT parquet, COMPRESSION zstd)")
            return 0
        day = _layout.day_sql(_layout.PARTITIONED[table])
        query = f"SELECT {cols}, {_layout.NODE_SQL} AS _k, {day} AS _d FROM {table}{where}"  # noqa: S608
        con.execute(f"COPY ({query}) TO {_literal(str(dest))} (FORMAT parquet, COMPRESSION zstd, "
                    "PARTITION_BY (_k, _d), FILENAME_PATTERN 'p{i}')")
    else:  # one file, even empty: the table's schema is in it
        con.execute(f"COPY (SELECT {cols} FROM {table}) TO {_literal(str(dest / 'p0.parquet'))} "  # noqa: S608
                    "(FORMAT parquet, COMPRESSION zstd)")
    return int(rows)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _decode_duckdb(text: str) -> str | None:
    """A partition value as DuckDB's ``PARTITION_BY`` wrote it in a folder name (``%XX`` of UTF-8)."""
    return None if text == _layout.DEFAULT_PARTITION else unquote(text, encoding="utf-8", errors="strict")


def _move_into(root: Path, out: Path, run: str) -> None:
    """Move the staged files into the lake's layout, named as parts of ``run``."""
    for table in _layout.TABLES:
        staged = out / table
        if table not in _layout.PARTITIONED:
            dest = root / table
            dest.mkdir(exist_ok=True)
            for n, p in enumerate(sorted(staged.glob("*.parquet"))):
                os.replace(p, dest / _layout.part_name(run, n))
            continue
        n = 0
        for p in sorted(staged.glob("_k=*/_d=*/*.parquet")):
            key = _decode_duckdb(p.parent.parent.name.removeprefix("_k="))
            day_text = _decode_duckdb(p.parent.name.removeprefix("_d="))
            day = None if day_text is None else dt.date.fromisoformat(day_text)
            dest = root / _layout.folder(table, key, day)
            if not dest.resolve().is_relative_to(root.resolve() / table):  # never: the layout escapes '/'
                raise CaseError(f"refusing to write outside the lake: {dest}")
            dest.mkdir(parents=True, exist_ok=True)
            os.replace(p, dest / _layout.part_name(run, n))
            n += 1
