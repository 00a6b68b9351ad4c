"""Property test: any mutation of audit lines and webhook batches is loaded, a duplicate,
quarantined or blank, and the counts add up (a batch counts one line per event)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kernelsec_nb as kn

_EVENT = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": "a-1",
          "stage": "ResponseComplete", "requestURI": "/api/v1/namespaces/ci/pods", "verb": "create",
          "user": {"username": "system:serviceaccount:ci:runner", "groups": ["system:serviceaccounts"]},
          "sourceIPs": ["10.244.1.5"], "objectRef": {"resource": "pods", "namespace": "ci"},
          "responseStatus": {"code": 201}, "requestReceivedTimestamp": "2026-03-04T14:20:00.123456Z"}
_OTHER = {**_EVENT, "auditID": "b-2", "verb": "list", "responseStatus": {"code": "403"}}
LINES = [json.dumps(_EVENT), json.dumps(_OTHER),
         json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [_EVENT, _OTHER]}),
         '{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[]}']


@st.composite
def mutated(draw) -> bytes:
    line = draw(st.sampled_from(LINES)).encode()
    op = draw(st.sampled_from(["cut", "insert", "replace", "keep"]))
    i = draw(st.integers(0, len(line)))
    if op == "cut":
        return line[:i]
    if op == "insert":
        return line[:i] + draw(st.binary(min_size=1, max_size=8)).replace(b"\n", b"") + line[i:]
    if op == "replace":
        j = draw(st.integers(i, len(line)))
        return line[:i] + draw(st.binary(max_size=6)).replace(b"\n", b"") + line[j:]
    return line


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutated(), min_size=1, max_size=10))
def test_every_audit_line_is_accounted_for(lines: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "audit.log"
        data = b"\n".join(lines) + b"\n"
        path.write_bytes(data)
        case = kn.open_case()
        (f,) = case.load(path, progress=False).files
        if f.status == "error":  # nothing in it was an event: nothing stored
            assert case.sql("select count(*) n from events")["n"][0] == 0
            return
        assert f.balanced, f
        assert f.lines >= data.count(b"\n")  # a batch counts one line per event
        assert case.sql("select count(*) n from audit_events")["n"][0] == f.loaded
        quarantined = case.sql("select sum(repeat_count) n from quarantine")["n"][0] or 0
        assert quarantined == f.quarantined
        assert case.api_calls().height <= f.loaded
