"""API calls linked end to end on generated captures: a pod's process creates a pod through the
API (api-abuse), and an admin's kubectl exec starts the shell of the Death Star incident."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import kernelsec_nb as kn
from kernelsec_nb.synth.scenarios import get

DATA = Path(__file__).resolve().parents[2] / "data" / "deathstar"


@pytest.fixture(scope="module")
def api_abuse(tmp_path_factory):
    out = tmp_path_factory.mktemp("api-abuse")
    truth = get("api-abuse").build(out)
    case = kn.open_case()
    report = case.load(out, progress=False)
    assert all(f.balanced for f in report.files)
    return case, truth


def test_process_call_created_pod_and_its_first_processes(api_abuse):
    case, truth = api_abuse
    reached = truth.reached[0]
    created = case.api_calls(verb="create", resource="pods", to_pod=reached.pod)
    assert created.height == 1
    call = created.row(0, named=True)
    # process → API call: the runner pod (its pod-bound token), the kubectl that connected
    assert (call["src_namespace"], call["src_pod"], call["src_match"]) == (truth.entry.namespace, truth.entry.pod,
                                                                        "token")
    assert call["exec_id"] == truth.key_command.exec_id and call["binary"] == truth.key_command.binary
    assert call["conn_event_id"] is not None and call["conn_time_ns"] <= call["time_ns"]
    # API call → created pod → its first processes
    assert (call["link"], call["namespace"], call["target_pod"]) == ("created-pod", reached.namespace, reached.pod)
    first = case.processes(namespace=reached.namespace, pod=reached.pod).sort("start_ns")
    assert call["linked_exec_id"] == first["exec_id"][0]
    assert call["linked_exec_ids"] == first["exec_id"].head(5).to_list()
    assert call["linked_exec_id"] in truth.attacker_exec_ids  # nsenter, the pod's command
    # and back up: the caller's ancestry reaches the attacker's shell
    assert truth.attacker_exec_ids[0] in case.ancestry(call["exec_id"])["exec_id"].to_list()
    # the filters find the chain from either end
    assert case.api_calls(exec_id=call["linked_exec_id"])["call_id"].to_list() == [call["call_id"]]
    assert case.api_calls(link="created-pod", from_pod=truth.entry.pod)["call_id"].to_list() == [call["call_id"]]


def test_a_controllers_create_is_linked_but_sent_by_no_pod(api_abuse):
    case, truth = api_abuse
    other = case.api_calls(verb="create", resource="pods").filter(pl.col("target_pod") != truth.reached[0].pod)
    assert other.height == 1
    row = other.row(0, named=True)
    assert row["user"] == "system:serviceaccount:kube-system:replicaset-controller"
    assert row["src_pod"] is None and row["exec_id"] is None  # no pod of the capture sent it
    assert row["link"] == "created-pod" and row["linked_exec_id"] is not None


def test_deathstar_kubectl_exec_is_the_entry_shell(bundled_case):
    import json

    truth = json.loads((DATA / "TRUTH.json").read_text())
    case = bundled_case  # DATA loaded once per session
    execs = case.api_calls(resource="pods/exec")
    assert execs.height == 1
    call = execs.row(0, named=True)
    assert call["stages"] == ["ResponseStarted", "ResponseComplete"] and call["code"] == 101
    assert (call["namespace"], call["target_pod"]) == (truth["attacker"]["namespace"], truth["attacker"]["pod"])
    assert call["link"] == "exec" and call["linked_exec_id"] == truth["entry"]["exec_id"]
    assert call["linked_binary"] == truth["entry"]["binary"]
    assert call["src_pod"] is None  # the admin's kubectl ran outside the cluster


def test_findings_use_the_named_call(api_abuse):
    """The findings' api edge is the audit log's call, and the rule on the create names the
    process that sent it."""
    from kernelsec_nb.findings._frames import case_frames

    case, truth = api_abuse
    frames = case_frames(case)
    hit = frames["hits"].filter(pl.col("entity") == "api_call")
    assert hit["exec_id"].to_list() == [truth.key_command.exec_id]
    text = str([i.to_dict() for i in case.findings().incidents])
    assert "(audit log)" in text
