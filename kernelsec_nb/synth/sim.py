"""Simulation context: cluster, process table, sink and small helpers."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from . import tetragon as tg
from .process import Proc, ProcessTable
from .sink import Sink
from .topology import Cluster, Node, Pod


@dataclass
class Sim:
    """Mutable state shared by the scenario builders."""

    cluster: Cluster
    rng: random.Random
    sink: Sink = field(default_factory=Sink)
    ptable: ProcessTable | None = None
    cookie: int = 0
    anchors: dict[str, Proc] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.ptable is None:
            self.ptable = ProcessTable(self.rng)
        self.cookie = self.rng.getrandbits(56) | (1 << 62)

    @property
    def procs(self) -> ProcessTable:
        """The process table (never ``None`` after init)."""
        assert self.ptable is not None
        return self.ptable

    def next_cookie(self) -> int:
        """A fresh socket cookie."""
        self.cookie += self.rng.randint(1, 9)
        return self.cookie

    def exec_(self, node: Node, t: int, binary: str, arguments: str = "",
              parent: Proc | None = None, *, emit: bool = True, critical: bool = False,
              **kw: Any) -> Proc:
        """Spawn a process and (unless ``emit`` is false) emit its exec event.

        Parameters
        ----------
        node : Node
            Node of the process.
        t : int
            True exec time.
        binary, arguments : str
            Executed path and arguments.
        parent : Proc or None
            Parent process.
        emit : bool
            False for processes that started before the capture.
        critical : bool
            Protect the exec line from truncation.
        **kw
            Forwarded to :meth:`ProcessTable.spawn`.

        Returns
        -------
        Proc
            The process.
        """
        proc = self.procs.spawn(node, t, binary, arguments, parent, **kw)
        if emit:
            tg.emit_exec(self.sink, proc, critical=critical)
        return proc

    def exit_(self, proc: Proc, t: int, *, signal: str = "", status: int = 0,
              critical: bool = False) -> None:
        """Emit the exit of ``proc`` and free its PID."""
        tg.emit_exit(self.sink, proc, t, signal=signal, status=status, critical=critical)
        if proc.parent is not None and proc.parent.children > 0:
            proc.parent.children -= 1
        self.procs.release(proc)

    def run(self, node: Node, t: int, binary: str, arguments: str, parent: Proc | None,
            duration_ns: int, *, status: int = 0, **kw: Any) -> Proc:
        """Exec a short-lived process and emit its exit after ``duration_ns``."""
        proc = self.exec_(node, t, binary, arguments, parent, **kw)
        self.exit_(proc, t + duration_ns, status=status)
        return proc

    def pod_proc(self, pod: Pod) -> Proc:
        """The long-running main process of ``pod`` (started before the capture)."""
        key = f"main:{pod.name}"
        if key not in self.anchors:
            shim = self.shim(pod)
            self.anchors[key] = self.exec_(
                pod.node, pod.container_start_ns + 40_000_000, pod.workload.binary,
                pod.workload.arguments, shim, emit=False, pod=pod, container_init=True,
                in_init_tree=True)
        return self.anchors[key]

    def shim(self, pod: Pod, t: int | None = None, *, emit: bool = False) -> Proc:
        """The ``containerd-shim-runc-v2`` process of ``pod``'s sandbox."""
        key = f"shim:{pod.name}"
        if key not in self.anchors:
            containerd = self.host_daemon(pod.node, "containerd")
            start = t if t is not None else pod.container_start_ns - 900_000_000
            sandbox = f"{self.rng.getrandbits(256):064x}"
            self.anchors[key] = self.exec_(
                pod.node, start, "/usr/local/bin/containerd-shim-runc-v2",
                f"-namespace k8s.io -id {sandbox} -address /run/containerd/containerd.sock",
                containerd, emit=emit,
                cwd=f"/run/containerd/io.containerd.runtime.v2.task/k8s.io/{sandbox}")
        return self.anchors[key]

    def host_daemon(self, node: Node, name: str) -> Proc:
        """A host daemon (containerd, kubelet, cron) started at boot."""
        key = f"{name}:{node.name}"
        if key not in self.anchors:
            binaries = {
                "containerd": ("/usr/local/bin/containerd", ""),
                "kubelet": ("/usr/bin/kubelet",
                            "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf "
                            "--kubeconfig=/etc/kubernetes/kubelet.conf "
                            "--config=/var/lib/kubelet/config.yaml "
                            "--container-runtime-endpoint=unix:///run/containerd/containerd.sock "
                            f"--node-ip={node.ip} --node-labels= --pod-infra-container-image="
                            "registry.k8s.io/pause:3.9 --provider-id=kind://docker/kind/"
                            f"{node.name} --runtime-cgroups=/system.slice/containerd.service"),
                "cron": ("/usr/sbin/cron", "-f"),
            }
            binary, args = binaries[name]
            init = self.anchors.get(f"init:{node.name}")
            self.anchors[key] = self.exec_(
                node, node.boot_ns + self.rng.randint(2, 9) * 1_000_000_000, binary, args,
                init, emit=False)
        return self.anchors[key]
