"""Open an export file for reading its bytes: plain, or gzip (by its magic bytes, never its name).

Gzip is read member by member (``cat a.gz b.gz`` makes a valid file of two members), each
member's header parsed here and its deflate data inflated raw, so that damage is found where it
is and everything before it is kept:

* **cut short** (the file ends inside a member): every byte inflated so far is handed out first;
* **corrupt data** (inflate fails): what the member inflated before the failing piece of input
  is handed out (input is fed in small pieces, so at most a few hundred KB of text before
  the damage is lost);
* **bad CRC or length** (the member's trailer does not match its data): the data is handed
  out (it inflated cleanly: which byte is wrong cannot be told) and the following members are
  read too;
* **trailing garbage** (bytes after the last member that are not a gzip member).

Each damage ends the stream with :class:`DamagedStream` (an ``OSError``) after the good bytes,
whose message names the kind of damage and its offsets, compressed (in the file) and
decompressed (the ``byte_offset`` of the lines); the line reader turns it into one quarantined
record.  A bad CRC does not stop the reading: it is reported once the stream ends.

Inflate uses ISA-L (the ``isal`` package, ~2.5x zlib's speed here) and falls back to the
standard library's ``zlib`` when ``isal`` cannot be imported: same results, slower.

Example
-------
>>> import gzip, io
>>> data = gzip.compress(b'{"a": 1}\\n' * 3)
>>> s = GzipStream(io.BytesIO(data[:-6] + b"\\x00" + data[-5:]))   # a byte of its CRC flipped
>>> s.read(100)
b'{"a": 1}\\n{"a": 1}\\n{"a": 1}\\n'
>>> try:
...     s.read(100)
... except DamagedStream as exc:
...     print(exc.kind, exc.compressed_offset, exc.decompressed_offset)
bad crc 24 27
"""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

try:  # ISA-L's inflate: the same API as zlib, ~2.5x faster
    from isal import isal_zlib as _inflate_lib
except ImportError:  # pragma: no cover - isal is a dependency; zlib gives the same bytes
    _inflate_lib = zlib  # type: ignore[assignment]

GZIP_MAGIC = b"\x1f\x8b"
#: Bytes read from the file at a time.
READ_BYTES = 1 << 20
#: Compressed bytes given to inflate per call: the text lost before a corrupt spot is at most
#: what one piece inflates to (inflate drops the output of the call that fails).
PIECE_BYTES = 32 << 10
#: Longest gzip header accepted (file name and comment included).
MAX_HEADER_BYTES = 1 << 16
#: How much of trailing garbage is kept in the exception (``DamagedStream.raw``).
RAW_PREVIEW_BYTES = 4096

_FHCRC, _FEXTRA, _FNAME, _FCOMMENT = 2, 4, 8, 16
_DECOMPRESS_ERRORS: tuple[type[BaseException], ...] = (zlib.error, getattr(_inflate_lib, "error", zlib.error))


def open_binary(path: Path) -> BinaryIO:
    """:func:`kernelsec_nb.store._lines.open_binary`, the one open every read of an export goes
    through (looked up when called: ``_lines`` imports this module)."""
    from kernelsec_nb.store import _lines

    return _lines.open_binary(path)


def is_gzip(path: Path) -> bool:
    """True when the file starts with gzip's magic bytes."""
    with open_binary(path) as f:
        return f.read(2) == GZIP_MAGIC


def sha256_of(path: Path) -> str:
    """The sha256 of a file's bytes (as stored, not decompressed)."""
    h = hashlib.sha256()
    with open_binary(path) as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def size_hint(path: Path, stored: int) -> int:
    """About how many bytes the file holds once decompressed: the size of its read buffer.

    For gzip, the length its trailer gives (the last member's, modulo 4 GiB) but at least four
    times the stored size: a small export then takes a small buffer, and a file of several
    members (or a damaged trailer) at worst a few more, smaller blocks.  Plain files: their size.
    """
    if not is_gzip(path):
        return stored
    with open_binary(path) as f:
        f.seek(max(stored - 4, 0))
        tail = f.read(4)
    isize = struct.unpack("<I", tail)[0] if len(tail) == 4 else 0
    return max(isize, 4 * stored)


class HashingFile(io.RawIOBase):
    """A file read from start to end, with the sha256 of every byte read (no second pass)."""

    def __init__(self, path: Path) -> None:
        self._f = open_binary(path)
        self._digest = hashlib.sha256()
        self._at_end = False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        n = self._f.readinto(b)
        if n:
            self._digest.update(memoryview(b)[:n])
        else:
            self._at_end = True
        return n or 0

    def tell(self) -> int:
        return self._f.tell()

    def sha256(self) -> str | None:
        """The file's sha256 once it was read to its end (None before)."""
        return self._digest.hexdigest() if self._at_end else None

    def close(self) -> None:
        self._f.close()
        super().close()


class DamagedStream(OSError):
    """A gzip stream is damaged; every byte before the damage was read.

    ``kind`` is ``cut short``, ``corrupt data``, ``bad header``, ``bad crc``, ``bad length`` or
    ``trailing garbage``; ``compressed_offset`` is where in the file the damage is (for corrupt
    data: the start of the piece of input inflate failed in), ``decompressed_offset`` how many
    decompressed bytes came before it, ``member`` the gzip member (from 1), ``raw`` the first
    bytes of trailing garbage (else empty).
    """

    def __init__(self, kind: str, message: str, *, member: int, compressed_offset: int,
                 decompressed_offset: int, raw: bytes = b"") -> None:
        super().__init__(message)
        self.kind = kind
        self.member = member
        self.compressed_offset = compressed_offset
        self.decompressed_offset = decompressed_offset
        self.raw = raw

    def __str__(self) -> str:
        return str(self.args[0])


def _header_length(buf: bytes, pos: int = 0) -> int:
    """Length of the gzip member header at ``buf[pos:]``; 0 when more bytes are needed;
    ``ValueError`` when it is not a gzip (deflate) header."""
    have = len(buf) - pos
    if have < 10:
        if buf[pos : pos + 2] != GZIP_MAGIC[:have]:
            raise ValueError("not a gzip member")
        return 0
    if buf[pos : pos + 2] != GZIP_MAGIC:
        raise ValueError("not a gzip member")
    if buf[pos + 2] != 8:
        raise ValueError(f"unknown compression method {buf[pos + 2]}")
    flags = buf[pos + 3]
    if flags & 0xE0:
        raise ValueError(f"reserved header flags set ({flags:#x})")
    at = pos + 10
    if flags & _FEXTRA:
        if len(buf) < at + 2:
            return 0
        at += 2 + struct.unpack_from("<H", buf, at)[0]
    for flag in (_FNAME, _FCOMMENT):
        if flags & flag:
            end = buf.find(b"\0", at)
            if end < 0:
                if have > MAX_HEADER_BYTES:
                    raise ValueError("header name or comment never ends")
                return 0
            at = end + 1
    if flags & _FHCRC:
        at += 2
    return at - pos if len(buf) >= at else 0


class GzipStream(io.RawIOBase):
    """Streaming gzip reader that hands out every byte it could decompress, then the damage.

    ``readinto`` inflates straight into the caller's buffer (no intermediate buffer grows with
    the read size).  Concatenated members are read one after the other.  See the module's
    docstring for what counts as damage; it is raised as :class:`DamagedStream` on the read
    after the last good byte.
    """

    def __init__(self, fileobj: BinaryIO) -> None:
        self.fileobj = fileobj
        self._buf = b""  # input read from the file; self._buf[self._pos:] is not given to inflate yet
        self._pos = 0
        self._buf_at = 0  # file offset of self._buf[0]
        self._eof = False  # the file has no more bytes
        self._d = None  # inflate of the current member (None between members)
        self._crc = 0
        self._size = 0
        self._member = 0
        self._member_at = 0  # file offset of the current member
        self._out = 0  # decompressed bytes handed out
        self._piece_at = 0  # file offset of the input piece given to inflate last
        self._bad_crc: DamagedStream | None = None  # reported once the stream ends
        self._error: DamagedStream | None = None

    def readable(self) -> bool:
        return True

    # -- input -------------------------------------------------------------------------------
    def _more(self) -> bool:
        """Read more of the file into ``self._in``; False at the end of the file."""
        if self._eof:
            return False
        chunk = self.fileobj.read(READ_BYTES)
        if not chunk:
            self._eof = True
            return False
        self._buf_at += self._pos
        self._buf = self._buf[self._pos :] + chunk if self._pos < len(self._buf) else chunk
        self._pos = 0
        return True

    @property
    def _in(self) -> bytes:
        """The input not given to inflate yet (a copy: for headers and trailers only)."""
        return self._buf[self._pos :]

    @property
    def _in_at(self) -> int:
        """File offset of the first byte not given to inflate yet."""
        return self._buf_at + self._pos

    def _take(self, n: int) -> None:
        self._pos += n

    def _push_back(self, rest: bytes) -> None:
        """Put bytes inflate did not use (after a member's end) back in front of the input."""
        if len(rest) <= self._pos:  # they are the end of what was taken from the buffer
            self._pos -= len(rest)
            return
        at = self._in_at - len(rest)
        self._buf, self._pos, self._buf_at = rest + self._in, 0, at

    def _damage(self, kind: str, message: str, at: int, raw: bytes = b"") -> DamagedStream:
        """The damage ``kind`` at file offset ``at``; ``message`` may name ``{member}``, ``{at}``
        (compressed byte) and ``{out}`` (decompressed byte)."""
        text = message.format(member=self._member, at=f"{at:,}", out=f"{self._out:,}")
        if self._bad_crc is not None:  # the earlier damage is said too
            text += f"; earlier, {self._bad_crc}"
        return DamagedStream(kind, text, member=self._member, compressed_offset=at,
                             decompressed_offset=self._out, raw=raw)

    # -- members -----------------------------------------------------------------------------
    def _start_member(self) -> bool:
        """Parse the next member's header; False at a clean end of the file."""
        while True:
            try:
                n = _header_length(self._buf, self._pos)
            except ValueError as exc:
                if self._member == 0:
                    raise self._damage("bad header", f"not a gzip stream at compressed byte {{at}}: {exc}",
                                       self._in_at) from None
                raw = self._buf[self._pos : self._pos + RAW_PREVIEW_BYTES]
                rest = len(self._buf) - self._pos + self._rest_of_file()
                raise self._damage("trailing garbage",
                                   f"{rest:,} bytes of trailing garbage after gzip member {{member}}, at "
                                   "compressed byte {at} (decompressed byte {out})", self._in_at,
                                   raw) from None
            if n:
                break
            if not self._more():
                if self._pos == len(self._buf) and self._member:  # a clean end between members
                    return False
                self._member += 1
                raise self._damage("cut short", "gzip member {member} cut short: the file ends inside its "
                                   "header, at compressed byte {at} (decompressed byte {out})", self._in_at)
        self._member += 1
        self._member_at = self._in_at
        self._take(n)
        self._d = _inflate_lib.decompressobj(wbits=-15)
        self._crc = 0
        self._size = 0
        return True

    def _rest_of_file(self) -> int:
        """Bytes left in the file (read to its end, so that the sha256 covers every byte)."""
        n = 0
        while chunk := self.fileobj.read(READ_BYTES):
            n += len(chunk)
        self._eof = True
        return n

    def _end_member(self) -> None:
        """Check the 8-byte trailer (CRC-32 and length mod 2^32) of the member just inflated."""
        while len(self._buf) - self._pos < 8:
            if not self._more():
                raise self._damage("cut short", "gzip member {member} cut short: the file ends inside its "
                                   "trailer, at compressed byte {at} (decompressed byte {out})",
                                   self._in_at)
        crc, size = struct.unpack_from("<II", self._buf, self._pos)
        at = self._in_at
        self._take(8)
        self._d = None
        if crc != self._crc and self._bad_crc is None:
            self._bad_crc = self._damage(
                "bad crc", "gzip member {member} fails its CRC check (trailer at compressed byte {at}): "
                f"its text, decompressed bytes {self._out - self._size:,}-{self._out:,}, is loaded "
                "but a byte of it may be wrong", at)
        elif size != self._size & 0xFFFFFFFF and self._bad_crc is None:
            self._bad_crc = self._damage(
                "bad length", "gzip member {member} has a wrong length in its trailer (at compressed byte "
                f"{{at}}): {size:,} bytes said, {self._size:,} inflated (decompressed bytes "
                f"{self._out - self._size:,}-{self._out:,}, loaded)", at)

    # -- reading -----------------------------------------------------------------------------
    def readinto(self, b) -> int:  # type: ignore[override]
        if self._error is not None:
            raise self._error
        view = memoryview(b).cast("B")
        got = [0]  # bytes placed in ``view``, also when the damage is met after some
        try:
            self._fill(view, got)
        except DamagedStream as exc:
            self._error = exc
            if not got[0]:
                raise
        return got[0]

    def _fill(self, view: memoryview, got: list[int]) -> None:
        want = len(view)
        while got[0] < want:
            if self._d is None and not self._start_member():
                if self._bad_crc is not None:
                    raise self._bad_crc
                return
            d = self._d
            if d.unconsumed_tail:
                piece = d.unconsumed_tail
            elif self._pos < len(self._buf) or self._more():
                piece = memoryview(self._buf)[self._pos : self._pos + PIECE_BYTES]
                self._piece_at = self._in_at
                self._take(len(piece))
            else:
                piece = b""  # the file is read: only what inflate still holds can come out
            try:
                out = d.decompress(piece, want - got[0])
            except _DECOMPRESS_ERRORS as exc:
                raise self._damage("corrupt data", "gzip member {member} corrupt near compressed byte {at} "
                                   f"(decompressed byte {{out}}): {exc}",
                                   self._piece_at) from None
            if out:
                n, k = got[0], len(out)
                view[n : n + k] = out
                got[0] = n + k
                self._out += k
                self._size += k
                self._crc = _inflate_lib.crc32(out, self._crc)
            if d.eof:
                rest = d.unused_data  # (zlib may leave a stale copy in unconsumed_tail)
                if rest:
                    self._push_back(rest)
                self._end_member()
            elif not piece and not out:
                raise self._damage("cut short", "gzip member {member} cut short: the file ends at compressed byte {at} "
                                   "(decompressed byte {out}) before the member's end",
                                   self._in_at)

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` decompressed bytes (all when negative), read 4 MB at a time; the damage
        is raised by the read after the last good byte."""
        want = (1 << 62) if size is None or size < 0 else size
        chunks: list[bytes] = []
        got = 0
        while got < want:
            buf = bytearray(min(want - got, 4 << 20))
            try:
                n = self.readinto(buf)
            except DamagedStream:
                if chunks:
                    break  # raised again by the next read
                raise
            if not n:
                break
            chunks.append(bytes(memoryview(buf)[:n]))
            got += n
        return b"".join(chunks)

    def tell(self) -> int:
        return self._out

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Seek forward by decompressing (backward: ``io.UnsupportedOperation``)."""
        target = {io.SEEK_SET: offset, io.SEEK_CUR: self._out + offset}.get(whence)
        if target is None or target < self._out:
            raise io.UnsupportedOperation("a gzip stream seeks forward only")
        scratch = bytearray(min(target - self._out, 1 << 20))
        while self._out < target:
            if not self.readinto(memoryview(scratch)[: target - self._out]):
                break
        return self._out

    def close(self) -> None:
        self.fileobj.close()
        super().close()


def open_export(path: Path, *, seekable: bool = False) -> BinaryIO:
    """Open a file for reading its decompressed bytes (gzip by magic bytes).

    ``seekable`` gives a buffered reader that can seek forward (by decompressing) and read a
    line: for reading one record again (a damaged gzip reads as far as it loads).
    """
    raw = io.BufferedReader(open_binary(path))  # type: ignore[arg-type]
    if raw.read(2) == GZIP_MAGIC:
        raw.seek(0)
        if seekable:
            return io.BufferedReader(GzipStream(raw), 1 << 16)  # type: ignore[return-value]
        return GzipStream(raw)  # type: ignore[return-value]
    raw.seek(0)
    return raw
