"""Tracee's signature findings are linked to the processes of Tracee's own exec events."""

from __future__ import annotations

import json

import pytest

import kernelsec_nb as kn

T0 = 1_700_000_000_000_000_000


def _event(name: str, t: int, pid: int, ppid: int, *, entity: int | None, **extra) -> str:
    ev = {"timestamp": t, "threadStartTime": T0 + pid, "processId": pid, "threadId": pid, "parentProcessId": ppid,
          "hostProcessId": pid, "hostThreadId": pid, "hostParentProcessId": ppid, "userId": 0,
          "mountNamespace": 4026532200, "processName": "sh", "hostName": "node-1",
          "container": {"id": "0123456789abcdef0123"}, "kubernetes": {"podName": "web-5d8f7b9c4-x2x9z",
                                                                     "podNamespace": "shop"},
          "eventId": "1", "eventName": name, "returnValue": 0, "args": [], **extra}
    if entity is not None:
        ev |= {"processEntityId": entity, "parentEntityId": entity + 1}
    return json.dumps(ev)


def _finding(t: int, pid: int, ppid: int, *, entity: int | None) -> str:
    return _event("Anti-Debugging detected", t, pid, ppid, entity=entity, eventId="6018", metadata={
        "Version": "1", "Description": "A process used anti-debugging techniques.",
        "Properties": {"Severity": 1, "Category": "defense-evasion", "external_id": "T1622",
                       "signatureName": "Anti-Debugging detected"}})


def _exec(t: int, pid: int, ppid: int, *, entity: int | None) -> str:
    return _event("sched_process_exec", t, pid, ppid, entity=entity, args=[
        {"name": "pathname", "type": "const char*", "value": "/usr/bin/strace"},
        {"name": "argv", "type": "const char**", "value": ["strace", "-p", "1"]}])


@pytest.mark.parametrize("entity", [None, 3_735_928_559], ids=["host pid", "entity id"])
def test_a_finding_names_the_exec_of_its_process(tmp_path, entity):
    other = None if entity is None else entity + 7
    lines = [_exec(T0 + 1_000, 4242, 4200, entity=entity), _exec(T0 + 2_000, 4343, 4200, entity=other),
             _finding(T0 + 5_000, 4242, 4200, entity=entity)]
    (tmp_path / "tracee.ndjson").write_text("\n".join(lines) + "\n")
    case = kn.open_case()
    case.load(tmp_path, progress=False)
    procs = case.processes(binary="strace")
    want = procs.filter(procs["pid"] == 4242)["exec_id"].item()
    assert want == (f"tracee:node-1:{entity}" if entity else "tracee:node-1:4242")
    al = case.alerts()
    assert al.select("rule", "exec_id", "match", "confidence", "binary").rows() == [
        ("Anti-Debugging detected", want, "exec_id", 1.0, "/usr/bin/strace")]
    assert case.alerts(exec_id=want).height == 1
    # explain: the alert with its exec chain
    ex = case.explain(al["event_id"].item())
    assert want in ex["exec_id"].to_list()
    # the events view names it too
    assert case.sql("SELECT exec_id FROM events WHERE kind = 'alert'")["exec_id"].to_list() == [want]


def test_a_finding_on_a_process_start_carries_its_syscall_and_claims_no_placement(tmp_path):
    """Tracee's package-manager signature (T1505, category persistence) fired on the ``execve`` of
    ``apt-get`` (top-level ``syscall``): ``fields`` names the system call, so the findings see a
    program start, not a server component placed (as for Falco's ``evt.type``)."""
    from kernelsec_nb.findings.detections import falco_detections

    props = {"Severity": 3, "Category": "persistence", "external_id": "T1505",
             "signatureName": "Launch Package Management Process in Container"}
    lines = [_exec(T0 + 1_000, 4242, 4200, entity=None),
             _event("Launch Package Management Process in Container", T0 + 5_000, 4242, 4200, entity=None,
                    eventId="6103", syscall="execve",
                    metadata={"Version": "1", "Description": "pkg", "Properties": props}),
             _event("Web shell written", T0 + 6_000, 4242, 4200, entity=None, eventId="6104", syscall="openat",
                    metadata={"Version": "1", "Description": "ws", "Properties": {**props, "external_id": "T1505.003",
                                                                                   "signatureName": "Web shell"}})]
    (tmp_path / "tracee.ndjson").write_text("\n".join(lines) + "\n")
    case = kn.open_case()
    case.load(tmp_path, progress=False)
    al = case.alerts().sort("time_ns")
    assert [f["syscall"] for f in al["fields"].to_list()] == ["execve", "openat"]
    assert falco_detections(al)["techniques"].to_list() == [[], ["T1505.003"]]
