"""Pretty-printed JSON documents: streamed, linear, bounded, every record accounted for."""

from __future__ import annotations

import json

import pytest

import kernelsec_nb as kn
from kernelsec_nb.store import _documents, _lines
from tests.store.lines import sample_lines


@pytest.fixture
def case(tmp_path):
    c = kn.open_case(tmp_path / "case.duckdb")
    yield c
    c.close()


def _pretty(lines: list[str]) -> list[str]:
    return [json.dumps(json.loads(line), indent=2) for line in lines]


def _balanced(report):
    (f,) = report.files
    assert f.balanced and f.format == "json-documents", f
    return f


def test_deep_nesting_is_quarantined_with_its_line_range_and_the_rest_loads(case, tmp_path):
    """A 1000-deep document raised RecursionError and aborted the load; 100 000 deep must not
    recurse either."""
    good = _pretty(sample_lines()[:2])
    deep = '{"a":\n' + "[" * 100_000 + "]" * 100_000 + "\n}"
    f = tmp_path / "deep.json"
    f.write_text(good[0] + "\n" + deep + "\n" + good[1] + "\n")
    r = _balanced(case.load(f, progress=False))
    assert (r.lines, r.loaded, r.quarantined) == (3, 2, 1)
    q = case.quarantine()
    first = good[0].count("\n") + 2
    assert q["reason"][0].startswith(_documents.TOO_DEEP)
    assert (q["line"][0], q["line_end"][0]) == (first, first + 2)
    assert len(q["raw"][0]) <= _lines.QUARANTINE_RAW_CHARS


def test_documents_past_the_old_256_mib_cut_are_read(case, tmp_path, monkeypatch):
    """Bytes past 256 MiB were never read nor counted; here the old cut is lowered to 2000 bytes
    (and the scanner reads 61 bytes at a time, so documents and strings span its pieces)."""
    monkeypatch.setattr(_lines, "MAX_DOCUMENT_FILE_BYTES", 2000, raising=False)
    monkeypatch.setattr(_documents, "READ_BYTES", 61)
    docs = _pretty(sample_lines())
    f = tmp_path / "big.json"
    f.write_text("\n".join(docs * 4) + "\n")
    assert f.stat().st_size > 4 * 2000
    r = _balanced(case.load(f, progress=False))
    assert (r.lines, r.loaded, r.duplicates, r.quarantined) == (20, 5, 15, 0)
    # every event reads back from its offset, across the pieces
    for eid in case.sql("select event_id from events")["event_id"]:
        assert case.raw(eid)


def test_a_document_over_the_size_cap_is_quarantined_and_the_scan_goes_on(case, tmp_path, monkeypatch):
    monkeypatch.setattr(_documents, "MAX_DOCUMENT_BYTES", 3000)
    monkeypatch.setattr(_documents, "READ_BYTES", 512)
    docs = _pretty(sample_lines()[:3])
    big = json.loads(sample_lines()[3])
    big["padding"] = ["x" * 100] * 200  # about 20 KB, over many pieces
    text = json.dumps(big, indent=2)
    f = tmp_path / "large.json"
    f.write_text("\n".join([docs[0], text, docs[1], docs[2]]) + "\n")
    r = _balanced(case.load(f, progress=False))
    assert (r.lines, r.loaded, r.quarantined) == (4, 3, 1)
    q = case.quarantine()
    start = docs[0].count("\n") + 2
    assert q["reason"][0].startswith(_documents.TOO_LARGE)
    assert (q["line"][0], q["line_end"][0]) == (start, start + text.count("\n"))
    assert q["raw_bytes"][0] == len(text.encode()) and len(q["raw"][0]) <= _lines.QUARANTINE_RAW_CHARS


def test_blocks_are_bounded_in_bytes(tmp_path, monkeypatch):
    """100 MB of 100 KB documents was one block (DuckDB ran out of memory)."""
    monkeypatch.setattr(_documents, "BLOCK_RECORD_BYTES", 10_000)
    monkeypatch.setattr(_documents, "READ_BYTES", 2048)
    doc = json.loads(sample_lines()[0])
    doc["pad"] = "y" * 3000
    f = tmp_path / "docs.json"
    f.write_text("\n".join(json.dumps({**doc, "n": i}, indent=1) for i in range(40)) + "\n")
    blocks = list(_documents.iter_documents(f))
    assert sum(b.lines for b in blocks) == 40 and len(blocks) >= 10
    # a block: up to BLOCK_RECORD_BYTES, plus the records of one piece or one record over pieces
    assert all(sum(b.table.column("raw_bytes").to_pylist()) < 10_000 + 4500 for b in blocks)


def test_the_scan_is_linear(tmp_path, monkeypatch):
    """Time was quadratic (each document counted the lines before it again): each byte is now
    scanned once, in pieces of READ_BYTES, whatever the number of documents."""
    scanned: list[int] = []
    feed = _documents.Splitter.feed

    def counting(self, chunk):
        scanned.append(len(chunk))
        return feed(self, chunk)

    monkeypatch.setattr(_documents.Splitter, "feed", counting)
    monkeypatch.setattr(_documents, "READ_BYTES", 4096)
    docs = _pretty(sample_lines())
    sizes = []
    for n in (50, 200):
        f = tmp_path / f"{n}.json"
        f.write_text("\n".join(docs * n) + "\n")
        scanned.clear()
        records = sum(b.lines for b in _documents.iter_documents(f))
        assert records == 5 * n and sum(scanned) == f.stat().st_size
        sizes.append(len(scanned))
    assert sizes[1] <= 4 * sizes[0] + 1


def test_arrays_junk_and_a_cut_document(case, tmp_path):
    """Items of a top-level array are records (each with its own offset, read back); text between
    documents is a record refused with its reason; a document cut short is refused as such."""
    lines = sample_lines()
    f = tmp_path / "mixed.json"
    f.write_text("[\n" + ",\n".join([lines[0], lines[1], "7"]) + "\n]\nnot json\n"
                 + _pretty([lines[2]])[0] + "\n" + _pretty([lines[3]])[0][:-40])
    r = _balanced(case.load(f, progress=False))
    assert (r.lines, r.loaded, r.quarantined) == (6, 3, 3)
    reasons = case.quarantine()["reason"].to_list()
    assert "instead of an object" in reasons[0] and reasons[1] == "malformed JSON"
    assert "truncated" in reasons[2]
    first = case.sql("select event_id, line from events order by line limit 1")
    assert first["line"][0] == 2 and case.raw(first["event_id"][0]) == lines[0]


def test_strings_with_brackets_and_escaped_quotes_do_not_cut(tmp_path, monkeypatch):
    monkeypatch.setattr(_documents, "READ_BYTES", 7)
    doc = {"process_exec": {"process": {"arguments": 'a "}]{[" \\\\" \\\\\\" } ,'}}, "n": 1}
    text = json.dumps(doc, indent=2)
    got = [t for t in _documents.split(open_bytes(text + "\n" + text))]
    raws = [r for t in got for r in t.column("raw").to_pylist()]
    assert raws == [text, text]


def open_bytes(text: str):
    import io

    return io.BytesIO(text.encode())


def test_a_byte_order_mark_does_not_hide_the_first_document(case, tmp_path):
    f = tmp_path / "bom.json"
    f.write_bytes(_lines.BOM + "\n".join(_pretty(sample_lines()[:2])).encode() + b"\n")
    r = _balanced(case.load(f, progress=False))
    assert (r.loaded, r.quarantined) == (2, 0)
    eid = case.sql("select event_id from events order by line limit 1")["event_id"][0]
    assert case.raw(eid).startswith("{")


def test_a_cut_gzip_of_documents_keeps_what_was_read(case, tmp_path, monkeypatch):
    import gzip

    monkeypatch.setattr(_documents, "READ_BYTES", 256)
    text = "\n".join(_pretty(sample_lines()) * 20) + "\n"
    whole = gzip.compress(text.encode(), mtime=0)
    f = tmp_path / "cut.json.gz"
    f.write_bytes(whole[: len(whole) * 2 // 3])
    (r,) = case.load(f, progress=False).files
    assert r.balanced and r.status == "damaged" and "cut short" in r.message  # as every damaged gzip
    assert r.loaded == 5 and r.quarantined >= 1
