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
