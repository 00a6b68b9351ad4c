"""Building blocks shared by the scenarios: a small cluster with ordinary life, extra pods,
processes, file hooks, connections in and out, and writing the capture.

Everything here renders events with the generator's own writers (:mod:`..tetragon`,
:mod:`..hubble`, :mod:`..falco`, :mod:`..network`), so a scenario's capture has the real export
formats, rotation, a duplicate and a truncated line like the bundled one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import hubble as hb
from .. import tetragon as tg
from ..audit import AUDIT_FILE, AuditLog
from ..fmt import MS, NS, US
from ..network import HttpCall, dns_lookup, ephemeral_port, tcp_connection
from ..normal import NormalLife
from ..process import Proc
from ..sim import Sim
from ..topology import Node, Pod, Workload, build_cluster, hexid, suffix
from ..writer import Layout, write_capture
from .truth import Command, PodRef, Truth

# 2024-06-03T09:00:00Z: the corpus' own epoch (the Death Star keeps its own)
EPOCH_NS = 1_717_405_200 * NS
MAY_READ, MAY_WRITE = 4, 2


@dataclass
class World:
    """A scenario's simulation: the cluster, its ordinary life and the capture window."""

    sim: Sim
    life: NormalLife
    start: int
    end: int
    seed: int = 0
    #: The API server's audit log, when the scenario writes one (:meth:`audit_log`).
    audit: AuditLog | None = None

    @property
    def rng(self) -> random.Random:
        """The scenario's only source of randomness."""
        return self.sim.rng

    def node(self, i: int) -> Node:
        """The ``i``-th node (0 is the control plane)."""
        return self.sim.cluster.nodes[i]

    def audit_log(self) -> AuditLog:
        """The capture's API audit log (its own random stream: the other files do not change)."""
        if self.audit is None:
            self.audit = AuditLog(random.Random(f"audit:{self.seed}"), self.node(0))
        return self.audit

    def at(self, minutes: float) -> int:
        """True time ``minutes`` after the capture starts."""
        return self.start + int(minutes * 60 * NS)


def world(seed: int, minutes: float = 25.0, scale: float = 1.0) -> World:
    """A three-node cluster (the bundled topology) with ``minutes`` of ordinary life to come.

    The caller adds its pods and activity, then :func:`finish` runs the ordinary life and writes.
    """
    rng = random.Random(seed)
    start = EPOCH_NS + rng.randint(0, 3600) * NS + rng.randint(0, NS - 1)
    cluster = build_cluster(rng, start)
    sim = Sim(cluster, rng)
    end = start + int(minutes * 60 * NS)
    return World(sim, NormalLife(sim, start, end, scale), start, end, seed)


def finish(w: World, out_dir: str | Path, truth: Truth) -> Truth:
    """Run the ordinary life, write every node's files and ``TRUTH.json``; return the truth."""
    w.life.run()
    out = Path(out_dir)
    nodes = [n.name for n in w.sim.cluster.nodes]
    files = write_capture(out, w.sim.sink, nodes, w.rng, Layout())
    if w.audit is not None:  # one file on the control plane, every line an event
        w.audit.routine(w.sim.cluster, w.start, w.end)
        files["files"][f"{nodes[0]}/{AUDIT_FILE}"] = w.audit.write(out, f"{nodes[0]}/{AUDIT_FILE}")  # type: ignore[index]
    # distinct events: the writer's duplicated lines load as duplicates, its cut line not at all
    truth.events = (sum(f["events"] for f in files["files"].values())  # type: ignore[union-attr]
                    - int(files["duplicated_lines"]))  # type: ignore[call-overload]
    truth.write(out)
    return truth


def add_pod(w: World, wl: Workload, node: Node, *, started_ns: int | None = None,
            name: str | None = None) -> Pod:
    """Place a pod of ``wl`` on ``node`` (started an hour or more before the capture unless
    ``started_ns``)."""
    rng = w.rng
    c = w.sim.cluster
    if not wl.template_hash and wl.kind == "Deployment":
        wl.template_hash = suffix(rng, 10)
    if name is None:
        name = (f"{wl.name}-{wl.template_hash}-{suffix(rng, 5)}" if wl.kind == "Deployment"
                else f"{wl.name}-{len(c.pods_of(wl.name))}" if wl.kind == "StatefulSet"
                else f"{wl.name}-{suffix(rng, 5)}")
    used = {p.ip for p in c.pods}
    while True:
        ip = node.pod_prefix + str(rng.randint(10, 250))
        if ip not in used:
            break
    started = started_ns if started_ns is not None else w.start - rng.randint(3600, 86400) * NS
    inum = node.netns_base + 2000 + len(c.pods) * 8
    pod = Pod(wl, name, node, ip, rng.randint(100, 4000), hexid(rng, 64), hexid(rng, 64),
              started, ns_inums={k: inum + j for j, k in enumerate(
                  ["uts", "ipc", "mnt", "pid", "net", "cgroup"])})
    c.pods.append(pod)
    return pod


def start_pod(w: World, pod: Pod, *, critical: bool = False) -> Proc:
    """Start ``pod`` during the capture: its shim, ``runc create`` and main process (emitted)."""
    sim = w.sim
    t = pod.container_start_ns
    shim = sim.shim(pod, t - 900 * MS, emit=True)
    cdir = f"/run/containerd/io.containerd.runtime.v2.task/k8s.io/{pod.container_id}"
    runc = sim.exec_(pod.node, t - 150 * MS, "/usr/local/sbin/runc",
                     f"--root /run/containerd/runc/k8s.io --log {cdir}/log.json --log-format json "
                     f"create --bundle {cdir} --pid-file {cdir}/init.pid {pod.container_id}",
                     shim, cwd=cdir, critical=critical)
    sim.exit_(runc, t - 60 * MS, critical=critical)
    main = sim.exec_(pod.node, t, pod.workload.binary, pod.workload.arguments, shim, pod=pod,
                     container_init=True, in_init_tree=True, critical=critical)
    sim.anchors[f"main:{pod.name}"] = main
    return main


def exec_into(w: World, pod: Pod, t: int, binary: str = "/bin/sh", args: str = "", *,
              critical: bool = False) -> Proc:
    """``kubectl exec`` into ``pod`` at ``t``: ``runc exec`` by the shim, then ``binary``
    outside the container's init tree."""
    sim = w.sim
    shim = sim.shim(pod)
    cdir = f"/run/containerd/io.containerd.runtime.v2.task/k8s.io/{pod.container_id}"
    tty = "" if args.startswith("-c") else (
        f"--console-socket /tmp/pty{w.rng.randint(10**8, 10**9)}/pty.sock ")
    runc = sim.exec_(pod.node, t, "/usr/local/sbin/runc",
                     f"--root /run/containerd/runc/k8s.io --log {cdir}/log.json --log-format json "
                     f"exec --process /tmp/runc-process{w.rng.randint(10**8, 10**9)} {tty}--detach "
                     f"--pid-file {cdir}/{hexid(w.rng, 64)}.pid {pod.container_id}", shim,
                     cwd=cdir, critical=critical)
    shell = sim.exec_(pod.node, t + 27 * MS, binary, args, shim, pod=pod, in_init_tree=False,
                      cwd="/", critical=critical)
    sim.exit_(runc, t + 31 * MS, critical=critical)
    return shell


def run(w: World, parent: Proc, t: int, binary: str, args: str = "", dur_ms: float = 3, *,
        critical: bool = False, exit_: bool = True, **kw: Any) -> Proc:
    """A process of ``parent``'s pod (same init-tree side) started at ``t``, exiting after
    ``dur_ms`` unless ``exit_`` is false."""
    kw.setdefault("pod", parent.pod)
    kw.setdefault("in_init_tree", parent.in_init_tree)
    if parent.pod is not None:
        kw.setdefault("cwd", parent.cwd)
    kw.setdefault("uid", parent.uid)
    p = w.sim.exec_(parent.node, t, binary, args, parent, critical=critical, **kw)
    if exit_:
        w.sim.exit_(p, t + int(dur_ms * MS), critical=critical)
    return p


def file_hook(w: World, proc: Proc, t: int, path: str, mode: int = MAY_READ, *,
              critical: bool = False) -> None:
    """Tetragon's ``security_file_permission`` hook: ``proc`` reads (4) or writes (2) ``path``."""
    tg.emit_kprobe(w.sim.sink, proc, t, "security_file_permission",
                   [tg.file_arg(path, "-rw-r--r--" if mode == MAY_WRITE else "-rw-r-----"),
                    tg.int_arg(mode)], "sensitive-files", ret={"int_arg": 0}, critical=critical)


def connect_out(w: World, proc: Proc, t: int, ip: str, port: int, fqdn: str = "", *,
                dur_ms: float = 300, http: HttpCall | None = None,
                critical: bool = False) -> int:
    """``proc`` resolves ``fqdn`` (when given) and connects to ``ip:port`` outside the cluster;
    returns the time the connection closed."""
    pod = proc.pod
    assert pod is not None
    if fqdn:
        t = dns_lookup(w.sim, pod, fqdn, ip, t, qtypes=("A",), critical=critical) + 150 * US
    res = tcp_connection(w.sim, proc, pod, None, ip, port, t, http=http,
                         duration_ns=int(dur_ms * MS), critical=critical)
    return res.end_ns


def connect_pod(w: World, proc: Proc, t: int, server: Pod, port: int, fqdn: str = "", *,
                http: HttpCall | None = None, dur_ms: float = 40, mode: str = "ok",
                critical: bool = False) -> int:
    """``proc`` resolves ``fqdn`` (when given) and connects to ``server:port`` (L7 when
    ``http``); returns the time the connection closed."""
    pod = proc.pod
    assert pod is not None
    if fqdn:
        t = dns_lookup(w.sim, pod, fqdn, server.ip, t, qtypes=("A",), critical=critical) + 150 * US
    res = tcp_connection(w.sim, proc, pod, server, server.ip, port, t, http=http, mode=mode,
                         duration_ns=int(dur_ms * MS), critical=critical)
    return res.end_ns


def http(w: World, method: str, url: str, code: int = 200, agent: str = "curl/8.5.0",
         latency_ms: float = 3) -> HttpCall:
    """An HTTP exchange for :func:`connect_pod`."""
    h = hexid(w.rng, 32)
    return HttpCall(method, url, code,
                    [("Accept", "*/*"), ("User-Agent", agent), ("X-Envoy-Internal", "true"),
                     ("X-Request-Id", f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}")],
                    [("Content-Length", str(w.rng.randint(2, 4000))),
                     ("Content-Type", "application/json"), ("Date", "")],
                    latency_ns=int(latency_ms * MS))


def world_in(w: World, pod: Pod, t: int, src_ip: str, port: int, *,
             critical: bool = False) -> None:
    """A client outside the cluster connects to ``pod`` (a LoadBalancer or NodePort): the SYN
    as ``pod``'s node sees it."""
    node = pod.node
    hb.emit_flow(w.sim.sink, node, t, verdict="FORWARDED",
                 src=hb.endpoint(None, node, "world"), dst=hb.endpoint(pod, node), src_ip=src_ip,
                 dst_ip=pod.ip, l4=hb.tcp_l4(ephemeral_port(w.sim), port, ("SYN",)),
                 ftype="L3_L4", direction="INGRESS", event_type={"type": 4},
                 trace_point="TO_ENDPOINT", summary="TCP Flags: SYN", is_reply=False,
                 critical=critical)


def every(w: World, period_s: float, start: int | None = None, end: int | None = None,
          jitter: float = 0.2) -> list[int]:
    """Times from ``start`` to ``end`` (the capture by default) about ``period_s`` apart."""
    t0 = w.start if start is None else start
    t1 = w.end if end is None else end
    out = []
    t = t0 + int(w.rng.random() * period_s * NS)
    while t < t1:
        out.append(t)
        t += int(period_s * NS * (1 + jitter * (2 * w.rng.random() - 1)))
    return out


def pod_ref(pod: Pod) -> PodRef:
    """The truth's record of ``pod``."""
    return PodRef(pod.namespace, pod.name, pod.node.name)


def command(p: Proc) -> Command:
    """The truth's record of a process."""
    return Command(p.exec_id, p.binary, p.arguments, p.pod.name if p.pod else "")


__all__ = ["EPOCH_NS", "MAY_READ", "MAY_WRITE", "MS", "NS", "US", "World", "add_pod",
           "command", "connect_out", "connect_pod", "every", "exec_into", "file_hook", "finish",
           "http", "pod_ref", "run", "start_pod", "world", "world_in"]


def ingress_controller(w: World, node: Node) -> tuple[Pod, Proc]:
    """An ingress-nginx controller pod on ``node`` and its nginx worker (started before)."""
    wl = Workload("ingress-nginx", "ingress-nginx-controller", "Deployment",
                  {"app.kubernetes.io/component": "controller",
                   "app.kubernetes.io/name": "ingress-nginx"},
                  "registry.k8s.io/ingress-nginx/controller:v1.10.1",
                  "/nginx-ingress-controller",
                  "--publish-service=ingress-nginx/ingress-nginx-controller "
                  "--election-id=ingress-nginx-leader --controller-class=k8s.io/ingress-nginx",
                  "controller", cwd="/etc/nginx", uid=101, port=80,
                  serviceaccount="ingress-nginx")
    pod = add_pod(w, wl, node)
    main = w.sim.pod_proc(pod)
    worker = w.sim.exec_(node, main.start_ns + 2 * NS, "/usr/bin/nginx",
                         "-c /etc/nginx/nginx.conf", main, emit=False, pod=pod,
                         in_init_tree=True)
    return pod, worker


def via_ingress(w: World, nginx: Proc, client_ip: str, server: Pod, port: int, t: int,
                method: str, url: str, code: int = 200, agent: str = "Mozilla/5.0",
                *, critical: bool = False) -> int:
    """A request from ``client_ip`` outside the cluster through the ingress controller to
    ``server``: the client's SYN at the controller, then the proxied L7 request."""
    assert nginx.pod is not None
    world_in(w, nginx.pod, t, client_ip, 443, critical=critical)
    call = http(w, method, url, code, agent, latency_ms=w.rng.randint(2, 40))
    call.request_headers.append(("X-Forwarded-For", client_ip))
    return connect_pod(w, nginx, t + w.rng.randint(300, 900) * US, server, port, http=call,
                       critical=critical)
