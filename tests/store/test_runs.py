"""Runs of identical records, found with numpy: the same answer as comparing bytes one by one."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kernelsec_nb.store import _runs


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from([b"x\n", b"y\n", b"xy\n", b"yx\n", b"\n", b"abc" * 40 + b"\n", b"abc" * 100 + b"\n", b"abd" * 100 + b"\n"]), max_size=60),
       st.integers(1, 300))
def test_same_as_previous_matches_a_plain_comparison(lines, budget):
    data = b"".join(lines)
    ends = np.cumsum([len(x) for x in lines]).astype(np.int64)
    starts = ends - np.array([len(x) for x in lines], dtype=np.int64)
    expected = [k > 0 and lines[k] == lines[k - 1] for k in range(len(lines))]
    old = _runs.COMPARE_BYTES
    _runs.COMPARE_BYTES = budget  # batches of every size, a long pair alone
    try:
        got = _runs.same_as_previous(np.frombuffer(data, dtype=np.uint8), starts, ends)
    finally:
        _runs.COMPARE_BYTES = old
    assert got.tolist() == expected
