"""Damaged gzip: the lines before the damage load, the damage is one quarantined record with
its offsets, and the file is reported damaged (issue 19, item 5)."""

from __future__ import annotations

import gzip
import io
import random
import zlib

import pytest

import kernelsec_nb as kn
from kernelsec_nb.store import _decompress
from kernelsec_nb.store._decompress import DamagedStream, GzipStream

SAMPLE = "hubble/basic-sample-400-tcp-flows.json"


@pytest.fixture(params=["isal", "zlib"])
def backend(request, monkeypatch):
    """Both inflate libraries give the same bytes and the same damage."""
    if request.param == "zlib":
        monkeypatch.setattr(_decompress, "_inflate_lib", zlib)
        monkeypatch.setattr(_decompress, "_DECOMPRESS_ERRORS", (zlib.error,))
    else:
        pytest.importorskip("isal")
    return request.param


def _read_all(data: bytes, size: int) -> tuple[bytes, DamagedStream | None]:
    stream = GzipStream(io.BytesIO(data))
    out = bytearray()
    while True:
        buf = bytearray(size)
        try:
            n = stream.readinto(buf)
        except DamagedStream as exc:
            return bytes(out), exc
        if not n:
            return bytes(out), None
        out += buf[:n]


_rng = random.Random(3)
TEXT = b"".join(b'{"i": %d, "pad": "%s"}\n' % (i, b"x" * _rng.randint(0, 200)) for i in range(6000))
MORE = b"".join(b'{"j": %d}\n' % i for i in range(3000))


@pytest.mark.parametrize("size", [1, 777, 1 << 16, 64 << 20])
def test_stream_reads_members_whatever_the_read_size(backend, size):
    one, two = gzip.compress(TEXT, mtime=0), gzip.compress(MORE, mtime=0)
    assert _read_all(one + two, size) == (TEXT + MORE, None)
    assert _read_all(gzip.compress(b"", mtime=0) + one, size) == (TEXT, None)


def test_bad_crc_keeps_every_byte_and_the_members_after_it(backend):
    one = bytearray(gzip.compress(TEXT, mtime=0))
    one[-6] ^= 0xFF
    out, exc = _read_all(bytes(one), 1 << 20)
    assert out == TEXT and exc.kind == "bad crc"
    assert exc.compressed_offset == len(one) - 8 and exc.decompressed_offset == len(TEXT)
    out, exc = _read_all(bytes(one) + gzip.compress(MORE, mtime=0), 1 << 20)
    assert out == TEXT + MORE and exc.kind == "bad crc" and exc.member == 1
    assert f"compressed byte {len(one) - 8:,}" in str(exc)


def test_trailing_garbage_and_cut_short(backend):
    one = gzip.compress(TEXT, mtime=0)
    out, exc = _read_all(one + b"not gzip\n" * 3, 4096)
    assert out == TEXT and exc.kind == "trailing garbage" and exc.compressed_offset == len(one)
    assert exc.raw == b"not gzip\n" * 3 and "27 bytes" in str(exc)
    for cut in (len(one) - 3, len(one) // 2, 5):
        out, exc = _read_all(one[:cut], 4096)
        assert exc.kind == "cut short" and TEXT.startswith(out)
        # everything inflate can give from the bytes there is handed out
        d = zlib.decompressobj(wbits=31)
        assert len(out) >= len(d.decompress(one[:cut])) - 64 * 1024


def test_seek_forward_and_read_a_line(backend, tmp_path):
    path = tmp_path / "a.gz"
    path.write_bytes(gzip.compress(TEXT, mtime=0) + gzip.compress(MORE, mtime=0))
    at = len(TEXT) + MORE.index(b'{"j": 2000}')
    with _decompress.open_export(path, seekable=True) as f:
        f.seek(at)
        assert f.readline() == b'{"j": 2000}\n'
        with pytest.raises(io.UnsupportedOperation):
            f.seek(0)


def test_corrupt_data_keeps_what_came_before(backend):
    data = bytearray(gzip.compress(TEXT, mtime=0))
    data[10:] = bytes([0xFF]) * 4 + data[14:]  # an invalid block type at the first block
    out, exc = _read_all(bytes(data), 4096)
    assert exc.kind == "corrupt data" and out == b""


def _gzip_sample(public_dir, tmp_path, name="sample.gz"):
    plain = (public_dir / SAMPLE).read_bytes()
    path = tmp_path / name
    path.write_bytes(gzip.compress(plain, mtime=0))
    return plain, path


def _load(tmp_path, path):
    case = kn.open_case(tmp_path / "case.duckdb")
    report = case.load(path, progress=False)
    return case, report.files[0]


def _accounted(f, plain: bytes, damage_rows: int = 1):
    lines = plain.count(b"\n") + (not plain.endswith(b"\n"))
    assert f.balanced, f
    assert f.lines == lines + damage_rows
    assert f.loaded == lines and f.quarantined == damage_rows


def test_bad_crc_of_a_public_sample_loads_every_line(public_dir, tmp_path):
    plain, path = _gzip_sample(public_dir, tmp_path)
    data = bytearray(path.read_bytes())
    data[-6] ^= 0x01  # a byte of the CRC-32
    path.write_bytes(data)
    case, f = _load(tmp_path, path)
    assert f.status == "damaged" and "CRC" in f.message, f
    _accounted(f, plain)
    reason, offset = case.con.execute("SELECT reason, byte_offset FROM quarantine").fetchall()[0]
    assert f"compressed byte {len(data) - 8:,}" in reason and offset == len(plain)
    # the last line reads back too (a gzip reader that checks the CRC first would refuse it)
    last = case.con.execute("SELECT event_id FROM events ORDER BY line DESC LIMIT 1").fetchall()[0][0]
    assert case.raw(last) == plain.rstrip(b"\n").rsplit(b"\n", 1)[1].decode()
    case.close()


def test_trailing_garbage_after_a_public_sample(public_dir, tmp_path):
    plain, path = _gzip_sample(public_dir, tmp_path)
    size = path.stat().st_size
    with path.open("ab") as out:
        out.write(b"\x00\x00garbage")
    case, f = _load(tmp_path, path)
    assert f.status == "damaged" and "trailing garbage" in f.message, f
    _accounted(f, plain)
    assert f"compressed byte {size:,}" in case.con.execute("SELECT reason FROM quarantine").fetchall()[0][0]
    case.close()


def test_cut_short_public_sample_keeps_the_lines_before(public_dir, tmp_path):
    plain, path = _gzip_sample(public_dir, tmp_path)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) * 2 // 3])
    readable = zlib.decompressobj(wbits=31).decompress(whole[: len(whole) * 2 // 3])
    complete = readable.count(b"\n")  # the unfinished last line is kept too (quarantined if cut)
    case, f = _load(tmp_path, path)
    assert f.status == "damaged" and "cut short" in f.message, f
    assert f.balanced and f.loaded >= complete - 1 and f.loaded <= complete + 1
    assert f.lines == f.loaded + f.quarantined and f.quarantined in (1, 2)
    case.close()


def test_damage_before_any_line_is_damaged_not_not_an_export(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(TEXT, mtime=0)[:40])  # nothing inflates to a whole line
    case, f = _load(tmp_path, path)
    assert f.status == "damaged" and "not a Tetragon" not in f.message and f.balanced, f
    case.close()


def test_multi_member_with_a_bad_crc_loads_both_members(public_dir, tmp_path):
    plain, path = _gzip_sample(public_dir, tmp_path)
    first = bytearray(path.read_bytes())
    first[-6] ^= 0x01
    hubble = public_dir / "hubble/basic-sample-400-udp-flows.json"
    second = hubble.read_bytes()
    path.write_bytes(bytes(first) + gzip.compress(second, mtime=0))
    case, f = _load(tmp_path, path)
    assert f.status == "damaged" and "gzip member 1" in f.message
    _accounted(f, plain + second)
    case.close()


def test_a_small_gzip_takes_a_small_read_buffer(tmp_path, monkeypatch):
    """A read buffer is as large as the file decompressed, not a whole block (its pages are
    touched: a capture of many small .gz files held two 136 MB buffers)."""
    from kernelsec_nb.store import _lines

    asked = []
    take = _lines.BufferPool.take
    monkeypatch.setattr(_lines.BufferPool, "take", lambda self, size: asked.append(size) or take(self, size))
    from tests.store.lines import sample_lines

    text = ("\n".join(sample_lines()) + "\n").encode()
    path = tmp_path / "small.gz"
    path.write_bytes(gzip.compress(text, mtime=0))
    case, f = _load(tmp_path, path)
    assert f.status == "loaded" and f.loaded == len(sample_lines())
    assert asked and max(asked) <= 2 * len(text)
    case.close()


def test_size_hint_is_never_below_four_times_the_stored_size(tmp_path):
    tiny_last = gzip.compress(TEXT, mtime=0) + gzip.compress(b"{}\n", mtime=0)
    path = tmp_path / "a.gz"
    path.write_bytes(tiny_last)
    assert _decompress.size_hint(path, len(tiny_last)) == 4 * len(tiny_last)
    path.write_bytes(gzip.compress(TEXT, mtime=0))
    assert _decompress.size_hint(path, path.stat().st_size) == len(TEXT)
    plain = tmp_path / "b.json"
    plain.write_bytes(TEXT)
    assert _decompress.size_hint(plain, len(TEXT)) == len(TEXT)


def test_read_gives_the_good_bytes_then_the_damage(backend):
    data = bytearray(gzip.compress(TEXT, mtime=0))
    data[-6] ^= 0x01
    stream = GzipStream(io.BytesIO(bytes(data)))
    assert stream.read(1 << 30) == TEXT  # no 1 GB buffer: read in pieces
    with pytest.raises(DamagedStream, match="CRC"):
        stream.read()
    assert GzipStream(io.BytesIO(gzip.compress(TEXT, mtime=0))).read() == TEXT
