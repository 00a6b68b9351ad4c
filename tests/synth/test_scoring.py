"""The scoring adapter on hand-made findings, in both shapes (no capture, no engine)."""

from __future__ import annotations

import pytest

from kernelsec_nb.synth.scenarios.truth import Command, Endpoint, PodRef, Truth
from kernelsec_nb.synth.scoring import score

ATTACK = Truth("lateral", "attack", "", 1, entry=PodRef("shop", "cart-1", "n2"),
               key_command=Command("e-key", "/usr/local/bin/etlctl", "jobs put x", "cart-1"),
               reached=[PodRef("etl", "sched-1", "n1")],
               endpoints=[Endpoint("203.0.113.9", 443, "c2"), Endpoint("198.51.100.1", 80, "download")],
               techniques=["T1190", "T1059.004", "T1053"], expected_incidents=1)
BENIGN = Truth("debug", "benign", "", 1)


def new_shape(**over):
    inc = {"pod": "cart-1", "namespace": "shop", "node": "n2",
           "key_command": {"binary": "/usr/local/bin/etlctl", "args": "jobs put x", "exec_id": "e-key"},
           "reached": [{"namespace": "etl", "pod": "sched-1", "node": "n1"}],
           "endpoints": [{"ip": "203.0.113.9", "port": 443, "fqdn": None, "role": "c2"}],
           "techniques": ["T1190", "T1059"]}
    inc.update(over)
    return {"incidents": [inc], "leads": [{"pod": "x"}]}


def test_new_shape_all_right():
    s = score(new_shape(), ATTACK)
    assert (s["entry"], s["node"], s["key"], s["c2"]) == (True, True, True, True)
    assert (s["reached"], s["reached_expected"]) == (1, 1)
    assert (s["endpoints"], s["endpoints_expected"]) == (1, 2)
    assert (s["techniques"], s["techniques_expected"]) == (2, 3)  # T1059 counts for T1059.004
    assert s["incidents"] == 1 and s["leads"] == 1 and s["passed"]


@pytest.mark.parametrize("over, failed", [
    ({"pod": "sched-1"}, "entry"),
    ({"node": "n1"}, "node"),
    ({"key_command": {"binary": "/bin/bash", "args": "-i", "exec_id": "e-other"}}, "key"),
    ({"endpoints": [{"ip": "203.0.113.9", "port": 443, "role": "download"}]}, "c2"),
    ({"endpoints": [{"ip": "203.0.113.9", "port": 8443}]}, "c2"),
])
def test_new_shape_each_miss(over, failed):
    s = score(new_shape(**over), ATTACK)
    assert s[failed] is False and not s["passed"]


def test_key_by_binary_and_args_and_reached_by_name():
    s = score(new_shape(key_command={"binary": "/usr/local/bin/etlctl", "args": "jobs put x"},
                        reached=["sched-1"]), ATTACK)
    assert s["key"] and s["reached"] == 1


def test_reached_in_a_second_incident():
    f = new_shape(reached=[])
    f["incidents"].append({"pod": "sched-1", "namespace": "etl", "node": "n1"})
    s = score(f, ATTACK)
    assert s["reached"] == 1 and s["incidents"] == 2


def test_a_shape_without_incidents_is_refused():
    """The old cascade's one-session dict (``attacker_pod``, ``flag``) is no longer read."""
    with pytest.raises(ValueError, match="findings must have incidents"):
        score({"attacker_pod": "cart-1", "flag": {"exec_id": "e-key"}}, ATTACK)


def test_benign():
    assert score({"incidents": [], "leads": [1, 2]}, BENIGN) == {
        "scenario": "debug", "kind": "benign", "incidents": 0, "leads": 2, "passed": True}
    assert not score(new_shape(), BENIGN)["passed"]


def test_dataclass_findings_and_bad_input():
    from dataclasses import dataclass, field

    @dataclass
    class F:
        incidents: list = field(default_factory=list)
        leads: list = field(default_factory=list)

    assert score(F(), BENIGN)["passed"]

    class Inc:  # plain objects with the attributes
        pod, namespace, node = "cart-1", "shop", "n2"
        key_command = {"exec_id": "e-key"}
        reached, endpoints, techniques = ["sched-1"], [{"ip": "203.0.113.9", "port": 443}], []

    class G:
        incidents = [Inc()]
        leads = None

    assert score(G(), ATTACK)["passed"]
    with pytest.raises(TypeError, match="findings must be"):
        score(42, BENIGN)


def test_truth_roundtrip_and_checks():
    assert Truth.from_dict(ATTACK.to_dict()) == ATTACK
    with pytest.raises(ValueError, match="role"):
        Endpoint("1.2.3.4", 1, "beacon")
    with pytest.raises(ValueError, match="kind"):
        Truth("x", "maybe", "", 1)


def test_an_unknown_role_claims_none_and_a_wrong_role_still_misses():
    # the engine's "unknown" is no claim about the endpoint's role: it matches like an absent role
    unknown = score(new_shape(endpoints=[{"ip": "203.0.113.9", "port": 443, "role": "unknown"}]), ATTACK)
    assert unknown["c2"] and unknown["endpoints"] == 1
    wrong = score(new_shape(endpoints=[{"ip": "203.0.113.9", "port": 443, "role": "exfil"}]), ATTACK)
    assert wrong["c2"] is False and wrong["endpoints"] == 0
