"""API calls in the timeline: the audit log's calls are events like any other (source k8s_audit)."""

from __future__ import annotations

import json

import kernelsec_nb as kn


def test_api_calls_are_drawn_with_their_summary(public_dir):
    case = kn.open_case()
    case.load(public_dir.parent / "public-new-sources" / "k8s-audit" / "falco-trace-files", progress=False)
    spec = kn.viz.timeline(case, lanes="source").to_dict()
    rows = [r for layer in spec["layer"] for r in layer.get("data", {}).get("values", [])]
    rows += [r for data in spec.get("datasets", {}).values() for r in data]
    rows += spec.get("data", {}).get("values", [])
    api = [r for r in rows if r.get("source") == "k8s_audit"]
    assert len(api) == 17 and {r["kind"] for r in api} == {"api_call"}
    assert {r["lane"] for r in api} == {"k8s_audit"}
    summaries = {r["summary"] for r in api}
    assert "create pods/exec default/nginx-deployment-7998647bdf-phvq7 by minikube-user (101)" in summaries
    assert json.dumps(spec).count("api_call") >= 17  # 12 files, one with 6 events
