"""Read an export file as numbered lines, in bounded chunks, straight into Arrow.

The file is read in blocks (gzip detected by its magic bytes, never by name); newlines are found
with numpy and each block becomes an Arrow table ``(line, byte_offset, raw, note)`` whose ``raw``
column points into the block without copying it.  Memory stays bounded by the block size plus the
longest line allowed, whatever the number of lines: lines are split :data:`SCAN_LINES` at a time,
a block holds at most :data:`BLOCK_ROWS` records, blank lines (only whitespace) are counted and never
handed on, and a run of byte-identical consecutive lines becomes one record with its
``repeat_count`` (its first line loads or is refused for all of them; the others are duplicates, or
refused with it).  A line longer than ``max_line_bytes`` is cut and flagged, a line that is not
valid UTF-8 is flagged (both end in quarantine).  A UTF-8 byte order mark at the start of the
stream is skipped.  Files holding pretty-printed JSON documents (one event over many lines, as in
Tetragon's docs) are read by :mod:`kernelsec_nb.store._documents` instead.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from kernelsec_nb.store import _arrow
from kernelsec_nb.store._decompress import open_export
from kernelsec_nb.store._discover import kind_of
from kernelsec_nb.store._ids import event_ids, repeats
from kernelsec_nb.store._runs import same_as_previous

#: Size of one block read from the file (decompressed bytes).
BLOCK_BYTES = 128 << 20
#: Longer lines are quarantined (cut to :data:`QUARANTINE_RAW_CHARS`).
MAX_LINE_BYTES = 8 << 20
#: How much of a quarantined line is kept in ``quarantine.raw``.
QUARANTINE_RAW_CHARS = 4096
#: Lines split at once (a few numpy arrays of this length), whatever the block size.
SCAN_LINES = 1 << 18
#: Records in one block handed to DuckDB (its statements hold a row of every column per record).
BLOCK_ROWS = 1 << 18
#: A UTF-8 byte order mark, skipped at the start of a stream (the first line's offset is after it).
BOM = b"\xef\xbb\xbf"

SCHEMA = pa.schema(
    [
        ("line", pa.int64()),
        ("byte_offset", pa.int64()),
        ("raw", pa.string_view()),
        ("note", pa.string()),
        ("raw_bytes", pa.int64()),
        ("event_id", pa.string()),
        # the id's first 64 bits (16 hex digits) as a number: see kernelsec_nb.store._known
        ("key", pa.uint64()),
        # a later copy of a record earlier in the same block (same key: a superset of same id)
        ("repeat", pa.bool_()),
        # the record stands for the identical lines line..line_end (repeat_count of them), which
        # end at byte_end (the last one's line end included)
        ("line_end", pa.int64()),
        ("byte_end", pa.int64()),
        ("repeat_count", pa.int64()),
    ]
)


#: Start of the quarantine reason for the unreadable rest of a damaged compressed file.
DAMAGED = "compressed stream damaged or cut short"
#: Start of the quarantine reason for a line over ``max_line_bytes``.
TOO_LONG = "line longer than"


@dataclass
class Block:
    """One block of numbered lines, ready to hand to DuckDB as an Arrow table."""

    table: pa.Table
    lines: int
    blank: int
    #: Called once DuckDB is done with ``table``: its text may point into a pooled read buffer.
    release: Callable[[], None] = lambda: None


def open_binary(path: Path) -> BinaryIO:
    """Open a file for reading bytes, unbuffered (every read of an export goes through here).

    Only a regular file is opened: the open does not wait (``O_NONBLOCK``, so a FIFO put in
    the file's place after it was listed cannot block the load), and anything but a regular
    file (a FIFO, ``/dev/urandom``) is an ``OSError`` before a byte is read.
    """
    nonblock = getattr(os, "O_NONBLOCK", 0)  # (Windows has no FIFOs to block on)
    fd = os.open(path, os.O_RDONLY | nonblock | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"{kind_of(mode)}, not a regular file: never read", str(path))
        if nonblock:
            os.set_blocking(fd, True)
        return open(fd, "rb", buffering=0)  # noqa: SIM115 - returned to the caller
    except BaseException:
        os.close(fd)
        raise


def _cut(raw: bytes | bytearray | memoryview) -> str:
    return bytes(raw[:QUARANTINE_RAW_CHARS]).decode("utf-8", errors="replace")


#: Trailing characters that are not part of a record (line ends and trailing blanks); the event
#: id is the hash of a record without them (:func:`kernelsec_nb.store._ids.event_id`).
TRAILING_WS = "\n\r \t"
_TRAILING_WS = TRAILING_WS.encode()
_IS_WS = np.zeros(256, dtype=bool)
_IS_WS[list(_TRAILING_WS)] = True
#: Trailing whitespace is stripped a byte at a time with numpy this many times, then line by line.
_TRIM_STEPS = 8


def _trimmed_ends(arr: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """End of each line once its newline and trailing whitespace are dropped (vectorised; a
    line with a long whitespace tail is finished by ``bytes.rstrip``, so time stays linear)."""
    tend = ends.copy()
    todo = np.arange(len(tend))
    for _ in range(_TRIM_STEPS):
        if not len(todo):
            break
        e = tend[todo]
        todo = todo[(e > starts[todo]) & _IS_WS[arr[np.maximum(e - 1, 0)]]]
        tend[todo] -= 1
    for i in todo.tolist():
        s = int(starts[i])
        tend[i] = s + len(arr[s : int(tend[i])].tobytes().rstrip(_TRAILING_WS))
    return tend


def _line_bytes(arr: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Length of each line without its line end (``\\n`` or ``\\r\\n``): what ``raw_bytes`` keeps."""
    n = (ends - starts).astype(np.int64)
    if len(n):
        nl = (n > 0) & (arr[np.maximum(ends - 1, 0)] == 10)
        n -= nl
        n -= nl & (n > 0) & (arr[np.maximum(ends - 2, 0)] == 13)
    return n


def _string_view(arr: np.ndarray, data: bytes | bytearray, starts: np.ndarray, tend: np.ndarray) -> pa.Array:
    """Arrow ``string_view`` whose values are ``data[starts[i]:tend[i]]``, without copying the text.

    A view is 16 bytes: the length, then either the value inline (up to 12 bytes) or its first 4
    bytes, a buffer index and an offset.  DuckDB's own string layout is the same, so it scans these
    without a copy; trailing whitespace is left out of the value, not cut from the buffer.
    """
    n = len(starts)
    lens = (tend - starts).astype(np.int32)
    views = np.zeros((n, 16), dtype=np.uint8)
    words = views.view(np.int32)
    words[:, 0] = lens
    if n:
        pos = np.minimum(starts[:, None] + np.arange(12), max(len(arr) - 1, 0))
        head = arr[pos] if len(arr) else np.zeros((n, 12), dtype=np.uint8)
        short = lens <= 12
        views[short, 4:16] = np.where(np.arange(12)[None, :] < lens[short, None], head[short], 0)
        long = ~short
        views[long, 4:8] = head[long, :4]
        words[long, 2] = 0
        words[long, 3] = starts[long].astype(np.int32)
    return pa.Array.from_buffers(pa.string_view(), n, [None, pa.py_buffer(views), pa.py_buffer(data)])


def records_table(data: bytes | bytearray, starts: np.ndarray, tend: np.ndarray, *, lines: np.ndarray,
                  offsets: np.ndarray, raw_bytes: np.ndarray, line_end: np.ndarray, byte_end: np.ndarray,
                  counts: np.ndarray) -> pa.Table:
    """Arrow table of the records ``data[starts[i]:tend[i]]`` (increasing, not overlapping), as
    zero-copy views into ``data``; a record that is not UTF-8 gets its note and replaced text."""
    n = len(starts)
    arr = np.frombuffer(data, dtype=np.uint8)
    notes: list[str | None] = [None] * n
    ids, keys = event_ids(data, starts, tend)
    bounds = np.empty(n + 1, dtype=np.int32)
    bounds[:n] = starts
    bounds[n] = tend[-1] if n else 0
    # the bytes from each record to the next (records and what lies between): valid UTF-8 there
    # means valid records, checked in one pass
    spans = pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(bounds), pa.py_buffer(data)])
    try:
        spans.cast(pa.string())
        text = _string_view(arr, data, starts, tend)
    except pa.ArrowInvalid:  # some bytes are not UTF-8: find the records, keep the rest as is
        values: list[str] = []
        for i in range(n):
            piece = bytes(data[starts[i] : tend[i]])
            try:
                values.append(piece.decode("utf-8"))
            except UnicodeDecodeError as exc:
                notes[i] = f"invalid UTF-8 at byte {exc.start}"
                values.append(_cut(piece))
        text = pa.array(values, pa.string_view())
    return pa.table(
        {
            "line": _arrow.array(lines.astype(np.int64)),
            "byte_offset": _arrow.array(offsets.astype(np.int64)),
            "raw": text,
            "note": pa.array(notes, pa.string()) if any(notes) else pa.nulls(n, pa.string()),
            "raw_bytes": _arrow.array(raw_bytes.astype(np.int64)),
            "event_id": ids,
            "key": _arrow.array(keys),
            "repeat": repeats(keys),
            "line_end": _arrow.array(line_end.astype(np.int64)),
            "byte_end": _arrow.array(byte_end.astype(np.int64)),
            "repeat_count": _arrow.array(counts.astype(np.int64)),
        },
        schema=SCHEMA,
    )


def single(line: int, offset: int, raw: str, note: str | None, raw_bytes: int, *, byte_end: int,
           line_end: int | None = None) -> pa.Table:
    """A table of one record given as text (a cut line, a damaged stream's rest, a document)."""
    record = raw.rstrip(TRAILING_WS).encode()
    ids, keys = event_ids(record, [0], [len(record)])
    return pa.table(
        {"line": [line], "byte_offset": [offset], "raw": [raw], "note": [note], "raw_bytes": [raw_bytes],
         "event_id": ids, "key": keys, "repeat": [False], "line_end": [line if line_end is None else line_end],
         "byte_end": [byte_end], "repeat_count": [1]},
        schema=SCHEMA,
    )


def concat(tables: list[pa.Table]) -> pa.Table:
    """Tables of one block as one, with ``repeat`` computed across them."""
    if not tables:
        return SCHEMA.empty_table()
    if len(tables) == 1:
        return tables[0]
    table = pa.concat_tables(tables)
    return table.set_column(SCHEMA.get_field_index("repeat"), "repeat",
                            repeats(_arrow.to_numpy(table.column("key"))))


class BufferPool:
    """Read buffers, handed back once DuckDB is done with the block whose text points into them.

    Touching freshly allocated memory (page faults) cost more here than reading a block into a
    buffer already in use, so a load reuses a few buffers instead of allocating one per block.
    A block that is never handed back only means a new allocation, never a wrong line.
    """

    def __init__(self, keep: int = 3) -> None:
        self._free: list[bytearray] = []
        self._keep = keep
        self._lock = threading.Lock()

    def take(self, size: int) -> bytearray:
        with self._lock:
            for i, buf in enumerate(self._free):
                if len(buf) >= size:
                    return self._free.pop(i)
        # with room to spare: the next block asks for a little more or less (the unfinished line
        # carried over), and an exact fit was too small for it half the time
        return bytearray(size + (size >> 4))

    def give(self, buf: bytearray) -> None:
        with self._lock:
            if len(self._free) < self._keep:
                self._free.append(buf)


class _Shared:
    """A read buffer that several blocks point into: back to the pool once the reader is done
    with it and every block handed out was released."""

    def __init__(self, pool: BufferPool, buf: bytearray) -> None:
        self._pool, self._buf = pool, buf
        self._out = 0
        self._closed = False
        self._lock = threading.Lock()

    def lease(self) -> Callable[[], None]:
        with self._lock:
            self._out += 1
        done = False

        def release() -> None:
            nonlocal done
            if not done:
                done = True
                with self._lock:
                    self._out -= 1
                self._maybe_give()

        return release

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._maybe_give()

    def _maybe_give(self) -> None:
        with self._lock:
            buf = self._buf if self._closed and not self._out else None
            if buf is not None:
                self._buf = None
        if buf is not None:
            self._pool.give(buf)


class _Filler:
    """Fill buffers from a stream; an error after some bytes were read is raised on the next call,
    so every byte that could be read is used first (a cut gzip stream keeps its readable part)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.error: BaseException | None = None

    def __call__(self, view: memoryview) -> int:
        if self.error is not None:
            raise self.error
        n = 0
        try:
            while n < len(view):
                k = self.stream.readinto(view[n:])
                if not k:
                    break
                n += k
        except (EOFError, OSError, zlib.error) as exc:
            if not n:
                raise
            self.error = exc
        return n


#: Newlines are searched in slices of this many bytes (a small reusable mask, no page faults).
_SCAN_BYTES = 1 << 20


def _line_ends(data: bytes | bytearray, start: int, stop: int) -> Iterator[np.ndarray]:
    """The end (after its ``\\n``) of each line of ``data[start:stop]``, :data:`SCAN_LINES` at a time."""
    arr = np.frombuffer(data, dtype=np.uint8)
    mask = np.empty(min(_SCAN_BYTES, max(stop - start, 1)), dtype=bool)
    found: list[np.ndarray] = []
    count = 0
    for a in range(start, stop, _SCAN_BYTES):
        b = min(a + _SCAN_BYTES, stop)
        m = mask[: b - a]
        np.equal(arr[a:b], 10, out=m)
        found.append(np.flatnonzero(m) + (a + 1))
        count += len(found[-1])
        while count >= SCAN_LINES:
            ends = np.concatenate(found)
            yield ends[:SCAN_LINES]
            found = [ends[SCAN_LINES:]]
            count = len(found[0])
    if count:
        yield np.concatenate(found)


def iter_ndjson(stream: BinaryIO, progress=None, block_bytes: int = BLOCK_BYTES,
                max_line_bytes: int = MAX_LINE_BYTES, *, pool: BufferPool | None = None,
                size_hint: int | None = None) -> Iterator[Block]:
    """Yield blocks of numbered lines from an NDJSON stream.

    Lines are numbered from 1; ``byte_offset`` is the offset of the line in the decompressed
    stream (used by ``Case.raw`` to read a line again).  Blank lines are counted, not yielded; a
    run of identical lines is one record (``repeat_count``).  ``size_hint`` (the file size, when
    known) keeps the read buffer no larger than the file.  Call each block's ``release`` when done
    with its table so that its buffer is reused.
    """
    pool = pool or BufferPool()
    fill = _Filler(stream)
    want = block_bytes if size_hint is None else max(1, min(block_bytes, size_hint + 1))
    line_no = 1
    offset = 0  # decompressed offset of buf[0] (the start of ``carry``)
    carry = b""  # the unfinished last line of the previous read
    # an over-long line whose head was read: (line, offset, head); its end is still to come
    long: tuple[int, int, str] | None = None
    cr = False  # the last byte read of the over-long line was a \r (of its \r\n, maybe)

    def long_record(content_end: int, line_end_bytes: int) -> Block:
        """The over-long line, once its end is known (its text ends at ``content_end``)."""
        line, at, head = long  # type: ignore[misc]
        return Block(single(line, at, head, f"{TOO_LONG} {max_line_bytes} bytes", content_end - at,
                            byte_end=content_end + line_end_bytes), 1, 0)

    while True:
        head = len(carry)
        buf = pool.take(head + want)
        buf[:head] = carry
        try:
            n = fill(memoryview(buf)[head : head + want])
        except (EOFError, OSError, zlib.error) as exc:
            pool.give(buf)
            # Keep every line read so far; the unreadable rest becomes one quarantined record.
            if long is not None:
                yield long_record(offset, 0)
                line_no += 1
            elif carry:
                pending = carry + b"\n"
                for block in _emit(pending, 0, len(pending), line_no, offset, max_line_bytes):
                    line_no += block.lines
                    yield block
                offset += len(carry)
            yield Block(single(line_no, offset, "", f"{DAMAGED} after line {line_no - 1}: "
                               f"the rest of the file cannot be read ({exc})", 0, byte_end=offset), 1, 0)
            return
        if progress is not None:
            progress(_position(stream))
        if not n:
            pool.give(buf)
            if long is not None:
                yield long_record(offset, 0)
            elif carry:
                pending = carry + b"\n"  # last line without a newline
                yield from _emit(pending, 0, len(pending), line_no, offset, max_line_bytes)
            return
        start, end = 0, head + n
        if offset == 0 and head == 0 and buf.startswith(BOM, 0, end):
            start = len(BOM)  # a byte order mark: not part of the first line
        if long is not None:
            nl = buf.find(b"\n", 0, end)
            if nl < 0:
                cr = buf[end - 1] == 13
                offset += end
                carry = b""
                pool.give(buf)
                continue
            # the line ends here: its length without the line end, and the next line starts
            crlf = buf[nl - 1] == 13 if nl else cr
            yield long_record(offset + nl - crlf, 1 + crlf)
            long = None
            start = nl + 1
            line_no += 1
        last = buf.rfind(b"\n", start, end)
        if last < 0:
            if end - start > max_line_bytes:
                long = (line_no, offset + start, _cut(memoryview(buf)[start:end]))
                cr = buf[end - 1] == 13
                carry = b""
                offset += end
            else:
                carry = bytes(buf[start:end])
                offset += start
            pool.give(buf)
            continue
        rest = bytes(buf[last + 1 : end])
        shared = _Shared(pool, buf)
        for block in _emit(buf, start, last + 1, line_no, offset, max_line_bytes):
            line_no += block.lines
            block.release = shared.lease()
            yield block
        shared.close()
        carry = rest
        offset += last + 1


class _Rows:
    """The records of a block being gathered, window by window (numpy arrays, one per column)."""

    COLUMNS = ("starts", "tend", "lines", "raw_bytes", "line_end", "byte_end", "counts")

    def __init__(self) -> None:
        self.parts: dict[str, list[np.ndarray]] = {c: [] for c in self.COLUMNS}
        self.singles: list[pa.Table] = []
        self.rows = self.lines = self.blank = 0

    def add(self, **cols: np.ndarray) -> None:
        if len(cols["starts"]):
            for c in self.COLUMNS:
                self.parts[c].append(cols[c])
            self.rows += len(cols["starts"])

    def extend_last(self, lines: int, byte_end: int) -> None:
        """The last record's run goes on for ``lines`` more lines, up to ``byte_end``."""
        k = next(i for i in range(len(self.parts["counts"]) - 1, -1, -1) if len(self.parts["counts"][i]))
        self.parts["counts"][k][-1] += lines
        self.parts["line_end"][k][-1] += lines
        self.parts["byte_end"][k][-1] = byte_end

    def block(self, data: bytes | bytearray, offset0: int) -> Block:
        tables = list(self.singles)
        if self.rows:
            col = {c: np.concatenate(self.parts[c]) for c in self.COLUMNS}
            tables.insert(0, records_table(
                data, col["starts"], col["tend"], lines=col["lines"], offsets=col["starts"] + offset0,
                raw_bytes=col["raw_bytes"], line_end=col["line_end"], byte_end=col["byte_end"] + offset0,
                counts=col["counts"]))
        return Block(concat(tables), self.lines, self.blank)


def _emit(data: bytes | bytearray, start: int, stop: int, line0: int, offset0: int,
          max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[Block]:
    """Blocks of the complete lines ``data[start:stop]`` (which ends with a newline), at most
    :data:`BLOCK_ROWS` records each; ``offset0`` is the stream offset of ``data[0]``.

    Lines are split :data:`SCAN_LINES` at a time; blank lines are only counted, and a run of
    byte-identical lines (line end included) is one record whose ``repeat_count`` says how many,
    so the memory taken stays bounded by the bytes, not the number of lines.
    """
    arr = np.frombuffer(data, dtype=np.uint8)
    rows = _Rows()
    line = line0
    prev: tuple[int, int] | None = None  # the line before this window, when its run may go on
    first = start
    for ends in _line_ends(data, start, stop):
        n = len(ends)
        starts = np.empty_like(ends)
        starts[0] = first
        starts[1:] = ends[:-1]
        first = int(ends[-1])
        tend = _trimmed_ends(arr, starts, ends)
        blank = tend == starts
        too_long = (ends - starts) > max_line_bytes
        if prev is None:
            same = same_as_previous(arr, starts, ends, data, blank | too_long)
        else:
            same = same_as_previous(arr, np.r_[prev[0], starts], np.r_[prev[1], ends], data,
                                    np.r_[False, blank | too_long])[1:]
        heads = np.flatnonzero(~same)
        counts = np.diff(np.r_[heads, n])
        lines = heads + line
        if same[0] and not blank[0]:  # the last record's run goes on in this window
            go_on = int(heads[0]) if len(heads) else n
            rows.extend_last(go_on, int(ends[go_on - 1]))
        keep = ~blank[heads] & ~too_long[heads]
        k = heads[keep]
        rows.add(starts=starts[k], tend=tend[k], lines=lines[keep], raw_bytes=_line_bytes(arr, starts[k], ends[k]),
                 line_end=lines[keep] + counts[keep] - 1, byte_end=ends[k + counts[keep] - 1], counts=counts[keep])
        for i in np.flatnonzero(too_long).tolist():
            size = int(_line_bytes(arr, starts[i : i + 1], ends[i : i + 1])[0])
            rows.singles.append(single(line + i, offset0 + int(starts[i]), _cut(memoryview(data)[starts[i] : ends[i]]),
                                       f"{TOO_LONG} {max_line_bytes} bytes", size,
                                       byte_end=offset0 + int(ends[i])))
        rows.lines += n
        rows.blank += int(blank.sum())
        line += n
        prev = (int(starts[-1]), int(ends[-1]))
        if rows.rows + len(rows.singles) >= BLOCK_ROWS:
            yield rows.block(data, offset0)
            rows = _Rows()
            prev = None  # a run is not continued into the next block
    if rows.lines:
        yield rows.block(data, offset0)


def _position(stream: BinaryIO) -> int:
    inner = getattr(stream, "fileobj", None)
    try:
        return int((inner or stream).tell())
    except (OSError, ValueError):
        return 0


def read_record(path: Path, byte_offset: int, documents: bool) -> str:
    """Read again the record that starts at ``byte_offset`` of the decompressed file."""
    from kernelsec_nb.store._documents import read_document  # it builds on this module

    with open_export(path, seekable=True) as f:
        f.seek(byte_offset)  # gzip seeks forward by decompressing
        if not documents:
            return f.readline(MAX_LINE_BYTES + 1).decode("utf-8", errors="replace").rstrip("\r\n")
        return read_document(f, byte_offset)
