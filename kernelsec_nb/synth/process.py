"""Process model: PIDs, exec ids and the Tetragon ``Process`` object.

A :class:`ProcessTable` hands out host PIDs per node (wrapping and reusing them
like the kernel does) and builds :class:`Proc` records whose JSON form matches
Tetragon's ``Process`` message as emitted by ``protojson``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from .fmt import exec_id, proto_time, second_time
from .topology import CONTAINER_CAPS, HOST_CAPS, Node, Pod

PID_MAX = 32768
PID_MIN = 300
HOST_NS = {
    "uts": 4026531838,
    "ipc": 4026531839,
    "mnt": 4026531841,
    "pid": 4026531836,
    "net": 4026531840,
    "cgroup": 4026531835,
}
TIME_NS = 4026531834
USER_NS = 4026531837


@dataclass
class Proc:
    """One exec'd process as Tetragon sees it."""

    node: Node
    pid: int
    start_ns: int
    exec_id: str
    binary: str
    arguments: str
    cwd: str
    uid: int
    flags: str
    parent: Proc | None
    pod: Pod | None = None
    container_id: str = ""
    container_start_ns: int = 0
    container_pid: int = 0
    in_init_tree: bool | None = None
    exec_probe: bool = False
    host_ns: bool = False
    auid: int = 4294967295
    children: int = 0
    _json: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def parent_exec_id(self) -> str:
        """Exec id of the parent, empty if unknown."""
        return self.parent.exec_id if self.parent else ""

    def to_json(self, refcnt: int | None = None) -> dict[str, Any]:
        """Tetragon ``Process`` object (a fresh dict each call).

        Parameters
        ----------
        refcnt : int or None
            Process-cache reference count; omitted when ``None`` or 0.

        Returns
        -------
        dict
            Keys in protobuf field order, defaults omitted as ``protojson`` does.
        """
        if self._json is None:
            self._json = self._build()
        out = dict(self._json)
        if refcnt:
            # refcnt sits between parent_exec_id and cap in field order
            ordered: dict[str, Any] = {}
            for k, v in out.items():
                if k in ("cap", "ns") and "refcnt" not in ordered:
                    ordered["refcnt"] = refcnt
                ordered[k] = v
            if "refcnt" not in ordered:
                ordered["refcnt"] = refcnt
            out = ordered
        return out

    def _build(self) -> dict[str, Any]:
        clock = self.node.clock
        d: dict[str, Any] = {
            "exec_id": self.exec_id,
            "pid": self.pid,
            "uid": self.uid,
            "cwd": self.cwd,
            "binary": self.binary,
        }
        if self.arguments:
            d["arguments"] = self.arguments
        d["flags"] = self.flags
        d["start_time"] = proto_time(clock(self.start_ns))
        d["auid"] = self.auid
        if self.pod is not None:
            pod = self.pod
            w = pod.workload
            container: dict[str, Any] = {
                "id": "containerd://" + self.container_id,
                "name": w.container,
                "image": {"id": f"{w.image.rsplit(':', 1)[0]}@sha256:{pod.image_digest}",
                          "name": w.image},
                "start_time": second_time(clock(self.container_start_ns)),
                "pid": self.container_pid,
            }
            if self.exec_probe:
                container["maybe_exec_probe"] = True
            d["pod"] = {
                "namespace": pod.namespace,
                "name": pod.name,
                "container": container,
                "pod_labels": pod.labels,
                "workload": w.name,
                "workload_kind": w.kind,
            }
            d["docker"] = self.container_id[:31]
        if self.parent is not None:
            d["parent_exec_id"] = self.parent.exec_id
        privileged = self.pod is None or self.pod.workload.kind == "DaemonSet"
        caps = HOST_CAPS if privileged else CONTAINER_CAPS
        if self.uid == 0:
            d["cap"] = {"permitted": caps, "effective": caps}
        d["ns"] = self._namespaces()
        d["tid"] = self.pid
        if self.pod is not None:
            d["in_init_tree"] = bool(self.in_init_tree)
        return d

    def _namespaces(self) -> dict[str, Any]:
        pod_ns = self.pod.ns_inums if self.pod is not None else HOST_NS

        def one(kind: str) -> dict[str, Any]:
            # a process that entered the host's namespaces (nsenter -t 1 -m -u -i -p) keeps its
            # pod's cgroup and network
            host = self.pod is None or (self.host_ns and kind not in ("net", "cgroup"))
            entry: dict[str, Any] = {"inum": HOST_NS[kind] if host else pod_ns[kind]}
            if host:
                entry["is_host"] = True
            return entry

        return {
            "uts": one("uts"),
            "ipc": one("ipc"),
            "mnt": one("mnt"),
            "pid": one("pid"),
            "pid_for_children": one("pid"),
            "net": one("net"),
            "time": {"inum": TIME_NS, "is_host": True},
            "time_for_children": {"inum": TIME_NS, "is_host": True},
            "cgroup": one("cgroup"),
            "user": {"inum": USER_NS, "is_host": True},
        }


class ProcessTable:
    """Allocates PIDs and exec ids per node; tracks live PIDs for reuse."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.live: dict[str, set[int]] = {}
        self.container_pids: dict[str, int] = {}

    def _alloc_pid(self, node: Node) -> int:
        live = self.live.setdefault(node.name, set())
        pid = node.pid_next
        while True:
            pid += self.rng.randint(1, 6)  # threads and short forks consume PIDs too
            if pid >= PID_MAX:
                pid = PID_MIN + self.rng.randint(0, 40)
            if pid not in live:
                break
        node.pid_next = pid
        live.add(pid)
        return pid

    def _alloc_container_pid(self, container_id: str, first: bool) -> int:
        if first:
            self.container_pids[container_id] = 1
            return 1
        nxt = self.container_pids.get(container_id, 1) + self.rng.randint(1, 3)
        self.container_pids[container_id] = nxt
        return nxt

    def spawn(
        self,
        node: Node,
        t: int,
        binary: str,
        arguments: str = "",
        parent: Proc | None = None,
        *,
        pod: Pod | None = None,
        cwd: str | None = None,
        uid: int | None = None,
        in_init_tree: bool | None = None,
        exec_probe: bool = False,
        container_init: bool = False,
        flags: str | None = None,
        pid: int | None = None,
        host_ns: bool = False,
    ) -> Proc:
        """Create a process that exec'd at true time ``t``.

        Parameters
        ----------
        node : Node
            Node the process runs on.
        t : int
            True exec time (ns).
        binary, arguments : str
            Executed path and argument string.
        parent : Proc or None
            Parent process (may itself be absent from the capture).
        pod : Pod or None
            Pod of a containerised process; ``None`` for host processes.
        cwd, uid : optional
            Defaults come from the workload (or ``/`` and root on the host).
        in_init_tree : bool or None
            Whether the process descends from the container's PID 1.
        exec_probe : bool
            Mark the container as a possible exec probe.
        container_init : bool
            The process is the container's PID 1.
        flags : str or None
            Tetragon debug flags; derived from ``cwd`` when omitted.
        pid : int or None
            Force a host PID (used for exec without clone).
        host_ns : bool
            The process runs in the host's namespaces though in a pod (after ``nsenter -t 1``).

        Returns
        -------
        Proc
            The new process, with its exec id.
        """
        if pid is None:
            pid = self._alloc_pid(node)
        if pod is not None:
            cwd = cwd if cwd is not None else pod.workload.cwd
            uid = uid if uid is not None else pod.workload.uid
            cpid = self._alloc_container_pid(pod.container_id, container_init)
        else:
            cwd = cwd if cwd is not None else "/"
            uid = 0 if uid is None else uid
            cpid = 0
        if flags is None:
            flags = "execve rootcwd clone" if cwd == "/" else "execve clone"
        proc = Proc(
            node=node,
            pid=pid,
            start_ns=t,
            exec_id=exec_id(node.name, node.ktime(t), pid),
            binary=binary,
            arguments=arguments,
            cwd=cwd,
            uid=uid,
            flags=flags,
            parent=parent,
            pod=pod,
            container_id=pod.container_id if pod else "",
            container_start_ns=pod.container_start_ns if pod else 0,
            container_pid=cpid,
            in_init_tree=in_init_tree,
            exec_probe=exec_probe,
            host_ns=host_ns,
        )
        if parent is not None:
            parent.children += 1
        return proc

    def release(self, proc: Proc) -> None:
        """Mark ``proc``'s PID free for reuse after it exits."""
        self.live.get(proc.node.name, set()).discard(proc.pid)
