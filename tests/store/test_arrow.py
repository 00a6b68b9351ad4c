"""numpy <-> Arrow without copies, and a load that does not import pandas."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernelsec_nb.store import _arrow
from tests.store.lines import sample_lines


@given(st.lists(st.booleans(), max_size=70), st.integers(0, 5))
def test_booleans_round_trip_at_any_offset(values, skip):
    arr = _arrow.array(np.array(values, dtype=bool))
    assert arr.to_pylist() == values
    assert _arrow.to_numpy(arr.slice(min(skip, len(values)))).tolist() == values[skip:]


@pytest.mark.parametrize("dtype", [np.int64, np.uint64, np.int32, np.float64])
def test_numbers_round_trip_through_chunks(dtype):
    values = np.arange(10, dtype=dtype)
    arr = _arrow.array(values)
    chunked = pa.chunked_array([arr.slice(0, 3), arr.slice(3)])
    assert _arrow.to_numpy(chunked).tolist() == values.tolist()
    assert _arrow.to_numpy(pa.chunked_array([], arr.type)).tolist() == []


def test_nulls_are_refused():
    with pytest.raises(ValueError, match="nulls"):
        _arrow.to_numpy(pa.array([1, None]))


def test_a_load_does_not_import_pandas(tmp_path):
    # pyarrow.array() imports pandas when it is installed: ~0.35 s and ~50 MB in a load
    export = tmp_path / "a.log"
    export.write_text("\n".join(sample_lines()) + "\n")
    code = (
        "import sys, kernelsec_nb as kn\n"
        f"r = kn.open_case({str(tmp_path / 'c.duckdb')!r}).load({str(export)!r}, progress=False)\n"
        "assert r.total('loaded') == 5, r\n"
        "print('pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
