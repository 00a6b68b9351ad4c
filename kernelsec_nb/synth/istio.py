"""Istio sidecar access logs of the synthetic capture, as kubelet keeps them.

The capture's deathstar pods run an Istio sidecar (permissive mTLS, so Hubble still sees their
HTTP): every request that reached a deathstar pod (a Hubble L7 ``REQUEST`` flow into it that
the policy let through, and its ``RESPONSE``) is written by that pod's ``istio-proxy`` in Istio's
default TEXT format, wrapped by the container runtime (CRI), in the file kubelet keeps:
``<node>/var/log/pods/<namespace>_<pod>_<uid>/istio-proxy/0.log``.  A request the L7 policy
denied never reached the pod: its sidecar has no line for it.

The lines are derived from the rendered Hubble flows after the capture is built, with their own
random stream (seeded from the capture's seed): the other files stay byte-identical.  The
request id is the one the flow's ``X-Request-Id`` header carries, ``bytes_sent`` the response's
``Content-Length``, the duration the time from request to response.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from urllib.parse import urlsplit

from .fmt import MS, US, parse_proto_time, proto_time
from .sim import Sim
from .topology import Pod
from .writer import write_lines

#: The workloads whose pods run a sidecar.
SIDECAR_WORKLOADS = ("deathstar",)
CONTAINER = "istio-proxy"


def _headers(http: dict) -> dict[str, str]:
    return {h["key"].lower(): h["value"] for h in http.get("headers") or []}


def _uid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:]}"


def _start_time(ns: int) -> str:
    text = proto_time(ns - ns % MS)  # 0 or 3 fractional digits
    return text if "." in text else text[:-1] + ".000Z"


def access_line(req: dict, resp: dict | None, pod: Pod, rng: random.Random) -> tuple[int, str]:
    """``(CRI write time, line)`` of one request (``req``/``resp``: Hubble flows)."""
    http = req["l7"]["http"]
    url = urlsplit(http["url"])
    path = url.path + (f"?{url.query}" if url.query else "")
    head = _headers(http)
    t0 = parse_proto_time(req["time"]) + rng.randint(40, 300) * US
    if resp is not None:
        t1 = parse_proto_time(resp["time"]) + rng.randint(40, 300) * US
        rhttp = resp["l7"]["http"]
        code, sent = int(rhttp.get("code", 0)), int(_headers(rhttp).get("content-length", "0") or 0)
        flags, details = "-", "via_upstream"
    else:  # no answer: the client went away
        t1 = t0 + rng.randint(1, 30) * MS
        code, sent, flags, details = 0, 0, "DC", "downstream_remote_disconnect"
    duration = max((t1 - t0) // MS, 0)
    svc = str(max(duration - rng.randint(0, 1), 0)) if resp is not None else "-"
    tcp = req["l4"]["TCP"]
    client = f"{req['IP']['source']}:{tcp['source_port']}"
    port = tcp["destination_port"]
    local = f"{pod.ip}:{port}"
    fqdn = f"{pod.workload.name}.{pod.namespace}.svc.cluster.local"
    text = (f'[{_start_time(t0)}] "{http["method"]} {path} {http.get("protocol", "HTTP/1.1")}" {code} {flags} '
            f'{details} - "-" 0 {sent} {duration} {svc} "-" "{head.get("user-agent", "-")}" '
            f'"{head.get("x-request-id", "-")}" "{url.netloc or head.get("host", "-")}" "{local}" '
            f"inbound|{port}|| 127.0.0.6:{rng.randint(32768, 60999)} {local} {client} "
            f"outbound_.{port}_._.{fqdn} default")
    written = t1 + rng.randint(200, 2000) * US + rng.randint(0, 999)
    return written, f"{proto_time(written)} stdout F {text}"


def _flows(sim: Sim) -> list[dict]:
    out = []
    for (_, source), records in sorted(sim.sink.records.items()):
        if source != "hubble":
            continue
        for r in records:
            if '"http":' in r.line:
                out.append(json.loads(r.line)["flow"])
    return out


def write_access_logs(out: str | Path, sim: Sim, seed: int) -> dict[str, int]:
    """Write each sidecar's access log under ``out``; returns lines per file (relative path).

    The random stream is this writer's own (``seed`` mixed with a constant), so the files the
    rest of the generator writes do not change.
    """
    rng = random.Random(f"istio-access-logs/{seed}")
    pods = {p.name: p for w in SIDECAR_WORKLOADS for p in sim.cluster.pods_of(w)}
    flows = _flows(sim)
    answers: dict[tuple, dict] = {}
    for f in flows:
        if f.get("l7", {}).get("type") == "RESPONSE":
            tcp = f["l4"]["TCP"]
            key = (f["IP"]["destination"], tcp["destination_port"], f["IP"]["source"], tcp["source_port"],
                   f["l7"]["http"].get("url"))
            answers.setdefault(key, f)
    lines: dict[str, list[tuple[int, str]]] = {}
    for f in sorted(flows, key=lambda f: (parse_proto_time(f["time"]), f["IP"]["source"])):
        pod = pods.get((f.get("destination") or {}).get("pod_name", ""))
        if pod is None or f.get("l7", {}).get("type") != "REQUEST" or f.get("verdict") != "FORWARDED":
            continue
        tcp = f["l4"]["TCP"]
        resp = answers.get((f["IP"]["source"], tcp["source_port"], f["IP"]["destination"], tcp["destination_port"],
                            f["l7"]["http"].get("url")))
        lines.setdefault(pod.name, []).append(access_line(f, resp, pod, rng))
    written: dict[str, int] = {}
    for name in sorted(lines):
        pod = pods[name]
        rel = f"{pod.node.name}/var/log/pods/{pod.namespace}_{pod.name}_{_uid(rng)}/{CONTAINER}/0.log"
        written[rel] = write_lines(out, rel, [line for _, line in sorted(lines[name])])
    return written
