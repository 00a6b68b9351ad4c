"""Flow attribution: 5-tuple with skew and port reuse, replies, duplicates, pod+dest, none."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

import kernelsec_nb as kn
from kernelsec_nb.correlate import attribute_flows
from tests.store.lines import hubble_flow, tetragon_exec

S, MS = 10**9, 10**6


def kp(rows: list[tuple[int, str, str, int]]) -> pl.DataFrame:
    """(time, exec_id, function, sport) connects from 10.0.0.1 to 10.0.1.5:80."""
    return pl.DataFrame({
        "time_ns": [r[0] for r in rows], "exec_id": [r[1] for r in rows],
        "function_name": [r[2] for r in rows], "saddr": "10.0.0.1", "sport": [r[3] for r in rows],
        "daddr": "10.0.1.5", "dport": 80, "protocol": "TCP", "namespace": "ns", "pod": "web-1"})


def fl(times: list[int], sport: int = 40000, reply: bool | None = False) -> pl.DataFrame:
    return pl.DataFrame({"time_ns": times, "src_ip": "10.0.0.1", "src_port": sport, "dst_ip": "10.0.1.5",
                         "dst_port": 80, "protocol": "TCP", "is_reply": reply, "src_namespace": "ns",
                         "src_pod": "web-1"}, schema_overrides={"is_reply": pl.Boolean})


def test_port_reuse_picks_preceding_connect() -> None:
    k = kp([(1 * S, "a", "tcp_connect", 40000), (2 * S, "a", "tcp_close", 40000),
            (100 * S, "b", "tcp_connect", 40000)])
    out = attribute_flows(fl([1 * S + 10, 50 * S, 100 * S + 10, 200 * S]), k)
    assert out["exec_id"].to_list() == ["a", "a", "b", "b"]
    # the flow at 50 s comes after a's close: still a, but with low confidence
    assert out["confidence"].to_list() == [1.0, 0.5, 1.0, 1.0]


def test_skew_tolerance_ahead_but_never_much_later() -> None:
    k = kp([(10 * S, "a", "tcp_connect", 40000)])
    out = attribute_flows(fl([10 * S - 300 * MS, 10 * S - 5 * S]), k)
    # 5 s early is beyond the skew tolerance: no 5-tuple match, only the weaker pod+dest one
    assert out.select("exec_id", "match").rows() == [("a", "5tuple"), ("a", "pod+dest")]
    assert out["confidence"][0] == 0.9
    strict = attribute_flows(fl([10 * S - 5 * S]), k, window="1s")
    assert strict["match"].to_list() == ["none"]


def test_skew_prefers_new_connect_over_closed_old_one() -> None:
    k = kp([(1 * S, "old", "tcp_connect", 40000), (2 * S, "old", "tcp_close", 40000),
            (60 * S, "new", "tcp_connect", 40000)])
    # observed on a node whose clock is 300 ms behind: the flow precedes its connect
    out = attribute_flows(fl([60 * S - 300 * MS]), k)
    assert out["exec_id"].to_list() == ["new"]
    # the FIN of the old connection, just before the port is reused, stays with the old one
    k2 = kp([(1 * S, "old", "tcp_connect", 40000), (59 * S + 800 * MS, "old", "tcp_close", 40000),
             (60 * S, "new", "tcp_connect", 40000)])
    assert attribute_flows(fl([59 * S + 801 * MS]), k2)["exec_id"].to_list() == ["old"]


def test_reply_flows_are_swapped() -> None:
    k = kp([(1 * S, "a", "tcp_connect", 40000)])
    rev = pl.DataFrame({"time_ns": [1 * S + 5], "src_ip": "10.0.1.5", "src_port": 80, "dst_ip": "10.0.0.1",
                        "dst_port": 40000, "protocol": "TCP", "is_reply": [None]},
                       schema_overrides={"is_reply": pl.Boolean})
    assert attribute_flows(rev, k)["exec_id"].to_list() == ["a"]
    assert attribute_flows(rev.with_columns(pl.lit(True).alias("is_reply")), k)["exec_id"].to_list() == ["a"]


def test_duplicated_flows_both_attributed_order_kept() -> None:
    k = kp([(1 * S, "a", "tcp_connect", 40000), (1 * S, "b", "tcp_connect", 41000)])
    f = pl.concat([fl([3 * S], 41000), fl([2 * S]), fl([2 * S])])
    assert attribute_flows(f, k)["exec_id"].to_list() == ["b", "a", "a"]


def test_no_kprobe_and_pod_dest() -> None:
    k = kp([(1 * S, "a", "tcp_connect", 40000)])
    out = attribute_flows(fl([1 * S + 2 * MS], sport=45555), k)
    assert out["match"].to_list() == ["pod+dest"] and out["exec_id"].to_list() == ["a"]
    assert 0.3 <= out["confidence"][0] <= 0.6
    none = attribute_flows(fl([1 * S]), kp([]).cast({"time_ns": pl.Int64, "sport": pl.Int64}))
    assert none.select("exec_id", "match", "confidence").rows() == [(None, "none", 0.0)]


def test_case_flows(mini_case) -> None:
    from tests.correlate.conftest import C_PORT
    f = mini_case.flows(port=C_PORT)
    by = {(r["node"], r["time_ns"]): r for r in f.iter_rows(named=True)}
    assert all(r["exec_id"] in {"C1", "C2", None} for r in by.values())
    c1 = f.filter(pl.col("time_ns") < f["time_ns"].min() + 5 * S)
    # every observation of C1's connection, both nodes, both directions, the duplicate too
    assert set(c1["exec_id"]) == {"C1"} and c1.height == 6
    c2 = f.filter(pl.col("time_ns") > f["time_ns"].min() + 5 * S)
    assert set(c2["exec_id"]) == {"C2"} and c2.height == 4
    assert set(f["binary"].drop_nulls()) == {"/usr/bin/curl"}
    put = mini_case.flows(http_method="put", http_path="^/v1/secret$", node="n2")
    assert put["exec_id"].to_list() == ["C1", "C1", "C1", "C2"]
    assert mini_case.flows(port=53)["match"].to_list() == ["none"]
    pd = mini_case.flows(port=45555)
    assert pd.select("exec_id", "match").rows() == [("C1", "pod+dest")]
    assert mini_case.flows(binary="curl$", match="5tuple").height == 10


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _skewed(tmp_path, *, node_ahead: timedelta, tetragon_ahead: timedelta = timedelta(0),
            flows_first: bool = False) -> kn.Case:
    """Five connections from n1 to n2, seen by Tetragon (connect) and Hubble on n1 and Hubble on n2;
    n1's clock reads ``node_ahead`` ahead, its Tetragon export another ``tetragon_ahead``; with
    ``flows_first`` the Hubble flows are loaded by one load and the Tetragon events by a second."""
    t0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    exec_line = json.loads(tetragon_exec(time=_iso(t0 + node_ahead + tetragon_ahead)))
    body = exec_line["process_exec"]
    lines = [json.dumps(exec_line)]
    for i in range(5):
        t = t0 + timedelta(seconds=10 + 10 * i)
        sock = {"saddr": "10.0.0.1", "sport": 41000 + i, "daddr": "10.0.0.2", "dport": 80, "protocol": "IPPROTO_TCP"}
        connect = t + node_ahead + tetragon_ahead - timedelta(milliseconds=1)
        lines.append(json.dumps({"process_kprobe": {**body, "function_name": "tcp_connect", "args": [{"sock_arg": sock}]},
                                 "node_name": "n1", "time": _iso(connect)}))
        lines.append(hubble_flow(sport=41000 + i, node="n1", time=_iso(t + node_ahead)))
        lines.append(hubble_flow(sport=41000 + i, node="n2", time=_iso(t + timedelta(microseconds=300))))
    case = kn.open_case(tmp_path / "c.duckdb")
    if flows_first:
        (tmp_path / "flows.json").write_text("\n".join(x for x in lines if x.startswith('{"flow"')) + "\n")
        (tmp_path / "tetragon.json").write_text("\n".join(x for x in lines if not x.startswith('{"flow"')) + "\n")
        case.load(tmp_path / "flows.json", progress=False)
        case.report = case.load(tmp_path / "tetragon.json", progress=False)
        return case
    (tmp_path / "capture.json").write_text("\n".join(lines) + "\n")
    case.report = case.load(tmp_path / "capture.json", progress=False)
    return case


def test_case_compares_skewed_nodes_on_the_reference_clock(tmp_path) -> None:
    # node n1 reads 2 s ahead: its connects and egress sightings are stamped 2 s late; the ingress
    # sighting on n2 (on time) came "2 s before" its connect and was left to weaker rules
    case = _skewed(tmp_path, node_ahead=timedelta(seconds=2))
    offsets = dict(case.coverage().select("node", "clock_offset_ms").unique().iter_rows())
    assert round(offsets["n1"]) == 2000 and offsets["n2"] == 0  # the node that is off has the offset
    flows = case.flows()
    assert flows.group_by("node", "match").len().sort("node").rows() == [("n1", "5tuple", 5), ("n2", "5tuple", 5)]
    assert flows["conn_time_ns"].min() > 0 and flows.filter(pl.col("node") == "n2")["exec_id"].null_count() == 0
    case.close()


@pytest.mark.parametrize("flows_first", [False, True], ids=["one-load", "tetragon-loaded-later"])
def test_a_tetragon_export_off_its_nodes_hubble_is_told_and_allowed_for(tmp_path, flows_first) -> None:
    # only n1's Tetragon times are 2 s late (its node clock agrees with n2): the load says so, and
    # its connects are compared on Hubble's clock, also when they come in a later load than the flows
    case = _skewed(tmp_path, node_ahead=timedelta(0), tetragon_ahead=timedelta(seconds=2), flows_first=flows_first)
    assert case.report.clock_skew == [
        "clock skew: on n1, Hubble's flows read about 2.00 s earlier than Tetragon's connects of the same "
        "connections; flow attribution allows for it, timelines do not"]
    assert case.flows().group_by("match").len().rows() == [("5tuple", 10)]
    case.close()


def test_flows_with_only_some_columns_are_the_flows_with_those_columns(mini_case) -> None:
    """What the findings fetch (only the columns they read) is ``flows()`` cut to those columns:
    same rows, order, values and types, in a case and in a lake."""
    from kernelsec_nb.findings._frames import FLOW_COLUMNS
    full = mini_case.flows()
    cut = mini_case._flows_only(FLOW_COLUMNS)
    assert set(cut.columns) == set(FLOW_COLUMNS) & set(full.columns) and cut.height == full.height > 0
    assert cut.equals(full.select(cut.columns))
    assert mini_case._flows_only(["exec_id", "binary"], port=45555).rows() == \
        mini_case.flows(port=45555).select("exec_id", "binary").rows()
    with pytest.raises(ValueError, match="not a column name"):
        mini_case._flows_only(["event_id) FROM flows; --"])


def _labels(m) -> dict | None:
    return None if m is None else dict(m) if isinstance(m, dict) else {e["key"]: e["value"] for e in m}


def test_flows_with_only_some_labels_keep_those_keys_and_nothing_else(mini_case) -> None:
    """``label_keys`` cuts each destination's labels to those keys (a null stays null)."""
    full = [_labels(m) for m in mini_case.flows()["dst_labels"].to_list()]
    keys = sorted({k for m in full if m for k in m})
    assert keys, "the scenario's flows name labels"
    for want in (keys[:1], ["no such key"]):
        cut = [_labels(m) for m in mini_case._flows_only(["dst_labels", "time_ns"], label_keys=want)["dst_labels"]
               .to_list()]
        assert cut == [None if m is None else {k: v for k, v in m.items() if k in want} for m in full]
        assert any(cut) == (want == keys[:1])
