"""Detections frame: Falco alerts become hits with ATT&CK ids; case.detect is used when present."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings.detections import (
    DETECTION_SCHEMA,
    attack_ids,
    detections,
    falco_detections,
)


def _alerts():
    return pl.DataFrame({
        "event_id": ["a1", "a2"], "time_ns": [10, 20], "rule": ["Terminal shell in container", "Odd"],
        "priority": ["Notice", "CRITICAL"], "tags": [["T1059", "mitre_execution", "shell"], None],
        "exec_id": ["e1", None], "node": ["n1", "n1"], "namespace": ["ns", "ns"], "pod": ["p", "p"],
        "workload": ["w", "w"], "binary": ["/bin/sh", None], "proc_name": ["sh", "nc"], "output": ["o", "o"]})


def test_attack_ids_from_tags():
    assert attack_ids(["T1059", "t1059", "mitre_lateral_movement", "mitre_nothing", "network"]) == (
        ["T1059"], ["lateral-movement"])
    assert attack_ids(None) == ([], [])


def test_falco_alerts_as_detections():
    d = falco_detections(_alerts())
    assert d.schema == pl.Schema(DETECTION_SCHEMA)
    assert d["rule_id"].to_list() == ["falco:Terminal shell in container", "falco:Odd"]
    assert d["level"].to_list() == ["low", "critical"]
    assert d["techniques"].to_list() == [["T1059"], []]
    assert d["tactics"].to_list() == [["execution"], []]
    assert d["binary"].to_list() == ["/bin/sh", "nc"]
    assert d["entity"].unique().to_list() == ["alert"]


class _Case:
    def alerts(self):
        return _alerts()


class _SigmaCase(_Case):
    def detect(self):
        return pl.DataFrame({"rule_id": ["sigma:x"], "exec_id": ["e5"], "techniques": [["T1105"]],
                             "time_ns": [5], "event_id": ["k1"]})


def test_detections_uses_detect_when_the_case_has_it():
    assert detections(_Case())["event_id"].to_list() == ["a1", "a2"]
    got = detections(_SigmaCase())
    assert got.columns == list(DETECTION_SCHEMA)
    assert got["rule_id"].to_list() == ["sigma:x"] and got["level"].to_list() == [None]


def test_a_placement_technique_on_a_process_start_is_no_persistence():
    """Falco's package-manager rule (T1505, mitre_persistence) fires on the ``execve`` of ``apk``:
    no server component was seen placed, so neither the technique nor a persistence act; a rule
    of the same technique on a file write, and a scheduling rule on an ``execve``, keep theirs."""
    from kernelsec_nb.findings._evidence import PERSIST, persistence

    alerts = pl.DataFrame({
        "event_id": ["a1", "a2", "a3"], "time_ns": [1, 2, 3], "exec_id": ["apk", "web", "cron"],
        "rule": ["Launch Package Management Process in Container", "Web shell written", "Schedule Cron Jobs"],
        "priority": ["Error", "Warning", "Notice"],
        "tags": [["T1505", "mitre_persistence", "software_mgmt"], ["T1505.003", "mitre_persistence"],
                 ["T1053.003", "mitre_execution"]],
        "fields": [{"evt.type": "execve"}, {"evt.type": "openat"}, {"evt.type": "execve"}],
        "output": ["o", "o", "o"]}, schema_overrides={"fields": pl.Object})
    d = falco_detections(alerts)
    assert d["techniques"].to_list() == [[], ["T1505.003"], ["T1053.003"]]
    ev = persistence(d)
    assert sorted(ev.filter(pl.col("kind") == PERSIST)["exec_id"].to_list()) == ["cron", "web"]


def test_the_system_call_of_a_tracee_finding_is_its_syscall_field():
    """Tracee writes the system call a signature fired on as ``syscall`` (its source puts it in
    ``fields``, a map read as key/value pairs): an ``execve`` claims no placement, as Falco's
    ``evt.type`` does."""
    alerts = pl.DataFrame({
        "event_id": ["a1", "a2"], "time_ns": [1, 2], "exec_id": ["apt", "web"], "source": ["tracee", "tracee"],
        "rule": ["Launch Package Management Process in Container", "Web shell"], "priority": ["Error", "Error"],
        "tags": [["T1505", "mitre_persistence"], ["T1505.003", "mitre_persistence"]],
        "fields": [[{"key": "Severity", "value": "3"}, {"key": "syscall", "value": "execve"}],
                   [{"key": "syscall", "value": "openat"}]],
        "output": ["o", "o"]})
    assert falco_detections(alerts)["techniques"].to_list() == [[], ["T1505.003"]]
