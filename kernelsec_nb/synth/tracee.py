"""Tracee's output (``tracee --output json``) for the synthetic capture: one file per node.

The events are what Tracee, run as a DaemonSet beside Tetragon, would have written of the same
processes (see :mod:`.observed`), in the ``trace.Event`` JSON of Tracee v0.19-v0.23 (the layout
of the real ``v0.20.0_*`` samples: nested ``container``/``kubernetes`` plus the flat
``containerId``, ``matchedPolicies``, the entity ids), keys in the order Tracee writes them:

* an exec → ``sched_process_exec`` (``cmdpath``, ``pathname``, ``argv``, ... as Tracee's
  ``exec-hash`` sample lists them) and, before it, the ``security_file_open`` of the binary by
  the ``execve`` syscall;
* an exit → ``sched_process_exit`` (``exit_code``, ``process_group_exit``);
* a TCP connect → ``security_socket_connect`` (``sockfd``, ``type``, ``remote_addr`` as Tracee
  renders a ``struct sockaddr*``: ``sa_family``, ``sin_addr``, ``sin_port`` as text);
* a Falco alert → a signature finding (``eventId`` ≥ 6000, ``metadata.Properties``): the
  signature is named after the behaviour Falco's rule names and carries the same ATT&CK
  technique (``external_id``) and tactic (``Category``); an alert on a file → also the
  ``security_file_open`` of that file.

Times are the node clock's (``timestamp`` the event's, ``threadStartTime`` the process's start),
``hostProcessId`` the host pid, ``processId`` the pid in the container's namespace,
``mountNamespace``/``pidNamespace`` the namespaces Tetragon reports.  The entity ids are CRC-32
hashes of ``start time`` and ``pid`` (Tracee hashes the same pair).  The pod UIDs come from this
writer's own random stream (``random.Random(f"tracee/{seed}")``): the other files do not change.

Example
-------
>>> ev = security_socket_connect_args(3, "10.96.0.1", 443)
>>> [a["name"] for a in ev], ev[2]["value"]["sin_port"]
(['sockfd', 'type', 'remote_addr'], '443')
"""

from __future__ import annotations

import random
import zlib
from pathlib import Path
from typing import Any

from .fmt import dumps
from .observed import Seen, observe, start_ns
from .sim import Sim
from .writer import write_lines

TRACEE_FILE = "tracee.json"
#: The ``eventId`` of the signatures, in the order they first fire (Tracee numbers its own from 6000).
SIGNATURE_BASE_ID = 6100
_EVENT_IDS = {"sched_process_exec": "707", "sched_process_exit": "708", "security_file_open": "722",
              "security_socket_connect": "732"}
_SEVERITY = {"Emergency": 4, "Alert": 4, "Critical": 4, "Error": 3, "Warning": 2, "Notice": 1,
             "Informational": 0, "Debug": 0}


def entity_id(start: int, pid: int) -> int:
    """A process's entity id: a 32-bit hash of its start time and host pid."""
    return zlib.crc32(f"{start}:{pid}".encode())


def security_socket_connect_args(fd: int, ip: str, port: int) -> list[dict[str, Any]]:
    """The ``args`` of a ``security_socket_connect`` to ``ip:port`` (IPv4 TCP)."""
    return [{"name": "sockfd", "type": "int", "value": fd},
            {"name": "type", "type": "int", "value": "SOCK_STREAM"},
            {"name": "remote_addr", "type": "struct sockaddr*",
             "value": {"sa_family": "AF_INET", "sin_addr": ip, "sin_port": str(port)}}]


def _ns(proc: dict[str, Any], name: str) -> int:
    return int(((proc.get("ns") or {}).get(name) or {}).get("inum", 0))


class _Writer:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.pod_uids: dict[str, str] = {}
        self.signatures: dict[str, int] = {}

    def pod_uid(self, pod: str) -> str:
        if pod not in self.pod_uids:
            h = f"{self.rng.getrandbits(128):032x}"
            self.pod_uids[pod] = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:]}"
        return self.pod_uids[pod]

    def head(self, node: str, s: Seen, t: int, event_id: str, name: str, syscall: str,
             args: list[dict[str, Any]], ret: int = 0) -> dict[str, Any]:
        """The event's context, in Tracee's key order, then its name and ``args``."""
        p, parent = s.proc, s.parent or {}
        pod = p.get("pod") or {}
        container = pod.get("container") or {}
        full = str(container.get("id", "")).split("://", 1)[-1]
        image = container.get("image") or {}
        digest = image.get("id", "").rpartition("@")[2] if "@" in image.get("id", "") else ""
        start = start_ns(p)
        pid = int(p["pid"])
        local_pid = int(container.get("pid", pid)) if container else pid
        ppid = int(parent.get("pid", 0))
        local_ppid = int(((parent.get("pod") or {}).get("container") or {}).get("pid", ppid)) if container else ppid
        return {
            "timestamp": t, "threadStartTime": start, "processorId": pid % 4, "processId": local_pid,
            "cgroupId": _ns(p, "cgroup"), "threadId": local_pid, "parentProcessId": local_ppid,
            "hostProcessId": pid, "hostThreadId": int(p.get("tid", pid)), "hostParentProcessId": ppid,
            "userId": int(p.get("uid", 0)), "mountNamespace": _ns(p, "mnt"), "pidNamespace": _ns(p, "pid"),
            "processName": p["binary"].rsplit("/", 1)[-1][:15], "executable": {"path": p["binary"]},
            "hostName": node, "containerId": full,
            "container": ({"id": full, "name": container.get("name", ""), "image": image.get("name", ""),
                           "imageDigest": digest} if full else {}),
            "kubernetes": ({"podName": pod["name"], "podNamespace": pod.get("namespace", ""),
                            "podUID": self.pod_uid(pod["name"])} if pod.get("name") else {}),
            "eventId": event_id, "eventName": name, "matchedPolicies": ["kernelsec"], "argsNum": len(args),
            "returnValue": ret, "syscall": syscall, "stackAddresses": [0],
            "contextFlags": {"containerStarted": bool(full), "isCompat": False},
            "threadEntityId": entity_id(start, pid), "processEntityId": entity_id(start, pid),
            "parentEntityId": entity_id(start_ns(parent), ppid) if parent else 0,
            "args": args,
        }

    def events(self, node: str, s: Seen) -> list[dict[str, Any]]:
        p = s.proc
        if s.kind == "exec":
            text = str(p.get("arguments", ""))  # Tetragon's argv[1:] joined by spaces
            argv = [p["binary"].rsplit("/", 1)[-1], *(text.split(" ") if text else [])]
            opened = [{"name": "pathname", "type": "const char*", "value": p["binary"]},
                      {"name": "flags", "type": "string", "value": "O_RDONLY|O_LARGEFILE"},
                      {"name": "dev", "type": "dev_t", "value": 271581185},
                      {"name": "inode", "type": "unsigned long", "value": zlib.crc32(p["binary"].encode())},
                      {"name": "ctime", "type": "unsigned long", "value": 1653730234432691496},
                      {"name": "syscall_pathname", "type": "const char*", "value": p["binary"]}]
            exec_args = [{"name": "cmdpath", "type": "const char*", "value": p["binary"]},
                         {"name": "pathname", "type": "const char*", "value": p["binary"]},
                         {"name": "argv", "type": "const char**", "value": argv},
                         {"name": "dev", "type": "dev_t", "value": 271581185},
                         {"name": "inode", "type": "unsigned long", "value": zlib.crc32(p["binary"].encode())},
                         {"name": "invoked_from_kernel", "type": "int", "value": 0},
                         {"name": "ctime", "type": "unsigned long", "value": 1653730234432691496},
                         {"name": "stdin_type", "type": "string", "value": "S_IFIFO"},
                         {"name": "inode_mode", "type": "umode_t", "value": 33261},
                         {"name": "interp", "type": "const char*", "value": p["binary"]},
                         {"name": "interpreter_pathname", "type": "const char*", "value": ""},
                         {"name": "interpreter_dev", "type": "dev_t", "value": 0},
                         {"name": "interpreter_inode", "type": "unsigned long", "value": 0},
                         {"name": "sha256", "type": "const char*", "value": ""}]
            return [self.head(node, s, s.time_ns - 400, "722", "security_file_open", "execve", opened),
                    self.head(node, s, s.time_ns, "707", "sched_process_exec", "execve", exec_args)]
        if s.kind == "exit":
            code = int(s.detail.get("status", 0)) << 8
            return [self.head(node, s, s.time_ns, "708", "sched_process_exit", "exit_group",
                              [{"name": "exit_code", "type": "long", "value": code},
                               {"name": "process_group_exit", "type": "bool", "value": True}])]
        if s.kind == "connect":
            args = security_socket_connect_args(3 + int(s.detail["sport"]) % 5, s.detail["daddr"],
                                                int(s.detail["dport"]))
            return [self.head(node, s, s.time_ns - 2_000, "732", "security_socket_connect", "connect", args)]
        if s.kind == "open":
            args = [{"name": "pathname", "type": "const char*", "value": s.detail["path"]},
                    {"name": "flags", "type": "string", "value": "O_RDONLY"},
                    {"name": "dev", "type": "dev_t", "value": 271581185},
                    {"name": "inode", "type": "unsigned long", "value": zlib.crc32(s.detail["path"].encode())},
                    {"name": "ctime", "type": "unsigned long", "value": 1653730234432691496},
                    {"name": "syscall_pathname", "type": "const char*", "value": s.detail["path"]}]
            return [self.head(node, s, s.time_ns, "722", "security_file_open", "openat", args)]
        if s.kind == "alert":
            return [self.finding(node, s)]
        return []

    def finding(self, node: str, s: Seen) -> dict[str, Any]:
        alert = s.detail
        rule = alert["rule"]
        number = self.signatures.setdefault(rule, len(self.signatures))
        tags = alert.get("tags") or []
        technique = next((t for t in tags if t[:1] == "T" and t[1:2].isdigit()), "")
        tactic = next((t[len("mitre_"):].replace("_", "-") for t in tags if t.startswith("mitre_")), "")
        ev = self.head(node, s, s.time_ns + 1_000, str(SIGNATURE_BASE_ID + number), rule,
                       alert["output_fields"].get("evt.type", ""), [])
        ev["metadata"] = {"Version": "1", "Description": rule, "Tags": None, "Properties": {
            "Category": tactic, "Kubernetes_Technique": "", "Severity": _SEVERITY.get(alert["priority"], 1),
            "Technique": rule, "external_id": technique, "id": "", "signatureID": f"TRC-{900 + number}",
            "signatureName": rule}}
        return ev


def write_tracee(out: str | Path, sim: Sim, seed: int) -> dict[str, int]:
    """Write ``<node>/tracee.json`` for every node; return the lines per file (relative path).

    Parameters
    ----------
    out : str or Path
        The capture's folder.
    sim : Sim
        The simulation whose records were written.
    seed : int
        The capture's seed (mixed into this writer's own random stream).

    Returns
    -------
    dict
        ``relative path -> lines``.
    """
    w = _Writer(random.Random(f"tracee/{seed}"))
    written: dict[str, int] = {}
    for node, seen in observe(sim.sink).items():
        lines = [dumps(ev) for s in seen if s.kind != "dns" for ev in w.events(node, s)]
        if not lines:
            continue
        rel = f"{node}/{TRACEE_FILE}"
        written[rel] = write_lines(out, rel, lines)
    return written
