"""Which kinds of events each node's capture holds, and the notes about a missing one."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings.sources import missing_notes


def test_a_kind_other_known_nodes_have_but_the_incidents_node_lacks_is_said_once():
    c = pl.DataFrame({"node": ["w2", "w9", "w9", "w2"], "kind": ["processes", "processes", "alerts", "flows"],
                      "n": [5, 1, 1, 4]})
    assert missing_notes(c, ["w2", "w2", None]) == [
        "no Falco alerts from w2 in the capture, though 1 other node(s) have them: its silence is no evidence"]
    assert missing_notes(c, ["w9"]) == [
        "no flows (Hubble) from w9 in the capture, though 1 other node(s) have them: its silence is no evidence"]


def test_alerts_from_a_host_name_that_is_no_node_say_nothing():
    c = pl.DataFrame({"node": ["w2", "falco-7x2kq"], "kind": ["processes", "alerts"], "n": [5, 2]})
    assert missing_notes(c, ["w2"]) == []


def test_sources_name_the_tools_behind_what_the_case_holds(tmp_path):
    import json

    import kernelsec_nb as kn
    from kernelsec_nb.findings.sources import available, sources

    flow = {"time": "2026-03-01T10:00:00Z", "verdict": "FORWARDED", "node_name": "w2", "Type": "L3_L4",
            "IP": {"source": "10.0.0.1", "destination": "10.0.0.2"},
            "l4": {"TCP": {"source_port": 1, "destination_port": 2}}, "source": {}, "destination": {}}
    (tmp_path / "f.json").write_text(json.dumps({"flow": flow, "node_name": "w2", "time": flow["time"]}) + "\n")
    with kn.open_case(tmp_path / "c.duckdb") as c:
        c.load(tmp_path / "f.json", progress=False)
        assert available(c) == {"flows"} and sources(c) == ["hubble"]
