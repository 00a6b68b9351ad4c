"""Tracee: every line of the real samples accounted for, each table's values checked against the
files (read here with Python's json), and processes/ancestry on a Tracee-only capture."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

import kernelsec_nb as kn

_EXEC = {"sched_process_exec", "execve", "execveat"}
_FILE = {"open", "openat", "openat2", "creat", "security_file_open", "security_inode_unlink", "magic_write"}
_SOCKET = {"connect", "accept", "accept4", "bind", "security_socket_connect", "security_socket_accept",
           "security_socket_bind", "security_socket_listen"}


@pytest.fixture(scope="module")
def folder(public_dir) -> Path:
    path = (public_dir.parent / "public-new-sources" / "tracee").resolve()
    if not path.is_dir():
        pytest.skip("the Tracee samples are not here")
    return path


@pytest.fixture(scope="module")
def loaded(folder):
    case = kn.open_case()
    return case, case.load(folder, progress=False)


def _arg(ev: dict, name: str):
    return next((a["value"] for a in ev.get("args") or [] if a["name"] == name), None)


def _table(ev: dict) -> tuple[str, str]:
    """(table, kind) a Tracee event belongs in, by the documented rules."""
    name = ev["eventName"]
    if int(ev["eventId"]) >= 6000:
        return "alerts", "alert"
    if name == "sched_process_exec" or (name in _EXEC and ev["returnValue"] == 0):
        return "process_events", "process_exec"
    if name == "sched_process_exit":
        return "process_events", "process_exit"
    if name in _FILE or name in _SOCKET:
        return "kprobes", name
    return "other_events", name


def test_every_line_is_accounted_for(loaded, folder):
    case, report = loaded
    files = sorted(folder.glob("*.ndjson"))
    assert len(report.files) == len(files)
    for f in report.files:
        assert f.status == "loaded" and f.balanced and f.sources == ("tracee",), f
        assert f.lines == f.loaded == sum(1 for _ in open(f.path, "rb")), f
    assert case.sql("select count(*) n from quarantine")["n"][0] == 0


def test_values_match_the_files(loaded, folder):
    case, _ = loaded
    seen = {t: 0 for t in ("process_events", "kprobes", "alerts", "other_events")}
    for path in sorted(folder.glob("*.ndjson")):
        for n, text in enumerate(path.read_text().splitlines(), start=1):
            ev = json.loads(text)
            table, kind = _table(ev)
            seen[table] += 1
            row = case.con.execute(f"SELECT * FROM {table} WHERE file = ? AND line = ?",  # noqa: S608
                                   [str(path), n]).fetch_df().to_dict("records")
            assert len(row) == 1, (path.name, n, table)
            row = row[0]
            assert row["source"] == "tracee"
            assert row["time_ns"] == ev["timestamp"]
            assert row["node"] == ev["hostName"]
            assert row["pid"] == ev["hostProcessId"]
            assert case.raw(row["event_id"]) == text
            if table == "alerts":
                props = ev["metadata"]["Properties"]
                assert row["rule"] == props["signatureName"]
                assert row["output"] == ev["metadata"]["Description"]
                if "external_id" in props:
                    assert list(row["tags"]) == [props["external_id"], "mitre_" + props["Category"].replace("-", "_")]
                continue
            assert row["kind"] == kind
            assert row["exec_id"] == f"tracee:{ev['hostName']}:" + str(
                ev["processEntityId"] if ev.get("processEntityId") else ev["hostProcessId"])
            assert row["parent_exec_id"] == f"tracee:{ev['hostName']}:" + str(
                ev["parentEntityId"] if ev.get("processEntityId") else ev["hostParentProcessId"])
            if table == "process_events":
                argv = _arg(ev, "argv")
                assert row["binary"] == _arg(ev, "pathname")
                assert row["args"] == (" ".join(argv[1:]) or None)
                assert row["parent_pid"] == ev["hostParentProcessId"]
            elif table == "kprobes":
                assert row["function_name"] == ev["eventName"]
                assert row["file_path"] == (_arg(ev, "pathname") or _arg(ev, "syscall_pathname"))
                assert row["return_value"] == str(ev["returnValue"])
            else:
                src, dst = _arg(ev, "src"), _arg(ev, "dst")
                assert (row["src_ip"], row["dst_ip"]) == (src, dst)
                assert row["src_port"] == _arg(ev, "src_port") and row["dst_port"] == _arg(ev, "dst_port")
                dns = _arg(ev, "proto_dns")
                assert row["dns_query"] == (dns["questions"][0]["name"] if dns else None)
                http = _arg(ev, "proto_http")
                assert row["http_method"] == ((http or {}).get("method") or None)
    assert all(seen.values()), seen  # the samples reach every table


def test_signature_findings_are_alerts_with_attack_ids(loaded):
    case, _ = loaded
    a = case.sql("select * from alerts where rule = 'Anti-Debugging detected'")
    assert a.height == 1
    assert a["tags"][0].to_list() == ["T1622", "mitre_defense_evasion"]
    assert a["priority"][0] == "Notice"  # Severity 1
    assert a["fields"][0] is not None
    from kernelsec_nb.findings.detections import detections

    d = detections(case).filter(pl.col("rule_id") == "tracee:Anti-Debugging detected")
    assert d["techniques"].to_list() == [["T1622"]] and d["tactics"].to_list() == [["defense-evasion"]]
    assert d["source"].to_list() == ["tracee"] and d["level"].to_list() == ["low"]


def _line(**over) -> str:
    ev = {"timestamp": 1700000000000000000, "threadStartTime": 1700000000000000000, "processId": 1,
          "threadId": 1, "parentProcessId": 0, "hostProcessId": 100, "hostThreadId": 100,
          "hostParentProcessId": 1, "userId": 0, "mountNamespace": 4026531840, "pidNamespace": 4026531836,
          "processName": "bash", "hostName": "node-a", "container": {"id": "ab" * 32},
          "kubernetes": {"podName": "web-7d9f8b6c5-x2k4p", "podNamespace": "shop"},
          "eventId": "710", "eventName": "sched_process_exec", "returnValue": 0, "args": []}
    ev.update(over)
    return json.dumps(ev)


def test_processes_and_ancestry_on_a_tracee_only_capture(tmp_path):
    """init (1) → bash (100) → sh (200) → curl (300), each a sched_process_exec; curl connects."""
    lines = [
        _line(timestamp=1700000000000000000, hostProcessId=100, hostThreadId=100, hostParentProcessId=1,
              args=[{"name": "pathname", "type": "const char*", "value": "/bin/bash"},
                    {"name": "argv", "type": "const char**", "value": ["bash"]}]),
        _line(timestamp=1700000001000000000, hostProcessId=200, hostThreadId=200, hostParentProcessId=100,
              threadStartTime=1700000000900000000, processName="sh",
              args=[{"name": "pathname", "type": "const char*", "value": "/bin/sh"},
                    {"name": "argv", "type": "const char**", "value": ["sh", "-c", "curl x"]}]),
        _line(timestamp=1700000002000000000, hostProcessId=300, hostThreadId=300, hostParentProcessId=200,
              threadStartTime=1700000001900000000, processName="curl",
              args=[{"name": "pathname", "type": "const char*", "value": "/usr/bin/curl"},
                    {"name": "argv", "type": "const char**", "value": ["curl", "http://10.0.0.9/"]}]),
        _line(timestamp=1700000003000000000, hostProcessId=300, hostThreadId=300, hostParentProcessId=200,
              eventId="2005", eventName="security_socket_connect", processName="curl",
              args=[{"name": "sockfd", "type": "int", "value": 5},
                    {"name": "type", "type": "string", "value": "SOCK_STREAM"},
                    {"name": "remote_addr", "type": "struct sockaddr*",
                     "value": {"sa_family": "AF_INET", "sin_port": "80", "sin_addr": "10.0.0.9"}}]),
        _line(timestamp=1700000004000000000, hostProcessId=300, hostThreadId=300, hostParentProcessId=200,
              eventId="1004", eventName="sched_process_exit", processName="curl",
              args=[{"name": "exit_code", "type": "long", "value": 0}]),
    ]
    path = tmp_path / "tracee.ndjson"
    path.write_text("\n".join(lines) + "\n")
    case = kn.open_case()
    f = case.load(path, progress=False).files[0]
    assert (f.loaded, f.quarantined, f.sources) == (5, 0, ("tracee",))
    procs = case.processes()
    assert sorted(procs["binary"].drop_nulls().to_list()) == ["/bin/bash", "/bin/sh", "/usr/bin/curl"]
    init = procs.filter(procs["binary"].is_null())  # named as the parent of bash, not captured
    assert (init["seen_as"].to_list(), init["pid"].to_list()) == (["parent"], [1])
    curl = procs.filter(procs["binary"] == "/usr/bin/curl").row(0, named=True)
    assert curl["exec_id"] == "tracee:node-a:300" and curl["parent_exec_id"] == "tracee:node-a:200"
    assert curl["args"] == "http://10.0.0.9/" and curl["pod"] == "web-7d9f8b6c5-x2k4p"
    assert curl["workload"] == "web" and curl["container_id"] == "ab" * 6
    assert curl["start_ns"] == 1700000001900000000 and curl["exit_status"] == 0
    assert curl["source"] == "tracee"
    chain = case.ancestry("tracee:node-a:300")
    assert chain["binary"].to_list()[-3:] == ["/bin/bash", "/bin/sh", "/usr/bin/curl"]
    assert chain["exec_id"].to_list()[0] == "tracee:node-a:1"  # init: named, not captured
    k = case.sql("select * from kprobes")
    assert (k["daddr"][0], k["dport"][0], k["protocol"][0], k["exec_id"][0]) == (
        "10.0.0.9", 80, "TCP", "tracee:node-a:300")


def test_a_container_s_init_is_marked_in_its_tree_and_the_rest_left_to_the_findings(tmp_path):
    """pid 1 of the container's pid namespace is its init; a shell the runtime exec'd (pid 3 there,
    the same parent) is not marked either way by the mapping: the findings resolve it."""
    ex = {"eventId": "710", "eventName": "sched_process_exec"}
    lines = [
        _line(**ex, processId=1, hostProcessId=500, hostThreadId=500, hostParentProcessId=450,
              args=[{"name": "pathname", "type": "const char*", "value": "/srv/app"}]),
        _line(**ex, processId=3, hostProcessId=520, hostThreadId=520, hostParentProcessId=450, processName="sh",
              args=[{"name": "pathname", "type": "const char*", "value": "/bin/sh"}]),
        # a host process (no container): pid 1 of the host's namespace is no container's init
        _line(**ex, processId=1, hostProcessId=1, hostThreadId=1, hostParentProcessId=0, container={},
              kubernetes={}, args=[{"name": "pathname", "type": "const char*", "value": "/sbin/init"}]),
    ]
    path = tmp_path / "tracee.ndjson"
    path.write_text("\n".join(lines) + "\n")
    case = kn.open_case()
    case.load(path, progress=False)
    got = dict(case.sql("SELECT \"binary\", in_init_tree FROM processes WHERE \"binary\" IS NOT NULL").iter_rows())
    assert got == {"/srv/app": True, "/bin/sh": None, "/sbin/init": None}
    from kernelsec_nb.findings._init_tree import resolve_init_tree

    out = resolve_init_tree(case.processes())
    assert dict(out.select("binary", "in_init_tree").drop_nulls("binary").iter_rows())["/bin/sh"] is False
