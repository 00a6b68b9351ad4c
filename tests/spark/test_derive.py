"""The columns the Spark build sends to processes.sql (``_derive.PROCESS_COLUMNS``) are enough:
``processes`` built from them alone equals ``processes`` built from every column (no Spark)."""

from __future__ import annotations

import pytest

import kernelsec_nb as kn
from kernelsec_nb.spark import _derive
from kernelsec_nb.store import _derived
from tests.conftest import REPO
from tests.spark import fuzzed


@pytest.mark.parametrize("capture", ["deathstar", "fuzzed"])
def test_processes_from_the_pruned_columns(capture, tmp_path):
    path = REPO / "data" / "deathstar" if capture == "deathstar" else fuzzed.write(tmp_path / "capture")
    case = kn.open_case()
    case.load([path], progress=False)
    whole = case.con.sql("SELECT * FROM processes ORDER BY ALL").fetchall()
    assert whole and {r[0] for r in case.con.sql("SELECT DISTINCT seen_as FROM processes").fetchall()} >= {"exec", "parent"}
    pruned = kn.open_case()
    for table, columns in _derive.PROCESS_COLUMNS.items():
        cols = ", ".join(f'"{c}"' for c in columns)
        pruned.con.register("_rows", case.con.sql(f"SELECT {cols} FROM {table}").to_arrow_table())  # noqa: S608
        pruned.con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _rows")  # noqa: S608 - our names
        pruned.con.unregister("_rows")
    pruned.con.execute(_derived._PROCESSES_SQL)
    assert pruned.con.sql("SELECT * FROM processes ORDER BY ALL").fetchall() == whole


@pytest.mark.parametrize(("capture", "buckets"), [("deathstar", 3), ("fuzzed", 1), ("fuzzed", 3)])
def test_processes_from_buckets(capture, buckets, tmp_path):
    """``processes`` built bucket by bucket from part files (``bucket_rows`` then ``build_bucket``,
    what the Spark tasks run) equals ``case.load``'s; the rows cut into two part files per table
    (a parent's children in both), so the first child is found over the files."""
    import pyarrow.parquet as pq

    case = kn.open_case()
    case.load([REPO / "data" / "deathstar" if capture == "deathstar" else fuzzed.write(tmp_path / "capture")],
              progress=False)
    whole = case.con.sql("SELECT * FROM processes ORDER BY ALL").fetchall()
    assert whole
    parts = []
    for table in _derive.PROCESS_COLUMNS:
        rows = case.con.sql(f"SELECT * FROM {table} ORDER BY event_id").to_arrow_table()  # noqa: S608
        half = rows.num_rows // 2
        for i, piece in enumerate((rows.slice(0, half), rows.slice(half))):
            path = tmp_path / f"{table}-{i}.parquet"
            pq.write_table(piece, path)
            parts.append((table, str(path)))
    got: dict[int, list] = {}
    for bucket, value in _derive.bucket_rows(parts, buckets):
        assert 0 <= bucket < buckets
        got.setdefault(bucket, []).append(value)
    schema = _derive.processes_schema()
    built = kn.open_case()
    for values in got.values():
        for batch in _derive.build_bucket(values, schema):
            built.con.register("_rows", batch)
            built.con.execute("INSERT INTO processes BY NAME SELECT * FROM _rows")
            built.con.unregister("_rows")
    assert built.con.sql("SELECT * FROM processes ORDER BY ALL").fetchall() == whole
