"""A lake (kn.load_lake, kn.open_case(DIR)) holds the tables a case file holds, row for row."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kernelsec_nb as kn
from kernelsec_nb.lake import _layout
from tests.conftest import BUNDLED
from tests.correlate.conftest import SHIM, T0, S, proc, tg
from tests.store.test_fuzz import mutated

#: Columns that say when a row was written, not what was loaded.
_WHEN = {"files": ["loaded_at"], "case_state": ["built_at"]}


def rows(case: kn.Case, table: str) -> list[str]:
    """The table's rows as sorted text (a multiset: order is not part of a table)."""
    drop = _WHEN.get(table, [])
    cols = [c for c, _ in _layout.schema()[table] if c not in drop]
    quoted = ", ".join(f'"{c}"' for c in cols)
    return sorted(map(repr, case.con.execute(f"SELECT {quoted} FROM {table}").fetchall()))  # noqa: S608


def assert_same_tables(a: kn.Case, b: kn.Case) -> None:
    for table in (*_layout.TABLES, "events"):
        if table == "events":
            got, want = (sorted(map(repr, c.con.execute("SELECT * FROM events").fetchall())) for c in (a, b))
        else:
            got, want = rows(a, table), rows(b, table)
        assert len(got) == len(want), table
        assert got == want, table


def types(case: kn.Case, table: str) -> list[tuple[str, str]]:
    rel = case.con.sql(f"SELECT * FROM {table}")  # noqa: S608
    return list(zip(rel.columns, [str(t) for t in rel.types], strict=True))


def test_lake_of_the_bundled_capture_is_the_case(bundled_lake: Path, bundled_case: kn.Case) -> None:
    lake = kn.open_case(bundled_lake)
    assert isinstance(lake, kn.lake.LakeCase) and lake.read_only
    assert_same_tables(lake, bundled_case)
    for table in (*_layout.TABLES, "events"):  # the same columns with the same types
        assert types(lake, table) == types(bundled_case, table), table
    # the query methods too (the flow attribution reads a rowid the views make)
    assert lake.flows().sort("event_id").equals(bundled_case.flows().sort("event_id"))
    assert lake.tables().equals(bundled_case.tables())
    for method in ("processes", "process_tree", "alerts", "activity", "coverage"):  # sorted: row order is no answer
        got, want = getattr(lake, method)(), getattr(bundled_case, method)()
        assert got.columns == want.columns, method
        assert got.sort(pl.all()).equals(want.sort(pl.all())), method
    # the sources' own tables and views: the sidecars' requests (a rowid too) and the API calls
    assert lake.http_requests().height > 0
    assert lake.http_requests().sort("event_id").equals(bundled_case.http_requests().sort("event_id"))
    assert lake.api_calls().height > 0
    assert lake.api_calls().sort("call_id").equals(bundled_case.api_calls().sort("call_id"))
    # the pod addresses the requests' pods come from: a lake computes them, as the load built the case's
    addresses = "SELECT ip, namespace, pod, workload, first_ns, last_ns FROM pod_addresses ORDER BY ALL"
    assert lake.sql(addresses).height > 0
    assert lake.sql(addresses).equals(bundled_case.sql(addresses))


def test_manifest_names_the_tables_and_the_run(bundled_lake: Path, bundled_case) -> None:
    m = _layout.read_manifest(bundled_lake)
    assert set(m["tables"]) == set(_layout.TABLES)
    (run,) = m["runs"]
    assert run["lines"] == run["loaded"] + run["duplicates"] + run["quarantined"] + run["blank"]
    assert run["files"] == bundled_case.files().height == 22  # every export of data/deathstar
    assert all(_layout.run_of(p.name) == run["id"] for p in bundled_lake.rglob("*.parquet"))


def test_a_node_filter_reads_the_files_of_that_node_only(bundled_lake: Path) -> None:
    lake = kn.open_case(bundled_lake)
    plan = lake.con.execute("EXPLAIN ANALYZE SELECT count(*) FROM flows WHERE node = ?", ["kind-worker"]).fetchall()
    text = plan[0][1]
    assert "Scanning Files: 1/3" in text, text
    everything = lake.con.execute("EXPLAIN ANALYZE SELECT count(*) FROM flows").fetchall()[0][1]
    assert "Total Files Read: 3" in everything
    # through the case's own filter too, and through the events view
    assert lake.events(node="kind-worker").height == lake.sql(
        "select count(*) n from events where node = 'kind-worker'")["n"][0]


def test_any_parquet_reader_reads_it(bundled_lake: Path, bundled_case: kn.Case) -> None:
    flows = pl.scan_parquet(bundled_lake / "flows", hive_partitioning=True).collect()
    assert flows.height == bundled_case.sql("select count(*) n from flows")["n"][0]
    assert flows["day"].dtype == pl.Date and set(flows["node"]) == {"kind-worker", "kind-worker2", "kind-control-plane"}
    files = pl.read_parquet(bundled_lake / "files")
    assert (files["lines"] == files["loaded"] + files["duplicates"] + files["quarantined"] + files["blank"]).all()
    # and DuckDB without our views
    n = duckdb.execute("SELECT count(*) FROM read_parquet(?, hive_partitioning = true)",
                       [f"{bundled_lake}/process_events/*/*/*.parquet"]).fetchall()[0][0]
    assert n == bundled_case.sql("select count(*) n from process_events")["n"][0]


def test_the_load_report_of_a_lake_is_its_files_and_its_runs(bundled_lake: Path, bundled_case: kn.Case) -> None:
    lake = kn.open_case(bundled_lake)
    report = lake.load_report()
    assert report.files == bundled_case.load_report().files            # each file's accounting, in load order
    assert report.to_dict()["lines"] == 31672 and all(f.balanced for f in report.files)
    assert report.clock_skew == bundled_case.load_report().clock_skew   # the lake's clock_offsets
    (run,) = _layout.read_manifest(bundled_lake)["runs"]                # the manifest's accounting, one line per run
    assert report.notes[1:] == [kn.lake.run_text(run)]
    assert f"{run['files']} files, {run['lines']} lines = {run['loaded']} loaded + {run['duplicates']} duplicates" \
        in report.text() and "a lake of 1 load run" in report.text(relative=True)


def test_a_lake_built_in_two_runs_is_the_lake_built_in_one(tmp_path: Path, bundled_lake: Path) -> None:
    rotated = sorted(str(p) for p in BUNDLED.rglob("*.gz"))
    first = kn.load_lake(tmp_path / "two", rotated, progress=False)
    report = kn.load_lake(tmp_path / "two", BUNDLED, progress=False)  # the rotated ones again: nothing added
    assert {f.status for f in report.files if f.path in rotated} == {"already loaded"}
    assert_same_tables(kn.open_case(tmp_path / "two"), kn.open_case(bundled_lake))
    runs = _layout.read_manifest(tmp_path / "two")["runs"]
    assert len(runs) == 2
    # its load report: the files it holds (in the order the runs loaded them), then each run's own accounting
    held = kn.open_case(tmp_path / "two").load_report()
    assert [f.path for f in held.files[:len(rotated)]] == [f.path for f in first.files]
    assert sorted(held.files, key=lambda f: f.path) == sorted(kn.open_case(bundled_lake).load_report().files,
                                                               key=lambda f: f.path)
    assert held.notes[1:] == [kn.lake.run_text(r) for r in runs]
    assert [(r["lines"], r["loaded"], r["duplicates"]) for r in runs] == [
        (x.total("lines"), x.total("loaded"), x.total("duplicates")) for x in (first, report)]
    # the rewritten tables keep the files of the last run only; the event tables, of both
    assert {_layout.run_of(p.name) for p in (tmp_path / "two" / "processes").rglob("*.parquet")} == {runs[1]["id"]}
    assert {_layout.run_of(p.name) for p in (tmp_path / "two" / "flows").rglob("*.parquet")} == {r["id"] for r in runs}


def test_an_export_that_grew_adds_its_new_lines_only(tmp_path: Path) -> None:
    src = BUNDLED / "kind-worker" / "tetragon.log"
    lines = src.read_bytes().splitlines(keepends=True)
    ex = tmp_path / "ex" / "tetragon.log"
    ex.parent.mkdir()
    ex.write_bytes(b"".join(lines[: len(lines) // 2]))
    kn.load_lake(tmp_path / "lake", ex, progress=False)
    case = kn.open_case(tmp_path / "case.duckdb")
    case.load(ex, progress=False)
    ex.write_bytes(b"".join(lines))
    kn.load_lake(tmp_path / "lake", ex, progress=False)
    report = case.load(ex, progress=False)  # the case file loads it twice too: half its lines are duplicates
    assert report.files[0].duplicates == len(lines) // 2
    assert_same_tables(kn.open_case(tmp_path / "lake"), case)


HOSTILE = ["../x", "a/b", "=", "\u202eevil", "", "a%2Fb", "__HIVE_DEFAULT_PARTITION__", "..", "x" * 300,
           "/etc/passwd", "a\\b", "é" * 50, "1", "2024-01-01", "k=v/day=2024-01-01", "a\nb", "*"]


def test_hostile_node_names_round_trip_and_stay_inside_the_lake(tmp_path: Path) -> None:
    lines = [tg(node, T0 + i * S + 86_400 * S * i, "process_exec",
                {"process": proc(f"E{i}", 100 + i, "/bin/sh", "", T0 + i * S, "SHIM"), "parent": SHIM})
             for i, node in enumerate(HOSTILE)]
    no_node = tg("n", T0, "process_exec", {"process": proc("E99", 1, "/bin/sh", "", T0, "SHIM"), "parent": SHIM})
    del no_node["node_name"]
    ex = tmp_path / "ex" / "t.log"
    ex.parent.mkdir()
    ex.write_text("".join(json.dumps(x) + "\n" for x in [*lines, no_node]))
    outside = {p for p in tmp_path.rglob("*")}
    kn.load_lake(tmp_path / "lake", ex, progress=False)
    assert {p for p in tmp_path.rglob("*") if not p.is_relative_to(tmp_path / "lake")} == outside
    for p in (tmp_path / "lake").rglob("*"):  # every partition folder is one level, named key=value
        rel = p.relative_to(tmp_path / "lake").parts
        if len(rel) >= 3 and rel[0] == "process_events":
            assert rel[1].startswith("node=") and (len(rel) < 3 or rel[2].startswith("day="))
    case = kn.open_case(ex.parent.parent / "case.duckdb")
    case.load(ex, progress=False)
    lake = kn.open_case(tmp_path / "lake")
    got = lake.sql("select node, exec_id from process_events order by exec_id")
    assert got.equals(case.sql("select node, exec_id from process_events order by exec_id"))
    assert sorted(got["node"].to_list(), key=str) == sorted([*HOSTILE, None], key=str)
    assert_same_tables(lake, case)
    for node in HOSTILE:  # the node filter finds on the lake what it finds in the case file
        assert lake.events(node=node)["event_id"].to_list() == case.events(node=node)["event_id"].to_list(), node
    assert lake.events(node="=").height == 1
    # a hive reader sees the nodes it can: the default partition reads as null
    seen = pl.scan_parquet(tmp_path / "lake" / "process_events", hive_partitioning=True).collect()
    exact = [n for n in HOSTILE if _layout.partition_node(n) is not None]
    assert len(exact) == len(HOSTILE) - 4  # not the empty, the two long ones and __HIVE_DEFAULT_PARTITION__
    assert sorted(seen["node"].drop_nulls().to_list()) == sorted(exact)


def test_team_notes_and_loads_are_refused_with_one_line(bundled_lake: Path) -> None:
    lake = kn.open_case(bundled_lake)
    eid = lake.sql("select event_id from events limit 1")["event_id"][0]
    with pytest.raises(kn.CaseError, match="is a lake, read-only") as err:
        lake.tag(eid, "x")
    assert "\n" not in str(err.value)
    with pytest.raises(kn.CaseError, match="load_lake"):
        lake.load(BUNDLED)
    assert lake.notes().height == 0 and lake.events(tag="x").height == 0


def test_a_write_that_did_not_finish_is_not_read(tmp_path: Path) -> None:
    node = BUNDLED / "kind-control-plane"
    kn.load_lake(tmp_path / "lake", sorted(node.glob("*.gz")), progress=False)
    before = rows(kn.open_case(tmp_path / "lake"), "flows")
    # a run that moved its files in but did not commit (a crash before the manifest)
    stray = next((tmp_path / "lake" / "flows").rglob("*.parquet"))
    shutil.copy(stray, stray.with_name(_layout.part_name("29990101T000000Z-deadbeef", 0)))
    assert rows(kn.open_case(tmp_path / "lake"), "flows") == before
    kn.load_lake(tmp_path / "lake", node, progress=False)  # the next write removes it
    assert not list((tmp_path / "lake").rglob("part-29990101T000000Z-deadbeef-*"))


def test_cli_load_lake_and_the_read_only_commands(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    run = [sys.executable, "-m", "kernelsec_nb"]
    out = subprocess.run([*run, "load", "--lake", str(tmp_path / "lake"), str(BUNDLED / "kind-control-plane"), "--json"],
                         capture_output=True, text=True, env=env, check=True)
    assert json.loads(out.stdout)["files"] == len([p for p in (BUNDLED / "kind-control-plane").iterdir() if p.is_file()]) == 6
    found = subprocess.run([*run, "findings", str(tmp_path / "lake")], capture_output=True, text=True, env=env)
    assert found.returncode == 0, found.stderr
    bad = subprocess.run([*run, "load", "--lake", str(BUNDLED / "TRUTH.json"), str(BUNDLED)],
                         capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "not a lake" in bad.stderr
    folder = subprocess.run([*run, "findings", str(BUNDLED)], capture_output=True, text=True, env=env)
    assert folder.returncode == 2 and "Traceback" not in folder.stderr
    # report takes the lake as its case (here it stops at the missing notebook, after that check)
    rep = subprocess.run([*run, "report", str(tmp_path / "lake"), "--notebook", str(tmp_path / "none.ipynb"),
                          "--out", str(tmp_path / "r.html")], capture_output=True, text=True, env=env)
    assert rep.returncode == 2 and "none.ipynb" in rep.stderr and "no case file" not in rep.stderr, rep.stderr


def test_a_time_range_reads_the_partitions_of_its_days_only(tmp_path: Path) -> None:
    day = 86_400 * S
    lines = [tg(f"n{i % 2}", T0 + i * day + i * S, "process_exec",
                {"process": proc(f"D{i}", 100 + i, "/bin/sh", "", T0 + i * day, "SHIM"), "parent": SHIM})
             for i in range(6)]
    ex = tmp_path / "ex" / "t.log"
    ex.parent.mkdir()
    ex.write_text("".join(json.dumps(x) + "\n" for x in lines))
    kn.load_lake(tmp_path / "lake", ex, progress=False)
    case = kn.open_case(tmp_path / "case.duckdb")
    case.load(ex, progress=False)
    lake = kn.open_case(tmp_path / "lake")
    for flt in ({"since": T0 + 2 * day, "until": T0 + 3 * day + 5 * S}, {"since": T0 + 4 * day},
                {"until": T0 + day}, {"around": T0 + 3 * day + 3 * S, "window": "10s"},
                {"since": T0 + 2 * day, "node": "n1"}):
        assert lake.events(**flt).equals(case.events(**flt)), flt
        assert lake.events(**flt).height
    from kernelsec_nb.lake._read import table_sql

    root, manifest, found = lake._lake
    sql, _ = table_sql(root, manifest, "process_events", days=(_layout.day_of(T0 + 2 * day), _layout.day_of(T0 + 3 * day)),
                       found=found["process_events"])
    plan = lake.con.execute(f"EXPLAIN ANALYZE {sql}").fetchall()[0][1]
    assert "Scanning Files: 2/6" in plan, plan


def test_a_missing_export_leaves_no_lake_behind(tmp_path: Path) -> None:
    with pytest.raises(kn.LoadPathError):
        kn.load_lake(tmp_path / "lake", tmp_path / "missing", progress=False)
    assert not (tmp_path / "lake").exists()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    with pytest.raises(kn.lake.LakeError, match="not a lake"):
        kn.load_lake(tmp_path / "other", BUNDLED / "kind-control-plane" / "falco.json", progress=False)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(mutated(), min_size=1, max_size=12))
def test_lake_of_mutated_lines_is_the_case(tmp_path: Path, lines: list[bytes]) -> None:
    with tempfile.TemporaryDirectory(dir=tmp_path) as d:
        ex = Path(d) / "ex" / "fuzz.log"
        ex.parent.mkdir()
        ex.write_bytes(b"\n".join(lines) + b"\n")
        report = kn.load_lake(Path(d) / "lake", ex, progress=False)
        case = kn.open_case()
        assert case.load(ex, progress=False).to_dict() == report.to_dict()
        assert_same_tables(kn.open_case(Path(d) / "lake"), case)
