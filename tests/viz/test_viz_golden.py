"""Snapshot tests: each view's Vega-Lite spec for the fixture case equals its golden JSON."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

import kernelsec_nb as kn
from kernelsec_nb.store._derived import _PROCESSES_SQL
from kernelsec_nb.viz.attack import chain
from tests.viz import fixture_case
from tests.viz.fixture_case import T0, exec_id

GOLDEN = Path(__file__).parent / "golden"

VIEWS = {
    "timeline": lambda c: kn.viz.timeline(c, mark=T0 + 61 * 10**9),
    "timeline_buckets": lambda c: kn.viz.timeline(c, max_points=10, lanes="node"),
    "timeline_kind": lambda c: kn.viz.timeline(c, color="kind", lanes="source",
                                               namespace="shop"),
    "flow_chart": lambda c: kn.viz.flow_chart(c),
    "process_tree": lambda c: kn.viz.process_tree(c),
    "process_tree_exec": lambda c: kn.viz.process_tree(c, exec_id=exec_id(4)),
    "attack_flow": lambda c: kn.viz.attack_flow(c, exec_id=exec_id(4)),
    "activity_heatmap": lambda c: kn.viz.activity_heatmap(c, every="10s"),
}


def _datasets(spec: object) -> list[list[dict]]:
    """Every inline ``values`` list in a spec (layers nest them)."""
    out: list[list[dict]] = []
    if isinstance(spec, dict):
        for k, v in spec.items():
            if k == "values" and isinstance(v, list):
                out.append(v)
            else:
                out.extend(_datasets(v))
    elif isinstance(spec, list):
        for v in spec:
            out.extend(_datasets(v))
    return out


def _normalise(spec: dict) -> dict:
    """Drop what depends on the fixture's temp folder (none today) and sort keys."""
    return json.loads(json.dumps(spec, sort_keys=True))


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_spec_matches_golden(case, name: str, update_goldens: bool) -> None:
    spec = _normalise(VIEWS[name](case).to_dict())
    path = GOLDEN / f"{name}.json"
    if update_goldens or not path.exists():
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(json.dumps(spec, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    assert spec == json.loads(path.read_text()), f"regenerate with KERNELSEC_UPDATE_GOLDENS=1 ({name})"


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_spec_is_deterministic(case, name: str) -> None:
    a = json.dumps(VIEWS[name](case).to_dict(), sort_keys=True)
    b = json.dumps(VIEWS[name](case).to_dict(), sort_keys=True)
    assert a == b


def test_timeline_content(case) -> None:
    spec = kn.viz.timeline(case, mark=T0 + 61 * 10**9).to_dict()
    assert spec["title"]["subtitle"][0] == "37 events"
    assert spec["usermeta"]["kernelsec"]["mode"] == "points"
    text = json.dumps(spec)
    assert "Time (UTC)" in text
    assert '"bind": "scales"' in text and '"name": "zoom"' in text
    points = [d for d in _datasets(spec) if d and "class" in d[0]]
    classes = {r["class"] for d in points for r in d}  # dropped flows: counted per bucket, a layer of their own
    assert {"alert", "dropped flow", "exec", "flow"} <= classes
    # the Falco alert lands in its workload's lane (borrowed from Tetragon by pod)
    alert = next(r for r in points[0] if r["class"] == "alert")
    assert alert["lane"] == "shop/frontend"
    assert alert["time"] == "2025-11-20T10:01:01.000Z"
    # alerts come last, so they are drawn on top of the flows of their lane
    assert [r["class"] == "alert" for r in points[0]] == sorted(r["class"] == "alert" for r in points[0])


def test_timeline_buckets_when_over_max_points(case) -> None:
    spec = kn.viz.timeline(case, max_points=10).to_dict()
    meta = spec["usermeta"]["kernelsec"]
    assert meta["mode"] == "buckets" and meta["bucket_ns"] > 0
    assert "counts per" in spec["title"]["subtitle"][0]
    assert "2 alerts/dropped flows drawn one by one" in spec["title"]["subtitle"][0]


def test_timeline_spec_size_is_bounded(fx_dir: Path) -> None:
    import fixture_case

    sizes = []
    for extra in (2_000, 20_000):
        c = fixture_case.build(fx_dir / f"bulk{extra}", extra_flows=extra) if (
            fx_dir / f"bulk{extra}").mkdir() is None else None
        sizes.append(len(json.dumps(kn.viz.timeline(c, max_points=1000).to_dict())))
        c.close()
    assert sizes[1] < 1.5 * sizes[0] + 20_000, sizes
    assert max(sizes) < 400_000


def test_filters_and_bad_arguments(case) -> None:
    spec = kn.viz.timeline(case, source="falco").to_dict()
    assert spec["title"]["subtitle"][0] == "1 events"
    with pytest.raises(ValueError):
        kn.viz.timeline(case, lanes="pod")
    with pytest.raises(ValueError):
        kn.viz.activity_heatmap(case, by=("node; drop table events",))
    with pytest.raises(TypeError):
        kn.viz.timeline(case, nonsense=1)


def test_flow_chart_layout_and_verdicts(case) -> None:
    spec = kn.viz.flow_chart(case).to_dict()
    text = json.dumps(spec)
    for name in ("frontend", "api", "db", "coredns", "example.org", "world", "DROPPED"):
        assert name in text
    nodes = next(d for d in _datasets(spec) if d and "ns" in d[0] and "y" in d[0])
    cols = {r["ns"]: r["x"] for r in nodes}
    assert cols["world"] == max(cols.values())  # world last
    many = kn.viz.flow_chart(case, verdict="DROPPED").to_dict()
    assert many["title"]["subtitle"][0].startswith("1 flows")


def test_process_tree_marks_exec_from_outside(case) -> None:
    spec = kn.viz.process_tree(case).to_dict()
    rows = next(d for d in _datasets(spec) if d and "status" in d[0])
    by_id = {r["exec_id"]: r for r in rows}
    assert by_id[exec_id(3)]["status"] == "exec'd from outside the init tree"
    assert by_id[exec_id(4)]["status"] == "exec'd from outside the init tree"
    assert by_id[exec_id(2)]["status"] == "in the init tree"
    assert by_id[exec_id(3)]["alerts"] == 1
    assert by_id[exec_id(4)]["connections"] == 1 and by_id[exec_id(4)]["flows"] == 1
    assert by_id[exec_id(5)]["signal"] == "SIGKILL"
    order = [r["exec_id"] for r in sorted(rows, key=lambda r: r["row"])]
    assert order.index(exec_id(4)) == order.index(exec_id(3)) + 1  # child right under parent


def test_attack_flow_chain(case) -> None:
    spec = kn.viz.attack_flow(case, exec_id=exec_id(4)).to_dict()
    items = next(d for d in _datasets(spec) if d and "lane" in d[0] and "key" in d[0])
    lanes = [r["lane"] for r in items]
    for lane in ("process", "connection", "flow", "alert", "destination", "died after"):
        assert lane in lanes
    assert any(r["label"].startswith("sh") for r in items if r["lane"] == "process")  # entry
    links = next(d for d in _datasets(spec) if d and "link" in d[0])
    kinds = {r["link"] for r in links}
    assert {"process → process", "process → connection", "connection → flow",
            "flow → destination", "process → alert", "destination → died after"} <= kinds


def test_heatmap_bounded(case) -> None:
    spec = kn.viz.activity_heatmap(case, by="source", every="1ms").to_dict()
    assert "bucket grown" in json.dumps(spec["title"])


def test_light_import() -> None:
    import subprocess
    import sys

    code = ("import sys, kernelsec_nb; "
            "print(any(m in sys.modules for m in ('altair', 'ipywidgets')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"


def test_attack_flow_leaves_replies_out(tmp_path: Path) -> None:
    # the api's answer on the curl's connection is attributed to the curl too; its destination is
    # the session's own pod, which is no destination of the chain
    c = fixture_case.build(tmp_path)
    c.con.execute("""
        INSERT INTO flows BY NAME SELECT * REPLACE (
            event_id || 'r' AS event_id, time_ns + 1000000 AS time_ns, dst_ip AS src_ip, src_ip AS dst_ip,
            dst_port AS src_port, src_port AS dst_port, dst_namespace AS src_namespace,
            dst_workload AS src_workload, dst_pod AS src_pod, src_namespace AS dst_namespace,
            src_workload AS dst_workload, src_pod AS dst_pod, true AS is_reply)
        FROM flows WHERE src_port = 40000""")
    replies = c.flows(exec_id=exec_id(4)).filter(pl.col("is_reply"))
    assert replies.height == 1  # attributed to the curl, as a reply
    got = chain(c, exec_id(4))["flows"]
    assert got["dst_workload"].to_list() == ["api"]
    c.close()


def test_flow_chart_names_reserved_cluster_entities(tmp_path: Path) -> None:
    # Hubble names the API server (and the host, other nodes) by a reserved identity, no pod: it is
    # a cluster entity, not the world
    c = fixture_case.build(tmp_path)
    c.con.execute("""
        INSERT INTO flows BY NAME SELECT * REPLACE (event_id || 'k' AS event_id, '10.96.0.1' AS dst_ip,
            443 AS dst_port, NULL AS dst_namespace, NULL AS dst_workload, NULL AS dst_pod,
            MAP {'reserved:kube-apiserver': ''} AS dst_labels, NULL AS dst_names)
        FROM flows WHERE src_port = 40000""")
    nodes = next(d for d in _datasets(kn.viz.flow_chart(c).to_dict()) if d and "ns" in d[0] and "y" in d[0])
    assert {(r["ns"], r["name"]) for r in nodes if r["ns"] in ("(cluster)", "world")} == {
        ("(cluster)", "kube-apiserver"), ("world", "example.org")}
    c.close()


def test_attack_flow_shows_deaths_in_the_chains_own_workload(tmp_path: Path) -> None:
    # the session kills a process of its own pod (the frontend's health check, exec 2)
    c = fixture_case.build(tmp_path)
    c.con.execute("""
        INSERT INTO process_events BY NAME SELECT * REPLACE (event_id || 'x' AS event_id, 'process_exit' AS kind,
            ?::BIGINT AS time_ns, 'SIGKILL' AS signal)
        FROM process_events WHERE exec_id = ? AND kind = 'process_exec'""", [T0 + 75 * 10**9, exec_id(2)])
    c.con.execute(_PROCESSES_SQL)
    died = chain(c, exec_id(4))["died"]
    assert sorted(died["workload"].to_list()) == ["api", "frontend"]
    spec = kn.viz.attack_flow(c, exec_id=exec_id(4)).to_dict()
    links = next(d for d in _datasets(spec) if d and "link" in d[0])
    assert "process → died after" in {r["link"] for r in links}
    c.close()


def test_timeline_mark_takes_an_exec_id_and_says_what_it_takes(case) -> None:
    from tests.viz.fixture_case import exec_id

    start = case.processes(exec_id=exec_id(4))["start_time"][0]
    spec = json.dumps(kn.viz.timeline(case, mark=exec_id(4)).to_dict())
    assert start.strftime("%Y-%m-%dT%H:%M:%S") in spec
    with pytest.raises(ValueError, match="give an event_id, an exec_id or a time"):
        kn.viz.timeline(case, mark="no-such-thing")


def test_attack_flow_hangs_each_flow_off_its_own_connection(tmp_path: Path) -> None:
    # two curls to the same destination: the first let through, the second dropped
    from tests.findings.test_cascade_cases import SHIM, _case, _connect, _ref, _run, _sighting

    sh, a = _run(50, SHIM, "/bin/sh", "", "2026-03-01T10:00:00Z")
    one, b = _run(51, _ref(sh), "/usr/bin/curl", "-X PUT http://db/x", "2026-03-01T10:00:01Z")
    two, c_ = _run(52, _ref(sh), "/usr/bin/curl", "-X PUT http://db/x", "2026-03-01T10:00:05Z")
    case = _case(tmp_path, [a, b, c_,
                            _connect(one, _ref(sh), 41001, "10.0.5.5", 80, "2026-03-01T10:00:01.1Z"),
                            _sighting(41001, "10.0.5.5", 80, "FORWARDED", "2026-03-01T10:00:01.101Z", dst_pod="db-0"),
                            _connect(two, _ref(sh), 41002, "10.0.5.5", 80, "2026-03-01T10:00:05.1Z"),
                            _sighting(41002, "10.0.5.5", 80, "DROPPED", "2026-03-01T10:00:05.101Z", dst_pod="db-0")])
    spec = kn.viz.attack_flow(case, exec_id=sh["exec_id"]).to_dict()
    links = {(r["time"][11:23], r["time2"][11:23]) for d in _datasets(spec) for r in d if "time2" in r}
    assert ("10:00:05.100", "10:00:05.101") in links  # the second connection → its dropped flow
    assert ("10:00:01.100", "10:00:05.101") not in links
    case.close()


def test_flow_chart_leaves_replies_out_and_draws_drops_last(tmp_path: Path) -> None:
    import json as _json

    from tests.findings.test_cascade_cases import _case, _sighting

    request = _sighting(41001, "10.0.5.5", 80, "FORWARDED", "2026-03-01T10:00:01.1Z", dst_pod="db-0")
    reply = _json.loads(request)
    f = reply["flow"]
    f["source"], f["destination"] = f["destination"], f["source"]
    f["IP"] = {"source": "10.0.5.5", "destination": "10.0.2.7", "ipVersion": "IPv4"}
    f["l4"] = {"TCP": {"source_port": 80, "destination_port": 41001}}
    f["is_reply"] = True
    dropped = _sighting(41002, "10.0.5.5", 80, "DROPPED", "2026-03-01T10:00:02Z", dst_pod="db-0")
    case = _case(tmp_path, [request, _json.dumps(reply), dropped])
    values = kn.viz.flow_chart(case).to_dict()["layer"][1]["data"]["values"]
    edges = [(r["from"], r["to"], r["verdict"]) for r in values]
    assert {e[1] for e in edges} == {"shop/db"}  # no reply edge db → shop-api
    assert edges[-1][2] == "DROPPED"
    case.close()
