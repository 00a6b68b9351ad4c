"""Split a file of pretty-printed JSON documents into records, streaming, in linear time.

A pretty-printed export (one event over many lines, as in Tetragon's docs) is a sequence of
documents, or one JSON array of events.  The file is read :data:`READ_BYTES` at a time and each
piece is scanned once with numpy: escaped quotes, then strings, then the brackets and commas
outside strings and the nesting depth (a running sum), from which the records are cut.  Nothing
is recursive and nothing holds more than a block, whatever the file's size or nesting:

* every top-level document is a record; in a top-level array, every item is a record;
* text between records that is not whitespace (a stray word, a bracket, a top-level number) is a
  record too, which the load refuses with its reason;
* a record nested deeper than :data:`MAX_DOCUMENT_DEPTH` or longer than :data:`MAX_DOCUMENT_BYTES`
  is refused with a note, its first 4096 characters kept (the scan goes on after it);
* a document still open at the end of the file is a record (refused as cut short).

Each record's ``line`` is the physical line it starts on and ``line_end`` the one it ends on;
its id is the hash of its bytes, as for a line.  A UTF-8 byte order mark at the start is skipped.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kernelsec_nb.store import _lines
from kernelsec_nb.store._decompress import open_export
from kernelsec_nb.store._lines import Block

#: Bytes scanned at once.
READ_BYTES = 1 << 20
#: A longer document is refused (its head kept), and the scan goes on after it.
MAX_DOCUMENT_BYTES = 32 << 20
#: A document nested deeper is refused (its head kept).
MAX_DOCUMENT_DEPTH = 256
#: Bytes of records in one block handed to DuckDB (every record takes the general path).
BLOCK_RECORD_BYTES = 16 << 20

#: Start of the reasons for refused documents.
TOO_DEEP = "JSON document nested deeper than"
TOO_LARGE = "JSON document larger than"

_WS = np.zeros(256, dtype=bool)
_WS[list(b" \t\r\n")] = True
_STRUCTURE = np.zeros(256, dtype=bool)
_STRUCTURE[list(b"{}[],")] = True
_DELTA = np.zeros(256, dtype=np.int64)
_DELTA[list(b"{[")] = 1
_DELTA[list(b"}]")] = -1
_HEAD_BYTES = 4 * _lines.QUARANTINE_RAW_CHARS  # enough bytes for the kept characters


def looks_like_documents(path: Path) -> bool:
    """True for pretty-printed JSON (one event over many lines, as in Tetragon's docs): the
    first non-blank line opens an object or array and does not close it (``{``, ``[`` or
    ``{"process_exec": {``).  An NDJSON line with garbage after it is not a document."""
    with open_export(path) as f:
        try:
            head = f.read(1 << 16)
        except (EOFError, OSError, zlib.error):
            return False
    head = head.removeprefix(_lines.BOM)
    first = head.lstrip().split(b"\n", 1)[0].strip()
    return len(first) < 256 and first[:1] in (b"{", b"[") and first[-1:] in (b"{", b"[")


class _Open:
    """The record being read across pieces of the file (its start is its first non-blank byte)."""

    def __init__(self) -> None:
        self.start: int | None = None  # stream offset of its first byte
        self.line = 0
        self.pieces: list[bytes] = []
        self.size = 0  # bytes kept in pieces (up to MAX_DOCUMENT_BYTES, then only the head)
        self.end = 0  # stream offset after its last non-blank byte
        self.line_end = 0
        self.deep = False
        self.large = False


class Splitter:
    """Cut a byte stream into JSON records, piece by piece (see the module's docstring).

    Examples
    --------
    >>> s = Splitter()
    >>> [t.column("raw").to_pylist() for t in s.feed(b'{"a": [1,\\n 2]}\\n[{"b": 1},') + s.feed(b' 7]') + s.finish()]
    [['{"a": [1,\\n 2]}', '{"b": 1}'], ['7']]
    """

    def __init__(self, offset: int = 0) -> None:
        self.offset = offset  # stream offset of the next piece
        self.lines = 0  # newlines before it
        self.in_string = 0
        self.escaped = False  # the next piece's first byte is escaped (an odd run of \ ended the last)
        self.depth = 0
        self.in_array = False  # the outermost open bracket is a top-level array's
        self.open = _Open()

    # -- one piece ---------------------------------------------------------------------------
    def feed(self, chunk: bytes) -> list[pa.Table]:
        """The records that end in ``chunk`` (tables of :data:`_lines.SCHEMA`)."""
        if not chunk:
            return []
        arr = np.frombuffer(chunk, dtype=np.uint8)
        quotes = self._quotes(arr)
        spos = np.flatnonzero(_STRUCTURE[arr])
        spos = spos[((np.searchsorted(quotes, spos) + self.in_string) & 1) == 0]  # outside strings
        self.in_string = (self.in_string + len(quotes)) & 1
        ch = arr[spos]
        delta = _DELTA[ch]
        # depth after each bracket, never below 0 (a stray closing bracket is text between records)
        run = self.depth + np.cumsum(delta)
        after = run - np.minimum(np.minimum.accumulate(run), 0) if len(run) else run
        before = np.empty_like(after)
        if len(after):
            before[0] = self.depth
            before[1:] = after[:-1]
        outer = (before == 0) & (delta == 1)  # opens a top-level document or array
        last_outer = np.maximum.accumulate(np.where(outer, np.arange(len(ch)), -1)) if len(ch) else outer
        in_array = np.where(last_outer >= 0, ch[np.maximum(last_outer, 0)] == ord("["), self.in_array)
        closes = (delta == -1) & (before == 1) & (after == 0)
        # where records are cut: lo..hi is left out (the array's own brackets and commas)
        doc_open = outer & (ch == ord("{"))
        doc_close = closes & ~in_array
        separator = (outer & (ch == ord("["))) | (closes & in_array) | ((ch == ord(",")) & (before == 1) & in_array)
        cut = doc_open | doc_close | separator
        lo = spos[cut] + doc_close[cut]
        hi = spos[cut] + 1 - doc_open[cut]
        too_deep = spos[after > MAX_DOCUMENT_DEPTH]
        if len(after):
            self.depth = int(after[-1])
            self.in_array = bool(in_array[-1])
        newlines = np.flatnonzero(arr == 10)
        nonblank = np.flatnonzero(~_WS[arr])
        out: list[pa.Table] = []
        if not len(lo):
            self._extend(chunk, 0, len(chunk), nonblank, newlines, too_deep)
        else:
            self._extend(chunk, 0, int(lo[0]), nonblank, newlines, too_deep)
            out += self._close()
            out += self._inner(chunk, hi[:-1], lo[1:], nonblank, newlines, too_deep)
            self._extend(chunk, int(hi[-1]), len(chunk), nonblank, newlines, too_deep)
        self.offset += len(chunk)
        self.lines += len(newlines)
        return out

    def finish(self) -> list[pa.Table]:
        """The record still open at the end of the stream (a document cut short), if any."""
        return self._close()

    def _quotes(self, arr: np.ndarray) -> np.ndarray:
        """Positions of the quotes that are not escaped by a backslash."""
        quotes = np.flatnonzero(arr == ord('"'))
        slashes = np.flatnonzero(arr == ord("\\"))
        escaped = np.empty(0, dtype=np.int64)
        if len(slashes):
            breaks = np.flatnonzero(np.diff(slashes) != 1) + 1
            starts = slashes[np.r_[0, breaks]]
            ends = slashes[np.r_[breaks - 1, len(slashes) - 1]] + 1
            length = ends - starts
            if self.escaped and starts[0] == 0:
                length[0] += 1
            escaped = ends[(length & 1) == 1]
        if self.escaped and not (len(slashes) and slashes[0] == 0):
            escaped = np.r_[0, escaped]
        self.escaped = bool(len(escaped) and escaped[-1] == len(arr))
        if len(escaped) and len(quotes):
            quotes = quotes[~np.isin(quotes, escaped)]
        return quotes

    def _line(self, newlines: np.ndarray, pos: np.ndarray | int) -> np.ndarray | int:
        """Line number (from 1) of position ``pos`` of the current piece."""
        return self.lines + 1 + np.searchsorted(newlines, pos)

    def _inner(self, chunk: bytes, lo: np.ndarray, hi: np.ndarray, nonblank: np.ndarray,
               newlines: np.ndarray, too_deep: np.ndarray) -> list[pa.Table]:
        """The records between the cuts (``lo[k]..hi[k]``, blanks around them left out)."""
        i = np.searchsorted(nonblank, lo)
        j = np.searchsorted(nonblank, hi)
        some = j > i
        if not some.any():
            return []
        starts = nonblank[i[some]]
        ends = nonblank[j[some] - 1] + 1
        deep = np.searchsorted(too_deep, ends) > np.searchsorted(too_deep, starts)
        large = (ends - starts) > MAX_DOCUMENT_BYTES
        ok = ~deep & ~large
        lines = self._line(newlines, starts)
        line_end = self._line(newlines, ends - 1)
        out = []
        if ok.any():
            s, e = starts[ok], ends[ok]
            out.append(_lines.records_table(
                chunk, s, e, lines=lines[ok], offsets=s + self.offset, raw_bytes=e - s, line_end=line_end[ok],
                byte_end=e + self.offset, counts=np.ones(len(s), dtype=np.int64)))
        for k in np.flatnonzero(~ok).tolist():
            a, b = int(starts[k]), int(ends[k])
            out.append(_record(chunk[a : min(b, a + _HEAD_BYTES)], int(lines[k]), self.offset + a,
                               int(line_end[k]), self.offset + b, _note(bool(deep[k]), bool(large[k]))))
        return out

    def _extend(self, chunk: bytes, a: int, b: int, nonblank: np.ndarray, newlines: np.ndarray,
                too_deep: np.ndarray) -> None:
        """Add ``chunk[a:b]`` to the open record (leading blanks skipped)."""
        rec = self.open
        i, j = np.searchsorted(nonblank, [a, b])
        if j == i:  # only blanks
            if rec.start is not None and b > a:
                self._keep(chunk[a:b])
            return
        if rec.start is None:
            a = int(nonblank[i])
            rec.start = self.offset + a
            rec.line = int(self._line(newlines, a))
        last = int(nonblank[j - 1])
        rec.end = self.offset + last + 1
        rec.line_end = int(self._line(newlines, last))
        rec.deep |= bool(np.searchsorted(too_deep, b) > np.searchsorted(too_deep, a))
        self._keep(chunk[a:b])

    def _keep(self, piece: bytes) -> None:
        rec = self.open
        if rec.large:
            return
        rec.pieces.append(piece)
        rec.size += len(piece)
        if rec.size > MAX_DOCUMENT_BYTES:  # keep the head only, go on scanning
            rec.pieces = [b"".join(rec.pieces)[:_HEAD_BYTES]]
            rec.large = True

    def _close(self) -> list[pa.Table]:
        rec, self.open = self.open, _Open()
        if rec.start is None:
            return []
        size = rec.end - rec.start
        large = rec.large or size > MAX_DOCUMENT_BYTES
        data = b"".join(rec.pieces)[: _HEAD_BYTES if large or rec.deep else size]
        return [_record(data, rec.line, rec.start, rec.line_end, rec.end, _note(rec.deep, large))]


def _note(deep: bool, large: bool) -> str | None:
    if large:
        return f"{TOO_LARGE} {MAX_DOCUMENT_BYTES} bytes"
    if deep:
        return f"{TOO_DEEP} {MAX_DOCUMENT_DEPTH} levels"
    return None


def _record(data: bytes, line: int, offset: int, line_end: int, byte_end: int, note: str | None) -> pa.Table:
    """One record given whole (or its head, with a note)."""
    if note is None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            note, text = f"invalid UTF-8 at byte {exc.start}", _lines._cut(data)
    else:
        text = _lines._cut(data)
    if note is not None:
        text = text[: _lines.QUARANTINE_RAW_CHARS]
    return _lines.single(line, offset, text, note, byte_end - offset, byte_end=byte_end, line_end=line_end)


def split(stream: BinaryIO, offset: int = 0) -> Iterator[pa.Table]:
    """Tables of the records of ``stream`` (its first byte at stream offset ``offset``)."""
    splitter = Splitter(offset)
    first = True
    while True:
        try:
            chunk = stream.read(READ_BYTES)
        except (EOFError, OSError, zlib.error) as exc:
            # every record read so far is kept; the unreadable rest is one quarantined record
            yield from splitter.finish()
            line = splitter.lines + 1
            yield _lines.single(line, splitter.offset, "", f"{_lines.DAMAGED} at line {line}: the rest of "
                                f"the file cannot be read ({exc})", 0, byte_end=splitter.offset)
            return
        if first and chunk.startswith(_lines.BOM):
            chunk = chunk[len(_lines.BOM) :]
            splitter.offset += len(_lines.BOM)
        first = False
        if not chunk:
            break
        yield from splitter.feed(chunk)
    yield from splitter.finish()


def iter_documents(path: Path) -> Iterator[Block]:
    """Yield blocks of the records of a file of pretty-printed JSON documents (see the module).

    Each block holds up to :data:`BLOCK_RECORD_BYTES` of records and :data:`_lines.BLOCK_ROWS`
    records; each record counts as one line of the file's accounting.
    """
    with open_export(path) as f:
        tables: list[pa.Table] = []
        rows = size = 0
        for table in split(f):
            tables.append(table)
            rows += table.num_rows
            size += int(pc.sum(table.column("raw_bytes")).as_py() or 0)
            if rows >= _lines.BLOCK_ROWS or size >= BLOCK_RECORD_BYTES:
                yield Block(_lines.concat(tables), rows, 0)
                tables, rows, size = [], 0, 0
        if rows:
            yield Block(_lines.concat(tables), rows, 0)


def read_document(stream: BinaryIO, byte_offset: int) -> str:
    """The record that starts at ``byte_offset`` of the (decompressed, seekable) ``stream``."""
    stream.seek(byte_offset)
    for table in split(stream, byte_offset):
        if table.num_rows:
            return table.column("raw")[0].as_py()
    return ""
