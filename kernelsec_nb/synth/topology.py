"""Cluster topology of the bundled scenario: nodes, workloads, pods, IPs.

Everything that names the scenario's Kubernetes objects lives here, so the rest
of the generator only deals with generic nodes and pods.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from .fmt import MS, NS

CLUSTER = "kind-kind"

CONTAINER_CAPS = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_RAW",
    "CAP_SYS_CHROOT",
    "CAP_MKNOD",
    "CAP_AUDIT_WRITE",
    "CAP_SETFCAP",
]

HOST_CAPS = CONTAINER_CAPS + [
    "CAP_DAC_READ_SEARCH",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_LEASE",
    "CAP_AUDIT_CONTROL",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
]


def hexid(rng: random.Random, n: int) -> str:
    """Return ``n`` random lowercase hex digits drawn from ``rng``."""
    return f"{rng.getrandbits(4 * n):0{n}x}"


def suffix(rng: random.Random, n: int) -> str:
    """Return a Kubernetes-style random name suffix of length ``n``."""
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(rng.choice(alphabet) for _ in range(n))


@dataclass
class Node:
    """A Kubernetes node running the three agents."""

    name: str
    ip: str
    pod_prefix: str
    clock_offset_ns: int
    boot_ns: int
    pid_next: int
    netns_base: int
    hubble_name: str = ""

    def __post_init__(self) -> None:
        self.hubble_name = f"{CLUSTER}/{self.name}"

    def ktime(self, true_ns: int) -> int:
        """Kernel monotonic time (ns since boot) at true time ``true_ns``."""
        return true_ns - self.boot_ns

    def clock(self, true_ns: int) -> int:
        """Wall-clock reading of this node at true time ``true_ns``."""
        return true_ns + self.clock_offset_ns


@dataclass
class Workload:
    """A Deployment/DaemonSet/CronJob template."""

    namespace: str
    name: str
    kind: str
    labels: dict[str, str]
    image: str
    binary: str
    arguments: str
    container: str
    cwd: str = "/"
    uid: int = 0
    port: int = 0
    service: str = ""
    serviceaccount: str = "default"
    template_hash: str = ""


@dataclass
class Pod:
    """One pod (single application container) placed on a node."""

    workload: Workload
    name: str
    node: Node
    ip: str
    endpoint_id: int
    container_id: str
    image_digest: str
    container_start_ns: int
    ns_inums: dict[str, int] = field(default_factory=dict)
    restarts: int = 0

    @property
    def namespace(self) -> str:
        """Kubernetes namespace of the pod."""
        return self.workload.namespace

    @property
    def labels(self) -> dict[str, str]:
        """Pod labels, including the ReplicaSet template hash when present."""
        labels = dict(self.workload.labels)
        if self.workload.template_hash:
            labels["pod-template-hash"] = self.workload.template_hash
        return dict(sorted(labels.items()))

    @property
    def identity(self) -> int:
        """Cilium security identity derived from the label set."""
        key = self.namespace + "|" + "|".join(f"{k}={v}" for k, v in self.workload.labels.items())
        return 10000 + int(hashlib.sha256(key.encode()).hexdigest()[:6], 16) % 50000

    def cilium_labels(self) -> list[str]:
        """Hubble endpoint labels as ``k8s:key=value`` strings, sorted."""
        out = [f"k8s:{k}={v}" for k, v in self.workload.labels.items()]
        out += [
            f"k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name={self.namespace}",
            f"k8s:io.cilium.k8s.policy.cluster={CLUSTER}",
            f"k8s:io.cilium.k8s.policy.serviceaccount={self.workload.serviceaccount}",
            f"k8s:io.kubernetes.pod.namespace={self.namespace}",
        ]
        return sorted(out)


@dataclass
class Cluster:
    """All nodes and pods of the scenario."""

    nodes: list[Node]
    pods: list[Pod]
    services: dict[str, str]
    start_ns: int
    rng: random.Random

    def node(self, name: str) -> Node:
        """Return the node called ``name``."""
        return next(n for n in self.nodes if n.name == name)

    def pods_of(self, workload: str, namespace: str | None = None) -> list[Pod]:
        """Return pods of a workload, optionally restricted to a namespace."""
        return [
            p
            for p in self.pods
            if p.workload.name == workload and (namespace is None or p.namespace == namespace)
        ]

    def new_container_id(self) -> tuple[str, str]:
        """Fresh (container id, image digest-less placeholder) pair."""
        return hexid(self.rng, 64), hexid(self.rng, 64)


SPACESHIP_IMAGE = "quay.io/cilium/json-mock:v1.3.8"
DEATHSTAR_IMAGE = "docker.io/cilium/starwars:v2.1"


def _workloads(rng: random.Random) -> list[Workload]:
    return [
        Workload("default", "deathstar", "Deployment",
                 {"app.kubernetes.io/name": "deathstar", "class": "deathstar", "org": "empire"},
                 DEATHSTAR_IMAGE, "/usr/local/bin/deathstar", "--port 80 --host 0.0.0.0",
                 "deathstar", port=80, service="deathstar",
                 template_hash=suffix(rng, 10)),
        Workload("default", "tiefighter", "Deployment",
                 {"app.kubernetes.io/name": "tiefighter", "class": "tiefighter", "org": "empire"},
                 SPACESHIP_IMAGE, "/bin/sh", "/opt/flight/patrol.sh", "spaceship",
                 template_hash=suffix(rng, 10)),
        Workload("default", "xwing", "Deployment",
                 {"app.kubernetes.io/name": "xwing", "class": "xwing", "org": "alliance"},
                 SPACESHIP_IMAGE, "/bin/sh", "/opt/flight/patrol.sh", "spaceship",
                 template_hash=suffix(rng, 10)),
        Workload("shop", "frontend", "Deployment", {"app": "frontend", "tier": "web"},
                 "ghcr.io/acme-shop/frontend:2.4.1", "/usr/local/bin/node", "server.js",
                 "frontend", cwd="/app", uid=1000, port=8080, service="frontend",
                 serviceaccount="frontend", template_hash=suffix(rng, 10)),
        Workload("shop", "cart", "Deployment", {"app": "cart", "tier": "api"},
                 "ghcr.io/acme-shop/cart:1.9.0", "/usr/local/bin/python3.12",
                 "-m gunicorn cart.wsgi:app -b 0.0.0.0:7070", "cart", cwd="/srv", uid=1000,
                 port=7070, service="cart", serviceaccount="cart", template_hash=suffix(rng, 10)),
        Workload("shop", "db", "StatefulSet", {"app": "db", "tier": "data"},
                 "docker.io/library/postgres:16.3", "/usr/lib/postgresql/16/bin/postgres",
                 "-c config_file=/etc/postgresql/postgresql.conf", "postgres",
                 cwd="/var/lib/postgresql", uid=999, port=5432, service="db",
                 serviceaccount="db"),
        Workload("kube-system", "coredns", "Deployment", {"k8s-app": "kube-dns"},
                 "registry.k8s.io/coredns/coredns:v1.11.1", "/coredns", "-conf /etc/coredns/Corefile",
                 "coredns", port=53, service="kube-dns", serviceaccount="coredns",
                 template_hash=suffix(rng, 10)),
        Workload("kube-system", "cilium", "DaemonSet", {"k8s-app": "cilium"},
                 "quay.io/cilium/cilium:v1.15.6", "/usr/bin/cilium-agent",
                 "--config-dir=/tmp/cilium/config-map", "cilium-agent", serviceaccount="cilium"),
        Workload("kube-system", "tetragon", "DaemonSet",
                 {"app.kubernetes.io/instance": "tetragon", "app.kubernetes.io/name": "tetragon"},
                 "quay.io/cilium/tetragon:v1.1.2", "/usr/bin/tetragon",
                 "--config-dir=/etc/tetragon/tetragon.conf.d/", "tetragon",
                 serviceaccount="tetragon"),
    ]


def build_cluster(rng: random.Random, start_ns: int) -> Cluster:
    """Build the three-node kind cluster and place every pod.

    Parameters
    ----------
    rng : random.Random
        Seeded generator; the only source of randomness.
    start_ns : int
        True time at which the capture starts.

    Returns
    -------
    Cluster
        Nodes with clock offsets and boot times, and all pods.
    """
    names = ["kind-control-plane", "kind-worker", "kind-worker2"]
    nodes = []
    for i, name in enumerate(names):
        offset = rng.randint(-450, 450) * MS + rng.randint(0, MS)
        if i == 0:
            offset = rng.randint(-60, 60) * MS + rng.randint(0, MS)
        boot = start_ns - rng.randint(2 * 86400, 6 * 86400) * NS - rng.randint(0, NS)
        nodes.append(Node(name, f"172.18.0.{i + 2}", f"10.244.{i}.", offset, boot,
                          pid_next=rng.randint(21000, 27000), netns_base=4026532200 + 300 * i))
    wl = {w.name: w for w in _workloads(rng)}
    placement = [
        ("coredns", 0), ("coredns", 0),
        ("deathstar", 1), ("deathstar", 2),
        ("tiefighter", 1), ("tiefighter", 2), ("xwing", 2),
        ("frontend", 1), ("frontend", 2), ("cart", 2), ("db", 1),
        ("cilium", 0), ("cilium", 1), ("cilium", 2),
        ("tetragon", 0), ("tetragon", 1), ("tetragon", 2),
    ]
    pods: list[Pod] = []
    used_ips: set[str] = set()
    ordinal = 0
    for wname, ni in placement:
        w = wl[wname]
        node = nodes[ni]
        if w.kind == "Deployment":
            pname = f"{w.name}-{w.template_hash}-{suffix(rng, 5)}"
        elif w.kind == "StatefulSet":
            pname = f"{w.name}-{ordinal}"
            ordinal += 1
        else:
            pname = f"{w.name}-{suffix(rng, 5)}"
        if w.kind == "DaemonSet":
            ip = node.ip  # host network
        else:
            while True:
                ip = node.pod_prefix + str(rng.randint(10, 250))
                if ip not in used_ips:
                    break
        used_ips.add(ip)
        started = start_ns - rng.randint(3600, 2 * 86400) * NS
        inum = node.netns_base + len(pods) * 8
        pods.append(Pod(w, pname, node, ip, rng.randint(100, 4000), hexid(rng, 64),
                        hexid(rng, 64), started,
                        ns_inums={k: inum + j for j, k in enumerate(
                            ["uts", "ipc", "mnt", "pid", "net", "cgroup"])}))
    services = {
        "deathstar.default.svc.cluster.local": "10.96." + f"{rng.randint(1, 254)}.{rng.randint(1, 254)}",
        "kube-dns.kube-system.svc.cluster.local": "10.96.0.10",
        "cart.shop.svc.cluster.local": "10.96." + f"{rng.randint(1, 254)}.{rng.randint(1, 254)}",
        "db.shop.svc.cluster.local": "10.96." + f"{rng.randint(1, 254)}.{rng.randint(1, 254)}",
        "frontend.shop.svc.cluster.local": "10.96." + f"{rng.randint(1, 254)}.{rng.randint(1, 254)}",
    }
    return Cluster(nodes, pods, services, start_ns, rng)
