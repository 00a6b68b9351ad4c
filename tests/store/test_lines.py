"""The block reader: line numbers, offsets, text and ids, whatever the block size and buffer reuse."""

from __future__ import annotations

import gzip
import hashlib
import io
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from kernelsec_nb.store import _ids, _lines

_WS = _lines.TRAILING_WS.encode()


def _reference(data: bytes) -> list[tuple[int, int, str, str]]:
    """What the reader must yield, written the slow obvious way: (line, offset, text, id); lines of
    whitespace only are blank (counted, not yielded)."""
    out = []
    offset = 0
    pieces = data.split(b"\n")
    if pieces and pieces[-1] == b"":
        pieces.pop()
    for number, piece in enumerate(pieces, start=1):
        text = piece.rstrip(_WS)
        if text:
            out.append((number, offset, text.decode(), _ids.event_id(text)))
        offset += len(piece) + 1
    return out


def _read(stream, block_bytes: int, pool: _lines.BufferPool) -> list[tuple[int, int, str, str]]:
    """The reader's records, a run of identical lines expanded to one entry per line."""
    got = []
    for block in _lines.iter_ndjson(stream, block_bytes=block_bytes, pool=pool):
        t = block.table.to_pydict()
        for line, offset, raw, eid, end, byte_end, count in zip(
                t["line"], t["byte_offset"], t["raw"], t["event_id"], t["line_end"], t["byte_end"],
                t["repeat_count"], strict=True):
            assert end == line + count - 1 and (byte_end - offset) % count == 0
            step = (byte_end - offset) // count
            got.extend((line + k, offset + k * step, raw, eid) for k in range(count))
        block.release()  # the buffer is reused by the next block: values above must be copies
    return got


_line = st.text(alphabet=st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)),
                max_size=60).map(lambda s: s.encode())


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(_line, max_size=40), block=st.integers(1, 300), final_newline=st.booleans())
def test_blocks_match_a_plain_split(lines: list[bytes], block: int, final_newline: bool) -> None:
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    pool = _lines.BufferPool()
    assert _read(io.BytesIO(data), block, pool) == _reference(data)


def test_buffers_are_reused_and_gzip_reads_the_same():
    rng = random.Random(7)
    lines = [("x" * rng.randint(0, 300)).encode() + b' {"k": %d}' % i for i in range(2000)]
    data = b"\n".join(lines) + b"\n"
    pool = _lines.BufferPool()
    assert _read(io.BytesIO(data), 4096, pool) == _reference(data)
    assert pool._free, "released buffers are kept for the next block"
    gz = _lines.GzipStream(io.BytesIO(gzip.compress(data)))
    assert _read(gz, 4096, _lines.BufferPool()) == _reference(data)


def test_hashing_file_gives_the_file_sha256(tmp_path):
    path = tmp_path / "a.json"
    path.write_bytes(b'{"a": 1}\n' * 5000)
    source = _lines.HashingFile(path)
    assert source.sha256() is None  # not read to its end yet
    for block in _lines.iter_ndjson(source, block_bytes=1000):
        block.release()
    assert source.sha256() == hashlib.sha256(path.read_bytes()).hexdigest()
