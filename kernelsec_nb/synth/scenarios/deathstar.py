"""The bundled Death Star incident (the existing generator), half an hour of life before it."""

from __future__ import annotations

from pathlib import Path

from ..generate import SCENARIO as DESCRIPTION
from ..generate import generate
from . import Scenario
from .truth import Command, PodRef, Truth


def build(out_dir: Path, seed: int) -> Truth:
    """Generate the Death Star capture (0.5 h before the attack) and map its TRUTH."""
    t = generate(out_dir, seed=seed, hours=0.5)
    a = t["attacker"]
    victim = t["killed"]["pod"]
    # the killed deathstar's node: where the L7 proxy saw the attack's request (ingress side)
    victim_node = next(f["node"] for f in t["attack_flows"])
    ids = [r["exec_id"] for r in t["chain"] + t["curl"]]
    return Truth(
        scenario="deathstar", kind="attack", description=DESCRIPTION, seed=seed,
        entry=PodRef(a["namespace"], a["pod"], a["node"]),
        key_command=Command(t["flag"]["exec_id"], t["flag"]["binary"], t["flag"]["args"],
                            a["pod"]),
        reached=[PodRef("default", victim, victim_node)],
        endpoints=[],
        # kubectl exec, shell, /etc/shadow read, the exhaust port's outage, the recorder killed
        techniques=["T1609", "T1059.004", "T1003.008", "T1499.004", "T1562.001"],
        expected_incidents=1,
        attacker_exec_ids=list(dict.fromkeys(ids)),
        decoys=["spaceships POST /v1/request-landing every 30 s",
                "hourly host cron reads /etc/shadow (PAM)"],
        events=sum(f["events"] for f in t["files"].values()) - t["duplicated_lines"] + _beside_truth(out_dir, t),
    )


def _beside_truth(out_dir: Path, t: dict) -> int:
    """Events of the files written after TRUTH.json, which does not list them (it stays as it was):
    the sidecars' access logs and the API server's audit log, one event per line."""
    listed = set(t["files"]) | {"TRUTH.json"}
    return sum(p.read_bytes().count(b"\n") for p in sorted(Path(out_dir).rglob("*"))
               if p.is_file() and str(p.relative_to(out_dir)) not in listed)


SCENARIO = Scenario("deathstar", "attack", DESCRIPTION, build, seed=7)
