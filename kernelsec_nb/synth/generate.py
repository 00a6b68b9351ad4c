"""Entry point that builds the whole incident capture and its TRUTH.json."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from . import audit
from .attack import run_attack
from .fmt import NS, parse_proto_time, proto_time
from .gadget import write_gadget
from .istio import write_access_logs
from .normal import NormalLife
from .sim import Sim
from .topology import build_cluster
from .tracee import write_tracee
from .writer import Layout, write_capture

#: The sensors whose output is written only when asked for (``generate(..., extra=...)``):
#: the bundled capture and its tests stay as they are without them.
EXTRA_SOURCES = ("tracee", "inspektor_gadget")

# 2024-05-14T05:00:00Z: a fixed epoch keeps output independent of the wall clock
BASE_EPOCH_NS = 1_715_662_800 * NS
SCENARIO = ("Star Wars demo cluster: after hours of normal traffic, someone opens an "
            "interactive shell in one tiefighter pod, PUTs /v1/exhaust-port on the deathstar "
            "service (which then gets SIGKILLed and restarted), kills a process in the pod, "
            "and retries after an L7 CiliumNetworkPolicy starts denying the request.")


def generate(out_dir: str | Path, *, seed: int = 7, hours: float = 3.0,
             scale: float = 1.0, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """Generate the multi-node incident capture into ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Destination directory; one sub-directory per node plus ``TRUTH.json``.
    seed : int
        Random seed; the same seed yields byte-identical files.
    hours : float
        Hours of normal activity before the attack.
    scale : float
        Multiplier on the rate of frequent background activities.
    extra : tuple of str
        Sensors of :data:`EXTRA_SOURCES` to write too, derived from the same simulated events
        (``<node>/tracee.json``, ``<node>/gadget/trace_*.json``); the other files and TRUTH are
        the same with or without them.

    Returns
    -------
    dict
        The TRUTH document (also written to ``TRUTH.json``).
    """
    unknown = sorted(set(extra) - set(EXTRA_SOURCES))
    if unknown:
        raise ValueError(f"unknown extra source(s) {unknown}; known: {', '.join(EXTRA_SOURCES)}")
    out = Path(out_dir)
    rng = random.Random(seed)
    start = BASE_EPOCH_NS + rng.randint(0, 3600) * NS + rng.randint(0, NS - 1)
    cluster = build_cluster(rng, start)
    sim = Sim(cluster, rng)
    attack_at = start + int(hours * 3600 * NS) + rng.randint(0, 300) * NS
    life = NormalLife(sim, start, attack_at + 25 * 60 * NS, scale)
    truth_attack = run_attack(sim, life, attack_at)
    life.run()
    nodes = [n.name for n in cluster.nodes]
    file_truth = write_capture(out, sim.sink, nodes, rng, Layout())
    # the API server's audit log: its own random stream, and not in TRUTH, so that every other
    # file (TRUTH.json too) stays as it was
    audit.write_deathstar(out, cluster, truth_attack, attack_at, start, attack_at + 25 * 60 * NS, seed)
    written = [r.written_ns for recs in sim.sink.records.values() for r in recs]
    truth: dict[str, Any] = {
        "scenario": SCENARIO,
        "seed": seed,
        "attacker": truth_attack["attacker"],
        "target": {"namespace": "default", "workload": "deathstar", "service": "deathstar",
                   "port": 80, "http_method": "PUT", "http_path": "/v1/exhaust-port"},
        "entry": truth_attack["entry"],
        "chain": truth_attack["chain"],
        "flag": truth_attack["flag"],
        "curl": truth_attack["curl"],
        "attack_flows": truth_attack["attack_flows"],
        "dropped_flows": truth_attack["dropped_flows"],
        "alerts": truth_attack["alerts"],
        "killed": truth_attack["killed"],
        "window": {"start": proto_time(min(written)), "end": proto_time(max(written))},
        "policy_applied_at": truth_attack["policy_applied_at"],
        **file_truth,
    }
    (out / "TRUTH.json").write_text(json.dumps(truth, indent=2) + "\n")
    write_access_logs(out, sim, seed)  # its own random stream: the files above do not change
    if "tracee" in extra:
        write_tracee(out, sim, seed)
    if "inspektor_gadget" in extra:
        write_gadget(out, sim)
    return truth


__all__ = ["EXTRA_SOURCES", "generate", "parse_proto_time"]
