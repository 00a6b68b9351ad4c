"""The case's ids as 64-bit keys: exact keys, and a lookup that never misses a known id."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import kernelsec_nb as kn
from kernelsec_nb.store._ids import event_ids
from kernelsec_nb.store._known import KnownIds

hexid = st.text(alphabet="0123456789abcdef", min_size=20, max_size=20)


def keys_of(ids: list[str]) -> np.ndarray:
    return np.array([int(i[:16], 16) for i in ids], dtype=np.uint64)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(hexid, max_size=30), max_size=12), st.lists(hexid, max_size=30))
def test_every_added_key_is_found_and_others_are_not(batches, probes):
    known = KnownIds(kn.open_case().con)
    added: set[int] = set()
    for batch in batches:  # more than 8 batches: the parts are merged on the way
        keys = keys_of(batch)
        known.add(keys)
        added.update(keys.tolist())
    keys = keys_of(probes)
    assert known.contains(keys).tolist() == [k in added for k in keys.tolist()]


def test_a_case_starts_with_its_own_ids(tmp_path):
    line = b'{"process_exec":{"process":{"exec_id":"a"}},"node_name":"n","time":"2024-05-14T05:00:00Z"}'
    f = tmp_path / "t.log"
    f.write_bytes(line + b"\n")
    case = kn.open_case(tmp_path / "c.duckdb")
    case.load(f, progress=False)
    known = KnownIds(case.con)
    key = event_ids(line, [0], [len(line)])[1]
    assert known.contains(key).tolist() == [True]
    assert known.contains(np.array([key[0] ^ 1], dtype=np.uint64)).tolist() == [False]
