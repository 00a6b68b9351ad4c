"""activity, first_seen, coverage, explain, and filters that carry SQL as plain data."""

from __future__ import annotations

import polars as pl
import pytest

import kernelsec_nb as kn
from tests.correlate.conftest import MS, T0, S

EVIL = "x' OR 1=1 --"


def test_activity(mini_case) -> None:
    a = mini_case.activity(by=("node",), every="1m")
    assert a.columns == ["window", "node", "source", "kind", "events"]
    assert a["events"].sum() == mini_case.sql("select count(*) n from events")["n"][0]
    assert a.filter(pl.col("node") == "n2", pl.col("source") == "hubble")["events"].sum() == 7
    with pytest.raises(ValueError):
        mini_case.activity(by="node; drop table events")


def test_first_seen(mini_case) -> None:
    fs = mini_case.first_seen(by="workload")
    web = fs.filter(pl.col("group") == "web")
    assert {"binary", "exec_pair", "destination", "dns"} <= set(web["what"])
    assert "/bin/sh -> /usr/bin/curl" in web["value"].to_list()
    curl = web.filter(pl.col("value") == "/usr/bin/curl")
    assert curl["count"].to_list() == [2]
    # versus the first 5 s: the second curl is not new, nothing new after 5 s for web's binaries
    new = mini_case.first_seen(by="workload", baseline=(T0, T0 + 5 * S))
    assert new.filter(pl.col("group") == "web", pl.col("what") == "binary").height == 0
    same = mini_case.first_seen(by="workload", baseline=mini_case)
    assert same.height == 0
    # a single time is the baseline from the start of the capture to it, as text too
    import datetime as dt

    until = dt.datetime.fromtimestamp((T0 + 5 * S) / 1e9, tz=dt.UTC).isoformat()
    assert mini_case.first_seen(by="workload", baseline=until).equals(new)
    with pytest.raises(TypeError, match="baseline is a Case"):
        mini_case.first_seen(baseline=3.5)


def test_coverage_offset_and_orphans(mini_case) -> None:
    cov = mini_case.coverage(gap="5s")
    off = dict(cov.select("node", "clock_offset_ms").unique().iter_rows())
    assert off["n2"] - off["n1"] == pytest.approx(-300, abs=5)
    tg = cov.filter(pl.col("source") == "tetragon", pl.col("node") == "n1").row(0, named=True)
    assert tg["orphan_share"] == pytest.approx(1 / 3)  # S's parent is not captured
    assert tg["gaps"] >= 1 and tg["longest_gap_s"] > 5
    # Falco writes only when a rule fires: its silences are not gaps
    falco = cov.filter(pl.col("source") == "falco")
    assert falco.height and falco["gaps"].is_null().all() and falco["gap_list"].is_null().all()


def test_explain_flow_and_exec(mini_case) -> None:
    put = mini_case.flows(http_method="PUT", node="n2", verdict="DROPPED")
    ex = mini_case.explain(put["event_id"][0])
    assert ex["role"].to_list() == ["exec (not captured)", "exec (not captured)", "exec", "exec", "flow",
                                    "connect (5tuple)"]
    assert ex["exec_id"].to_list()[-3:] == ["C2", "C2", "C2"]
    # an exec seen only as a parent has no event of its own: its child's exec is not listed twice
    assert ex["event_id"].drop_nulls().is_unique().all()
    assert ex.filter(pl.col("role") == "exec (not captured)")["event_id"].null_count() == 2
    assert ex.filter(pl.col("role") == "flow")["raw"][0].startswith('{"flow"')
    assert ex.drop_nulls("event_id")["line"].null_count() == 0
    e2 = mini_case.explain("C1")
    assert {"exec", "connect", "flow", "alert"} <= set(e2["role"])
    al = mini_case.alerts(rule="Terminal")
    assert mini_case.explain(al["event_id"][0])["role"].to_list()[-1] == "alert"
    with pytest.raises(KeyError):
        mini_case.explain(EVIL)


FILTERS = ["namespace", "pod", "workload", "node", "from_pod", "to_pod", "from_workload", "to_workload",
           "verdict", "http_method", "http_path", "fqdn", "dns_query", "binary", "args", "exec_id"]


@pytest.mark.parametrize("method", ["processes", "process_tree", "flows", "alerts", "activity"])
def test_sql_in_filter_values_is_data(mini_case, method: str) -> None:
    from kernelsec_nb.store.filters import PROFILES
    profile = {"processes": "processes", "process_tree": "process_tree", "flows": "flows_attributed",
               "alerts": "alerts_attributed", "activity": "events"}[method]
    tried = 0
    for key in FILTERS:
        if key not in PROFILES[profile]:
            continue
        out = getattr(mini_case, method)(**{key: EVIL})
        assert out.height == 0, (method, key)
        tried += 1
    assert tried >= 4
    assert mini_case.sql("select count(*) n from events")["n"][0] == 26
    # time filters too
    assert getattr(mini_case, method)(since=T0 + 10**12).height == 0
    assert getattr(mini_case, method)(around=T0 + 2 * S, window="100ms").height >= 0
    _ = MS


def test_coverage_counts_tetragon_throttling_and_summaries_say_what_happened(tmp_path) -> None:
    import json

    proc = {"exec_id": "eA==", "pid": 7, "binary": "/x"}
    lines = [{"process_uprobe": {"process": proc, "path": "/usr/lib/libssl.so.3", "symbol": "SSL_write"}},
             {"process_loader": {"process": proc, "path": "/usr/lib/libevil.so", "buildid": "ab"}},
             {"process_throttle": {"type": "THROTTLE_START", "cgroup": "cri-containerd-abc.scope"}},
             {"process_throttle": {"type": "THROTTLE_STOP", "cgroup": "cri-containerd-abc.scope"}}]
    (tmp_path / "t.json").write_text("".join(
        json.dumps({**x, "node_name": "n1", "time": f"2026-11-20T10:00:0{i}Z"}) + "\n" for i, x in enumerate(lines)))
    case = kn.open_case()
    case.load(tmp_path / "t.json", progress=False)
    assert case.sql("SELECT summary FROM events ORDER BY time").to_series().to_list() == [
        "SSL_write in /usr/lib/libssl.so.3", "/usr/lib/libevil.so", "THROTTLE_START cri-containerd-abc.scope",
        "THROTTLE_STOP cri-containerd-abc.scope"]
    assert case.coverage()["throttles"].to_list() == [1]


def test_explain_names_a_process_seen_first_in_a_hook(tmp_path) -> None:
    import json

    proc = {"exec_id": "Zm9v", "pid": 7, "binary": "/usr/sbin/sshd", "arguments": "-D",
            "start_time": "2026-03-01T08:00:00Z", "parent_exec_id": "YmFy"}
    hook = {"process_kprobe": {"process": proc, "parent": {"exec_id": "YmFy", "pid": 1, "binary": "/sbin/init"},
                               "function_name": "tcp_connect", "args": [{"sock_arg": {
                                   "saddr": "10.0.0.1", "daddr": "10.0.0.2", "sport": 40000, "dport": 22}}]},
            "node_name": "n1", "time": "2026-03-01T10:00:00Z"}
    (tmp_path / "t.json").write_text(json.dumps(hook) + "\n")
    with kn.open_case() as case:
        case.load(tmp_path / "t.json", progress=False)
        event_id = case.sql("SELECT event_id FROM kprobes")["event_id"][0]
        roles = case.explain(event_id).filter(pl.col("exec_id") == "Zm9v")["role"].to_list()
    assert roles[0] == "exec (first seen in a process_kprobe)"


def test_first_seen_counts_a_lookup_for_who_asked_not_for_the_dns_server_that_answered(tmp_path) -> None:
    import json

    def dns(src: tuple[str, str], dst: tuple[str, str], kind: str, reply: bool, t: str) -> str:
        flow = {"time": t, "verdict": "FORWARDED", "Type": "L7", "is_reply": reply, "node_name": "n1",
                "IP": {"source": src[1], "destination": dst[1]}, "l4": {"UDP": {"source_port": 5000, "destination_port": 53}},
                "source": {"namespace": "shop", "pod_name": src[0], "workload": src[0].split("-")[0]},
                "destination": {"namespace": "shop", "pod_name": dst[0], "workload": dst[0].split("-")[0]},
                "l7": {"type": kind, "dns": {"query": "x.evil.example."}}}
        return json.dumps({"flow": flow, "node_name": "n1", "time": t})

    app, dns_server = ("web-1", "10.0.0.5"), ("coredns-1", "10.0.0.10")
    (tmp_path / "f.json").write_text(dns(app, dns_server, "REQUEST", False, "2026-03-01T10:00:00Z") + "\n"
                                     + dns(dns_server, app, "RESPONSE", True, "2026-03-01T10:00:00.001Z") + "\n")
    with kn.open_case() as case:
        case.load(tmp_path / "f.json", progress=False)
        got = case.first_seen(by="pod").filter(pl.col("what") == "dns")
    assert got["group"].to_list() == ["web-1"]


def test_on_reference_clock_takes_each_nodes_offset_out(mini_case) -> None:
    offsets = dict(mini_case.sql("SELECT node, clock_offset_ns FROM clock_offsets").iter_rows())
    flows = mini_case.on_reference_clock(mini_case.events(source="hubble"))
    shift = flows.select("node", (pl.col("time_ns") - pl.col("ref_time_ns")).alias("d")).unique()
    assert dict(shift.iter_rows()) == {n: offsets[n] for n in shift["node"]}
    assert any(v != 0 for v in dict(shift.iter_rows()).values())  # the fixture's nodes disagree
    assert flows["ref_time"].dtype == pl.Datetime("ns", "UTC")
    procs = mini_case.on_reference_clock(mini_case.processes(), column="start_ns")
    assert "ref_time_ns" in procs.columns


def test_fqdn_matches_the_names_an_endpoint_is_known_by_as_hubble_does(tmp_path) -> None:
    import json

    from tests.store.lines import hubble_flow

    flow = json.loads(hubble_flow())
    flow["flow"]["destination_names"] = ["pool.minexmr.example"]
    (tmp_path / "f.json").write_text(json.dumps(flow) + "\n" + hubble_flow(sport=40001) + "\n")
    with kn.open_case() as case:
        case.load(tmp_path / "f.json", progress=False)
        assert case.flows(fqdn=r"minexmr\.example$").height == 1
        assert case.flows(fqdn="nowhere").height == 0
