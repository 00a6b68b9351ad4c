"""A workload's credential from outside the cluster that probed its rights, then exec'd into a pod
(``findings._api_exec``)."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings._api_exec import exec_sessions

S = 1_000_000_000
SA = "system:serviceaccount:shop:deployer"


def _calls(user: str = SA, ip: str = "198.51.100.7", probe: bool = True, exec_ip: str | None = None):
    rows = [  # the CI deployer from its runner: it patches, and once runs a migration in the database pod
        (SA, "4.175.1.2", "patch", "deployments", None, "shop", "web", 100 * S, 200, None),
        (SA, "4.175.1.2", "create", "pods", "exec", "shop", "db-0", 110 * S, 101, "ci-sh"),
        # the token from elsewhere: what may I do, a refusal, a Secret, a binding, then an exec
        (user, ip, "create", "selfsubjectrulesreviews" if probe else "namespaces", None, None, None, 1000 * S,
         201, None),
        (user, ip, "list", "secrets", None, "kube-system", None, 1010 * S, 403 if probe else 200, None),
        (user, ip, "get", "secrets", None, "shop", "db-credentials", 1020 * S, 200, None),
        (user, ip, "create", "rolebindings" if probe else "configmaps", None, "shop", None, 1030 * S, 201, None),
        (user, ip, "create", "serviceaccounts" if probe else "configmaps", "token" if probe else None, "shop", "backup",
         1040 * S, 201, None),
        (user, exec_ip or ip, "create", "pods", "exec", "shop", "db-0", 1200 * S, 101, "sh"),
    ]
    cols = ["user", "src_ip", "verb", "resource", "subresource", "namespace", "name", "time_ns", "code",
            "linked_exec_id"]
    return pl.DataFrame([dict(zip(cols, r, strict=True)) for r in rows],
                        schema_overrides={"subresource": pl.String, "linked_exec_id": pl.String}).with_columns(
        pl.lit(None, pl.String).alias("exec_id"), pl.format("a{}", pl.int_range(pl.len())).alias("event_id"))


def test_the_exec_of_a_session_that_probed_was_refused_and_granted_rights_marks_the_shell_it_started():
    ev = exec_sessions(_calls())
    assert ev.select("exec_id", "kind", "rule_id", "event_id").rows() == [
        ("sh", "detection", "engine:api_exec_session", "a7")]
    assert ev["techniques"].to_list() == [["T1078", "T1609", "T1098", "T1552.007"]]
    text = ev["text"][0]
    assert "probed its rights 1 times" in text and "refused 1 times" in text and "read Secrets 1 times" in text
    assert "rolebindings, serviceaccounts/token" in text


def test_an_exec_by_the_same_credential_without_probe_refusal_or_grant_is_nothing():
    assert exec_sessions(_calls(probe=False)).height == 0


def test_an_exec_from_inside_the_cluster_or_from_another_address_than_the_session_is_nothing():
    assert exec_sessions(_calls(ip="10.244.1.7")).height == 0  # a pod's address
    assert exec_sessions(_calls(exec_ip="203.0.113.9")).height == 0  # the probes came from elsewhere


def test_a_persons_exec_after_a_refusal_is_nothing():
    assert exec_sessions(_calls(user="oidc:alice@example.com")).height == 0


def test_an_exec_whose_sender_is_a_process_of_the_capture_is_left_to_the_api_edges():
    calls = _calls().with_columns(pl.when(pl.col("subresource") == "exec").then(pl.lit("kubectl"))
                                  .otherwise(None).alias("exec_id"))
    assert exec_sessions(calls).height == 0
