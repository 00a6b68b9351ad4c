"""Hours of ordinary cluster life before, during and after the incident."""

from __future__ import annotations

from collections.abc import Iterator

from . import falco as fc
from . import tetragon as tg
from .fmt import MS, NS, US
from .network import HttpCall, dns_lookup, probe_flow, tcp_connection
from .process import Proc
from .sim import Sim
from .topology import Pod, Workload, hexid, suffix

LANDING = "/v1/request-landing"
DEATHSTAR_FQDN = "deathstar.default.svc.cluster.local"


def every(sim: Sim, start: int, end: int, period_ns: float, jitter: float = 0.2) -> Iterator[int]:
    """Yield times from ``start`` to ``end`` spaced by ``period_ns`` with jitter."""
    t = start + int(sim.rng.random() * period_ns)
    while t < end:
        yield t
        t += int(period_ns * (1 + jitter * (2 * sim.rng.random() - 1)))


def landing_call(sim: Sim, ship: Pod, t: int) -> HttpCall:
    """The HTTP exchange of one ``request-landing``."""
    return HttpCall(
        "POST", f"http://{DEATHSTAR_FQDN}{LANDING}", 200,
        [("Accept", "*/*"), ("User-Agent", "curl/8.5.0"),
         ("X-Envoy-Internal", "true"),
         ("X-Request-Id", _uuid(sim))],
        [("Content-Length", "12"), ("Content-Type", "text/plain; charset=utf-8"),
         ("Date", "")],
        latency_ns=sim.rng.randint(400, 3000) * US)


def _uuid(sim: Sim) -> str:
    h = hexid(sim.rng, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


class NormalLife:
    """Generates background activity between ``start`` and ``end``.

    Parameters
    ----------
    sim : Sim
        Simulation context.
    start, end : int
        True time window.
    scale : float
        Multiplier on the rate of frequent activities.
    """

    def __init__(self, sim: Sim, start: int, end: int, scale: float) -> None:
        self.sim = sim
        self.start = start
        self.end = end
        self.scale = max(scale, 0.01)
        self.policy_at: int | None = None
        self.outage: dict[str, tuple[int, int]] = {}

    def p(self, seconds: float) -> float:
        """Scaled period in nanoseconds."""
        return seconds * NS / self.scale

    def run(self) -> None:
        """Generate every background activity."""
        c = self.sim.cluster
        for ship in c.pods_of("tiefighter") + c.pods_of("xwing"):
            self.patrol(ship)
        self.shop()
        self.probes()
        self.cron_reports()
        self.host_cron()
        self.agents()

    # -- Star Wars spaceships -------------------------------------------------
    def deathstar_for(self, t: int) -> Pod:
        """A deathstar backend that is up at ``t`` (socket LB picks one)."""
        pods = self.sim.cluster.pods_of("deathstar")
        up = [p for p in pods if not (self.outage.get(p.name, (0, 0))[0] <= t
                                      < self.outage.get(p.name, (0, 0))[1])]
        return self.sim.rng.choice(up or pods)

    def patrol(self, ship: Pod) -> None:
        """The ship's patrol loop: resolve, ``curl -XPOST`` landing, sleep."""
        sim = self.sim
        loop = sim.pod_proc(ship)
        sim.anchors[f"recorder:{ship.name}"] = sim.exec_(
            ship.node, loop.start_ns + 300 * MS, "/usr/local/bin/flight-recorder",
            "--interval 60s --sink /var/log/flight", loop, emit=False, pod=ship,
            in_init_tree=True)
        alliance = ship.workload.labels.get("org") == "alliance"
        for t in every(sim, self.start, self.end, self.p(30)):
            curl = sim.exec_(ship.node, t, "/usr/bin/curl",
                             f"-s --max-time 5 -XPOST {DEATHSTAR_FQDN}{LANDING}", loop,
                             pod=ship, in_init_tree=True)
            tdns = dns_lookup(sim, ship, DEATHSTAR_FQDN,
                              sim.cluster.services[DEATHSTAR_FQDN], t + 600 * US)
            target = self.deathstar_for(t)
            blocked = alliance and self.policy_at is not None and t >= self.policy_at
            res = tcp_connection(sim, curl, ship, target, target.ip, 80, tdns + 150 * US,
                                 http=None if blocked else landing_call(sim, ship, t),
                                 mode="l3drop" if blocked else "ok")
            sim.exit_(curl, res.end_ns + 300 * US, status=28 if blocked else 0)
            sim.run(ship.node, res.end_ns + 2 * MS, "/bin/sleep", "30", loop,
                    29 * NS + sim.rng.randint(0, 900) * MS, pod=ship, in_init_tree=True)

    # -- shop namespace -------------------------------------------------------
    def shop(self) -> None:
        """Frontend -> cart (HTTP on 7070) and cart -> db (5432) connections."""
        sim = self.sim
        c = sim.cluster
        carts, dbs = c.pods_of("cart"), c.pods_of("db")
        for fe in c.pods_of("frontend"):
            node_proc = sim.pod_proc(fe)
            for t in every(sim, self.start, self.end, self.p(40)):
                cart = sim.rng.choice(carts)
                tcp_connection(sim, node_proc, fe, cart, cart.ip, 7070, t,
                               duration_ns=sim.rng.randint(20, 800) * MS)
            for t in every(sim, self.start, self.end, self.p(180)):
                dns_lookup(sim, fe, "cart.shop.svc.cluster.local",
                           c.services["cart.shop.svc.cluster.local"], t, qtypes=("A",))
        for cart in carts:
            gunicorn = sim.pod_proc(cart)
            for t in every(sim, self.start, self.end, self.p(45)):
                db = sim.rng.choice(dbs)
                tcp_connection(sim, gunicorn, cart, db, db.ip, 5432, t,
                               duration_ns=sim.rng.randint(5, 200) * MS)
            for t in every(sim, self.start, self.end, 2700 * NS):
                tcp_connection(sim, gunicorn, cart, None, "172.18.0.2", 6443, t,
                               reserved="kube-apiserver", duration_ns=40 * MS)
                fc.emit_alert(sim.sink, gunicorn, t + 30 * US,
                              "Contact K8S API Server From Container", evt_type="connect",
                              extra={"fd.name": f"{cart.ip}:{sim.rng.randint(32768, 60999)}"
                                     "->10.96.0.1:443"})

    # -- kubelet probes -------------------------------------------------------
    def probes(self) -> None:
        """HTTP probes (flows from the host) and ``pg_isready`` exec probes."""
        sim = self.sim
        c = sim.cluster
        for name, port in (("deathstar", 80), ("frontend", 8080), ("cart", 7070)):
            for pod in c.pods_of(name):
                for t in every(sim, self.start, self.end, self.p(30), 0.02):
                    probe_flow(sim, pod, port, t)
        for db in c.pods_of("db"):
            shim = sim.shim(db)
            for t in every(sim, self.start, self.end, self.p(60), 0.01):
                runc = sim.exec_(db.node, t, "/usr/local/sbin/runc",
                                 "--root /run/containerd/runc/k8s.io --log "
                                 f"/run/containerd/io.containerd.runtime.v2.task/k8s.io/"
                                 f"{db.container_id}/log.json --log-format json exec "
                                 f"--process /tmp/runc-process{sim.rng.randint(10**8, 10**9)} "
                                 f"--detach --pid-file /run/containerd/io.containerd.runtime.v2"
                                 f".task/k8s.io/{db.container_id}/{hexid(sim.rng, 64)}.pid "
                                 f"{db.container_id}", shim,
                                 cwd=f"/run/containerd/io.containerd.runtime.v2.task/k8s.io/"
                                 f"{db.container_id}")
                sh = sim.exec_(db.node, t + 9 * MS, "/bin/sh",
                               "-c pg_isready -U postgres -h 127.0.0.1 -p 5432", shim, pod=db,
                               in_init_tree=False, exec_probe=True, cwd="/")
                sim.run(db.node, t + 11 * MS, "/usr/lib/postgresql/16/bin/pg_isready",
                        "-U postgres -h 127.0.0.1 -p 5432", sh, 6 * MS, pod=db,
                        in_init_tree=False, exec_probe=True)
                sim.exit_(sh, t + 19 * MS)
                sim.exit_(runc, t + 21 * MS)

    # -- CronJob pods: full container start chains ----------------------------
    def cron_reports(self) -> None:
        """A CronJob every 15 min: shim, runc, init container with apk, pg_dump."""
        sim = self.sim
        c = sim.cluster
        base = Workload("shop", "report", "CronJob", {"app": "report", "tier": "batch"},
                        "ghcr.io/acme-shop/report:0.7.3", "/bin/sh", "", "report",
                        serviceaccount="report")
        setup = Workload("shop", "report", "CronJob", base.labels,
                         "docker.io/library/alpine:3.20", "/sbin/apk", "", "setup",
                         serviceaccount="report")
        db = c.pods_of("db")[0]
        t = self.start - self.start % (900 * NS) + 900 * NS
        n = 0
        while t < self.end:
            node = c.nodes[1 + n % 2]
            name = f"report-{(t // NS) // 60}-{suffix(sim.rng, 5)}"
            ip = node.pod_prefix + str(sim.rng.randint(10, 250))
            pod0 = Pod(setup, name, node, ip, sim.rng.randint(100, 4000), hexid(sim.rng, 64),
                       hexid(sim.rng, 64), t + 800 * MS,
                       ns_inums={k: node.netns_base + 5000 + 8 * n + j for j, k in enumerate(
                           ["uts", "ipc", "mnt", "pid", "net", "cgroup"])})
            shim = sim.exec_(node, t + 300 * MS, "/usr/local/bin/containerd-shim-runc-v2",
                             f"-namespace k8s.io -id {hexid(sim.rng, 64)} -address "
                             "/run/containerd/containerd.sock",
                             sim.host_daemon(node, "containerd"))
            self._runc_create(node, t + 700 * MS, pod0.container_id, shim)
            apk = sim.exec_(node, t + 800 * MS, "/sbin/apk",
                            "add --no-cache postgresql16-client", shim, pod=pod0,
                            container_init=True, in_init_tree=True)
            td = dns_lookup(sim, pod0, "dl-cdn.alpinelinux.org", "151.101.2.132",
                            t + 830 * MS, qtypes=("A",))
            res = tcp_connection(sim, apk, pod0, None, "151.101.2.132", 443, td + 200 * US,
                                 duration_ns=sim.rng.randint(900, 2500) * MS)
            sim.exit_(apk, res.end_ns + 30 * MS)
            pod = Pod(base, name, node, ip, pod0.endpoint_id, hexid(sim.rng, 64),
                      hexid(sim.rng, 64), res.end_ns + 600 * MS, ns_inums=pod0.ns_inums)
            t1 = pod.container_start_ns
            self._runc_create(node, t1 - 100 * MS, pod.container_id, shim)
            suexec = sim.exec_(node, t1, "/sbin/su-exec", "reporter /bin/sh -c /opt/report.sh",
                               shim, pod=pod, container_init=True, in_init_tree=True)
            tg.emit_kprobe(sim.sink, suexec, t1 + 400 * US, "commit_creds",
                           [tg.creds_arg(1001, 1001)], "privileges")
            sh = sim.procs.spawn(node, t1 + MS, "/bin/sh", "-c /opt/report.sh", shim, pod=pod,
                                 in_init_tree=True, pid=suexec.pid, uid=1001, flags="execve")
            sh.container_pid = 1
            tg.emit_exec(sim.sink, sh)
            dump = sim.exec_(node, t1 + 5 * MS, "/usr/bin/pg_dump",
                             "-h db.shop.svc.cluster.local -U report -Fc shop", sh, pod=pod,
                             in_init_tree=True, uid=1001)
            sim.run(node, t1 + 6 * MS, "/bin/gzip", "-9", sh, 3 * NS, pod=pod,
                    in_init_tree=True, uid=1001)
            td = dns_lookup(sim, pod, "db.shop.svc.cluster.local",
                            c.services["db.shop.svc.cluster.local"], t1 + 7 * MS,
                            qtypes=("A",))
            res = tcp_connection(sim, dump, pod, db, db.ip, 5432, td + 100 * US,
                                 duration_ns=sim.rng.randint(1500, 2800) * MS)
            sim.exit_(dump, res.end_ns + MS)
            sim.exit_(sh, res.end_ns + 40 * MS)
            sim.exit_(shim, res.end_ns + 900 * MS)
            t += 900 * NS
            n += 1

    def _runc_create(self, node: object, t: int, cid: str, shim: Proc) -> None:
        sim = self.sim
        runc = sim.exec_(shim.node, t, "/usr/local/sbin/runc",
                         "--root /run/containerd/runc/k8s.io --log /run/containerd/io.containerd."
                         f"runtime.v2.task/k8s.io/{cid}/log.json --log-format json create "
                         f"--bundle /run/containerd/io.containerd.runtime.v2.task/k8s.io/{cid} "
                         f"--pid-file /run/containerd/io.containerd.runtime.v2.task/k8s.io/{cid}"
                         f"/init.pid {cid}", shim,
                         cwd=f"/run/containerd/io.containerd.runtime.v2.task/k8s.io/{cid}")
        sim.exit_(runc, t + 60 * MS)

    # -- host activity --------------------------------------------------------
    def host_cron(self) -> None:
        """Hourly host cron session: PAM's ``unix_chkpwd`` reads ``/etc/shadow``."""
        sim = self.sim
        for node in sim.cluster.nodes:
            cron = sim.host_daemon(node, "cron")
            t = self.start - self.start % (3600 * NS) + 3600 * NS + 17 * 60 * NS
            while t < self.end:
                t0 = t + sim.rng.randint(0, 900) * MS
                chk = sim.exec_(node, t0, "/usr/sbin/unix_chkpwd", "root chkexpiry", cron)
                tg.emit_kprobe(sim.sink, chk, t0 + 300 * US, "security_file_permission",
                               [tg.file_arg("/etc/shadow", "-rw-r-----"), tg.int_arg(4)],
                               "sensitive-files", ret={"int_arg": 0})
                sim.exit_(chk, t0 + 2 * MS)
                sh = sim.exec_(node, t0 + 5 * MS, "/bin/sh",
                               "-c    cd / && run-parts --report /etc/cron.hourly", cron)
                sim.run(node, t0 + 7 * MS, "/bin/run-parts", "--report /etc/cron.hourly", sh,
                        4 * MS)
                sim.exit_(sh, t0 + 12 * MS)
                t += 3600 * NS

    def agents(self) -> None:
        """Cilium agents exercising CAP_NET_ADMIN / CAP_SYS_ADMIN periodically."""
        sim = self.sim
        for pod in sim.cluster.pods_of("cilium"):
            agent = sim.pod_proc(pod)
            for t in every(sim, self.start, self.end, self.p(300)):
                cap = sim.rng.choice([(12, "CAP_NET_ADMIN"), (21, "CAP_SYS_ADMIN")])
                tg.emit_kprobe(sim.sink, agent, t, "cap_capable",
                               [tg.capability_arg(*cap)], "capabilities",
                               ret={"int_arg": 0})
