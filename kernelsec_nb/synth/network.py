"""Network conversations rendered as Tetragon kprobes plus Hubble flows.

Each helper keeps the 5-tuple of the ``tcp_connect`` kprobe and of every Hubble
flow of the same connection identical, and puts egress flows on the client's
node and ingress flows on the server's node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import hubble as hb
from . import tetragon as tg
from .fmt import MS, NS, US
from .process import Proc
from .sim import Sim
from .topology import Pod


@dataclass
class HttpCall:
    """One HTTP exchange carried by a connection."""

    method: str
    url: str
    code: int
    request_headers: list[tuple[str, str]]
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    latency_ns: int = 2 * MS


@dataclass
class ConnResult:
    """What a connection left behind (for TRUTH)."""

    sport: int
    cookie: int
    end_ns: int
    requests: list[dict[str, Any]] = field(default_factory=list)


def ephemeral_port(sim: Sim) -> int:
    """An even ephemeral port from the default ``ip_local_port_range``."""
    return 32768 + 2 * sim.rng.randint(0, (60999 - 32768) // 2)


def _egress_trace(sim: Sim, client: Pod, server: Pod | None, t: int, sip: str, dip: str,
                  sport: int, dport: int, flags: tuple[str, ...], critical: bool,
                  reserved: str = "world") -> None:
    x = client.node
    remote = server is None or server.node is not x
    sub, point = (4, "TO_OVERLAY") if server is not None and remote else (3, "TO_STACK")
    if server is not None and not remote:
        sub, point = 0, "TO_ENDPOINT"
    et = {"type": 4, "sub_type": sub} if sub else {"type": 4}
    hb.emit_flow(sim.sink, x, t, verdict="FORWARDED", src=hb.endpoint(client, x),
                 dst=hb.endpoint(server, x, reserved), src_ip=sip, dst_ip=dip,
                 l4=hb.tcp_l4(sport, dport, flags), ftype="L3_L4", direction="EGRESS",
                 event_type=et, summary=hb.tcp_summary(flags), trace_point=point,
                 is_reply=False, critical=critical)


def tcp_connection(
    sim: Sim,
    proc: Proc,
    client: Pod,
    server: Pod | None,
    dst_ip: str,
    dport: int,
    t: int,
    *,
    http: HttpCall | None = None,
    mode: str = "ok",
    duration_ns: int = 8 * MS,
    reserved: str = "world",
    critical: bool = False,
    kprobe: bool = True,
) -> ConnResult:
    """One TCP connection from ``proc`` in ``client`` to ``server``.

    Parameters
    ----------
    sim : Sim
        Simulation context.
    proc : Proc
        Process calling ``connect()``.
    client : Pod
        Client pod (its IP is the source address).
    server : Pod or None
        Server pod, or ``None`` for a destination outside the cluster.
    dst_ip : str
        Destination address after socket load-balancing.
    dport : int
        Destination port.
    t : int
        True time of ``tcp_connect``.
    http : HttpCall or None
        HTTP exchange seen by the L7 proxy on the server's node.
    mode : str
        ``ok``, ``l3drop`` (SYN dropped by policy) or ``l7drop`` (request
        denied by the L7 policy; the proxy answers 403).
    duration_ns : int
        Time until the client closes the socket.
    reserved : str
        Reserved identity of a non-pod destination.
    critical : bool
        Mark all lines as part of the incident.
    kprobe : bool
        Emit the ``tcp_connect``/``tcp_close`` kprobes.

    Returns
    -------
    ConnResult
        Source port, cookie, end time and the L7 request flows.
    """
    rng = sim.rng
    sport = ephemeral_port(sim)
    cookie = sim.next_cookie()
    sip = client.ip
    res = ConnResult(sport, cookie, t + duration_ns)
    if kprobe:
        tg.emit_kprobe(sim.sink, proc, t, "tcp_connect",
                       [tg.sock_arg(sip, dst_ip, sport, dport, cookie, "TCP_SYN_SENT")],
                       "connect", critical=critical)
    ts = t + rng.randint(8, 40) * US
    _egress_trace(sim, client, server, ts, sip, dst_ip, sport, dport, ("SYN",), critical,
                  reserved)
    y = server.node if server is not None else None
    if server is not None and y is not None:
        cli = hb.endpoint(client, y)
        srv = hb.endpoint(server, y)
        ti = ts + rng.randint(60, 400) * US
        if mode == "l3drop":
            for k, delay in enumerate((0, 1 * NS, 3 * NS)):
                if k:
                    _egress_trace(sim, client, server, ts + delay, sip, dst_ip, sport, dport,
                                  ("SYN",), critical, reserved)
                hb.emit_flow(sim.sink, y, ti + delay, verdict="DROPPED", src=cli, dst=srv,
                             src_ip=sip, dst_ip=dst_ip, l4=hb.tcp_l4(sport, dport, ("SYN",)),
                             ftype="L3_L4", direction="INGRESS",
                             event_type={"type": 1, "sub_type": hb.POLICY_DENIED},
                             summary="TCP Flags: SYN", drop_reason=hb.POLICY_DENIED,
                             is_reply=False, critical=critical)
            res.end_ns = t + 5 * NS
            if kprobe:
                tg.emit_kprobe(sim.sink, proc, res.end_ns, "tcp_close",
                               [tg.sock_arg(sip, dst_ip, sport, dport, cookie, "TCP_SYN_SENT")],
                               "connect", critical=critical)
            return res
        if http is not None:
            hb.emit_flow(sim.sink, y, ti, verdict="REDIRECTED", src=cli, dst=srv, src_ip=sip,
                         dst_ip=dst_ip, l4=hb.tcp_l4(sport, dport, ("SYN",)), ftype="L3_L4",
                         direction="INGRESS", event_type={"type": 5}, policy_match_type=3,
                         summary="TCP Flags: SYN", is_reply=False, critical=critical)
            tr = ti + rng.randint(300, 1500) * US
            denied = mode == "l7drop"
            ts_req, _ = hb.emit_flow(
                sim.sink, y, tr, verdict="DROPPED" if denied else "FORWARDED", src=cli, dst=srv,
                src_ip=sip, dst_ip=dst_ip, l4=hb.tcp_l4(sport, dport), ftype="L7",
                direction="INGRESS", event_type={"type": 129},
                l7=hb.http_l7("REQUEST", http.method, http.url, http.request_headers),
                summary=f"HTTP/1.1 {http.method} {http.url}",
                drop_reason=hb.POLICY_DENIED if denied else 0, is_reply=False,
                critical=critical)
            res.requests.append({
                "node": y.name, "time": ts_req, "src_ip": sip, "src_port": sport,
                "dst_ip": dst_ip, "dst_port": dport, "protocol": "TCP",
                "http_method": http.method, "http_url": http.url,
                "verdict": "DROPPED" if denied else "FORWARDED", "exec_id": proc.exec_id})
            code = 403 if denied else http.code
            lat = rng.randint(80, 300) * US if denied else http.latency_ns
            headers = ([("Content-Length", "15"), ("Content-Type", "text/plain"),
                        ("Date", "")] if denied else http.response_headers)
            headers = [(k, v or _http_date(y.clock(tr + lat))) for k, v in headers]
            hb.emit_flow(
                sim.sink, y, tr + lat, verdict="FORWARDED", src=srv, dst=cli, src_ip=dst_ip,
                dst_ip=sip, l4=hb.tcp_l4(dport, sport), ftype="L7", direction="INGRESS",
                event_type={"type": 129}, reply=True, is_reply=True,
                l7=hb.http_l7("RESPONSE", http.method, http.url, headers, code=code,
                              latency_ns=lat),
                summary=f"HTTP/1.1 {code} {max(lat // MS, 0)}ms ({http.method} {http.url})",
                critical=critical)
            res.end_ns = max(res.end_ns, tr + lat + rng.randint(200, 900) * US)
        else:
            hb.emit_flow(sim.sink, y, ti, verdict="FORWARDED", src=cli, dst=srv, src_ip=sip,
                         dst_ip=dst_ip, l4=hb.tcp_l4(sport, dport, ("SYN",)), ftype="L3_L4",
                         direction="INGRESS", event_type={"type": 4},
                         trace_point="TO_ENDPOINT", summary="TCP Flags: SYN", is_reply=False,
                         critical=critical)
    _egress_trace(sim, client, server, res.end_ns, sip, dst_ip, sport, dport, ("ACK", "FIN"),
                  critical, reserved)
    if kprobe:
        tg.emit_kprobe(sim.sink, proc, res.end_ns + 20 * US, "tcp_close",
                       [tg.sock_arg(sip, dst_ip, sport, dport, cookie, "TCP_ESTABLISHED")],
                       "connect", critical=critical)
    return res


def _http_date(ns: int) -> str:
    import time

    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(ns // NS))


def dns_lookup(sim: Sim, client: Pod, name: str, answer: str | None, t: int, *,
               qtypes: tuple[str, ...] = ("A", "AAAA"), critical: bool = False,
               proc: Proc | None = None) -> int:
    """A resolver lookup from ``client`` through Cilium's DNS proxy to CoreDNS.

    Parameters
    ----------
    sim : Sim
        Simulation context.
    client : Pod
        Querying pod.
    name : str
        Fully qualified name without the trailing dot.
    answer : str or None
        IPv4 answer for ``A``; ``None`` gives NXDOMAIN.
    t : int
        True time of the first packet.
    qtypes : tuple of str
        Query types sent (one L7 request/response pair each).
    critical : bool
        Mark all lines as part of the incident.
    proc : Proc or None
        The process that sent the query: a ``udp_sendmsg`` kprobe of it (Tetragon's view, which
        names the process of the flows); ``None`` for none (the flows name no process).

    Returns
    -------
    int
        True time at which the last answer was delivered.
    """
    rng = sim.rng
    coredns = rng.choice(sim.cluster.pods_of("coredns"))
    x = client.node
    z = coredns.node
    sport = ephemeral_port(sim)
    cli, dns = hb.endpoint(client, x), hb.endpoint(coredns, x)
    fq = name + "."
    if proc is not None:
        sock = tg.sock_arg(client.ip, coredns.ip, sport, 53, sim.next_cookie(), "TCP_CLOSE")
        sock["sock_arg"].update(type="SOCK_DGRAM", protocol="IPPROTO_UDP", state="TCP_CLOSE")
        tg.emit_kprobe(sim.sink, proc, t - 30 * US, "udp_sendmsg", [sock], "connect", critical=critical)
    hb.emit_flow(sim.sink, x, t, verdict="REDIRECTED", src=cli, dst=dns, src_ip=client.ip,
                 dst_ip=coredns.ip, l4=hb.udp_l4(sport, 53), ftype="L3_L4", direction="EGRESS",
                 event_type={"type": 5}, policy_match_type=2, summary="UDP", is_reply=False,
                 critical=critical)
    tq = t
    for q in qtypes:
        tq += rng.randint(20, 120) * US
        hb.emit_flow(sim.sink, x, tq, verdict="FORWARDED", src=cli, dst=dns, src_ip=client.ip,
                     dst_ip=coredns.ip, l4=hb.udp_l4(sport, 53), ftype="L7",
                     direction="EGRESS", event_type={"type": 129},
                     l7=hb.dns_l7("REQUEST", fq, q), summary=f"DNS Query {fq} {q}",
                     is_reply=False, critical=critical)
    hb.emit_flow(sim.sink, z, tq + rng.randint(100, 500) * US, verdict="FORWARDED",
                 src=hb.endpoint(client, z), dst=hb.endpoint(coredns, z), src_ip=client.ip,
                 dst_ip=coredns.ip, l4=hb.udp_l4(sport, 53), ftype="L3_L4",
                 direction="INGRESS", event_type={"type": 4}, trace_point="TO_ENDPOINT",
                 summary="UDP", is_reply=False, critical=critical)
    ta = tq + rng.randint(600, 2500) * US
    for q in qtypes:
        ta += rng.randint(20, 150) * US
        if answer is None:
            l7 = hb.dns_l7("RESPONSE", fq, q, rcode=3, ttl=30)
            summ = f"DNS Answer RCode: Non-Existent Domain TTL: 30 (Proxy {fq} {q})"
        elif q == "A":
            l7 = hb.dns_l7("RESPONSE", fq, q, ips=[answer], ttl=30)
            summ = f'DNS Answer "{answer}" TTL: 30 (Proxy {fq} {q})'
        else:
            l7 = hb.dns_l7("RESPONSE", fq, q, ttl=4294967295)
            summ = f"DNS Answer  TTL: 4294967295 (Proxy {fq} {q})"
        hb.emit_flow(sim.sink, x, ta, verdict="FORWARDED", src=dns, dst=cli,
                     src_ip=coredns.ip, dst_ip=client.ip, l4=hb.udp_l4(53, sport), ftype="L7",
                     direction="EGRESS", event_type={"type": 129}, l7=l7, summary=summ,
                     reply=True, is_reply=True, critical=critical)
    return ta


def probe_flow(sim: Sim, pod: Pod, port: int, t: int) -> None:
    """A kubelet liveness/readiness probe (host -> pod), seen on the pod's node."""
    node = pod.node
    hb.emit_flow(sim.sink, node, t, verdict="FORWARDED", src=hb.endpoint(None, node, "host"),
                 dst=hb.endpoint(pod, node), src_ip=node.pod_prefix + "1", dst_ip=pod.ip,
                 l4=hb.tcp_l4(ephemeral_port(sim), port, ("SYN",)), ftype="L3_L4",
                 direction="INGRESS", event_type={"type": 4}, trace_point="TO_ENDPOINT",
                 summary="TCP Flags: SYN", is_reply=False)
