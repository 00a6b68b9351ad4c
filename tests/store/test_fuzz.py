"""Property tests: any mutation of a valid line is either loaded or quarantined, never lost."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kernelsec_nb as kn
from kernelsec_nb import sources
from tests.store.lines import sample_lines

LINES = sample_lines()


@st.composite
def mutated(draw) -> bytes:
    line = draw(st.sampled_from(LINES)).encode()
    op = draw(st.sampled_from(["cut", "insert", "replace", "flip_type", "keep"]))
    i = draw(st.integers(0, len(line)))
    if op == "cut":
        return line[:i]
    if op == "insert":
        return line[:i] + draw(st.binary(min_size=1, max_size=8)).replace(b"\n", b"") + line[i:]
    if op == "replace":
        j = draw(st.integers(i, len(line)))
        return line[:i] + draw(st.binary(max_size=6)).replace(b"\n", b"") + line[j:]
    if op == "flip_type":
        return line.replace(b'"pid": 100', b'"pid": "one hundred"').replace(b"40000", b'"x"')
    return line


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutated(), min_size=1, max_size=12), st.booleans())
def test_every_line_is_loaded_or_quarantined(lines: list[bytes], trailing_newline: bool) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "fuzz.log"
        data = b"\n".join(lines) + (b"\n" if trailing_newline else b"")
        path.write_bytes(data)
        physical = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
        case = kn.open_case()
        report = case.load(path, progress=False)
        (f,) = report.files
        if f.status == "error":  # no line was an event at all: a one-line message, nothing stored
            assert f"not a {sources.titles()} export" in f.message
            assert case.sql("select count(*) n from events")["n"][0] == 0
            return
        assert f.lines == physical
        assert f.balanced, f
        stored = case.sql("select count(*) n from events")["n"][0]
        # a row stands for a run of identical lines: every quarantined line is listed when expanded
        quarantined = case.sql("select sum(repeat_count) n from quarantine")["n"][0] or 0
        assert stored == f.loaded and quarantined == f.quarantined
        assert case.quarantine(expand=True).height == f.quarantined
