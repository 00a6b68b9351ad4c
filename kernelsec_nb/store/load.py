"""Load export files into a case, every line accounted for.

A file is loaded block by block, each block committed (memory stays bounded by the block, not the
file), and its ``files`` row is written last: rows of a file without a ``files`` row are a load
that did not finish, removed when it fails and on the next open after a crash.

**Small files load together.**  Each block pays a fixed cost whatever its size: its statements
are planned again every time (the general path's staging statement alone takes 0.1-0.3 s to
plan), then committed.  So a file that fits in one block (its decompressed size, as far as it
can be told before reading, at most the block size and :data:`BATCH_BYTES`), NDJSON or JSON
documents, and that the case does not hold yet under its path, is read whole (its own reader, its
sha256 and line counts as for any file) and waits; the files waiting are loaded as ONE block
(:func:`kernelsec_nb.store._ingest.ingest_files`: every row names its file, the counts are told
per file) when their bytes reach :data:`BATCH_BYTES`, before a file that cannot join (a large
file, a path loaded before, a file of the same size as one waiting: it may have the same content,
which makes it "already loaded"), and at the end.  Then each file is finished as any file is (no
event in it: it is no export, its rows removed; its time span; its ``files`` row), the ``files``
rows of the batch in one transaction after the block's commit.  What the load reports and stores
is what loading the files one by one gives: the files keep their order, a line of a later file
with the id of an earlier one's is the later file's duplicate (the first file keeps the event),
and a crash between the block's commit and the ``files`` rows leaves rows without a ``files``
row, removed on the next open.  An error in a later file (not Ctrl-C) loads the files waiting
before it is raised, as one-by-one loading would have; after Ctrl-C they are not loaded.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from kernelsec_nb.sources import Capability, names_with
from kernelsec_nb.sources import titles as source_titles
from kernelsec_nb.store import _decompress, _derived, _documents, _lines
from kernelsec_nb.store._commits import BlockCommits
from kernelsec_nb.store._discover import discover
from kernelsec_nb.store._ingest import TABLES as EVENT_TABLES
from kernelsec_nb.store._ingest import BlockCounts, ingest_block, ingest_files
from kernelsec_nb.store._known import KnownIds
from kernelsec_nb.store._prefetch import prefetch
from kernelsec_nb.store._skew import noted_offsets
from kernelsec_nb.store._twice import flows_seen_twice
from kernelsec_nb.store.report import FileResult, LoadReport

_FIRST_REASON = "SELECT line, reason FROM quarantine WHERE file = ? ORDER BY line LIMIT 1"
_DAMAGED = "SELECT reason FROM quarantine WHERE file = ? AND starts_with(reason, ?) ORDER BY line LIMIT 1"
_REASON_STARTS = "SELECT 1 FROM quarantine WHERE file = ? AND starts_with(reason, ?) LIMIT 1"


# (see the module: rows of a file without a ``files`` row are a load that did not finish)
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


#: Small files are read whole and wait to be loaded together, as one block, until their bytes
#: (decompressed, about) reach this (see the module's docstring).
BATCH_BYTES = 32 << 20
#: DuckDB's memory budget during a load (the rest of the peak is the blocks in flight).
LOAD_MEMORY_LIMIT = "384MB"
#: The sources whose files bring flows, and those whose connects the clock offsets compare them with.
_FLOWS = names_with(Capability.FLOWS)
_CONNECTS = names_with(Capability.CONNECTIONS)
_FIND_SHA = ("SELECT path, lines, loaded + duplicates, quarantined, blank, sources, format "
             "FROM files WHERE sha256 = ? LIMIT 1")
_TIME_SPAN = "SELECT min(time_ns), max(time_ns) FROM events WHERE file = ? OR file = ?"
_TIME_SPANS = "SELECT file, min(time_ns), max(time_ns) FROM events WHERE list_contains(?, file) GROUP BY file"
_DAMAGED_OF = ("SELECT file, arg_min(reason, line) FROM quarantine WHERE list_contains(?, file) "
               "AND starts_with(reason, ?) GROUP BY file")
_KNOWN_PATH = "SELECT 1 FROM files WHERE path = ?"
#: What the rows of a file loaded again (see :func:`_load_one`) are named until its ``files`` row
#: is written: no path (paths are absolute), and no file of ``files``, so a crash leaves them to
#: :func:`discard`.
_RELOADING = "(reloading) "
_RENAME = [
    f"UPDATE {table} SET file = ? WHERE file = ?"  # noqa: S608 - our own table names
    for table in [*(t.name for t in EVENT_TABLES), "quarantine"]
]
_SAME_SIZE = "SELECT 1 FROM files WHERE bytes = ? LIMIT 1"
_INSERT_FILE = """
INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
    make_timestamp(?::BIGINT // 1000)::TIMESTAMPTZ, make_timestamp(?::BIGINT // 1000)::TIMESTAMPTZ, now())
"""


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
    follow_links: bool = False,
) -> LoadReport:
    """Load every file under ``paths``; see :meth:`kernelsec_nb.Case.load`."""
    report = LoadReport()
    found = discover(paths, follow_links=follow_links)
    files = found.files
    report.files.extend(FileResult(path, "error", message=msg) for path, msg in found.errors)
    report.files.extend(FileResult(path, "skipped", message=msg) for path, msg in found.refused)
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
    batch = _Batch(con, commits, known, report)
    try:
        try:
            for path in files:
                size = _size(path)
                result = _load_one(con, path, bar, done, block_bytes, max_line_bytes, pool, commits, known, batch)
                if result is not None:  # (None: the file waits in the batch, which reports it)
                    report.files.append(result)
                done += size
                if bar is not None:
                    bar.n = done
                    bar.refresh()
            batch.flush()
        except BaseException as exc:
            # the files read whole before an error of a later file are loaded, as they would be
            # one by one (not after Ctrl-C: the load stops, and they are not loaded)
            if isinstance(exc, Exception):
                try:
                    batch.flush()
                except BaseException:  # noqa: S110 - the load's own error is the one to raise
                    pass
            # the files committed before the failure stay loaded: their processes too (a failure
            # here, a second Ctrl-C, leaves the case stale, rebuilt by the next load or open).
            # What the failed file left is gone first (again: a second Ctrl-C may have stopped
            # that), so that the rebuild sees only files with a ``files`` row
            commits.abandon()
            try:
                discard(con)
                _derived.refresh(con)
            except BaseException:  # noqa: S110 - the load's own error is the one to raise
                pass
            raise
        # the bar stays up, saying so, while the derived tables and the checkpoint finish.  They
        # are rebuilt whenever the files they were built from changed, not only when this load
        # added events: a load that an exception or a crash stopped may have left them stale
        if bar is not None:
            bar.set_description("processes table, clock skew, checkpoint")
        skew = _derived.refresh(con)
        if skew is not None:
            con.execute("CHECKPOINT")
        # the offsets compare flows with flows and with Tetragon's connects: re-estimated when
        # either came in (the flows may have come in an earlier load than the connects)
        if skew is not None and any(f.loaded and (_FLOWS | _CONNECTS) & set(f.sources) for f in report.files) \
                and con.execute("SELECT 1 FROM flows LIMIT 1").fetchall():
            report.clock_skew = skew
        elif files:  # nothing new to estimate from: the case's offsets, as the last estimate left them
            report.clock_skew = noted_offsets(con)
        report.notes += flows_seen_twice(con, [f.path for f in report.files if f.loaded and _FLOWS & set(f.sources)])
    finally:
        commits.close()
        if bar is not None:
            bar.close()
    return report


@dataclass
class _Opened:
    """A file about to be read: what was found out before reading it."""

    path: Path
    name: str
    size: int
    compressed: bool
    documents: bool
    sha: str | None
    #: the name its rows carry until its ``files`` row is written (see _RELOADING)
    tag: str

    @property
    def format(self) -> str:
        """The ``files.format`` of the file."""
        return "json-documents" if self.documents else "ndjson"


def _open(con, path: Path) -> _Opened | FileResult:
    """What is known of ``path`` before it is read; a result when it is not to be read (it cannot
    be, or the case has its content already)."""
    name = str(path)
    try:
        size = path.stat().st_size
        compressed = _decompress.is_gzip(path)
        documents = _documents.looks_like_documents(path)
        # Same content means same size: only then is the file hashed before it is read (to skip it
        # at once); otherwise its sha256 is computed while it is read for loading.
        sha = None
        if documents or con.execute(_SAME_SIZE, [size]).fetchall():
            sha = _decompress.sha256_of(path)
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
    # A path loaded before with other content (an export that grew since): the whole file is read
    # again, its lines already in the case are duplicates and each refused line is refused again
    # (the cut-short last line of a file still being written is now an event).  This load's rows
    # carry a provisional name until the transaction that replaces the earlier ``files`` row, which
    # also drops the earlier load's quarantine rows; a failure or a crash removes this load's rows
    # only, and the earlier load stays as it was.
    tag = _RELOADING + name if con.execute(_KNOWN_PATH, [name]).fetchall() else name
    return _Opened(path, name, size, compressed, documents, sha, tag)


def _load_one(con, path: Path, bar, done: int, block_bytes: int, max_line_bytes: int,
              pool: _lines.BufferPool, commits: BlockCommits, known: KnownIds,
              batch: _Batch | None = None) -> FileResult | None:
    """Load ``path``: its result, or None when it joined ``batch`` (which reports it; without a
    batch the file loads alone, as the Spark tasks load theirs)."""
    if batch is not None and batch.must_flush_before(path):
        batch.flush()
    opened = _open(con, path)
    if isinstance(opened, FileResult):
        return opened
    f = opened
    hint = _decompress.size_hint(f.path, f.size)
    tick = (lambda pos: _tick(bar, done, pos)) if bar is not None else None
    first: list[_lines.Block] = []  # blocks read while trying the file for the batch
    rest: Iterator | None = None
    stream = hashing = None
    try:
        if batch is not None and f.tag == f.name and hint <= min(block_bytes, BATCH_BYTES):
            if f.documents:
                rest = _documents.iter_documents(f.path)
            else:
                hashing = _decompress.HashingFile(f.path)
                stream = _decompress.GzipStream(hashing) if f.compressed else hashing
                rest = _lines.iter_ndjson(stream, tick, block_bytes, max_line_bytes, pool=pool, size_hint=hint)
            rows = nbytes = 0
            for block in rest:
                first.append(block)
                rows += block.table.num_rows
                nbytes += block.table.nbytes
                if rows > _lines.BLOCK_ROWS or nbytes > BATCH_BYTES:
                    break  # more than the file seemed: read block by block below
            else:  # read whole: it waits in the batch
                sha = f.sha or (hashing and hashing.sha256()) or _decompress.sha256_of(f.path)
                if stream is not None:
                    stream.close()
                batch.add(f, sha, first, hint)
                first = []
                return None
    except BaseException:
        for block in first:
            block.release()
        if stream is not None:
            stream.close()
        raise
    if batch is not None:
        batch.flush()  # the files before this one first (their events, their ``files`` rows)
    return _load_blocks(con, f, first, rest, stream, hashing, tick, hint, block_bytes, max_line_bytes,
                        pool, commits, known)


def _load_blocks(con, f: _Opened, first: list[_lines.Block], rest: Iterator | None, stream, hashing,
                 tick, hint: int, block_bytes: int, max_line_bytes: int, pool: _lines.BufferPool,
                 commits: BlockCommits, known: KnownIds) -> FileResult:
    """Load ``f`` block by block, each committed, and its ``files`` row last (``first``: blocks
    read already, ``rest`` the reader they came from)."""
    name, tag, documents, sha = f.name, f.tag, f.documents, f.sha
    counts = BlockCounts()
    lines = 0
    block_con = None  # the connection of the block being loaded (see BlockCommits)
    blocks: Generator | None = None
    try:
        if documents and rest is None:
            blocks = _documents.iter_documents(f.path)
        elif documents:
            blocks = itertools.chain(first, rest)
        else:
            if rest is None:
                hashing = _decompress.HashingFile(f.path)
                stream = _decompress.GzipStream(hashing) if f.compressed else hashing
                rest = _lines.iter_ndjson(stream, tick, block_bytes, max_line_bytes, pool=pool, size_hint=hint)
            blocks = prefetch(itertools.chain(first, rest))
        srcs: set[str] = set()
        recognised = 0
        strict = True
        for block in blocks:
            lines += block.lines
            counts.blank += block.blank
            if block.table.num_rows:
                block_con = commits.begin()
                try:
                    # the general path looks for duplicates among the blocks before, which it must
                    # see (fast routes take only lines whose ids are certainly new)
                    # (after a block whose lines a route could not all load, the next one is
                    # taken leniently at once: odd lines come in runs, and a strict try that
                    # fails costs the block twice)
                    c = ingest_block(block_con, block.table, tag, routes=not documents, known=known,
                                     settle=lambda con=block_con: commits.refresh(con), strict=strict)
                finally:
                    block.release()
                strict = not c.odd
                commits.commit(block_con, c.input_bytes)
                block_con = None
                counts.loaded += c.loaded
                lines += c.split_lines  # a line holding several events counts once per event
                counts.duplicates += c.duplicates
                counts.quarantined += c.quarantined
                counts.blank += c.blank
                srcs.update(c.sources)
                recognised += c.recognised
                for message, n in c.warnings.items():
                    counts.warnings[message] = counts.warnings.get(message, 0) + n
        commits.wait()
        con.execute("BEGIN TRANSACTION")
        if sha is None:  # read to its end above, unless the stream was damaged
            sha = hashing.sha256() or _decompress.sha256_of(f.path)
        sources = tuple(sorted(srcs))
        refused = _refused(con, name, tag, sources, counts.quarantined, recognised)
        if refused is not None:
            raise NotAnExport(refused)
        first_ns, last_ns = con.execute(_TIME_SPAN, [name, tag]).fetchall()[0]
        if tag != name:
            con.execute("DELETE FROM quarantine WHERE file = ?", [name])
            for sql in _RENAME:
                con.execute(sql, [name, tag])
        con.execute(_INSERT_FILE, [
            name, sha, f.size, f.compressed, f.format,
            list(sources), lines, counts.loaded, counts.duplicates, counts.quarantined,
            counts.blank, first_ns, last_ns,
        ])
        con.execute("COMMIT")
    except NotAnExport as exc:
        _rollback(con)
        discard(con, tag)
        return FileResult(name, "error", message=str(exc))
    except BaseException:
        commits.abandon()
        if block_con is not None:
            _rollback(block_con)
        _rollback(con)
        discard(con, tag)
        raise
    finally:
        for block in first:
            block.release()  # (released already unless the load failed before it)
        if blocks is not None:
            blocks.close()  # stops the reader thread now, not when the generator is collected
        if stream is not None:
            stream.close()
    found = con.execute(_DAMAGED, [name, _lines.DAMAGED]).fetchall()
    return _result(name, f.format, sources, lines, counts,
                   found[0][0] if found else None)


def _refused(con, name: str, tag: str, sources: tuple[str, ...], quarantined: int, recognised: int) -> str | None:
    """Why the file is no export (None: it is one), in the open transaction that writes its
    ``files`` row.

    A file without one event is no export, unless a line was too long to tell (it may be one), or
    its compressed stream is damaged (the damage may be what hid its events: kept, said), or its
    lines were some tool's events it could not load (all without a valid time, say)."""
    if sources or not quarantined or recognised or any(
            con.execute(_REASON_STARTS, [tag, start]).fetchall() for start in (_lines.TOO_LONG, _lines.DAMAGED)):
        return None
    reason = con.execute(_FIRST_REASON, [tag]).fetchall()[0]
    return (f"{name} is not a {source_titles()} export "
            f"(line {reason[0]}: {reason[1]}); nothing from this file was loaded")


def _result(name: str, fmt: str, sources: tuple[str, ...], lines: int, counts: BlockCounts,
            damaged: str | None) -> FileResult:
    """The result of a file loaded (``damaged``: the reason of its damaged stream's rest)."""
    if damaged is not None:
        message = damaged
    elif lines == counts.blank:
        message = "empty file: nothing to load" if not lines else "only blank lines: nothing to load"
    else:
        message = ""
    return FileResult(name, "loaded" if damaged is None else "damaged", sources, fmt, lines, counts.loaded,
                      counts.duplicates, counts.quarantined, counts.blank, message=message,
                      warnings=dict(sorted(counts.warnings.items())))


@dataclass
class _Waiting:
    """A file read whole, waiting in the batch."""

    opened: _Opened
    sha: str
    blocks: list[_lines.Block]
    #: its place in the report
    index: int


class _Batch:
    """Small files read whole, loaded together as one block (see the module's docstring)."""

    def __init__(self, con, commits: BlockCommits, known: KnownIds, report: LoadReport) -> None:
        self.con, self.commits, self.known, self.report = con, commits, known, report
        self.files: list[_Waiting] = []
        self.bytes = 0

    def must_flush_before(self, path: Path) -> bool:
        """The files waiting must be in the case before ``path`` is opened: it may be one of
        them, or have the content of one (same size, then same sha256), which makes it "already
        loaded"."""
        size = _size(path)
        if any(w.opened.path == path for w in self.files):
            return True
        same = [w.sha for w in self.files if w.opened.size == size]
        if not same:
            return False
        try:
            return _decompress.sha256_of(path) in same
        except OSError:
            return True  # (its own load says why it cannot be read)

    def add(self, opened: _Opened, sha: str, blocks: list[_lines.Block], nbytes: int) -> None:
        self.files.append(_Waiting(opened, sha, blocks, len(self.report.files)))
        # its place in the report, until the batch is loaded
        self.report.files.append(FileResult(opened.name, "error", message="not loaded: the load stopped"))
        self.bytes += nbytes
        if self.bytes >= BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Load the files waiting: their lines as one block (committed), then their ``files`` rows
        (one transaction)."""
        files, self.files, self.bytes = self.files, [], 0
        if not files:
            return
        con, commits = self.con, self.commits
        tables = [_lines.concat([b.table for b in w.blocks]) for w in files]
        counts = [BlockCounts() for _ in files]
        block_con = None
        try:
            with_rows = [i for i, t in enumerate(tables) if t.num_rows]
            if with_rows:
                block_con = commits.begin()
                got = ingest_files(block_con, _lines.concat([tables[i] for i in with_rows]),
                                   [(files[i].opened.name, tables[i].num_rows) for i in with_rows],
                                   routes=[not files[i].opened.documents for i in with_rows], known=self.known, settle=lambda: commits.refresh(block_con))
                for i, c in zip(with_rows, got, strict=True):
                    counts[i] = c
                commits.commit(block_con, sum(c.input_bytes for c in got))
                block_con = None
            commits.wait()
            self._finish(files, counts)
        except BaseException:
            commits.abandon()
            if block_con is not None:
                _rollback(block_con)
            _rollback(con)
            raise  # (the loader removes what the batch left: it has no ``files`` row)
        finally:
            del tables
            for w in files:
                for b in w.blocks:
                    b.release()

    def _finish(self, files: list[_Waiting], counts: list[BlockCounts]) -> None:
        """Each file's ``files`` row, or its removal when it is no export (one transaction)."""
        con = self.con
        names = [w.opened.name for w in files]
        spans = {file: (lo, hi) for file, lo, hi in con.execute(_TIME_SPANS, [names]).fetchall()}
        results: list[FileResult | None] = []
        con.execute("BEGIN TRANSACTION")
        for w, c in zip(files, counts, strict=True):
            f = w.opened
            lines = sum(b.lines for b in w.blocks) + c.split_lines
            c.blank += sum(b.blank for b in w.blocks)
            sources = tuple(sorted(c.sources))
            refused = _refused(con, f.name, f.tag, sources, c.quarantined, c.recognised)
            if refused is not None:
                discard(con, f.tag)
                self.report.files[w.index] = FileResult(f.name, "error", message=refused)
                results.append(None)
                continue
            first_ns, last_ns = spans.get(f.name, (None, None))
            fmt = f.format
            con.execute(_INSERT_FILE, [f.name, w.sha, f.size, f.compressed, fmt, list(sources), lines,
                                       c.loaded, c.duplicates, c.quarantined, c.blank, first_ns, last_ns])
            results.append(_result(f.name, fmt, sources, lines, c, None))
        con.execute("COMMIT")
        damaged = dict(con.execute(_DAMAGED_OF, [names, _lines.DAMAGED]).fetchall())
        for w, c, r in zip(files, counts, results, strict=True):
            if r is not None:
                self.report.files[w.index] = (r if w.opened.name not in damaged else
                                              _result(r.path, r.format, r.sources, r.lines, c, damaged[r.path]))


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
