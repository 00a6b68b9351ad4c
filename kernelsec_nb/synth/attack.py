"""The incident: an interactive shell in one spaceship pod hits the exhaust port."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import falco as fc
from . import tetragon as tg
from .fmt import MS, NS, US, proto_time
from .network import HttpCall, dns_lookup, tcp_connection
from .normal import DEATHSTAR_FQDN, NormalLife
from .process import Proc
from .sim import Sim
from .topology import hexid

EXHAUST = "/v1/exhaust-port"


@dataclass
class AttackResult:
    """Everything TRUTH.json needs about the attack."""

    truth: dict[str, Any] = field(default_factory=dict)


def _ref(p: Proc) -> dict[str, Any]:
    return {"exec_id": p.exec_id, "binary": p.binary, "args": p.arguments, "pid": p.pid}


def _exhaust_call(sim: Sim) -> HttpCall:
    h = hexid(sim.rng, 32)
    return HttpCall(
        "PUT", f"http://{DEATHSTAR_FQDN}{EXHAUST}", 503,
        [("Accept", "*/*"), ("User-Agent", "curl/8.5.0"), ("X-Envoy-Internal", "true"),
         ("X-Request-Id", f"{h[:8]}-{h[8:12]}-4{h[13:16]}-b{h[17:20]}-{h[20:]}")],
        [("Content-Length", "1068"), ("Content-Type", "text/plain; charset=utf-8"),
         ("Date", "")],
        latency_ns=sim.rng.randint(3, 9) * MS)


def run_attack(sim: Sim, life: NormalLife, at: int) -> dict[str, Any]:
    """Generate the attack starting at true time ``at``.

    Parameters
    ----------
    sim : Sim
        Simulation context.
    life : NormalLife
        Background generator; receives the policy time and the outage window.
    at : int
        True time of ``kubectl exec``.

    Returns
    -------
    dict
        Partial TRUTH (attacker, entry, chain, flag, curl, flows, alerts, killed,
        policy time).
    """
    rng = sim.rng
    c = sim.cluster
    pod = rng.choice(c.pods_of("tiefighter"))
    node = pod.node
    shim = sim.shim(pod)
    loop = sim.pod_proc(pod)
    recorder = sim.anchors.get(f"recorder:{pod.name}")
    if recorder is None:
        recorder = sim.exec_(node, loop.start_ns + 300 * MS, "/usr/local/bin/flight-recorder",
                             "--interval 60s --sink /var/log/flight", loop, emit=False,
                             pod=pod, in_init_tree=True)
        sim.anchors[f"recorder:{pod.name}"] = recorder
    cdir = f"/run/containerd/io.containerd.runtime.v2.task/k8s.io/{pod.container_id}"
    runc = sim.exec_(node, at, "/usr/local/sbin/runc",
                     f"--root /run/containerd/runc/k8s.io --log {cdir}/log.json --log-format "
                     f"json exec --process /tmp/runc-process{rng.randint(10**8, 10**9)} "
                     f"--console-socket /tmp/pty{rng.randint(10**8, 10**9)}/pty.sock --detach "
                     f"--pid-file {cdir}/{hexid(rng, 64)}.pid {pod.container_id}", shim,
                     cwd=cdir, critical=True)
    t = at + 27 * MS
    shell = sim.exec_(node, t, "/bin/sh", "", shim, pod=pod, in_init_tree=False, cwd="/",
                      critical=True)
    sim.exit_(runc, t + 4 * MS)
    tty = 34816
    alerts = []
    a = fc.emit_alert(sim.sink, shell, t + 40 * US, "Terminal shell in container", tty=tty,
                      critical=True)
    alerts.append({"node": node.name, "time": a["time"], "rule": a["rule"],
                   "exec_id": shell.exec_id, "pid": shell.pid,
                   "container_id": pod.container_id[:12]})

    def cmd(dt: float, binary: str, args: str, dur: int) -> Proc:
        p = sim.exec_(node, t + int(dt * NS), binary, args, shell, pod=pod,
                      in_init_tree=False, cwd="/", critical=True)
        sim.exit_(p, p.start_ns + dur, critical=True)
        return p

    cmd(6.2, "/usr/bin/id", "", 2 * MS)
    cmd(11.8, "/bin/ls", "-la /opt/flight", 3 * MS)
    cat = cmd(19.4, "/bin/cat", "/etc/shadow", 2 * MS)
    tg.emit_kprobe(sim.sink, cat, cat.start_ns + 600 * US, "security_file_permission",
                   [tg.file_arg("/etc/shadow", "-rw-r-----"), tg.int_arg(4)],
                   "sensitive-files", ret={"int_arg": 0}, critical=True)
    a = fc.emit_alert(sim.sink, cat, cat.start_ns + 550 * US, "Read sensitive file untrusted",
                      evt_type="openat", extra={"fd.name": "/etc/shadow"}, tty=tty,
                      critical=True)
    alerts.append({"node": node.name, "time": a["time"], "rule": a["rule"],
                   "exec_id": cat.exec_id, "pid": cat.pid,
                   "container_id": pod.container_id[:12]})
    cmd(33.0, "/bin/ps", "aux", 9 * MS)

    curls: list[Proc] = []
    flows: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []

    def attempt(ts: int, mode: str, target_pod: Any) -> tuple[Proc, int]:
        curl = sim.exec_(node, ts, "/usr/bin/curl",
                         f"-s -XPUT {DEATHSTAR_FQDN}{EXHAUST}", shell, pod=pod,
                         in_init_tree=False, cwd="/", critical=True)
        tdns = dns_lookup(sim, pod, DEATHSTAR_FQDN, c.services[DEATHSTAR_FQDN],
                          ts + 700 * US, critical=True)
        res = tcp_connection(sim, curl, pod, target_pod, target_pod.ip, 80, tdns + 180 * US,
                             http=_exhaust_call(sim), mode=mode, critical=True)
        sim.exit_(curl, res.end_ns + 400 * US, critical=True)
        curls.append(curl)
        (dropped if mode == "l7drop" else flows).extend(res.requests)
        return curl, res.end_ns

    victim = life.deathstar_for(t + 52 * NS)
    _, hit_end = attempt(t + 52 * NS, "ok", victim)

    # the jammed deathstar stops answering; kubelet kills it after failed probes
    ds_main = sim.pod_proc(victim)
    kill_t = hit_end + rng.randint(28, 34) * NS
    sim.exit_(ds_main, kill_t, signal="SIGKILL", critical=True)
    killed = {"exec_id": ds_main.exec_id, "binary": ds_main.binary, "pod": victim.name,
              "signal": "SIGKILL", "time": proto_time(victim.node.clock(kill_t))}
    restart = kill_t + rng.randint(1200, 2500) * MS
    life.outage[victim.name] = (hit_end, restart + 500 * MS)
    vshim = sim.shim(victim)
    victim.container_id = hexid(rng, 64)
    victim.container_start_ns = restart
    victim.restarts += 1
    vdir = f"/run/containerd/io.containerd.runtime.v2.task/k8s.io/{victim.container_id}"
    runc2 = sim.exec_(victim.node, restart - 150 * MS, "/usr/local/sbin/runc",
                      f"--root /run/containerd/runc/k8s.io --log {vdir}/log.json --log-format "
                      f"json create --bundle {vdir} --pid-file {vdir}/init.pid "
                      f"{victim.container_id}", vshim, cwd=vdir)
    sim.exit_(runc2, restart - 60 * MS)
    new_main = sim.exec_(victim.node, restart, victim.workload.binary,
                         victim.workload.arguments, vshim, pod=victim, container_init=True,
                         in_init_tree=True)
    sim.anchors[f"main:{victim.name}"] = new_main

    flag = cmd(94.5, "/bin/kill", f"-9 {recorder.container_pid}", MS)
    sim.exit_(recorder, flag.start_ns + 300 * US, signal="SIGKILL", critical=True)
    cmd(101.0, "/bin/ps", "aux", 8 * MS)

    policy_at = t + rng.randint(300, 420) * NS
    life.policy_at = policy_at
    cp = c.nodes[0]
    t2 = policy_at + rng.randint(150, 240) * NS
    for _ in range(3):
        tgt = life.deathstar_for(t2)
        _, end2 = attempt(t2, "l7drop", tgt)
        t2 = end2 + rng.randint(4, 11) * NS
    sim.exit_(shell, t2 + rng.randint(20, 60) * NS, critical=True)

    return {
        "attacker": {"namespace": pod.namespace, "pod": pod.name, "workload": "tiefighter",
                     "node": node.name},
        "entry": _ref(shell),
        "chain": [_ref(shell), _ref(flag)],
        "flag": _ref(flag),
        "curl": [_ref(p) for p in curls],
        "attack_flows": flows,
        "dropped_flows": dropped,
        "alerts": alerts,
        "killed": {k: killed[k] for k in ("exec_id", "binary", "pod", "signal")},
        "policy_applied_at": proto_time(cp.clock(policy_at)),
        "_end": t2,
        "_victim_recorder": recorder.exec_id,
    }
