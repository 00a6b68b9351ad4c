"""The case file's connections: small row groups while writing, any DuckDB client can read it."""

import duckdb
import pytest

import kernelsec_nb as kn
from kernelsec_nb.store._connection import ROW_GROUP_SIZE, cursor


def _row_groups(con, table: str) -> int:
    return con.execute(
        "SELECT count(DISTINCT row_group_id) FROM pragma_storage_info(?)", [table]).fetchall()[0][0]


def test_case_tables_get_small_row_groups(tmp_path):
    # large inserts fill whole row groups and go straight to the file instead of the log
    with kn.open_case(tmp_path / "c.duckdb") as case:
        case.con.execute("CREATE TABLE t AS SELECT range AS i FROM range(32768)")
        case.con.execute("CHECKPOINT")
        assert _row_groups(case.con, "t") >= 4  # row groups of 8192 rows at most (DuckDB's: 122880)
        assert ROW_GROUP_SIZE <= 8192


def test_cursor_opens_the_case_not_an_empty_database(tmp_path):
    with kn.open_case(tmp_path / "c.duckdb") as case:
        other = cursor(case.con)
        assert other.execute("SELECT count(*) FROM events").fetchall() == [(0,)]
        assert other.execute("SELECT current_setting('TimeZone')").fetchall() == [("UTC",)]
        other.close()


def test_a_plain_duckdb_client_reads_the_case(tmp_path):
    path = tmp_path / "it's a case.duckdb"  # a quote in the path stays part of the path
    with kn.open_case(path) as case:
        case.con.execute("CREATE TABLE t AS SELECT 1 AS x")
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT x FROM t").fetchall() == [(1,)]
    assert con.execute("SELECT count(*) FROM events").fetchall() == [(0,)]
    con.close()
    with kn.open_case(path, read_only=True) as again:
        assert again.sql("SELECT x FROM t")["x"].to_list() == [1]


def test_the_same_case_opened_twice_in_one_process(tmp_path):
    # a notebook cell `case = kn.open_case(path)` run again while the first case is still open
    first = kn.open_case(tmp_path / "c.duckdb")
    first.con.execute("CREATE TABLE t AS SELECT 1 AS x")
    again = kn.open_case(tmp_path / "c.duckdb")
    first.close()
    assert again.sql("SELECT x FROM t")["x"].to_list() == [1]
    again.close()


def test_an_export_is_not_opened_as_a_case(tmp_path):
    export = tmp_path / "tetragon.json"
    export.write_text('{"process_exec": {}}\n')
    for read_only in (False, True):
        with pytest.raises(kn.CaseError, match="not a case file"):
            kn.open_case(export, read_only=read_only)
    assert export.read_text() == '{"process_exec": {}}\n'


def test_a_case_made_by_an_older_version_is_refused_clearly(tmp_path):
    path = tmp_path / "old.duckdb"
    kn.open_case(path).close()
    con = duckdb.connect(str(path))
    con.execute("ALTER TABLE alerts DROP COLUMN workload")  # as cases made before alerts had one
    con.close()
    for read_only in (False, True):
        with pytest.raises(kn.CaseError, match="older kernelsec_nb .its alerts table has no workload"):
            kn.open_case(path, read_only=read_only)


def test_a_case_whose_processes_an_older_version_built_is_refused_clearly(tmp_path):
    path = tmp_path / "old.duckdb"
    kn.open_case(path).close()
    con = duckdb.connect(str(path))
    con.execute("ALTER TABLE processes DROP COLUMN exec_event_id")  # as processes.sql built it before
    con.close()
    for read_only in (False, True):
        with pytest.raises(kn.CaseError, match="older kernelsec_nb .its processes table has no exec_event_id"):
            kn.open_case(path, read_only=read_only)


_OPEN_ELSEWHERE = """
import sys
import kernelsec_nb as kn
try:
    kn.open_case(sys.argv[1]).close()
except kn.CaseError as exc:
    print("refused:", exc)
else:
    print("opened")
"""


def test_the_case_stays_locked_against_other_processes_when_opened_again(tmp_path):
    # A POSIX file lock belongs to the process and goes with *any* close of the file in it: a case
    # opened again in the same process (a notebook cell run twice, a read-only look beside it) must
    # not let a second process write to it meanwhile.
    import subprocess
    import sys

    path = tmp_path / "c.duckdb"
    first = kn.open_case(path)
    first.con.execute("CREATE TABLE t AS SELECT 1 AS x")
    again = kn.open_case(path)
    with pytest.raises(kn.CaseError, match="already open for writing in this process"):
        kn.open_case(path, read_only=True)
    out = subprocess.run([sys.executable, "-c", _OPEN_ELSEWHERE, str(path)], capture_output=True, text=True)
    assert out.stdout.startswith("refused:"), out.stdout + out.stderr[-500:]
    assert "open in another process" in out.stdout
    again.close()
    first.close()


def test_an_empty_file_becomes_a_new_case(tmp_path):
    path = tmp_path / "made-by-mktemp.duckdb"
    path.touch()
    with kn.open_case(path) as case:
        assert case.sql("SELECT count(*) AS n FROM events")["n"].to_list() == [0]


def test_an_empty_export_is_refused_and_left_as_it_is(tmp_path):
    # a quiet node's Falco export is an empty file: evidence, not a new case
    export = tmp_path / "falco.json"
    export.touch()
    with pytest.raises(kn.CaseError, match="empty file, not a case file"):
        kn.open_case(export)
    assert export.read_bytes() == b""


def test_opening_a_case_again_in_one_process_returns_that_case(tmp_path):
    # the README: opened again in the same process (a cell run twice), it "returns the same case";
    # it closes when each open is closed
    first = kn.open_case(tmp_path / "c.duckdb")
    again = kn.open_case(str(tmp_path / "." / "c.duckdb"))
    assert again is first
    again.close()
    assert first.sql("SELECT 1 AS x")["x"].to_list() == [1]
    first.close()
    reopened = kn.open_case(tmp_path / "c.duckdb")
    assert reopened is not first
    reopened.close()
    ro = kn.open_case(tmp_path / "c.duckdb", read_only=True)
    assert kn.open_case(tmp_path / "c.duckdb", read_only=True) is ro
    ro.close()
    ro.close()
    closed = kn.open_case(tmp_path / "c.duckdb")
    closed.con.close()  # closed behind its back: opened again, a new case
    fresh = kn.open_case(tmp_path / "c.duckdb")
    assert fresh is not closed and fresh.sql("SELECT 1 AS x")["x"].to_list() == [1]
    fresh.close()


def test_a_case_nothing_refers_to_is_closed_and_unlocked(tmp_path):
    # the registry behind "the same case" must not keep a dropped case (and its lock) alive
    import subprocess
    import sys

    path = tmp_path / "c.duckdb"
    kn.open_case(path).con.execute("CREATE TABLE t AS SELECT 1 AS x")
    out = subprocess.run([sys.executable, "-c", _OPEN_ELSEWHERE, str(path)], capture_output=True, text=True)
    assert out.stdout.startswith("opened"), out.stdout + out.stderr[-500:]
