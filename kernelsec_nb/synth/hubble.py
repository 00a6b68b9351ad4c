"""Builders for Hubble flows as written by the exporter / ``hubble observe -o jsonpb``."""

from __future__ import annotations

from typing import Any

from .fmt import proto_time
from .sink import Sink
from .topology import Node, Pod

RESERVED = {
    "host": (1, "reserved:host"),
    "world": (2, "reserved:world"),
    "remote-node": (6, "reserved:remote-node"),
    "kube-apiserver": (7, "reserved:kube-apiserver"),
}
POLICY_DENIED = 133


def endpoint(pod: Pod | None, observer: Node, reserved: str = "world") -> dict[str, Any]:
    """Hubble ``Endpoint`` for a pod (``ID`` only when local to ``observer``).

    Parameters
    ----------
    pod : Pod or None
        The pod; ``None`` for a reserved identity.
    observer : Node
        Node whose Cilium agent reports the flow.
    reserved : str
        Reserved identity name used when ``pod`` is ``None``.

    Returns
    -------
    dict
        Endpoint object.
    """
    if pod is None:
        ident, label = RESERVED[reserved]
        return {"identity": ident, "labels": [label]}
    ep: dict[str, Any] = {}
    if pod.node is observer and pod.workload.kind != "DaemonSet":
        ep["ID"] = pod.endpoint_id
    ep["identity"] = pod.identity
    ep["namespace"] = pod.namespace
    ep["labels"] = pod.cilium_labels()
    ep["pod_name"] = pod.name
    return ep


def tcp_l4(sport: int, dport: int, flags: tuple[str, ...] = ()) -> dict[str, Any]:
    """``l4`` object for TCP with optional flags."""
    inner: dict[str, Any] = {"source_port": sport, "destination_port": dport}
    if flags:
        inner["flags"] = {f: True for f in flags}
    return {"TCP": inner}


def udp_l4(sport: int, dport: int) -> dict[str, Any]:
    """``l4`` object for UDP."""
    return {"UDP": {"source_port": sport, "destination_port": dport}}


def tcp_summary(flags: tuple[str, ...]) -> str:
    """Hubble's summary line for a TCP packet."""
    order = ["SYN", "ACK", "PSH", "FIN", "RST"]
    names = [f for f in order if f in flags]
    # Hubble prints ACK first when combined with FIN/PSH
    if "ACK" in names and names[0] != "ACK" and "SYN" not in names:
        names.remove("ACK")
        names.insert(0, "ACK")
    return "TCP Flags: " + ", ".join(names)


def emit_flow(
    sink: Sink,
    node: Node,
    t: int,
    *,
    verdict: str,
    src: dict[str, Any],
    dst: dict[str, Any],
    src_ip: str,
    dst_ip: str,
    l4: dict[str, Any],
    ftype: str,
    direction: str,
    event_type: dict[str, int],
    summary: str,
    l7: dict[str, Any] | None = None,
    reply: bool = False,
    is_reply: bool | None = False,
    trace_point: str = "",
    policy_match_type: int = 0,
    drop_reason: int = 0,
    critical: bool = False,
) -> tuple[str, dict[str, Any]]:
    """Render one flow observed on ``node`` at true time ``t`` and store it.

    Parameters
    ----------
    sink : Sink
        Destination.
    node : Node
        Observing node (its clock and cluster-prefixed name are used).
    t : int
        True time.
    verdict, ftype, direction, summary : str
        ``verdict``, ``Type``, ``traffic_direction`` and ``Summary``.
    src, dst : dict
        Endpoints (see :func:`endpoint`).
    src_ip, dst_ip : str
        IPv4 addresses.
    l4 : dict
        ``l4`` object.
    event_type : dict
        Monitor event type (``type``/``sub_type``).
    l7 : dict or None
        ``l7`` object for proxy flows.
    reply, is_reply : bool
        Reply flags; ``is_reply=None`` omits the field.
    trace_point : str
        ``trace_observation_point`` for trace events.
    policy_match_type : int
        Set on policy-verdict events.
    drop_reason : int
        Drop reason code; adds ``drop_reason_desc`` when non-zero.
    critical : bool
        Mark as part of the incident.

    Returns
    -------
    tuple
        ``(time string, flow object)``.
    """
    wt = node.clock(t)
    ts = proto_time(wt)
    f: dict[str, Any] = {"time": ts, "verdict": verdict}
    if drop_reason:
        f["drop_reason"] = drop_reason
    f["IP"] = {"source": src_ip, "destination": dst_ip, "ipVersion": "IPv4"}
    f["l4"] = l4
    f["source"] = src
    f["destination"] = dst
    f["Type"] = ftype
    f["node_name"] = node.hubble_name
    if l7 is not None:
        f["l7"] = l7
    if reply:
        f["reply"] = True
    f["event_type"] = event_type
    f["traffic_direction"] = direction
    if policy_match_type:
        f["policy_match_type"] = policy_match_type
    if trace_point:
        f["trace_observation_point"] = trace_point
    if drop_reason:
        f["drop_reason_desc"] = "POLICY_DENIED" if drop_reason == POLICY_DENIED else "UNKNOWN"
    if is_reply is not None:
        f["is_reply"] = is_reply
    f["Summary"] = summary
    sink.add(node.name, "hubble", wt, {"flow": f, "node_name": node.hubble_name, "time": ts},
             critical)
    return ts, f


def http_l7(kind: str, method: str, url: str, headers: list[tuple[str, str]], *,
            code: int = 0, latency_ns: int = 0) -> dict[str, Any]:
    """``l7`` object for an HTTP request or response.

    Parameters
    ----------
    kind : str
        ``REQUEST`` or ``RESPONSE``.
    method, url : str
        Request method and absolute URL.
    headers : list of (str, str)
        Header pairs.
    code : int
        Response status code (responses only).
    latency_ns : int
        Response latency (responses only; a uint64, so a string in JSON).

    Returns
    -------
    dict
        ``l7`` object.
    """
    http: dict[str, Any] = {}
    if code:
        http["code"] = code
    http["method"] = method
    http["url"] = url
    http["protocol"] = "HTTP/1.1"
    http["headers"] = [{"key": k, "value": v} for k, v in headers]
    out: dict[str, Any] = {"type": kind}
    if latency_ns:
        out["latency_ns"] = str(latency_ns)
    out["http"] = http
    return out


def dns_l7(kind: str, query: str, qtype: str, *, ips: list[str] | None = None,
           rcode: int = 0, ttl: int = 0) -> dict[str, Any]:
    """``l7`` object for a DNS query or answer seen by the DNS proxy."""
    dns: dict[str, Any] = {"query": query}
    if ips:
        dns["ips"] = ips
    if ttl:
        dns["ttl"] = ttl
    dns["observation_source"] = "proxy"
    if rcode:
        dns["rcode"] = rcode
    dns["qtypes"] = [qtype]
    if kind == "RESPONSE" and ips:
        dns["rrtypes"] = [qtype]
    return {"type": kind, "dns": dns}
