"""The block reader: line numbers, offsets, text and ids, whatever the block size and buffer reuse."""

from __future__ import annotations

import gzip
import hashlib
import io
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from kernelsec_nb.store import _decompress, _ids, _lines

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
    gz = _decompress.GzipStream(io.BytesIO(gzip.compress(data)))
    assert _read(gz, 4096, _lines.BufferPool()) == _reference(data)


def test_hashing_file_gives_the_file_sha256(tmp_path):
    path = tmp_path / "a.json"
    path.write_bytes(b'{"a": 1}\n' * 5000)
    source = _decompress.HashingFile(path)
    assert source.sha256() is None  # not read to its end yet
    for block in _lines.iter_ndjson(source, block_bytes=1000):
        block.release()
    assert source.sha256() == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_run_of_identical_lines_is_one_record_and_blank_lines_none():
    """Millions of copies of a junk line cost one record per block, not a row per line."""
    data = b'{"a": 1}\n' + b"x\r\n" * 5000 + b"\n  \t\n" * 3000 + b"x\r\n" * 10 + b'{"a": 1}\n'
    blocks = list(_lines.iter_ndjson(io.BytesIO(data), block_bytes=4096))
    rows = [r for b in blocks for r in b.table.select(["line", "line_end", "repeat_count"]).to_pylist()]
    assert sum(b.lines for b in blocks) == 2 + 5000 + 6000 + 10
    assert sum(b.blank for b in blocks) == 6000
    assert sum(r["repeat_count"] for r in rows) == 5012  # every line that is not blank, once
    assert len(rows) < 30  # a record per read buffer of the run (4096 bytes here), not per line
    assert _read(io.BytesIO(data), 4096, _lines.BufferPool()) == _reference(data)


def test_a_byte_order_mark_is_not_part_of_the_first_line():
    data = _lines.BOM + b'{"a": 1}\n{"b": 2}\n'
    rows = [r for b in _lines.iter_ndjson(io.BytesIO(data)) for r in b.table.to_pylist()]
    assert [(r["line"], r["byte_offset"], r["raw"]) for r in rows] == [(1, 3, '{"a": 1}'), (2, 12, '{"b": 2}')]
    assert rows[0]["event_id"] == _ids.event_id(b'{"a": 1}')


def test_an_over_long_line_is_measured_to_its_end():
    data = b"a\n" + b"y" * 5000 + b"\r\nb\n"
    rows = [r for b in _lines.iter_ndjson(io.BytesIO(data), block_bytes=1000, max_line_bytes=2000)
            for r in b.table.to_pylist()]
    assert [(r["line"], r["raw_bytes"], r["byte_end"]) for r in rows] == [(1, 1, 2), (2, 5000, 5004), (3, 1, 5006)]
    assert rows[1]["note"].startswith(_lines.TOO_LONG)


def test_a_long_whitespace_tail_is_trimmed_in_linear_time():
    data = b'{"a": 1}' + b" " * 200_000 + b"\n"
    (block,) = _lines.iter_ndjson(io.BytesIO(data))
    assert block.table.column("raw").to_pylist() == ['{"a": 1}'] and block.blank == 0
