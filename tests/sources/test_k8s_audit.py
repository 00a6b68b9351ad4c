"""The Kubernetes audit log: formats, the api_calls view, webhook batches and their accounting."""

from __future__ import annotations

import json

import polars as pl
import pytest

import kernelsec_nb as kn
from kernelsec_nb.sources import k8s_audit


def event(audit_id: str, stage: str, t: str = "2026-03-04T14:20:00.123456Z", **more) -> dict:
    return {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": audit_id,
            "stage": stage, "requestURI": "/api/v1/namespaces/default/pods/web-1/exec?command=sh&container=web",
            "verb": "create",
            "user": {"username": "system:serviceaccount:ci:runner", "groups": ["system:serviceaccounts"],
                     "extra": {"authentication.kubernetes.io/pod-name": ["runner-7"],
                               "authentication.kubernetes.io/node-name": ["n2"]}},
            "sourceIPs": ["10.244.1.5"], "userAgent": "kubectl/v1.30.0",
            "objectRef": {"resource": "pods", "namespace": "default", "name": "web-1", "apiVersion": "v1",
                          "subresource": "exec"},
            "responseStatus": {"metadata": {}, "code": 101}, "requestReceivedTimestamp": t,
            "stageTimestamp": t, **more}


def batch(*items: dict) -> str:
    # the webhook's serialisation, with a space after its commas to show the items keep their text
    return ('{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":['
            + ", ".join(json.dumps(i) for i in items) + "]}")


@pytest.fixture()
def loaded(tmp_path):
    started = event("a1", "ResponseStarted")
    done = event("a1", "ResponseComplete", stageTimestamp="2026-03-04T14:25:00Z")
    other = event("b2", "ResponseComplete", t="2026-03-04T14:21:00Z", verb="list",
                  objectRef={"resource": "secrets", "namespace": "ci"}, responseStatus={"code": 200})
    no_time = event("c3", "ResponseComplete", t="not a time")
    lines = [batch(started, done, other),             # 3 events: 3 lines of the accounting
             json.dumps(event("d4", "ResponseComplete")),  # one event, written by the log backend
             batch(started, done, other),             # the same batch again: 3 duplicates
             '{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[]}',  # empty: 1 blank
             batch(event("e5", "ResponseComplete"), no_time)]  # 1 loaded, 1 refused
    path = tmp_path / "webhook.out"
    path.write_text("\n".join(lines) + "\n")
    case = kn.open_case()
    return case, case.load(path, progress=False).files[0], path


def test_a_batch_counts_one_line_per_event(loaded):
    case, f, _ = loaded
    assert f.sources == ("k8s_audit",)
    assert (f.lines, f.loaded, f.duplicates, f.quarantined, f.blank) == (10, 5, 3, 1, 1)
    assert f.balanced
    assert case.sql("select count(*) n from audit_events")["n"][0] == 5
    q = case.quarantine()
    assert q["line"].to_list() == [5]
    assert q["reason"][0] == "k8s_audit api_call event without a valid time"
    assert json.loads(q["raw"][0])["auditID"] == "c3"  # the refused event's own text


def test_stages_of_one_request_are_one_call(loaded):
    case, _, _ = loaded
    calls = case.sql("select * from api_calls order by time_ns, call_id")
    assert calls.height == 4  # a1 (two stages), b2, d4, e5
    a1 = calls.filter(pl.col("audit_id") == "a1").row(0, named=True)
    assert a1["stages"] == ["ResponseStarted", "ResponseComplete"]
    assert a1["stage"] == "ResponseComplete" and len(a1["event_ids"]) == 2
    assert a1["code"] == 101 and a1["verb"] == "create"
    assert (a1["resource"], a1["subresource"], a1["namespace"], a1["name"]) == ("pods", "exec", "default", "web-1")
    assert (a1["sa_namespace"], a1["sa_name"], a1["sa_of"]) == ("ci", "runner", "user")
    assert (a1["token_pod"], a1["token_node"], a1["src_ip"]) == ("runner-7", "n2", "10.244.1.5")
    assert a1["time_ns"] == 1772634000123456000
    assert a1["end_ns"] == 1772634300000000000


def test_raw_of_a_batch_event_is_its_own_text(loaded):
    case, _, _ = loaded
    eid = case.sql("select event_id from audit_events where audit_id = 'b2'")["event_id"][0]
    assert json.loads(case.raw(eid))["auditID"] == "b2"
    assert case.raw(eid).startswith('{"kind": "Event"')  # exactly as the batch wrote it


def test_case_api_calls_filters(loaded):
    case, _, _ = loaded
    assert case.api_calls(resource="pods/exec")["audit_id"].to_list() == ["a1", "d4", "e5"]
    assert case.api_calls(resource="secrets", verb="LIST")["audit_id"].to_list() == ["b2"]
    assert case.api_calls(resource="pods")["audit_id"].to_list() == ["a1", "d4", "e5"]
    assert case.api_calls(user="system:serviceaccount:ci:").height == 4
    assert case.api_calls(user="alice").height == 0
    assert case.api_calls(since="2026-03-04T14:20:30Z")["audit_id"].to_list() == ["b2"]
    assert case.api_calls(from_pod="runner-7").height == 4  # the pod-bound token names it
    assert case.api_calls(limit=1).height == 1
    with pytest.raises(TypeError, match="unknown filter"):
        case.api_calls(colour="red")


def test_tag_filter_on_any_stage(loaded):
    case, _, _ = loaded
    done = case.sql("select event_id from audit_events where audit_id = 'a1' and stage = 'ResponseComplete'")
    case.tag(done["event_id"][0], "reviewed")
    assert case.api_calls(tag="reviewed")["audit_id"].to_list() == ["a1"]


def test_batch_items_keep_their_text():
    line = batch(event("x", "ResponseComplete"), event("y", "ResponseComplete"))
    items = k8s_audit.batch_items(line)
    assert [json.loads(i)["auditID"] for i in items] == ["x", "y"]
    assert all(i in line for i in items)
    assert k8s_audit.batch_items('{"kind":"EventList","items":"nope"}') is None
    assert k8s_audit.batch_items("not json") is None
    # a key named items inside another value is not the batch's
    tricky = '{"kind":"EventList","metadata":{"items":[1]},"items":[{"a":1}]}'
    assert k8s_audit.batch_items(tricky) == ['{"a":1}']


def test_detected_by_content_not_by_name(tmp_path):
    """An audit line in a file named like a flow export is an audit event; lines of the other
    tools are not taken for audit events (Tetragon's lines have a ``kind`` too once normalised)."""
    path = tmp_path / "hubble-flows.json"
    path.write_text(json.dumps(event("z", "ResponseComplete")) + "\n")
    case = kn.open_case()
    assert case.load(path, progress=False).files[0].sources == ("k8s_audit",)
    deathstar = kn.open_case()
    report = deathstar.load(kn.__path__[0] + "/../data/deathstar/kind-worker/tetragon.log", progress=False)
    assert report.files[0].sources == ("tetragon",)
