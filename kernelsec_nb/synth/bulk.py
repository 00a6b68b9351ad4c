"""Streaming bulk writer for benchmarks.

Events are rendered from precompiled ``str.format`` templates built once from
the same builders the scenario uses (so key names, nesting and value types are
identical); per line only times, ids, PIDs and 5-tuples are substituted. Memory
stays flat: lines are written in batches.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import hubble as hb
from . import tetragon as tg
from .fmt import NS, US, _second_prefix, dumps, exec_id, falco_output_time
from .generate import BASE_EPOCH_NS
from .process import Proc
from .sim import Sim
from .sink import Sink
from .topology import Pod, build_cluster

MIXES = {"tetragon", "network", "all"}
BATCH = 1000


def _compile(obj: Any) -> str:
    """Turn an event containing ``#N_x#`` / ``#S_x#`` tokens into a format string.

    ``"#N_x#"`` (a whole JSON string) becomes an unquoted ``{x}``; ``#S_x#``
    inside a string becomes ``{x}`` keeping the quotes.
    """
    text = dumps(obj).replace("{", "{{").replace("}", "}}")
    out = []
    i = 0
    while True:
        j = text.find("#", i)
        if j < 0:
            out.append(text[i:])
            break
        k = text.find("#", j + 1)
        token = text[j + 1:k]
        if token.startswith("N_") and text[j - 1] == '"' and text[k + 1] == '"':
            out.append(text[i:j - 1] + "{" + token[2:] + "}")
            i = k + 2
        elif token.startswith(("N_", "S_")):
            out.append(text[i:j] + "{" + token[2:] + "}")
            i = k + 1
        else:
            out.append(text[i:k])
            i = k
    return "".join(out)


def _t(ns: int) -> str:
    sec, frac = divmod(ns, NS)
    return f"{_second_prefix(sec)}.{frac:09d}Z"


class _Templates:
    """Per-pod process templates and per-pair flow templates."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.cache: dict[tuple[Any, ...], str] = {}

    def _proc_json(self, proc: Proc, refcnt: int | None) -> dict[str, Any]:
        d = proc.to_json(refcnt=refcnt)
        d["exec_id"] = "#S_eid#"
        d["pid"] = "#N_pid#"
        d["tid"] = "#N_pid#"
        d["start_time"] = "#S_st#"
        if "pod" in d:
            d["pod"] = dict(d["pod"])
            d["pod"]["container"] = dict(d["pod"]["container"], pid="#N_cpid#")
        return d

    def proc(self, kind: str, proc: Proc) -> str:
        key = (kind, proc.exec_id)
        if key in self.cache:
            return self.cache[key]
        parent = proc.parent.to_json(refcnt=2) if proc.parent else None
        if kind == "exec":
            body: dict[str, Any] = {"process": self._proc_json(proc, 1)}
            if parent:
                body["parent"] = parent
            ev = {"process_exec": body, "node_name": proc.node.name, "time": "#S_t#"}
        elif kind == "exit":
            body = {"process": self._proc_json(proc, None)}
            if parent:
                body["parent"] = parent
            body["time"] = "#S_t#"
            ev = {"process_exit": body, "node_name": proc.node.name, "time": "#S_t#"}
        else:
            body = {"process": self._proc_json(proc, 1)}
            if parent:
                body["parent"] = parent
            if kind == "file":
                body["function_name"] = "security_file_permission"
                body["args"] = [tg.file_arg("#S_path#", "-rw-r--r--"), tg.int_arg(4)]
                body["return"] = {"int_arg": 0}
                policy = "sensitive-files"
            else:
                body["function_name"] = kind
                state = "TCP_SYN_SENT" if kind == "tcp_connect" else "TCP_ESTABLISHED"
                body["args"] = [tg.sock_arg("#S_sip#", "#S_dip#", "#N_sp#", "#N_dp#",
                                            "#S_ck#", state)]  # type: ignore[arg-type]
                policy = "connect"
            body["action"] = tg.ACTION_POST
            body["policy_name"] = policy
            ev = {"process_kprobe": body, "node_name": proc.node.name, "time": "#S_t#"}
        self.cache[key] = tpl = _compile(ev)
        return tpl

    def flow(self, client: Pod, server: Pod, dport: int) -> str:
        key = ("flow", client.name, server.name, dport)
        if key in self.cache:
            return self.cache[key]
        sink = Sink()
        x = client.node
        hb.emit_flow(sink, x, 0, verdict="FORWARDED", src=hb.endpoint(client, x),
                     dst=hb.endpoint(server, x), src_ip="#S_sip#", dst_ip="#S_dip#",
                     l4=hb.tcp_l4("#N_sp#", "#N_dp#", ("SYN",)),  # type: ignore[arg-type]
                     ftype="L3_L4", direction="EGRESS",
                     event_type={"type": 4, "sub_type": 4} if server.node is not x
                     else {"type": 4},
                     trace_point="TO_OVERLAY" if server.node is not x else "TO_ENDPOINT",
                     summary="TCP Flags: SYN", is_reply=False)
        import json

        obj = json.loads(next(iter(sink.records.values()))[0].line)
        obj["time"] = obj["flow"]["time"] = "#S_t#"
        self.cache[key] = tpl = _compile(obj)
        return tpl


def write_bulk(path: str | Path, *, target_bytes: int, seed: int = 7,
               mix: str = "tetragon") -> int:
    """Stream one NDJSON file of about ``target_bytes`` of real-format events.

    Parameters
    ----------
    path : str or Path
        Output file (overwritten).
    target_bytes : int
        Approximate size to write; writing stops at the first line that
        reaches it (overshoot below one line).
    seed : int
        Random seed (deterministic output).
    mix : str
        ``tetragon`` (process exec/exit and kprobes), ``network`` (pairs of
        ``tcp_connect`` kprobes and Hubble flows with the same 5-tuple, plus the
        exec/exit of the connecting processes) or ``all`` (also Falco alerts).

    Returns
    -------
    int
        Bytes written.
    """
    if mix not in MIXES:
        raise ValueError(f"mix must be one of {sorted(MIXES)}")
    rng = random.Random(seed)
    start = BASE_EPOCH_NS
    cluster = build_cluster(rng, start)
    sim = Sim(cluster, rng)
    tpl = _Templates(sim)
    clients = [p for p in cluster.pods if p.workload.kind != "DaemonSet"]
    servers = [p for p in clients if p.workload.port and p.workload.name != "coredns"]
    binaries = [("/usr/bin/curl", "-s http://{svc}/"), ("/bin/sh", "-c /opt/job.sh"),
                ("/usr/bin/python3", "/app/worker.py --once"), ("/bin/busybox", "wget -q {svc}")]
    # per pod: a parent (main process) and a few exec templates
    protos: list[tuple[Pod, Proc]] = []
    for pod in clients:
        parent = sim.pod_proc(pod)
        for binary, args in binaries:
            svc = rng.choice(servers)
            p = sim.procs.spawn(pod.node, start, binary,
                                args.format(svc=f"{svc.workload.service}.{svc.namespace}"),
                                parent, pod=pod, in_init_tree=True)
            protos.append((pod, p))
    for _pod, p in protos:  # warm template caches
        for kind in ("exec", "exit", "tcp_connect", "tcp_close", "file"):
            tpl.proc(kind, p)
    falco_lines = _falco_templates(sim, protos)

    t = start
    pid = 40000
    cookie = rng.getrandbits(60)
    written = 0
    rand = rng.random
    randint = rng.randint
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        while written < target_bytes:
            batch: list[str] = []
            while len(batch) < BATCH:
                pod, proto = protos[int(rand() * len(protos))]
                node = pod.node
                off = node.clock_offset_ns
                pid = pid + 1 + int(rand() * 5)
                if pid > 4_000_000:
                    pid = 300
                t += int(rand() * 400 * US)
                eid = exec_id(node.name, t - node.boot_ns, pid)
                st = _t(t + off)
                common = {"eid": eid, "pid": pid, "st": st,
                          "cpid": 2 + int(rand() * 200)}
                batch.append(tpl.proc("exec", proto).format(t=st, **common))
                nconn = 1 + int(rand() * 6)
                for _ in range(nconn):
                    t += int(rand() * 200 * US)
                    srv = servers[int(rand() * len(servers))]
                    sp = 32768 + 2 * int(rand() * 14115)
                    cookie += 1 + int(rand() * 7)
                    ts = _t(t + off)
                    if mix == "tetragon" and rand() < 0.3:
                        batch.append(tpl.proc("file", proto).format(
                            t=ts, path="/etc/ssl/certs/ca-certificates.crt", **common))
                        continue
                    five = {"sip": pod.ip, "dip": srv.ip, "sp": sp, "dp": srv.workload.port}
                    batch.append(tpl.proc("tcp_connect", proto).format(
                        t=ts, ck=cookie, **five, **common))
                    if mix != "tetragon":
                        tf = _t(t + off + randint(8, 40) * US)
                        batch.append(tpl.flow(pod, srv, srv.workload.port).format(t=tf, **five))
                    if mix == "tetragon":
                        batch.append(tpl.proc("tcp_close", proto).format(
                            t=_t(t + off + 3_000 * US), ck=cookie, **five, **common))
                    if mix == "all" and rand() < 0.01:
                        batch.append(falco_lines[int(rand() * len(falco_lines))](t + off, pid))
                t += int(rand() * 300 * US)
                batch.append(tpl.proc("exit", proto).format(t=_t(t + off), **common))
            data = "".join(line + "\n" for line in batch)
            if written + len(data) > target_bytes:
                keep, size = [], written
                for line in batch:
                    keep.append(line)
                    size += len(line) + 1
                    if size >= target_bytes:
                        break
                data = "".join(line + "\n" for line in keep)
            fh.write(data)
            written += len(data.encode()) if not data.isascii() else len(data)
    return written


def _falco_templates(sim: Sim, protos: list[tuple[Pod, Proc]]) -> list[Callable[[int, int], str]]:
    from . import falco as fc

    out: list[Callable[[int, int], str]] = []
    for _, p in protos[:: max(1, len(protos) // 8)]:
        sink = Sink()
        fc.emit_alert(sink, p, 0, "Terminal shell in container", tty=34816)
        line = next(iter(sink.records.values()))[0].line
        import json

        obj = json.loads(line)
        obj["time"] = "#S_t#"
        obj["output_fields"]["evt.time"] = "#N_et#"
        obj["output_fields"]["proc.pid"] = "#N_pid#"
        obj["output"] = "#S_ot#" + obj["output"].split("+0000: ", 1)[1]
        fmt = _compile(obj)

        def render(ns: int, pid: int, fmt: str = fmt) -> str:
            t = _t(ns)
            return fmt.format(t=t, et=ns, pid=pid, ot=falco_output_time(ns) + ": ")

        out.append(render)
    return out
