"""The API server's audit log (``audit.k8s.io/v1`` ``Event`` lines, as the log backend writes
them) for the synthetic captures.

It draws from its **own** random stream (``random.Random(f"audit:{seed}")``), so that adding the
log leaves every other file of a capture byte-identical.  Times are the control plane's clock.
The policy it imitates logs ``Metadata`` for everything, ``RequestResponse`` for pod creates,
and omits the ``RequestReceived`` stage (the usual ``omitStages``): a long-running request
(``pods/exec``) has two lines, ``ResponseStarted`` and ``ResponseComplete``, sharing its
``auditID``.

Example
-------
>>> import random
>>> from kernelsec_nb.synth.topology import build_cluster
>>> c = build_cluster(random.Random(1), 1_715_662_800 * 10**9)
>>> log = AuditLog(random.Random(0), c.nodes[0])
>>> _ = log.call(c.start_ns, "get", ADMIN, "pods", namespace="default", name="web")
>>> [e["verb"] for _, _, e in log.events]
['get']
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .fmt import MS, NS, dumps
from .topology import Cluster, Node, Pod, hexid
from .writer import write_lines

AUDIT_FILE = "kube-apiserver-audit.log"
K8S_VERSION = "v1.30.0"
_BUILD = "kubernetes/7c48c2b"


@dataclass(frozen=True)
class Identity:
    """Who calls: user name, groups, source IP, user agent, and the pod of a pod-bound token."""

    username: str
    groups: tuple[str, ...]
    source_ip: str
    user_agent: str
    pod: Pod | None = None


#: The cluster admin of a kind cluster, from the host (the docker bridge's gateway).
ADMIN = Identity("kubernetes-admin", ("kubeadm:cluster-admins", "system:authenticated"), "172.18.0.1",
                 f"kubectl/{K8S_VERSION} (linux/amd64) {_BUILD}")


def pod_identity(pod: Pod, agent: str = f"kubectl/{K8S_VERSION} (linux/amd64) {_BUILD}") -> Identity:
    """A pod calling with its service account's pod-bound token, from its IP."""
    ns = pod.namespace
    return Identity(f"system:serviceaccount:{ns}:{pod.workload.serviceaccount}",
                    ("system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"),
                    pod.ip, agent, pod)


def controller_identity(control_plane: Node, controller: str) -> Identity:
    """A kube-controller-manager controller, with its own service account (kube-system)."""
    sa = f"system:serviceaccount:kube-system:{controller}"
    return Identity(sa, ("system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"),
                    control_plane.ip, f"kube-controller-manager/{K8S_VERSION} (linux/amd64) {_BUILD}/{sa}")


def _time(ns: int) -> str:
    """RFC 3339 with microseconds, as the API server writes."""
    import datetime as dt

    t = dt.datetime.fromtimestamp(ns // NS, tz=dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % NS // 1000:06d}Z"


def _uuid(rng: random.Random) -> str:
    h = hexid(rng, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[rng.randint(0, 3)]}{h[17:20]}-{h[20:]}"


def _uri(resource: str, namespace: str | None, name: str | None, subresource: str | None,
         group: str, query: str) -> str:
    base = f"/apis/{group}/v1" if group else "/api/v1"
    path = base + (f"/namespaces/{namespace}" if namespace else "") + f"/{resource}"
    path += f"/{name}" if name else ""
    path += f"/{subresource}" if subresource else ""
    return path + (f"?{query}" if query else "")


@dataclass
class AuditLog:
    """Audit events collected for one capture; :meth:`write` puts them in one file."""

    rng: random.Random
    node: Node  #: the control plane (its clock stamps the events)
    events: list[tuple[int, int, dict[str, Any]]] = field(default_factory=list)

    def call(self, t: int, verb: str, who: Identity, resource: str, *, namespace: str | None = None,
             name: str | None = None, subresource: str | None = None, group: str = "",
             code: int = 200, query: str = "", done_ns: int | None = None,
             response_object: dict[str, Any] | None = None) -> str:
        """One request received at true time ``t``; returns its auditID.

        ``done_ns`` (true time) makes it a long-running request (``pods/exec``): a
        ``ResponseStarted`` line now and a ``ResponseComplete`` line then.
        """
        rng = self.rng
        audit_id = _uuid(rng)
        ref: dict[str, Any] = {"resource": resource}
        if namespace:
            ref["namespace"] = namespace
        if name:
            ref["name"] = name
        if group:
            ref["apiGroup"] = group
        ref["apiVersion"] = "v1"
        if subresource:
            ref["subresource"] = subresource
        user: dict[str, Any] = {"username": who.username, "groups": list(who.groups)}
        if who.pod is not None:
            p = who.pod
            user["extra"] = {
                "authentication.kubernetes.io/credential-id": [f"JTI={_uuid(rng)}"],
                "authentication.kubernetes.io/node-name": [p.node.name],
                "authentication.kubernetes.io/pod-name": [p.name],
                "authentication.kubernetes.io/pod-uid": [_uuid(rng)],
            }
        level = "RequestResponse" if response_object is not None else "Metadata"
        received = self.node.clock(t)
        stages = [("ResponseStarted", received + rng.randint(2, 30) * MS),
                  ("ResponseComplete", self.node.clock(done_ns))] if done_ns is not None else [
            ("ResponseComplete", received + rng.randint(1, 40) * MS)]
        for stage, at in stages:
            ev: dict[str, Any] = {
                "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level, "auditID": audit_id,
                "stage": stage, "requestURI": _uri(resource, namespace, name, subresource, group, query),
                "verb": verb, "user": user, "sourceIPs": [who.source_ip], "userAgent": who.user_agent,
                "objectRef": ref, "responseStatus": {"metadata": {}, "code": code},
            }
            if response_object is not None:
                ev["responseObject"] = response_object
            ev["requestReceivedTimestamp"] = _time(received)
            ev["stageTimestamp"] = _time(at)
            ev["annotations"] = {"authorization.k8s.io/decision": "allow",
                                 "authorization.k8s.io/reason": ""}
            self.events.append((at, len(self.events), ev))
        return audit_id

    def routine(self, cluster: Cluster, start: int, end: int) -> None:
        """What the control plane and the agents do all day, sampled: leader-election lease
        renewals, each node's lease, Cilium's node updates (a pod-bound token from a
        host-network pod)."""
        rng = self.rng
        cp = cluster.nodes[0]
        for who, lease in (("kube-controller-manager", "kube-controller-manager"),
                           ("kube-scheduler", "kube-scheduler")):
            ident = Identity(f"system:{who}", ("system:authenticated",), cp.ip,
                             f"{who}/{K8S_VERSION} (linux/amd64) {_BUILD}/leader-election")
            t = start + rng.randint(0, 60) * NS
            while t < end:
                self.call(t, "update", ident, "leases", namespace="kube-system", name=lease,
                          group="coordination.k8s.io")
                t += rng.randint(100, 140) * NS
        for node in cluster.nodes:
            ident = Identity(f"system:node:{node.name}", ("system:nodes", "system:authenticated"), node.ip,
                             f"kubelet/{K8S_VERSION} (linux/amd64) {_BUILD}")
            t = start + rng.randint(0, 120) * NS
            while t < end:
                self.call(t, "update", ident, "leases", namespace="kube-node-lease", name=node.name,
                          group="coordination.k8s.io")
                t += rng.randint(200, 280) * NS
        for pod in cluster.pods_of("cilium"):
            ident = pod_identity(pod, f"cilium-agent/{K8S_VERSION}")
            t = start + rng.randint(0, 300) * NS
            while t < end:
                self.call(t, "update", ident, "ciliumnodes", name=pod.node.name, group="cilium.io")
                t += rng.randint(500, 700) * NS

    def write(self, out: Path, rel: str) -> dict[str, int]:
        """Write the events, in stage-time order, to ``out/rel``; returns its line count."""
        n = write_lines(out, rel, [dumps(ev) for _, _, ev in sorted(self.events, key=lambda e: (e[0], e[1]))])
        return {"lines": n, "events": n}


def exec_into(log: AuditLog, who: Identity, pod: Pod, t: int, done_ns: int, command: str = "/bin/sh") -> str:
    """``kubectl exec -it POD -- COMMAND`` received at true time ``t``: the GET of the pod kubectl
    does first, then the ``pods/exec`` create (ResponseStarted, 101; ResponseComplete when the
    stream closes at ``done_ns``); returns the exec's auditID."""
    from urllib.parse import quote

    log.call(t - log.rng.randint(15, 40) * MS, "get", who, "pods", namespace=pod.namespace, name=pod.name)
    query = (f"command={quote(command, safe='')}&container={pod.workload.container}"
             "&stdin=true&stdout=true&tty=true")
    return log.call(t, "create", who, "pods", namespace=pod.namespace, name=pod.name, subresource="exec",
                    code=101, query=query, done_ns=done_ns)


def pod_object(pod: Pod, created_ns: int, *, privileged: bool = False, host_pid: bool = False) -> dict[str, Any]:
    """The pod a create returns (its audit ``responseObject`` at ``RequestResponse``)."""
    w = pod.workload
    container: dict[str, Any] = {"name": w.container, "image": w.image}
    if privileged:
        container["securityContext"] = {"privileged": True}
    spec: dict[str, Any] = {"containers": [container], "serviceAccountName": w.serviceaccount,
                            "nodeName": pod.node.name}
    if host_pid:
        spec["hostPID"] = True
    return {"kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": pod.name, "namespace": pod.namespace, "labels": dict(w.labels),
                         "creationTimestamp": _time(created_ns)[:19] + "Z"},
            "spec": spec, "status": {"phase": "Pending", "qosClass": "BestEffort"}}


def write_deathstar(out: Path, cluster: Cluster, attack: dict[str, Any], at: int, start: int, end: int,
                    seed: int) -> dict[str, int]:
    """The Death Star capture's audit log: the routine, and the admin's ``kubectl exec`` into the
    tiefighter at true time ``at`` (the runtime starts the shell a few tens of ms later), the
    stream closing a minute after the attack's end."""
    log = AuditLog(random.Random(f"audit:{seed}"), cluster.nodes[0])
    log.routine(cluster, start, end)
    pod = next(p for p in cluster.pods if p.name == attack["attacker"]["pod"])
    exec_into(log, ADMIN, pod, at - log.rng.randint(40, 90) * MS, attack["_end"] + 61 * NS)
    return log.write(out, f"{cluster.nodes[0].name}/{AUDIT_FILE}")
