"""The processes table: processes started before the capture keep what their events say."""

from __future__ import annotations

import json

import kernelsec_nb as kn
from tests.store.lines import exec_id, tetragon_exec


def _hook(line: str, function: str = "tcp_connect") -> str:
    """A kprobe event of the process of the exec ``line`` (as Tetragon writes its process)."""
    ev = json.loads(line)
    body = ev.pop("process_exec")
    return json.dumps({"process_kprobe": {**body, "function_name": function, "args": []}, **ev})


def test_a_process_started_before_the_capture_keeps_its_details(tmp_path):
    # the web server started before the capture: only its hooks and its child's exec are there
    server = tetragon_exec(pid=50, binary="/usr/bin/python3", args="app.py", time="2026-11-20T09:00:00Z",
                           parent_pid=1)
    child = json.loads(tetragon_exec(pid=100, binary="/bin/sh", args="-c id", parent_pid=50))
    child["process_exec"]["parent"]["cwd"] = "/app"  # what the child's event says of its parent
    lines = [_hook(server), json.dumps(child)]
    # a second long-running process seen only in hooks, without children
    lines.append(_hook(tetragon_exec(pid=60, binary="/usr/bin/node", args="server.js",
                                     time="2026-11-20T08:00:00Z", parent_pid=1)))
    path = tmp_path / "t.json"
    path.write_text("\n".join(lines) + "\n")
    with kn.open_case(tmp_path / "c.duckdb") as case:
        case.load(path, progress=False)
        got = case.sql('SELECT pid, seen_as, "binary", uid, cwd, flags, start_time::VARCHAR AS st, in_init_tree '
                       "FROM processes WHERE exec_id IN (?, ?) ORDER BY pid",
                       [exec_id("n1", 50_000, 50), exec_id("n1", 60_000, 60)]).rows()
    assert got == [  # (tetragon_exec writes in_init_tree false)
        (50, "event", "/usr/bin/python3", 0, "/app", "execve", "2026-11-20 09:00:00+00", False),
        (60, "event", "/usr/bin/node", 0, None, None, "2026-11-20 08:00:00+00", False),
    ]


def test_a_process_seen_only_as_a_parent_keeps_its_pod(tmp_path):
    # the container's main process started before the capture: only its child's exec names it
    child = json.loads(tetragon_exec(pid=100, binary="/bin/sh", args="-c id", parent_pid=7))
    child["process_exec"]["parent"]["pod"] = {
        "namespace": "analytics", "name": "etl-6c9d8f7b4-k2m9p",
        "container": {"id": "containerd://" + "7e" * 32}}  # no workload: read off the pod name
    child["process_exec"]["parent"]["in_init_tree"] = True
    path = tmp_path / "t.json"
    path.write_text(json.dumps(child) + "\n")
    with kn.open_case(tmp_path / "c.duckdb") as case:
        case.load(path, progress=False)
        got = case.sql("SELECT seen_as, namespace, pod, workload, container_id, in_init_tree FROM processes "
                       "WHERE exec_id = ?", [exec_id("n1", 7_000, 7)]).rows()
    assert got == [("parent", "analytics", "etl-6c9d8f7b4-k2m9p", "etl", "7e7e7e7e7e7e", True)]


def test_a_process_keeps_the_event_id_of_its_exec(tmp_path):
    # the exec twice (a re-export): the first in time is the process's; one seen only in hooks has none
    early = tetragon_exec(pid=100, time="2026-11-20T10:00:00Z")
    late = tetragon_exec(pid=100, time="2026-11-20T10:00:05Z")
    path = tmp_path / "t.json"
    path.write_text("\n".join([late, early, _hook(tetragon_exec(pid=60, binary="/usr/bin/node"))]) + "\n")
    with kn.open_case(tmp_path / "c.duckdb") as case:
        case.load(path, progress=False)
        first = case.sql("SELECT event_id FROM process_events WHERE kind = 'process_exec' AND exec_id = ? "
                         "ORDER BY time_ns LIMIT 1", [exec_id("n1", 100_000, 100)]).rows()[0][0]
        got = dict(case.sql("SELECT pid, exec_event_id FROM processes WHERE pid IN (60, 100)").rows())
        assert got == {100: first, 60: None}
        assert case.raw(first)  # the line of the exec


def test_a_flow_keeps_its_destination_labels_as_text(tmp_path):
    from tests.store.lines import hubble_flow
    flow = json.loads(hubble_flow())
    flow["flow"]["destination"]["labels"] = ["k8s:app=api", "reserved:kube-apiserver", "k8s:app=dup"]
    path = tmp_path / "f.json"
    path.write_text(json.dumps(flow) + "\n" + hubble_flow(sport=1) + "\n")
    with kn.open_case(tmp_path / "c.duckdb") as case:
        case.load(path, progress=False)
        got = case.sql("SELECT dst_labels_text, CAST(dst_labels AS VARCHAR) FROM flows ORDER BY src_port").rows()
    assert [text for text, _ in got] == [cast for _, cast in got]  # the map's own text form
    assert got[0][0] == "{app=api}" and "reserved:kube-apiserver" in got[1][0] and "dup" not in got[1][0]
