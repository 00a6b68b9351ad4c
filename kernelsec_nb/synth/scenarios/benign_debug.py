"""A benign cluster with interactive debugging sessions: engineers ``kubectl exec -it`` into a
frontend pod and the cart, run reconnaissance-looking commands (``id``, ``ps``, ``env``,
``netstat``, ``nslookup``, reading the app's config), and call the external payment API the
frontend calls all day anyway; a third session checks the database with ``psql``.  No incident."""

from __future__ import annotations

from pathlib import Path

from .. import falco as fc
from ..network import dns_lookup
from . import Scenario
from .kit import MAY_READ, MS, NS, connect_out, every, exec_into, file_hook, finish, run, world
from .truth import Truth

NAME = "benign-debug"
DESCRIPTION = ("Engineers debug with kubectl exec -it: id, ps, env, netstat, nslookup, the app's "
               "config, and a curl to the external payment API the pod calls all day anyway; "
               "another session runs psql. Nothing malicious.")
PAYMENTS = ("54.187.216.72", "api.paymentsprovider.com")


def _session(w, shell, t: int, cmds: list[tuple[str, str]]) -> int:
    """Run ``cmds`` in ``shell`` a few seconds apart; return the time after the last."""
    for binary, args in cmds:
        p = run(w, shell, t, binary, args, w.rng.randint(2, 30))
        if binary.endswith("/cat"):
            file_hook(w, p, t + MS, args, MAY_READ)
        t += w.rng.randint(4, 20) * NS
    return t


def build(out_dir: Path, seed: int) -> Truth:
    """Write the capture; see the module docstring."""
    w = world(seed, minutes=25)
    rng = w.rng
    sim = w.sim
    c = sim.cluster
    fronts = c.pods_of("frontend")
    for fe in fronts:
        main = sim.pod_proc(fe)
        for t in every(w, 30):
            connect_out(w, main, t, PAYMENTS[0], 443, PAYMENTS[1], dur_ms=rng.randint(80, 400))

    # session 1: why do payments time out? (frontend)
    fe = fronts[0]
    t = w.at(8 + rng.random())
    sh = exec_into(w, fe, t)
    fc.emit_alert(sim.sink, sh, t + 28 * MS, "Terminal shell in container", tty=34816)
    t = _session(w, sh, t + 5 * NS, [("/usr/bin/id", ""), ("/bin/ps", "aux"),
                                      ("/usr/bin/env", ""), ("/bin/cat", "/etc/resolv.conf"),
                                      ("/bin/netstat", "-tlnp"),
                                      ("/bin/cat", "/app/config/production.json")])
    run(w, sh, t, "/usr/bin/nslookup", PAYMENTS[1], 40)
    dns_lookup(sim, fe, PAYMENTS[1], PAYMENTS[0], t + MS, qtypes=("A",))
    t += 9 * NS
    for _ in range(2):
        curl = run(w, sh, t, "/usr/bin/curl",
                   f"-sv -m 5 https://{PAYMENTS[1]}/v1/health", exit_=False)
        end = connect_out(w, curl, t + MS, PAYMENTS[0], 443, PAYMENTS[1], dur_ms=350)
        sim.exit_(curl, end + MS)
        t = end + rng.randint(10, 30) * NS
    t = _session(w, sh, t, [("/usr/bin/top", "-b -n 1"), ("/bin/ls", "-la /tmp")])
    sim.exit_(sh, t + 20 * NS)

    # session 2: the cart's readiness (cart, bash)
    cart = c.pods_of("cart")[0]
    t = w.at(13 + rng.random())
    sh = exec_into(w, cart, t, "/bin/bash")
    fc.emit_alert(sim.sink, sh, t + 28 * MS, "Terminal shell in container", tty=34817)
    t = _session(w, sh, t + 4 * NS, [("/usr/bin/whoami", ""), ("/bin/ps", "-ef"),
                                      ("/bin/cat", "/srv/cart/settings.py")])
    run(w, sh, t, "/usr/bin/curl", "-s localhost:7070/healthz", 20)
    t += 8 * NS
    run(w, sh, t, "/usr/local/bin/python3.12",
        "-c import socket;print(socket.gethostbyname('db.shop.svc.cluster.local'))", 40)
    sim.exit_(sh, t + 30 * NS)

    # session 3: the database (psql; a one-off sh -c)
    db = c.pods_of("db")[0]
    t = w.at(18 + rng.random())
    sh = exec_into(w, db, t, "/bin/sh", "-c psql -U postgres -c 'select count(*) from "
                   "pg_stat_activity'")
    run(w, sh, t + 3 * MS, "/usr/lib/postgresql/16/bin/psql",
        "-U postgres -c select count(*) from pg_stat_activity", 30)
    sim.exit_(sh, t + 60 * MS)

    return finish(w, out_dir, Truth(
        scenario=NAME, kind="benign", description=DESCRIPTION, seed=seed,
        expected_incidents=0,
        decoys=["kubectl exec -it shells with id, ps, env, netstat, config reads",
                "curl to the external payment API from the debugging shell",
                "a one-off kubectl exec -- sh -c psql"]))


SCENARIO = Scenario(NAME, "benign", DESCRIPTION, build, seed=21)
