"""Inspektor Gadget's output for the synthetic capture: ``kubectl gadget run trace_exec|trace_tcp|
trace_open|trace_dns -o json``, one file per gadget, under ``gadget/`` in each node's folder.

The events are what the image-based gadgets (IG v0.30+), run across the cluster beside Tetragon,
would have printed about the same processes (see :mod:`.observed`): one object per line, keys
sorted alphabetically as IG prints them, Kubernetes context in ``k8s`` (``node``, ``namespace``,
``podName``, ``containerName``, ``hostnetwork``, ``owner``, ``podLabels``), the container in
``runtime``, ``timestamp`` an RFC 3339 UTC string with its ``timestamp_raw`` epoch ns, enum
fields in pairs (``type``/``type_raw``, ``error``/``error_raw``):

* ``trace_tcp``: the layout of the real ``run_trace_tcp.kubectl-gadget.ndjson`` sample (flat
  ``comm``, ``pid``, ``tid``, ``uid``, ``gid``, ``mntns_id``, ``netns_id``; ``src``/``dst`` with
  ``addr``, ``port``, ``proto``, ``version``), ``type`` ``connect``;
* ``trace_open``: the layout of the real ``ig_run_trace_open`` sample (``proc`` with ``comm``,
  ``creds``, ``mntns_id``, ``parent``, ``pid``, ``tid``; ``fname``, ``flags``, ``fd``, ``mode``),
  for the files Falco's rules saw opened;
* ``trace_exec``: no real JSON sample exists (IG's docs show columns only): the ``proc`` layout of
  ``trace_open`` with the gadget's ``args`` (the command line, one string), ``exepath``,
  ``error``;
* ``trace_dns``: the layout of ``trace_tcp`` with the DNS fields of the real ``trace_dns``
  sample (``id``, ``name``, ``qr``, ``qtype``, ``rcode``, ``pkt_type``, ``latency_ns``), for the
  questions and answers Hubble saw whose asking process connected just after.

The gadgets write no process start time: the loader's exec id is ``ig:<node>:<pid>``.  Nothing
here draws random numbers, so the other files of the capture do not change.

Example
-------
>>> rfc3339nano(1_722_451_111_977_700_000)
'2024-07-31T18:38:31.9777Z'
"""

from __future__ import annotations

import json
import time
import zlib
from pathlib import Path
from typing import Any

from .fmt import NS
from .observed import Seen, observe
from .sim import Sim
from .writer import write_lines

GADGETS = ("trace_exec", "trace_tcp", "trace_open", "trace_dns")
_QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28, "SRV": 33}


def rfc3339nano(ns: int) -> str:
    """Go's ``time.RFC3339Nano`` in UTC: trailing zeros of the fraction dropped."""
    sec, frac = divmod(ns, NS)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    digits = f"{frac:09d}".rstrip("0")
    return f"{text}.{digits}Z" if digits else f"{text}Z"


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _ns(proc: dict[str, Any], name: str) -> int:
    return int(((proc.get("ns") or {}).get(name) or {}).get("inum", 0))


def _k8s(node: str, proc: dict[str, Any], *, owner: bool) -> dict[str, Any]:
    pod = proc.get("pod") or {}
    k8s: dict[str, Any] = {"containerName": (pod.get("container") or {}).get("name", ""),
                           "hostnetwork": False, "namespace": pod.get("namespace", ""), "node": node,
                           "podName": pod.get("name", "")}
    if owner:
        k8s["owner"] = {"kind": pod.get("workload_kind", ""), "name": pod.get("workload", "")}
        k8s["podLabels"] = ",".join(f"{k}={v}" for k, v in sorted((pod.get("pod_labels") or {}).items()))
    return k8s


def _runtime(proc: dict[str, Any]) -> dict[str, Any]:
    container = (proc.get("pod") or {}).get("container") or {}
    image = container.get("image") or {}
    digest = image.get("id", "").rpartition("@")[2] if "@" in image.get("id", "") else ""
    return {"containerId": str(container.get("id", "")).split("://", 1)[-1], "containerImageDigest": digest,
            "containerImageName": image.get("name", ""), "containerName": container.get("name", ""),
            "runtimeName": str(container.get("id", "")).split("://", 1)[0] if container else ""}


def _proc(s: Seen) -> dict[str, Any]:
    p, parent = s.proc, s.parent or {}
    uid = int(p.get("uid", 0))
    return {"comm": p["binary"].rsplit("/", 1)[-1][:15],
            "creds": {"gid": uid, "group": "root" if uid == 0 else "", "uid": uid, "user": "root" if uid == 0 else ""},
            "mntns_id": _ns(p, "mnt"),
            "parent": {"comm": str(parent.get("binary", "")).rsplit("/", 1)[-1][:15], "pid": int(parent.get("pid", 0))},
            "pid": int(p["pid"]), "tid": int(p.get("tid", p["pid"]))}


def _time(t: int) -> dict[str, Any]:
    return {"timestamp": rfc3339nano(t), "timestamp_raw": t}


def _flat(node: str, s: Seen) -> dict[str, Any]:
    """The flat process fields of ``trace_tcp``/``trace_dns``."""
    p = s.proc
    return {"comm": p["binary"].rsplit("/", 1)[-1][:15], "gid": int(p.get("uid", 0)),
            "k8s": _k8s(node, p, owner=False), "mntns_id": _ns(p, "mnt"), "netns_id": _ns(p, "net"),
            "pid": int(p["pid"]), "runtime": _runtime(p), "tid": int(p.get("tid", p["pid"])),
            "uid": int(p.get("uid", 0))}


def event(node: str, s: Seen) -> tuple[str, dict[str, Any]] | None:
    """``(gadget, event)`` of one observation, or ``None`` when no gadget here traces it."""
    p = s.proc
    if s.kind == "exec":
        args = " ".join([p["binary"], *([p["arguments"]] if p.get("arguments") else [])])
        return "trace_exec", {"args": args, "error": "", "error_raw": 0, "exepath": p["binary"],
                              "k8s": _k8s(node, p, owner=True), "proc": _proc(s), "runtime": _runtime(p),
                              **_time(s.time_ns)}
    if s.kind == "connect":
        d = s.detail
        return "trace_tcp", {**_flat(node, s),
                             "dst": {"addr": d["daddr"], "port": int(d["dport"]), "proto": 6, "version": 4},
                             "src": {"addr": d["saddr"], "port": int(d["sport"]), "proto": 6, "version": 4},
                             "type": "connect", "type_raw": 0, **_time(s.time_ns - 2_000)}
    if s.kind == "open":
        return "trace_open", {"error": "", "error_raw": 0, "fd": 3, "flags": "O_RDONLY", "flags_raw": 0,
                              "fname": s.detail["path"], "k8s": _k8s(node, p, owner=True),
                              "mode": "----------", "mode_raw": 0, "proc": _proc(s), "runtime": _runtime(p),
                              **_time(s.time_ns)}
    if s.kind == "dns":
        flow, question = s.detail["flow"], s.detail["question"]
        dns = flow["l7"]["dns"]
        qtype = (dns.get("qtypes") or ["A"])[0]
        return "trace_dns", {**_flat(node, s), "id": zlib.crc32(dns["query"].encode()) & 0xFFFF,
                             "latency_ns": 0 if question else 1_588_000, "name": dns["query"],
                             "pkt_type": 4 if question else 0, "qr": 0 if question else 1,
                             "qtype": _QTYPES.get(qtype, 0), "rcode": int(dns.get("rcode", 0)),
                             **_time(s.time_ns)}
    return None


def write_gadget(out: str | Path, sim: Sim) -> dict[str, int]:
    """Write ``<node>/gadget/<gadget>.json`` for every node and gadget with events.

    Parameters
    ----------
    out : str or Path
        The capture's folder.
    sim : Sim
        The simulation whose records were written.

    Returns
    -------
    dict
        ``relative path -> lines``.
    """
    written: dict[str, int] = {}
    for node, seen in observe(sim.sink).items():
        per: dict[str, list[str]] = {g: [] for g in GADGETS}
        for s in seen:
            got = event(node, s)
            if got is not None:
                per[got[0]].append(_dumps(got[1]))
        for gadget, lines in per.items():
            if not lines:
                continue
            rel = f"{node}/gadget/{gadget}.json"
            written[rel] = write_lines(out, rel, lines)
    return written
