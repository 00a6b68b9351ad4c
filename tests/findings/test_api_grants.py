"""Rights granted and admission webhooks registered through the API by a process (``findings._api_grants``)."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings._api_grants import grant_acts


def _calls():
    rows = [  # (sender, verb, resource, subresource, code)
        ("sh", "create", "mutatingwebhookconfigurations", None, 201),   # a webhook: every pod create sent out
        ("sh", "create", "clusterrolebindings", None, 201),
        ("sh", "create", "serviceaccounts", "token", 201),
        ("sh", "create", "rolebindings", None, 403),                     # refused: nothing granted
        ("op", "patch", "validatingwebhookconfigurations", None, 200),   # an operator refreshing its CA bundle
        ("sh", "create", "configmaps", None, 201),
        (None, "create", "rolebindings", None, 201),                     # no process of the capture sent it
    ]
    cols = ["exec_id", "verb", "resource", "subresource", "code"]
    return pl.DataFrame([dict(zip(cols, r, strict=True)) for r in rows],
                        schema_overrides={"subresource": pl.String, "exec_id": pl.String}).with_columns(
        pl.lit("kube-system").alias("namespace"), pl.lit(None, pl.String).alias("name"),
        pl.lit("system:serviceaccount:kube-system:bot").alias("user"),
        pl.format("a{}", pl.int_range(pl.len())).alias("event_id"))


def test_a_process_that_registers_a_webhook_or_grants_rights_made_itself_persistent():
    ev = grant_acts(_calls())
    assert ev.select("exec_id", "kind", "rule_id", "event_id").rows() == [
        ("sh", "persistence", "engine:api_grant", "a0"), ("sh", "persistence", "engine:api_grant", "a1"),
        ("sh", "persistence", "engine:api_grant", "a2")]
    assert ev["techniques"].to_list() == [["T1546"], ["T1098"], ["T1098"]]
    assert "serviceaccounts/token" in ev["text"][2]


def test_without_an_audit_log_nothing():
    assert grant_acts(None).height == 0
