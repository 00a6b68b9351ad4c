"""The duplicates across files on bucketed ids (``_dedup``, no Spark): the copy of the first
file in load order stays, none where the lake has the event; the same answer for any number of
buckets."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kernelsec_nb.spark import _dedup, _parts


def _lost(files: dict[int, list[str]], lake: list[str], buckets: int, tmp_path) -> dict[int, list[str]]:
    con = duckdb.connect()
    values = [v for o, ids in files.items() for v in _dedup.bucketed(con, o, pa.array(ids, pa.string()), buckets)]
    if lake:
        path = tmp_path / "lake.parquet"
        pq.write_table(pa.table({"event_id": lake, "other": list(range(len(lake)))}), path)
        values += list(_dedup.lake_ids([str(path)], buckets))
    assert all(0 <= b < buckets for b, _ in values)
    lost: dict[int, list[str]] = {}
    for b in range(buckets):
        for o, data in _dedup.losers(v for v in values if v[0] == b):
            lost.setdefault(o, []).extend(_parts.from_ipc(data).column("event_id").to_pylist())
    return {o: sorted(ids) for o, ids in lost.items()}


@pytest.mark.parametrize("buckets", [1, 3, 16])
def test_the_first_file_keeps_an_event_the_lake_keeps_its_own(buckets, tmp_path):
    files = {0: ["a", "b", "c"], 1: ["b", "d", "x"], 2: ["a", "b", "d", "e"], 3: ["f", "f2"]}
    got = _lost(files, ["x", "e", "old"], buckets, tmp_path)
    assert got == {1: ["b", "x"], 2: ["a", "b", "d", "e"]}


def test_an_id_twice_in_one_file_is_not_lost(tmp_path):
    """Two rows of one file with one id (two tables): neither is a duplicate across files."""
    assert _lost({0: ["a", "a"], 1: ["b"]}, [], 2, tmp_path) == {}
