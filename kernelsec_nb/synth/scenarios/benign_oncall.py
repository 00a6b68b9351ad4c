"""A benign cluster on an on-call evening: a CI agent works through a burst of merge-request
pipelines (each runs the test binary it just compiled from ``/tmp``, which Falco and the Sigma
pack flag every time) and then one release pipeline that also pushes a tag and uploads the
package out of the cluster; a CronJob's pod dumps the database and uploads it with a tool unpacked
in ``/tmp``; a cron daemon in a metrics pod runs an archiver from ``/tmp`` on the minute, twice in
the capture (every 20 minutes); an on-call engineer ``kubectl exec -it``'s into the cart, looks
around and ``pip install``'s a profiler from the internet.  No incident."""

from __future__ import annotations

from pathlib import Path

from .. import falco as fc
from ..topology import Workload, hexid, suffix
from . import Scenario
from .kit import (
    MAY_READ,
    MS,
    NS,
    add_pod,
    connect_out,
    connect_pod,
    exec_into,
    file_hook,
    finish,
    run,
    start_pod,
    world,
)
from .truth import Truth

NAME = "benign-oncall"
DESCRIPTION = ("On-call evening: a CI agent's burst of test pipelines then a release that pushes a "
               "tag and uploads a package; a CronJob's database backup uploaded by a tool in /tmp; "
               "a cron daemon's archiver run from /tmp twice, on the minute; an engineer's "
               "kubectl exec -it with a pip install. Nothing malicious.")
GIT = ("140.82.121.4", "github.com")
UPLOAD = ("151.101.128.223", "upload.pypi.org")
PYPI = ("151.101.0.223", "pypi.org")
BUCKET = ("52.218.100.7", "backups-eu.s3.amazonaws.com")
METRICS = ("34.120.177.9", "metrics-archive.example.com")


def _pipeline(w, agent, t: int, target: str) -> tuple:
    """One pipeline: ``sh -c make <target>`` → make → the compiled test binary from /tmp."""
    sim = w.sim
    sh = run(w, agent, t, "/bin/sh", f"-c make {target}", exit_=False)
    make = run(w, sh, t + 15 * MS, "/usr/bin/make", target, exit_=False)
    test = run(w, make, t + int((4 + w.rng.random() * 3) * NS), f"/tmp/go-build{w.rng.randint(10**8, 10**9)}/b001/shop.test",
               "-test.v -test.timeout 10m", exit_=False)
    fc.emit_alert(sim.sink, test, test.start_ns + 200_000, "Drop and execute new binary in container")
    end = test.start_ns + w.rng.randint(5, 20) * NS
    sim.exit_(test, end)
    sim.exit_(make, end + 20 * MS)
    return sh, end + 40 * MS


def build(out_dir: Path, seed: int) -> Truth:
    """Write the capture; see the module docstring."""
    w = world(seed, minutes=50, scale=0.6)
    rng, sim, c = w.rng, w.sim, w.sim.cluster

    # (a) the CI agent: a burst of test pipelines, then a release
    awl = Workload("ci", "ci-agent", "Deployment", {"app": "ci-agent"}, "registry.acme.example/ci-agent:3.1.0",
                   "/usr/local/bin/ci-agent", "start --queue default", "agent", cwd="/workspace", uid=1000,
                   serviceaccount="ci-agent")
    agent = sim.pod_proc(add_pod(w, awl, w.node(1)))
    t = w.at(14 + rng.random())
    for _ in range(4):
        sh, end = _pipeline(w, agent, t, "test")
        sim.exit_(sh, end)
        t = end + rng.randint(40, 120) * NS
    sh, end = _pipeline(w, agent, t, "release")
    git = run(w, sh, end + 100 * MS, "/usr/bin/git", "push origin v1.8.0", exit_=False)
    e = connect_out(w, git, git.start_ns + 5 * MS, GIT[0], 443, GIT[1], dur_ms=900)
    sim.exit_(git, e + 5 * MS)
    up = run(w, sh, e + 200 * MS, "/usr/local/bin/twine", "upload dist/shop-1.8.0.tar.gz", exit_=False)
    e = connect_out(w, up, up.start_ns + 5 * MS, UPLOAD[0], 443, UPLOAD[1], dur_ms=2500)
    sim.exit_(up, e + 5 * MS)
    sim.exit_(sh, e + 50 * MS)

    # (b) a CronJob's run: dump the database, upload it with a tool unpacked in /tmp
    run_id = 28630140 + rng.randint(0, 99)
    bwl = Workload("ops", "pg-backup", "Job", {"job-name": f"pg-backup-{run_id}",
                                                "batch.kubernetes.io/job-name": f"pg-backup-{run_id}"},
                   "registry.acme.example/pg-backup:1.2.0", "/bin/sh", "-c /scripts/pg-backup.sh", "backup",
                   cwd="/work", uid=999, serviceaccount="pg-backup")
    bpod = add_pod(w, bwl, w.node(2), started_ns=w.at(31), name=f"pg-backup-{run_id}-{suffix(rng, 5)}")
    ent = start_pod(w, bpod)
    t = bpod.container_start_ns + 300 * MS
    db = c.pods_of("db")[0]
    dump = run(w, ent, t, "/usr/bin/pg_dump", "-h db.shop.svc.cluster.local -U backup -Fc shop", exit_=False)
    e = connect_pod(w, dump, t + 5 * MS, db, 5432, "db.shop.svc.cluster.local", dur_ms=4000)
    sim.exit_(dump, e + 10 * MS)
    gz = run(w, ent, e + 50 * MS, "/bin/gzip", "-9 /work/shop.dump", 900)
    t = gz.start_ns + NS
    file_hook(w, ent, t, "/etc/backup/credentials", MAY_READ)
    rc = run(w, ent, t + 10 * MS, f"/tmp/rclone-v1.66.0-{hexid(rng, 6)}/rclone",
             "copy /work/shop.dump.gz s3:backups-eu/shop/", exit_=False)
    e = connect_out(w, rc, rc.start_ns + 20 * MS, BUCKET[0], 443, BUCKET[1], dur_ms=6000)
    sim.exit_(rc, e + 10 * MS)
    sim.exit_(ent, e + 30 * MS)

    # (c) a metrics pod's cron daemon runs an archiver from /tmp every 20 minutes, on the minute
    mwl = Workload("monitoring", "metrics-archiver", "Deployment", {"app": "metrics-archiver"},
                   "registry.acme.example/metrics-archiver:0.9.2", "/usr/local/bin/supercronic",
                   "/etc/crontab", "archiver", cwd="/", uid=65534, serviceaccount="metrics-archiver")
    cron = sim.pod_proc(add_pod(w, mwl, w.node(2)))
    minute = 60 * NS
    first = -(-w.at(12) // minute) * minute + 400 * MS  # the next whole minute of the wall clock
    for k in range(2):
        t = first + k * 20 * minute
        job = run(w, cron, t, "/tmp/archiver/bin/archiver", "push --since 20m", exit_=False)
        e = connect_out(w, job, t + 30 * MS, METRICS[0], 443, METRICS[1], dur_ms=rng.randint(800, 1500))
        sim.exit_(job, e + 10 * MS)

    # (d) the on-call engineer looks into the cart and installs a profiler
    cart = c.pods_of("cart")[0]
    t = w.at(38 + rng.random())
    sh = exec_into(w, cart, t, "/bin/bash")
    fc.emit_alert(sim.sink, sh, t + 28 * MS, "Terminal shell in container", tty=34819)
    t += 5 * NS
    for binary, args in (("/bin/ps", "aux"), ("/usr/bin/top", "-b -n 1"), ("/bin/cat", "/srv/cart/settings.py")):
        p = run(w, sh, t, binary, args, rng.randint(5, 40))
        if binary == "/bin/cat":
            file_hook(w, p, t + MS, args, MAY_READ)
        t += rng.randint(5, 15) * NS
    pip = run(w, sh, t, "/usr/local/bin/pip", "install --user py-spy", exit_=False)
    e = connect_out(w, pip, t + 300 * MS, PYPI[0], 443, PYPI[1], dur_ms=3000)
    sim.exit_(pip, e + 400 * MS)
    t = e + 10 * NS
    run(w, sh, t, "/root/.local/bin/py-spy", "dump --pid 1", 1500)
    sim.exit_(sh, t + 40 * NS)

    return finish(w, out_dir, Truth(
        scenario=NAME, kind="benign", description=DESCRIPTION, seed=seed, expected_incidents=0,
        decoys=["every CI pipeline runs a freshly compiled test binary from /tmp (Falco and Sigma flag it)",
                "a release pipeline pushes a tag and uploads a package out of the cluster",
                "a CronJob's pod reads credentials and uploads a database dump with a tool in /tmp",
                "a cron daemon runs an archiver from /tmp twice, 20 minutes apart, on the minute",
                "kubectl exec -it into the cart and a pip install from the internet"]))


SCENARIO = Scenario(NAME, "benign", DESCRIPTION, build, seed=33)
