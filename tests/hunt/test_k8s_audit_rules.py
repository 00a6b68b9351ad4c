"""Sigma over the Kubernetes audit log: SigmaHQ's Kubernetes rules on real audit events, and the
bundled audit rules on a few hand-made ones."""

from __future__ import annotations

import json
import warnings

import polars as pl
import pytest

import kernelsec_nb as kn
from kernelsec_nb.hunt import HuntWarning, bundled_rules, compile_rules
from tests.hunt.conftest import SIGMAHQ

K8S_RULES = sorted(SIGMAHQ.glob("kubernetes_audit_*.yml"))


@pytest.fixture(scope="module")
def public_audit(public_dir):
    case = kn.open_case()
    case.load(public_dir.parent / "public-new-sources" / "k8s-audit", progress=False)
    return case


def test_sigmahq_kubernetes_rules_on_real_audit_events(public_audit, public_dir):
    ruleset = compile_rules(K8S_RULES)
    assert len(K8S_RULES) == 7 and not ruleset.unsupported
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HuntWarning)
        hits = public_audit.hunt(ruleset)
    assert set(hits["entity"]) == {"api_call"}
    counts = dict(hits.group_by("title").len().iter_rows())
    # counted in the files themselves
    events = [json.loads(line) for p in sorted((public_dir.parent / "public-new-sources" / "k8s-audit").rglob("*"))
              if p.is_file() for line in p.read_text().splitlines() if line.strip()]
    forbidden = sum(e.get("responseStatus", {}).get("code") in (401, 403) for e in events)
    changed = sum(e.get("objectRef", {}).get("resource") == "secrets"
                  and e["verb"] in ("create", "delete", "patch", "update") for e in events)
    assert counts == {"Kubernetes Unauthorized or Unauthenticated Access": forbidden,
                      "Kubernetes Secrets Modified or Deleted": changed,
                      "Kubernetes Secrets Enumeration": 1,
                      "New Kubernetes Service Account Created": 1,
                      "Potential Remote Command Execution In Pod Container": 1}
    assert forbidden == 11 and changed == 4
    exec_hit = hits.filter(pl.col("title").str.starts_with("Potential Remote")).row(0, named=True)
    assert exec_hit["pod"] == "nginx-deployment-7998647bdf-phvq7" and exec_hit["namespace"] == "default"
    assert exec_hit["detail"] == "create pods/exec default/nginx-deployment-7998647bdf-phvq7 by minikube-user (101)"
    # the hit points at the call's event
    assert json.loads(public_audit.raw(exec_hit["event_id"]))["auditID"] == "ca1ed9f4-7bf4-4c85-81a8-1b11253d1ba6"


def _event(i: int, user: str, verb: str, resource: str, sub: str | None = None) -> str:
    ref = {"resource": resource, "namespace": "shop", "name": f"x{i}", "apiVersion": "v1"}
    if sub:
        ref["subresource"] = sub
    return json.dumps({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": f"id-{i}",
                       "stage": "ResponseComplete", "requestURI": "/api/v1/x", "verb": verb,
                       "user": {"username": user, "groups": ["system:authenticated"]}, "sourceIPs": ["10.0.0.9"],
                       "objectRef": ref, "responseStatus": {"code": 200},
                       "requestReceivedTimestamp": f"2026-03-04T14:2{i}:00.000001Z"})


def test_bundled_audit_rules(tmp_path):
    lines = [_event(0, "system:serviceaccount:shop:cart", "get", "secrets"),
             _event(1, "system:serviceaccount:kube-system:generic-garbage-collector", "list", "secrets"),
             _event(2, "alice", "get", "secrets"),
             _event(3, "system:serviceaccount:shop:cart", "get", "pods", "exec"),  # kubectl >= 1.30: a GET
             _event(4, "alice", "create", "pods", "exec"),
             _event(5, "system:serviceaccount:shop:cart", "create", "pods"),
             _event(6, "system:serviceaccount:kube-system:replicaset-controller", "create", "pods")]
    (tmp_path / "audit.log").write_text("\n".join(lines) + "\n")
    case = kn.open_case()
    case.load(tmp_path / "audit.log", progress=False)
    hits = case.hunt(bundled_rules())
    got = sorted((json.loads(case.raw(e))["auditID"], t) for e, t in hits.select("event_id", "title").iter_rows())
    assert got == [
        ("id-0", "Secrets read through the Kubernetes API by a workload's service account"),
        ("id-3", "Exec or attach into a container by a pod's service account"),
        ("id-5", "Pod created through the Kubernetes API by a workload's service account"),
    ]
    assert all(t for t in hits["techniques"].to_list())


def test_exec_rule_on_the_bundled_capture(deathstar):
    hits = deathstar.hunt(compile_rules(SIGMAHQ / "kubernetes_audit_exec_into_container.yml"))
    assert hits.height == 1
    call = deathstar.api_calls(resource="pods/exec").row(0, named=True)
    assert hits["event_id"][0] == call["event_id"] and hits["pod"][0] == call["target_pod"]
    # the admin is no service account: the bundled pack stays quiet on it
    assert not deathstar.hunt(bundled_rules()).filter(pl.col("entity") == "api_call").height
