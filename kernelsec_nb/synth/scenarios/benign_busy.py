"""A busy benign cluster: twice the ordinary traffic, a CI runner building images (``npm ci``,
``kaniko`` writing and running binaries under ``/tmp``, pushing to a registry outside), a
rollout of the cart (new pods whose init container downloads packages), an operator that calls
the Kubernetes API all day, a nightly-style backup that ``kubectl exec``s ``pg_dump`` into the
database pod, and a log shipper reading the pods' service-account tokens.  No incident."""

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
    connect_out,
    every,
    exec_into,
    file_hook,
    finish,
    run,
    start_pod,
    world,
)
from .truth import Truth

NAME = "benign-busy"
DESCRIPTION = ("Twice the ordinary traffic, CI image builds (npm, kaniko running /tmp binaries, "
               "pushes outside), a cart rollout, an operator calling the API, a kubectl exec "
               "pg_dump backup and a log shipper reading tokens. Nothing malicious.")
REGISTRY = ("140.82.114.34", "ghcr.io")
NPM = ("104.16.24.35", "registry.npmjs.org")
API = ("172.18.0.2", 6443)


def build(out_dir: Path, seed: int) -> Truth:
    """Write the capture; see the module docstring."""
    w = world(seed, minutes=25, scale=2.0)
    rng = w.rng
    sim = w.sim
    c = sim.cluster

    # CI: image builds every 4 minutes
    rwl = Workload("ci", "gitlab-runner", "Deployment", {"app": "gitlab-runner"},
                   "registry.gitlab.com/gitlab-org/gitlab-runner:v16.11.1", "/usr/bin/gitlab-runner",
                   "run --user=gitlab-runner --working-directory=/builds", "gitlab-runner",
                   cwd="/builds", uid=999, serviceaccount="gitlab-runner")
    runner = add_pod(w, rwl, w.node(1))
    rmain = sim.pod_proc(runner)
    for t in every(w, 240):
        bash = run(w, rmain, t, "/bin/bash", "--login -c /builds/acme/frontend.tmp/script_step",
                   exit_=False)
        npm = run(w, bash, t + 30 * MS, "/usr/local/bin/npm", "ci --no-audit", exit_=False)
        end = connect_out(w, npm, t + 40 * MS, NPM[0], 443, NPM[1], dur_ms=rng.randint(3000, 8000))
        run(w, npm, end + 5 * MS, "/usr/local/bin/node",
            f"/tmp/npm-build-{rng.randint(1000, 9999)}/node_modules/.bin/esbuild src/index.ts --bundle", rng.randint(800, 3000))
        sim.exit_(npm, end + 4 * NS)
        kan = run(w, bash, end + 5 * NS, "/kaniko/executor",
                  "--context /builds/acme/frontend --destination ghcr.io/acme-shop/frontend:"
                  f"2.4.{rng.randint(2, 99)}", exit_=False)
        run(w, kan, kan.start_ns + 2 * NS, f"/tmp/kaniko-{rng.randint(10**5, 10**6)}/busybox",
                     "sh -c npm run build", rng.randint(2000, 6000))
        end = connect_out(w, kan, kan.start_ns + 9 * NS, REGISTRY[0], 443, REGISTRY[1],
                          dur_ms=rng.randint(2000, 6000))
        sim.exit_(kan, end + 50 * MS)
        sim.exit_(bash, end + 300 * MS)

    # an operator reconciling through the API, with Falco's notice each time
    owl = Workload("operators", "pg-operator", "Deployment", {"app": "pg-operator"},
                   "ghcr.io/zalando/postgres-operator:v1.12.2", "/postgres-operator", "",
                   "postgres-operator", uid=1000, serviceaccount="postgres-operator")
    op = add_pod(w, owl, w.node(2))
    omain = sim.pod_proc(op)
    for t in every(w, 60):
        connect_out(w, omain, t, API[0], API[1], dur_ms=rng.randint(50, 300))
        fc.emit_alert(sim.sink, omain, t + 30 * MS, "Contact K8S API Server From Container",
                      evt_type="connect", extra={"fd.name": f"{op.ip}:{rng.randint(32768, 60999)}"
                                                 "->10.96.0.1:443"})

    # a rollout of the cart: two new pods, their init container downloads packages
    cart = c.pods_of("cart")[0]
    for i, node in enumerate((w.node(1), w.node(2))):
        t = w.at(10 + i * 1.5)
        init_wl = Workload("shop", "cart", "Deployment", cart.workload.labels,
                           "docker.io/library/alpine:3.20", "/sbin/apk",
                           "add --no-cache ca-certificates", "wait-for-db",
                           template_hash="7d9f8c6b5d")
        pod = add_pod(w, init_wl, node, started_ns=t)
        apk = start_pod(w, pod)
        end = connect_out(w, apk, t + 20 * MS, "151.101.2.132", 443, "dl-cdn.alpinelinux.org",
                          dur_ms=rng.randint(900, 2000))
        sim.exit_(apk, end + 10 * MS)
        app = Workload("shop", "cart", "Deployment", cart.workload.labels, "ghcr.io/acme-shop/cart:1.9.1",
                       cart.workload.binary, cart.workload.arguments, "cart", cwd="/srv", uid=1000,
                       port=7070, serviceaccount="cart", template_hash="7d9f8c6b5d")
        pod.workload = app
        pod.container_id = f"{rng.getrandbits(256):064x}"
        pod.container_start_ns = end + 700 * MS
        sim.anchors.pop(f"main:{pod.name}", None)
        start_pod(w, pod)

    # the backup: kubectl exec db-0 -- sh -c 'pg_dump … | gzip > …' twice
    db = c.pods_of("db")[0]
    for minutes in (4, 19):
        t = w.at(minutes + rng.random())
        sh = exec_into(w, db, t, "/bin/sh", "-c pg_dump -U postgres -Fc shop | gzip > "
                       f"/backup/shop-{t // NS}.dump.gz")
        run(w, sh, t + 3 * MS, "/usr/lib/postgresql/16/bin/pg_dump", "-U postgres -Fc shop",
            rng.randint(2000, 5000))
        run(w, sh, t + 3 * MS, "/bin/gzip", "", rng.randint(2000, 5000))
        sim.exit_(sh, t + 6 * NS)

    # a log shipper on every node reading service-account tokens to call the API
    swl = Workload("logging", "fluent-bit", "DaemonSet", {"app": "fluent-bit"},
                   "cr.fluentbit.io/fluent/fluent-bit:3.0.4", "/fluent-bit/bin/fluent-bit",
                   "-c /fluent-bit/etc/fluent-bit.conf", "fluent-bit", serviceaccount="fluent-bit")
    for node in c.nodes:
        fb = add_pod(w, swl, node)
        fbmain = sim.pod_proc(fb)
        for t in every(w, 300):
            file_hook(w, fbmain, t, "/var/run/secrets/kubernetes.io/serviceaccount/token",
                      MAY_READ)

    return finish(w, out_dir, Truth(
        scenario=NAME, kind="benign", description=DESCRIPTION, seed=seed,
        expected_incidents=0,
        decoys=["kaniko runs a binary from /tmp and pushes outside",
                "an operator contacts the API every minute (Falco notices)",
                "new cart pods start; their init container downloads",
                "kubectl exec -- sh -c pg_dump backups",
                "a DaemonSet reads its service-account token"]))


SCENARIO = Scenario(NAME, "benign", DESCRIPTION, build, seed=22)
