"""Event ids: stable, blind to trailing whitespace only, the same one by one and per block."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kernelsec_nb.store import _ids, _lines

_WS = _lines.TRAILING_WS.encode()


def test_event_id_ignores_trailing_whitespace_only():
    assert _ids.event_id(b'{"a":1}') == _ids.event_id(b'{"a":1} \r\n'.rstrip(_WS))
    assert _ids.event_id(b'{"a":1}') != _ids.event_id(b'{"a": 1}')
    assert len(_ids.event_id(b"")) == 20


@settings(deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=50))
def test_batch_ids_are_the_event_ids_and_their_keys_the_first_64_bits(records):
    ends = [sum(len(r) for r in records[: i + 1]) for i in range(len(records))]
    starts = [e - len(r) for e, r in zip(ends, records, strict=True)]
    ids, keys = _ids.event_ids(b"".join(records), starts, ends)
    assert ids.to_pylist() == [_ids.event_id(r) for r in records]
    assert keys.tolist() == [int(_ids.event_id(r)[:16], 16) for r in records]


def test_repeats_marks_later_copies_only():
    ids, keys = _ids.event_ids(b"abacba", range(6), range(1, 7))
    assert _ids.repeats(keys).to_pylist() == [False, False, True, False, True, True]
