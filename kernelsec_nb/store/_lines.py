"""Read an export file as numbered lines, in bounded chunks, straight into Arrow.

The file is read in blocks (gzip detected by its magic bytes, never by name); newlines are found
with numpy and each block becomes an Arrow table ``(line, byte_offset, raw, note)`` whose ``raw``
column points into the block without copying it.  Memory stays bounded by the block size plus the
longest line allowed.  A line longer than ``max_line_bytes`` is cut and flagged, a line that is not
valid UTF-8 is flagged (both end in quarantine), and a file holding pretty-printed JSON documents
(one event over many lines, as in Tetragon's docs) is read document by document instead.
"""

from __future__ import annotations

import errno
import io
import json
import os
import stat
import threading
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from kernelsec_nb.store import _arrow
from kernelsec_nb.store._decompress import (  # noqa: F401 - all but open_export moved there, kept for callers
    GzipStream,
    HashingFile,
    is_gzip,
    open_export,
    sha256_of,
)
from kernelsec_nb.store._discover import kind_of
from kernelsec_nb.store._ids import event_ids, repeats

#: Size of one block read from the file (decompressed bytes).
BLOCK_BYTES = 128 << 20
#: Longer lines are quarantined (cut to :data:`QUARANTINE_RAW_CHARS`).
MAX_LINE_BYTES = 8 << 20
#: How much of a quarantined line is kept in ``quarantine.raw``.
QUARANTINE_RAW_CHARS = 4096
#: Files up to this size may be read as pretty-printed JSON documents.
MAX_DOCUMENT_FILE_BYTES = 256 << 20

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
_TRAILING_WS_BYTES = np.frombuffer(_TRAILING_WS, dtype=np.uint8)


def _trimmed_ends(arr: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """End of each line once its newline and trailing whitespace are dropped (vectorised)."""
    tend = ends.copy()
    todo = np.arange(len(tend))
    while len(todo):
        e = tend[todo]
        ws = (e > starts[todo]) & np.isin(arr[np.maximum(e - 1, 0)], _TRAILING_WS_BYTES)
        todo = todo[ws]
        tend[todo] -= 1
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


def _table(line0: int, offset0: int, data: bytes | bytearray, starts: np.ndarray, ends: np.ndarray) -> pa.Table:
    """Arrow table whose ``raw`` values are the lines ``data[starts[i]:ends[i]]`` without their
    newline and trailing whitespace, as zero-copy views into ``data`` (``offset0`` is the stream
    offset of ``data[0]``)."""
    n = len(starts)
    arr = np.frombuffer(data, dtype=np.uint8)
    notes: list[str | None] = [None] * n
    raw_bytes = _line_bytes(arr, starts, ends)
    tend = _trimmed_ends(arr, starts, ends)
    ids, keys = event_ids(data, starts, tend)
    offsets = np.empty(n + 1, dtype=np.int32)
    offsets[:n] = starts
    offsets[n] = ends[-1] if n else 0
    contiguous = pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    try:
        contiguous.cast(pa.string())  # validates UTF-8 of the whole block in one pass
        text = _string_view(arr, data, starts, tend)
    except pa.ArrowInvalid:  # at least one line is not UTF-8: find it, keep the rest as is
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
            "line": _arrow.array(np.arange(line0, line0 + n, dtype=np.int64)),
            "byte_offset": _arrow.array(starts.astype(np.int64) + offset0),
            "raw": text,
            "note": pa.array(notes, pa.string()) if any(notes) else pa.nulls(n, pa.string()),
            "raw_bytes": _arrow.array(raw_bytes),
            "event_id": ids,
            "key": _arrow.array(keys),
            "repeat": repeats(keys),
        },
        schema=SCHEMA,
    )


def _single(line: int, offset: int, raw: str, note: str | None, raw_bytes: int) -> pa.Table:
    record = raw.rstrip(TRAILING_WS).encode()
    ids, keys = event_ids(record, [0], [len(record)])
    return pa.table(
        {"line": [line], "byte_offset": [offset], "raw": [raw], "note": [note], "raw_bytes": [raw_bytes],
         "event_id": ids, "key": keys, "repeat": [False]},
        schema=SCHEMA,
    )


def _blank_mask(data: bytes | bytearray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Mask of lines that are empty apart from ``\\r``/``\\n`` (whitespace-only is judged in SQL)."""
    length = ends - starts
    arr = np.frombuffer(data, dtype=np.uint8)
    mask = length <= 1
    two = length == 2
    if two.any():
        mask = mask | (two & (arr[np.minimum(starts, len(arr) - 1)] == 13))
    return mask


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


def _newlines(data: bytes | bytearray, start: int, stop: int) -> np.ndarray:
    """Positions of ``\\n`` in ``data[start:stop]`` (absolute indices)."""
    arr = np.frombuffer(data, dtype=np.uint8)
    mask = np.empty(min(_SCAN_BYTES, max(stop - start, 1)), dtype=bool)
    found = []
    for a in range(start, stop, _SCAN_BYTES):
        b = min(a + _SCAN_BYTES, stop)
        m = mask[: b - a]
        np.equal(arr[a:b], 10, out=m)
        found.append(np.flatnonzero(m) + a)
    return np.concatenate(found) if found else np.empty(0, dtype=np.int64)


def iter_ndjson(stream: BinaryIO, progress=None, block_bytes: int = BLOCK_BYTES,
                max_line_bytes: int = MAX_LINE_BYTES, *, pool: BufferPool | None = None,
                size_hint: int | None = None) -> Iterator[Block]:
    """Yield blocks of numbered lines from an NDJSON stream.

    Lines are numbered from 1; ``byte_offset`` is the offset of the line in the decompressed
    stream (used by ``Case.raw`` to read a line again).  Blank lines are counted, not yielded.
    ``size_hint`` (the file size, when known) keeps the read buffer no larger than the file.  Call each block's ``release``
    when done with its table so that its buffer is reused.
    """
    pool = pool or BufferPool()
    fill = _Filler(stream)
    want = block_bytes if size_hint is None else max(1, min(block_bytes, size_hint + 1))
    line_no = 1
    offset = 0  # decompressed offset of buf[0] (the start of ``carry``)
    carry = b""  # the unfinished last line of the previous read
    skipping = False  # inside an over-long line whose head was already reported
    while True:
        head = len(carry)
        buf = pool.take(head + want)
        buf[:head] = carry
        try:
            n = fill(memoryview(buf)[head : head + want])
        except (EOFError, OSError, zlib.error) as exc:
            pool.give(buf)
            # Keep every line read so far; the unreadable rest becomes one quarantined record.
            if carry and not skipping:
                pending = carry + b"\n"
                for block in _emit(pending, 0, len(pending), line_no, offset, max_line_bytes):
                    line_no += block.lines
                    yield block
                offset += len(pending)
            yield Block(_single(line_no, offset, "", f"{DAMAGED} after line {line_no - 1}: "
                                f"the rest of the file cannot be read ({exc})", 0), 1, 0)
            return
        if progress is not None:
            progress(_position(stream))
        if not n:
            pool.give(buf)
            if carry and not skipping:
                pending = carry + b"\n"  # last line without a newline
                yield from _emit(pending, 0, len(pending), line_no, offset, max_line_bytes)
            return
        start, end = 0, head + n
        if skipping:
            nl = buf.find(b"\n", 0, end)
            if nl < 0:
                offset += end
                carry = b""
                pool.give(buf)
                continue
            skipping = False
            start = nl + 1
            line_no += 1
        last = buf.rfind(b"\n", start, end)
        if last < 0:
            if end - start > max_line_bytes:
                yield Block(_single(line_no, offset + start, _cut(memoryview(buf)[start:end]),
                                    f"{TOO_LONG} {max_line_bytes} bytes", end - start), 1, 0)
                skipping = True
                carry = b""
                offset += end
            else:
                carry = bytes(buf[start:end])
                offset += start
            pool.give(buf)
            continue
        rest = bytes(buf[last + 1 : end])
        for block in _emit(buf, start, last + 1, line_no, offset, max_line_bytes):
            line_no += block.lines
            block.release = lambda b=buf: pool.give(b)
            yield block
        carry = rest
        offset += last + 1


def _emit(data: bytes | bytearray, start: int, stop: int, line0: int, offset0: int,
          max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[Block]:
    """One block of the complete lines ``data[start:stop]`` (which ends with a newline);
    ``offset0`` is the stream offset of ``data[0]``."""
    ends = _newlines(data, start, stop) + 1
    starts = np.empty_like(ends)
    starts[0] = start
    starts[1:] = ends[:-1]
    blank = _blank_mask(data, starts, ends)
    too_long = (ends - starts) > max_line_bytes
    keep = ~blank & ~too_long
    lines = np.arange(line0, line0 + len(starts), dtype=np.int64)
    tables = []
    if keep.all():
        tables.append(_table(line0, offset0, data, starts, ends))
    else:
        # Rare path: keep contiguous runs so the zero-copy table still applies to each.
        idx = np.flatnonzero(keep)
        if len(idx):
            breaks = np.flatnonzero(np.diff(idx) != 1) + 1
            for run in np.split(idx, breaks):
                a, b = run[0], run[-1] + 1
                t = _table(int(lines[a]), offset0, data, starts[a:b], ends[a:b])
                tables.append(t)
        arr = np.frombuffer(data, dtype=np.uint8)
        for i in np.flatnonzero(too_long):
            piece = memoryview(data)[starts[i] : ends[i]]
            size = int(_line_bytes(arr, starts[i : i + 1], ends[i : i + 1])[0])
            tables.append(_single(int(lines[i]), offset0 + int(starts[i]), _cut(piece),
                                  f"{TOO_LONG} {max_line_bytes} bytes", size))
    if len(tables) > 1:  # repeats across the runs of the block
        table = pa.concat_tables(tables)
        table = table.set_column(SCHEMA.get_field_index("repeat"), "repeat",
                                 repeats(_arrow.to_numpy(table.column("key"))))
    else:
        table = tables[0] if tables else SCHEMA.empty_table()
    yield Block(table, len(starts), int(blank.sum()))


def _position(stream: BinaryIO) -> int:
    inner = getattr(stream, "fileobj", None)
    try:
        return int((inner or stream).tell())
    except (OSError, ValueError):
        return 0


def looks_like_documents(path: Path) -> bool:
    """True for pretty-printed JSON (one event over many lines, as in Tetragon's docs): the
    first non-blank line opens an object or array and does not close it (``{``, ``[`` or
    ``{"process_exec": {``).  An NDJSON line with garbage after it is not a document."""
    with open_export(path) as f:
        try:
            head = f.read(1 << 16)
        except (EOFError, OSError, zlib.error):
            return False
    first = head.lstrip().split(b"\n", 1)[0].strip()
    return len(first) < 256 and first[:1] in (b"{", b"[") and first[-1:] in (b"{", b"[")


def iter_documents(path: Path) -> Generator[Block, None, None]:
    """Yield one block of pretty-printed JSON documents (concatenated, or a JSON array of events).

    Each document counts as one record whose ``line`` is the physical line it starts on.  A
    document that does not parse is quarantined with the rest of the file.
    """
    with open_export(path) as f:
        try:
            data = f.read(MAX_DOCUMENT_FILE_BYTES + 1)
        except (EOFError, OSError, zlib.error):
            data = b""
    text = data.decode("utf-8", errors="replace")
    decoder = json.JSONDecoder()
    rows: list[tuple[int, int, str, str | None, int]] = []
    records: list[bytes] = []  # what each row's id is the hash of
    pos = offset = 0  # offset: bytes of ``text[:pos]`` in UTF-8, kept as ``pos`` moves
    n = len(text)
    while True:
        start = pos
        while pos < n and text[pos] in " \t\r\n":
            pos += 1
        if pos >= n:
            break
        offset += len(text[start:pos].encode())
        line = text.count("\n", 0, pos) + 1
        try:
            doc, end = decoder.raw_decode(text, pos)
        except ValueError as exc:
            rest = text[pos:]
            encoded = rest.encode()
            rows.append((line, offset, rest[:QUARANTINE_RAW_CHARS],
                         f"malformed JSON document ({exc.msg})", len(encoded)))
            records.append(encoded.rstrip(_TRAILING_WS))
            break
        if isinstance(doc, list):  # an array of events: one record per item, re-serialised
            pieces = [json.dumps(item, separators=(",", ":"), ensure_ascii=False) for item in doc]
        else:
            pieces = [text[pos:end]]
        for piece in pieces:
            encoded = piece.encode()
            rows.append((line, offset, piece, None, len(encoded)))
            records.append(encoded.rstrip(_TRAILING_WS))
        offset += len(text[pos:end].encode())
        pos = end
    if not rows:
        return
    cols = list(zip(*rows, strict=True))
    data: dict[str, object] = dict(zip(SCHEMA.names, map(list, cols), strict=False))
    lengths = np.array([len(r) for r in records], dtype=np.int64)
    ends = np.cumsum(lengths)
    ids, keys = event_ids(b"".join(records), ends - lengths, ends)
    data |= {"event_id": ids, "key": keys, "repeat": repeats(keys)}
    table = pa.table(data, schema=SCHEMA)
    yield Block(table, len(rows), 0)


def read_record(path: Path, byte_offset: int, documents: bool) -> str:
    """Read again the record that starts at ``byte_offset`` of the decompressed file."""
    with open_export(path, seekable=True) as f:
        f.seek(byte_offset)  # gzip seeks forward by decompressing
        if not documents:
            return f.readline(MAX_LINE_BYTES + 1).decode("utf-8", errors="replace").rstrip("\r\n")
        text = io.TextIOWrapper(f, encoding="utf-8", errors="replace").read(MAX_DOCUMENT_FILE_BYTES)
    doc, end = json.JSONDecoder().raw_decode(text)
    return text[:end]
