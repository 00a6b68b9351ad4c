"""Load export files into a case: one transaction per file, every line accounted for."""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path

import duckdb

from kernelsec_nb.store import _lines
from kernelsec_nb.store._commits import BlockCommits
from kernelsec_nb.store._discover import discover
from kernelsec_nb.store._ingest import TABLES as EVENT_TABLES
from kernelsec_nb.store._ingest import BlockCounts, ingest_block
from kernelsec_nb.store._known import KnownIds
from kernelsec_nb.store._skew import clock_skew, noted_offsets
from kernelsec_nb.store._twice import flows_seen_twice
from kernelsec_nb.store.report import FileResult, LoadReport

_PROCESSES_SQL = (Path(__file__).with_name("processes.sql")).read_text()
# Falco alerts without Kubernetes fields (null or <NA>: its metadata client missed the pod) take
# them from Tetragon's processes of the same container, so every view filtered by namespace or pod
# shows them; `k8s_filled` says so.  Run after every load: the Tetragon events may come later.
_FILL_ALERTS_SQL = """
UPDATE alerts SET namespace = c.namespace, pod = c.pod, workload = c.workload, k8s_filled = true
FROM (SELECT container_id, any_value(namespace) AS namespace, any_value(pod) AS pod,
             any_value(workload) AS workload
      FROM processes WHERE container_id IS NOT NULL AND pod IS NOT NULL
      GROUP BY container_id HAVING count(DISTINCT pod) = 1) AS c
WHERE alerts.container_id = c.container_id AND alerts.pod IS NULL AND alerts.namespace IS NULL
"""

_FIRST_REASON = "SELECT line, reason FROM quarantine WHERE file = ? ORDER BY line LIMIT 1"
_DAMAGED = "SELECT reason FROM quarantine WHERE file = ? AND starts_with(reason, ?) ORDER BY line LIMIT 1"
_TOO_LONG = "SELECT 1 FROM quarantine WHERE file = ? AND starts_with(reason, ?) LIMIT 1"


# A file is loaded block by block, each block committed (so memory stays bounded by the block,
# not the file); its ``files`` row is written last.  Rows of a file without a ``files`` row are
# a load that did not finish: they are removed when it fails, and on the next open after a crash.
_DISCARD = [
    f"DELETE FROM {table} WHERE {{cond}}"  # noqa: S608 - our own table names
    for table in [*(t.name for t in EVENT_TABLES), "quarantine"]
]


def discard(con, name: str | None = None) -> None:
    """Remove what an unfinished load of ``name`` left (every unfinished file when None)."""
    cond = "file = ?" if name is not None else "file NOT IN (SELECT path FROM files)"
    params = [name] if name is not None else []
    for sql in _DISCARD:
        con.execute(sql.format(cond=cond), params)


class NotAnExport(Exception):
    """No line of the file is an event of ours."""


#: DuckDB's memory budget during a load (the rest of the peak is the blocks in flight).
LOAD_MEMORY_LIMIT = "384MB"
_FIND_SHA = ("SELECT path, lines, loaded + duplicates, quarantined, blank, sources, format "
             "FROM files WHERE sha256 = ? LIMIT 1")
_TIME_SPAN = "SELECT min(time_ns), max(time_ns) FROM events WHERE file = ?"
_SAME_SIZE = "SELECT 1 FROM files WHERE bytes = ? LIMIT 1"
_INSERT_FILE = """
INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
    make_timestamp(?::BIGINT // 1000)::TIMESTAMPTZ, make_timestamp(?::BIGINT // 1000)::TIMESTAMPTZ, now())
"""


_END = object()


def _prefetch(blocks: Iterator) -> Generator:
    """Iterate ``blocks`` with the next one read in a background thread.

    Reading and splitting lines (Python, numpy) then overlaps with DuckDB parsing the previous
    block (DuckDB releases the GIL).  The reader starts a block only once the consumer took the
    one before, by which time the consumer has released the block before that: two read buffers
    are in use, not three (the reader is several times faster than DuckDB, so nothing is lost).
    An error of the reader is raised here, in order; stopping early (an error in the consumer)
    stops the reader.
    """
    out: queue.Queue = queue.Queue(maxsize=1)
    taken = threading.Semaphore(0)
    stop = threading.Event()

    def hand_over(item: tuple) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for block in blocks:
                if not hand_over((block, None)):
                    return
                while not taken.acquire(timeout=0.1):  # until the consumer has it
                    if stop.is_set():
                        return
            hand_over((_END, None))
        except BaseException as exc:  # handed to the consumer, raised there
            hand_over((_END, exc))

    thread = threading.Thread(target=run, name="kernelsec-nb-reader", daemon=True)
    thread.start()
    try:
        while True:
            block, exc = out.get()
            if exc is not None:
                raise exc
            if block is _END:
                return
            taken.release()
            yield block
    finally:
        stop.set()
        while thread.is_alive():
            try:
                out.get_nowait()
            except queue.Empty:
                thread.join(0.05)


def _progress_bar(enabled: bool, total: int, desc: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc=desc, leave=False)


def load_files(
    con: duckdb.DuckDBPyConnection,
    paths: str | Path | Iterable[str | Path],
    *,
    progress: bool = True,
    block_bytes: int = _lines.BLOCK_BYTES,
    max_line_bytes: int = _lines.MAX_LINE_BYTES,
) -> LoadReport:
    """Load every file under ``paths``; see :meth:`kernelsec_nb.Case.load`."""
    report = LoadReport()
    found = discover(paths)
    files = found.files
    report.files.extend(FileResult(path, "error", message=msg) for path, msg in found.errors)
    if found.skipped:
        names = ", ".join(f.name for f in found.skipped[:5]) + (", …" if len(found.skipped) > 5 else "")
        n = len(found.skipped)
        report.notes.append(f"{n} file{'s' if n != 1 else ''} in the folders left out by their name "
                            f"(documentation, notebooks, hidden files; name a file to read it): {names}")
    # DuckDB's buffer pool would otherwise keep growing with the case (its default limit is 80% of
    # RAM): while loading, hold it to a fixed budget so peak memory does not grow with the input.
    # (The case connection does not set a limit otherwise, so it is reset to DuckDB's default.)
    con.execute(f"SET memory_limit = '{LOAD_MEMORY_LIMIT}'")
    con.execute("SET checkpoint_threshold = '1TB'")
    try:
        return _load_all(con, files, report, progress, block_bytes, max_line_bytes)
    finally:
        con.execute("RESET memory_limit")
        con.execute("RESET checkpoint_threshold")


def _load_all(con, files, report: LoadReport, progress: bool, block_bytes: int,
              max_line_bytes: int) -> LoadReport:
    total = sum(_size(f) for f in files)
    bar = _progress_bar(progress and total > 8 << 20, total, "loading")
    done = 0
    pool = _lines.BufferPool()
    known = KnownIds(con)  # ids already in the case (a superset test: see _known)
    commits = BlockCommits(con)
    try:
        for path in files:
            size = _size(path)
            report.files.append(
                _load_one(con, path, bar, done, block_bytes, max_line_bytes, pool, commits, known)
            )
            done += size
            if bar is not None:
                bar.n = done
                bar.refresh()
        # the bar stays up, saying so, while the processes table and the checkpoint finish
        if bar is not None:
            bar.set_description("processes table, checkpoint")
        if any(f.loaded for f in report.files):
            con.execute(_PROCESSES_SQL)
            con.execute(_FILL_ALERTS_SQL)
            con.execute("CHECKPOINT")
        # the offsets compare flows with flows and with Tetragon's connects: re-estimated when
        # either came in (the flows may have come in an earlier load than the connects)
        if any(f.loaded and {"hubble", "tetragon"} & set(f.sources) for f in report.files) \
                and con.execute("SELECT 1 FROM flows LIMIT 1").fetchall():
            if bar is not None:
                bar.set_description("clock skew")
            report.clock_skew = clock_skew(con)
        elif files:  # nothing new to estimate from: the case's offsets, as the last estimate left them
            report.clock_skew = noted_offsets(con)
        report.notes += flows_seen_twice(con, [f.path for f in report.files if f.loaded and "hubble" in f.sources])
    finally:
        commits.close()
        if bar is not None:
            bar.close()
    return report


def _load_one(con, path: Path, bar, done: int, block_bytes: int, max_line_bytes: int,
              pool: _lines.BufferPool, commits: BlockCommits, known: KnownIds) -> FileResult:
    name = str(path)
    try:
        size = path.stat().st_size
        compressed = _lines.is_gzip(path)
        documents = _lines.looks_like_documents(path)
        # Same content means same size: only then is the file hashed before it is read (to skip it
        # at once); otherwise its sha256 is computed while it is read for loading.
        sha = None
        if documents or con.execute(_SAME_SIZE, [size]).fetchall():
            sha = _lines.sha256_of(path)
    except OSError as exc:
        return FileResult(name, "error", message=f"cannot read {name}: {exc.strerror or exc}")
    if sha is not None:
        found = con.execute(_FIND_SHA, [sha]).fetchall()
        # the same lines as the earlier file: its events are duplicates now, its refused and blank
        # lines are what they were (their quarantine rows name the earlier file).  An export with
        # no line to refuse or add (empty, blank) is read again: each node's empty export gets its
        # own row in `files` ("Falco ran on that node and raised nothing")
        if found and (found[0][0] == name or found[0][2] or found[0][3]):
            prior, lines, events, quarantined, blank, sources, fmt = found[0]
            return FileResult(name, "already loaded", tuple(sources or ()), fmt, lines, 0, events,
                              quarantined, blank,
                              message="this file, loaded before: nothing added" if prior == name
                              else f"same content as {prior}: nothing added")
    counts = BlockCounts()
    lines = 0
    stream = None
    block_con = None  # the connection of the block being loaded (see BlockCommits)
    blocks: Generator | None = None
    try:
        if documents:
            blocks = _lines.iter_documents(path)
        else:
            hashing = _lines.HashingFile(path)
            stream = _lines.GzipStream(hashing) if compressed else hashing
            tick = (lambda pos: _tick(bar, done, pos)) if bar is not None else None
            blocks = _prefetch(_lines.iter_ndjson(stream, tick, block_bytes, max_line_bytes, pool=pool,
                                                  size_hint=None if compressed else size))
        srcs: set[str] = set()
        for block in blocks:
            lines += block.lines
            counts.blank += block.blank
            if block.table.num_rows:
                block_con = commits.begin()
                try:
                    # the general path looks for duplicates among the blocks before, which it must
                    # see (fast routes take only lines whose ids are certainly new)
                    c = ingest_block(block_con, block.table, name, routes=not documents, known=known,
                                     settle=lambda con=block_con: commits.refresh(con))
                finally:
                    block.release()
                commits.commit(block_con, c.input_bytes)
                block_con = None
                counts.loaded += c.loaded
                counts.duplicates += c.duplicates
                counts.quarantined += c.quarantined
                counts.blank += c.blank
                srcs.update(c.sources)
                for message, n in c.warnings.items():
                    counts.warnings[message] = counts.warnings.get(message, 0) + n
        commits.wait()
        con.execute("BEGIN TRANSACTION")
        if sha is None:  # read to its end above, unless the stream was damaged
            sha = hashing.sha256() or _lines.sha256_of(path)
        sources = tuple(sorted(srcs))
        # a file without one event is no export, unless a line was too long to tell (it may be one)
        if not sources and counts.quarantined and not con.execute(_TOO_LONG, [name, _lines.TOO_LONG]).fetchall():
            reason = con.execute(_FIRST_REASON, [name]).fetchall()[0]
            raise NotAnExport(
                f"{name} is not a Tetragon, Hubble or Falco export "
                f"(line {reason[0]}: {reason[1]}); nothing from this file was loaded"
            )
        first_ns, last_ns = con.execute(_TIME_SPAN, [name]).fetchall()[0]
        con.execute(_INSERT_FILE, [
            name, sha, size, compressed, "json-documents" if documents else "ndjson",
            list(sources), lines, counts.loaded, counts.duplicates, counts.quarantined,
            counts.blank, first_ns, last_ns,
        ])
        con.execute("COMMIT")
    except NotAnExport as exc:
        _rollback(con)
        discard(con, name)
        return FileResult(name, "error", message=str(exc))
    except BaseException:
        commits.abandon()
        if block_con is not None:
            _rollback(block_con)
        _rollback(con)
        discard(con, name)
        raise
    finally:
        if blocks is not None:
            blocks.close()  # stops the reader thread now, not when the generator is collected
        if stream is not None:
            stream.close()
    found = con.execute(_DAMAGED, [name, _lines.DAMAGED]).fetchall()
    damaged = found[0] if found else None
    if damaged is not None:
        message = damaged[0]
    elif lines == counts.blank:
        message = "empty file: nothing to load" if not lines else "only blank lines: nothing to load"
    else:
        message = ""
    return FileResult(name, "loaded" if damaged is None else "loaded with errors", sources,
                      "json-documents" if documents else "ndjson", lines, counts.loaded,
                      counts.duplicates, counts.quarantined, counts.blank, message=message,
                      warnings=dict(sorted(counts.warnings.items())))


def _size(path: Path) -> int:
    """The file's size for the progress bar; 0 when it cannot be read (a dangling link, no
    permission: its own result says why)."""
    try:
        return path.stat().st_size if os.access(path, os.R_OK) else 0
    except OSError:
        return 0


def _rollback(con) -> None:
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:  # no transaction open (interrupted between two blocks)
        pass


def _tick(bar, done: int, pos: int) -> None:
    bar.n = done + pos
    bar.refresh()
