"""What a second eBPF sensor on each node would have seen, read back from the capture's records.

Tracee and Inspektor Gadget watch the same kernels as Tetragon, Falco and Hubble.  Their
synthetic outputs (:mod:`.tracee`, :mod:`.gadget`) are derived, after the capture is built, from
the rendered Tetragon, Falco and Hubble lines of the :class:`~.sink.Sink`: the same processes
(pid, start time, namespaces, container, pod), the same connects, the same file opens and
alerts, the same DNS questions, at the same node-clock times.  Nothing here draws random
numbers, so deriving these views never changes the other files.

Example
-------
>>> from kernelsec_nb.synth.sink import Sink
>>> s = Sink()
>>> p = {"exec_id": "e1", "pid": 7, "start_time": "2024-05-14T08:00:00Z", "binary": "/bin/sh"}
>>> _ = s.add("n1", "tetragon", 1, {"process_exec": {"process": p}, "time": "2024-05-14T08:00:00.000001Z"})
>>> [(o.kind, o.proc["pid"]) for o in observe(s)["n1"]]
[('exec', 7)]
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, field
from typing import Any

from .fmt import NS, parse_proto_time
from .sink import Sink

#: How long after a DNS question the asking process's connect may come (the resolver's answer).
DNS_TO_CONNECT_NS = 2 * NS


@dataclass(frozen=True)
class Seen:
    """One observation on a node: what happened, when (node clock, ns), by which process.

    ``kind`` is ``exec``, ``exit``, ``connect``, ``open``, ``alert`` or ``dns``; ``proc`` is the
    Tetragon ``process`` object, ``parent`` its parent's (or ``None``); ``detail`` holds the rest
    (addresses and ports, the file's path, the Falco alert, the DNS flow).
    """

    time_ns: int
    kind: str
    proc: dict[str, Any]
    parent: dict[str, Any] | None
    detail: dict[str, Any] = field(default_factory=dict)


def start_ns(proc: dict[str, Any]) -> int:
    """A Tetragon process's start time, epoch ns."""
    return parse_proto_time(proc["start_time"])


def _parse(sink: Sink, node: str, source: str) -> list[dict[str, Any]]:
    out = []
    for r in sink.records.get((node, source), []):
        out.append(json.loads(r.line))
    return out


class _Processes:
    """Every process of a node that Tetragon named, findable by pid at a time."""

    def __init__(self) -> None:
        self.by_id: dict[str, tuple[dict[str, Any], dict[str, Any] | None]] = {}
        self.by_pid: dict[int, list[tuple[int, str]]] = {}

    def add(self, proc: dict[str, Any], parent: dict[str, Any] | None) -> None:
        if proc["exec_id"] in self.by_id:
            return
        self.by_id[proc["exec_id"]] = (proc, parent)
        bisect.insort(self.by_pid.setdefault(proc["pid"], []), (start_ns(proc), proc["exec_id"]))

    def at(self, pid: int, t: int) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
        """The process ``pid`` running at ``t`` (the latest started before it)."""
        starts = self.by_pid.get(pid, [])
        i = bisect.bisect_right(starts, (t, "\uffff"))
        return self.by_id[starts[i - 1][1]] if i else None


def observe(sink: Sink) -> dict[str, list[Seen]]:
    """Observations per node (plain node name), in time order.

    Parameters
    ----------
    sink : Sink
        The capture's collected records.

    Returns
    -------
    dict
        ``node -> [Seen, ...]`` sorted by time (then by kind and pid, for a stable order).
    """
    nodes = sorted({n for n, _ in sink.records})
    seen: dict[str, list[Seen]] = {n: [] for n in nodes}
    procs = {n: _Processes() for n in nodes}
    connects: dict[tuple[str, str], list[tuple[int, int, Seen]]] = {}
    for node in nodes:
        for ev in _parse(sink, node, "tetragon"):
            t = parse_proto_time(ev["time"])
            (key, body), = ((k, v) for k, v in ev.items() if k.startswith("process_"))
            proc, parent = body["process"], body.get("parent")
            procs[node].add(proc, parent)
            if key == "process_exec":
                seen[node].append(Seen(t, "exec", proc, parent))
            elif key == "process_exit":
                seen[node].append(Seen(t, "exit", proc, parent,
                                       {"status": body.get("status", 0), "signal": body.get("signal", "")}))
            elif key == "process_kprobe" and body["function_name"] == "tcp_connect":
                sock = body["args"][0]["sock_arg"]
                s = Seen(t, "connect", proc, parent, dict(sock))
                seen[node].append(s)
                pod = (proc.get("pod") or {}).get("name", "")
                connects.setdefault((node, pod), []).append((t, len(connects.get((node, pod), [])), s))
    for node in nodes:
        for ev in _parse(sink, node, "falco"):
            t = int(ev["output_fields"]["evt.time"])
            found = procs[node].at(int(ev["output_fields"]["proc.pid"]), t)
            if found is None:
                continue
            seen[node].append(Seen(t, "alert", found[0], found[1], ev))
            name = ev["output_fields"].get("fd.name") or ""
            if name.startswith("/"):
                seen[node].append(Seen(t - 1, "open", found[0], found[1], {"path": name}))
    for node in nodes:
        for ev in _parse(sink, node, "hubble"):
            flow = ev["flow"]
            dns = (flow.get("l7") or {}).get("dns")
            if dns is None:
                continue
            question = flow["l7"].get("type") == "REQUEST"
            client = flow["source" if question else "destination"].get("pod_name", "")
            t = parse_proto_time(flow["time"])
            later = connects.get((node, client), [])
            i = bisect.bisect_left(later, (t, -1))
            if i == len(later) or later[i][0] - t > DNS_TO_CONNECT_NS:
                continue  # no process of the pod connected after it: the asker is unknown
            asker = later[i][2]
            seen[node].append(Seen(t, "dns", asker.proc, asker.parent, {"flow": flow, "question": question}))
    for node in nodes:
        seen[node].sort(key=lambda s: (s.time_ns, s.kind, s.proc["pid"]))
    return seen
