"""The team's notes and saved queries kept in the case (kernelsec_nb.store.notes)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

import kernelsec_nb as kn
from tests.correlate.conftest import scenario, write

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(tmp_path_factory.mktemp("notes"), scenario())


@pytest.fixture()
def case(exports: Path, tmp_path: Path) -> kn.Case:
    c = kn.open_case(tmp_path / "case.duckdb")
    c.load(exports, progress=False)
    yield c
    c.close()


def _flow_and_exec(case: kn.Case) -> tuple[str, str]:
    flows = case.flows().filter(pl.col("exec_id").is_not_null())
    return flows["event_id"][0], flows["exec_id"][0]


def test_tag_an_event_a_flow_and_a_process(case):
    flow_id, exec_id = _flow_and_exec(case)
    exec_event = case.events(kind="process_exec")["event_id"][0]
    added = case.tag(flow_id, ["exfil", "c2"], note="PUT to the port", author="alice")
    assert added.height == 2 and set(added["tag"]) == {"exfil", "c2"}
    assert added["target_kind"].to_list() == ["flow", "flow"] and added["author"].to_list() == ["alice"] * 2
    case.tag(exec_id, "attacker")
    case.star(exec_event, note="look")
    notes = case.notes()
    assert notes.height == 4
    assert dict(zip(notes["tag"], notes["target_kind"], strict=True)) == {
        "exfil": "flow", "c2": "flow", "attacker": "exec", "star": "event"}
    import getpass
    assert notes.filter(pl.col("tag") == "attacker")["author"][0] == getpass.getuser()
    assert notes["time"].null_count() == 0  # what the target is, joined
    assert case.notes(tag="star")["note"].to_list() == ["look"]
    assert case.notes(author="alice").height == 2


def test_a_row_or_a_frame_can_be_tagged(case):
    procs = case.processes()
    row = procs.row(0, named=True)
    assert case.tag(row, "p")["target"].to_list() == [row["exec_id"]]
    flows = case.flows().head(3)
    added = case.tag(flows, "three")
    assert added["target"].to_list() == flows["event_id"].to_list()
    assert set(added["target_kind"]) == {"flow"}
    assert case.tag(flows.head(0), "none").height == 0  # an empty result tags nothing


def test_an_unknown_target_is_a_clear_error(case):
    with pytest.raises(KeyError, match="no event or process 'nope'"):
        case.tag("nope", "x")
    with pytest.raises(ValueError, match="give a tag or a note"):
        case.tag(case.processes()["exec_id"][0], [])


def test_tag_filter_in_every_query_method(case):
    flow_id, exec_id = _flow_and_exec(case)
    case.tag(flow_id, "net")
    case.tag(exec_id, "proc")
    assert case.flows(tag="net")["event_id"].to_list() == [flow_id]
    assert case.events(tag="net")["event_id"].to_list() == [flow_id]
    # a tagged process: its own row, its events, the flows and alerts attributed to it
    assert case.processes(tag="proc")["exec_id"].to_list() == [exec_id]
    assert case.process_tree(tag="proc")["exec_id"].to_list() == [exec_id]
    assert set(case.events(tag="proc")["exec_id"]) == {exec_id}
    assert set(case.flows(tag="proc")["exec_id"]) == {exec_id}
    assert case.flows(tag="proc").height == case.flows(exec_id=exec_id).height
    assert case.alerts(tag="proc").height == case.alerts(exec_id=exec_id).height
    assert case.flows(tag=["net", "proc"]).height == case.flows(tag="proc").height + (
        0 if flow_id in case.flows(tag="proc")["event_id"] else 1)
    assert case.events(tag="nothing").height == 0
    assert case.activity(by="node", tag="net")["events"].sum() == 1


def test_a_tag_value_is_a_parameter(case):
    hostile = "x') OR 1=1 --"
    exec_id = case.processes()["exec_id"][0]
    case.tag(exec_id, hostile)
    assert case.processes(tag=hostile)["exec_id"].to_list() == [exec_id]
    assert case.processes(tag="x").height == 0


def test_untag(case):
    flow_id, _ = _flow_and_exec(case)
    case.tag(flow_id, ["a", "b"], note="n")
    assert case.untag(flow_id, "a") == 1
    assert case.notes()["tag"].to_list() == ["b"]
    assert case.untag(flow_id) == 1
    assert case.notes().height == 0


def test_notes_survive_a_reload_and_a_reopen(case, exports, tmp_path):
    flow_id, exec_id = _flow_and_exec(case)
    case.tag(flow_id, "kept")
    case.tag(exec_id, "kept")
    case.save_query("kept flows", "flows", tag="kept")
    report = case.load(exports, progress=False)  # the same exports again: all duplicates
    assert report.total("loaded") == 0
    more = tmp_path / "more"
    more.mkdir()
    (more / "x.json").write_text(next(exports.rglob("*.json")).read_text().splitlines()[0] + "\n")
    case.load(more, progress=False)
    assert case.notes().height == 2
    path = case.path
    case.close()
    with kn.open_case(path, read_only=True) as again:
        assert again.notes()["tag"].to_list() == ["kept", "kept"]
        assert flow_id in again.query("kept flows")["event_id"].to_list()


def test_read_only_case_refuses_writing_notes(case):
    path = case.path
    case.close()
    with kn.open_case(path, read_only=True) as ro:
        with pytest.raises(kn.CaseError, match="read-only"):
            ro.tag(ro.processes()["exec_id"][0], "x")
        with pytest.raises(kn.CaseError, match="read-only"):
            ro.save_query("q", "events")


def test_a_case_made_before_the_team_tables_opens(case):
    # a case file of the previous version (no annotations, no saved_queries table)
    path = case.path
    case.close()
    con = duckdb.connect(path)
    con.execute("DROP TABLE annotations")
    con.execute("DROP TABLE saved_queries")
    con.close()
    with kn.open_case(path, read_only=True) as ro:
        assert ro.notes().height == 0 and ro.queries().height == 0
        assert ro.events(tag="x").height == 0
    with kn.open_case(path) as rw:  # opened for writing it gains them
        rw.tag(rw.processes()["exec_id"][0], "x")
        assert rw.processes(tag="x").height == 1


_ANALYST = """
import sys
import kernelsec_nb as kn
with kn.open_case(sys.argv[1]) as case:
    target = case.processes()["exec_id"][int(sys.argv[3])]
    case.tag(target, sys.argv[2], note="by " + sys.argv[2], author=sys.argv[2])
    case.save_query(sys.argv[2] + "'s", "processes", tag=sys.argv[2])
    print(sorted(case.notes()["author"].to_list()))
"""


def test_two_analysts_in_turn_merge_their_notes(case):
    path = case.path
    case.close()
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    outs = []
    for who, row in (("alice", 0), ("bob", 1)):
        out = subprocess.run([sys.executable, "-c", _ANALYST, path, who, str(row)],
                             capture_output=True, text=True, env=env, timeout=120)
        assert out.returncode == 0, out.stderr[-800:]
        outs.append(out.stdout.strip())
    assert outs == ["['alice']", "['alice', 'bob']"]  # the second sees both
    with kn.open_case(path, read_only=True) as again:
        notes = again.notes()
        assert sorted(notes["note"].to_list()) == ["by alice", "by bob"]
        assert again.queries()["name"].to_list() == ["alice's", "bob's"]
        assert again.query("bob's").height == 1


# -- saved queries -------------------------------------------------------------------------------
def test_saved_query_round_trip_with_times_lists_and_patterns(case):
    when = case.flows()["time"][0]
    case.save_query("web puts", "flows", pod=re.compile("^WEB", re.I), since=when, port=[80, 8080])
    expected = case.flows(pod=re.compile("^WEB", re.I), since=when, port=[80, 8080])
    assert expected.height > 0
    assert case.query("web puts").equals(expected)
    row = case.queries().row(0, named=True)
    assert row["method"] == "flows" and json.loads(row["filters"])["port"] == [80, 8080]


def test_saved_query_method_is_an_allow_list(case):
    for bad in ("load", "close", "sql", "__class__", "_select"):
        with pytest.raises(ValueError, match="not a query method"):
            case.save_query("q", bad)
    # a method name written into the case file by hand is not run either
    case.con.execute("INSERT INTO saved_queries VALUES ('evil', 'close', '{}', 'x', now())")
    with pytest.raises(ValueError, match="not a query method"):
        case.query("evil")
    assert case.processes().height  # still open


def test_saved_query_filters_are_checked_when_saved(case):
    with pytest.raises(TypeError, match="unknown filter 'colour'"):
        case.save_query("q", "events", colour="red")
    with pytest.raises(ValueError, match="filter binary"):
        case.save_query("q", "processes", binary="a(?=b)")
    case.save_query("q", "events", kind="flow")
    with pytest.raises(ValueError, match="already saved"):
        case.save_query("q", "events", kind="alert")
    case.save_query("q", "events", kind="alert", replace=True)
    assert set(case.query("q")["kind"]) == {"alert"}
    with pytest.raises(KeyError, match="no saved query"):
        case.query("nope")
    case.save_query("per node", "activity", by="node", every="10s")
    assert case.query("per node").height > 0
