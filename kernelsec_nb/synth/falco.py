"""Builders for Falco alerts (``json_output: true``)."""

from __future__ import annotations

from typing import Any

from .fmt import falco_output_time, nano_time
from .process import Proc
from .sink import Sink

RULES: dict[str, dict[str, Any]] = {
    "Terminal shell in container": {
        "priority": "Notice",
        "text": "A shell was spawned in a container with an attached terminal",
        "tags": ["T1059", "container", "maturity_stable", "mitre_execution", "shell"],
    },
    "Read sensitive file untrusted": {
        "priority": "Warning",
        "text": "Sensitive file opened for reading by non-trusted program",
        "tags": ["T1555", "container", "filesystem", "host", "maturity_stable",
                 "mitre_credential_access"],
    },
    "Contact K8S API Server From Container": {
        "priority": "Notice",
        "text": "Unexpected connection to K8s API Server from container",
        "tags": ["T1565", "container", "k8s", "maturity_stable", "mitre_discovery", "network"],
    },
    "Redirect STDOUT/STDIN to Network Connection in Container": {
        "priority": "Notice",
        "text": "Redirect stdout/stdin to network connection",
        "tags": ["T1059", "container", "maturity_stable", "mitre_execution", "network",
                 "process"],
    },
    "Drop and execute new binary in container": {
        "priority": "Critical",
        "text": "Executing binary not part of base image",
        "tags": ["PCI_DSS_11.5.1", "TA0003", "container", "maturity_stable",
                 "mitre_persistence", "process"],
    },
    "Launch Privileged Container": {
        "priority": "Informational",
        "text": "Privileged container started",
        "tags": ["T1610", "cis", "container", "maturity_sandbox", "mitre_execution"],
    },
    "Schedule Cron Jobs": {
        "priority": "Notice",
        "text": "Cron jobs were scheduled to run",
        "tags": ["T1053.003", "container", "filesystem", "host", "maturity_incubating",
                 "mitre_execution"],
    },
    "Netcat Remote Code Execution in Container": {
        "priority": "Warning",
        "text": "Netcat runs inside container that allows remote code execution",
        "tags": ["T1059", "container", "maturity_stable", "mitre_execution", "network",
                 "process"],
    },
}


def emit_alert(sink: Sink, proc: Proc, t: int, rule: str, *, evt_type: str = "execve",
               extra: dict[str, Any] | None = None, tty: int = 0,
               critical: bool = False) -> dict[str, Any]:
    """Emit a Falco alert about ``proc`` on its node.

    Parameters
    ----------
    sink : Sink
        Destination.
    proc : Proc
        Process the rule fired on (host PID is reported as ``proc.pid``).
    t : int
        True event time.
    rule : str
        Rule name, a key of :data:`RULES`.
    evt_type : str
        Syscall name.
    extra : dict or None
        Additional ``output_fields`` (e.g. ``fd.name``).
    tty : int
        Controlling terminal number (non-zero for ``kubectl exec -it``).
    critical : bool
        Mark as part of the incident.

    Returns
    -------
    dict
        The alert object.
    """
    spec = RULES[rule]
    node = proc.node
    wt = node.clock(t)
    pod = proc.pod
    name = proc.binary.rsplit("/", 1)[-1]
    pname = proc.parent.binary.rsplit("/", 1)[-1] if proc.parent else "<NA>"
    if pname == "containerd-shim-runc-v2":
        pname = "containerd-shim"
    cmdline = f"{name} {proc.arguments}".strip()
    fields: dict[str, Any] = {}
    if pod is not None:
        image, tag = pod.workload.image.rsplit(":", 1)
        fields.update({
            "container.id": proc.container_id[:12],
            "container.image.repository": image,
            "container.image.tag": tag,
            "container.name": pod.workload.container,
        })
    else:
        fields.update({"container.id": "host", "container.image.repository": None,
                       "container.image.tag": None, "container.name": "host"})
    if evt_type == "execve":
        fields["evt.arg.flags"] = "EXE_WRITABLE" if tty else "0"
    fields["evt.time"] = wt
    fields["evt.type"] = evt_type
    fields.update(extra or {})
    fields["k8s.ns.name"] = pod.namespace if pod else None
    fields["k8s.pod.name"] = pod.name if pod else None
    fields.update({
        "proc.cmdline": cmdline,
        "proc.exepath": proc.binary,
        "proc.name": name,
        "proc.pid": proc.pid,
        "proc.pname": pname,
        "proc.tty": tty,
        "user.loginuid": -1,
        "user.name": "root" if proc.uid == 0 else "<NA>",
        "user.uid": proc.uid,
    })
    fields = dict(sorted(fields.items()))
    detail = " ".join(
        [f"{k}={v}" for k, v in (extra or {}).items()]
        + [f"evt_type={evt_type}", f"user={fields['user.name']}", f"user_uid={proc.uid}",
           "user_loginuid=-1", f"process={name}", f"proc_exepath={proc.binary}",
           f"parent={pname}", f"command={cmdline}", f"terminal={tty}",
           f"container_id={fields['container.id']}",
           f"container_name={fields['container.name']}",
           f"k8s_ns={fields['k8s.ns.name'] or '<NA>'}",
           f"k8s_pod_name={fields['k8s.pod.name'] or '<NA>'}"])
    alert = {
        "hostname": node.name,
        "output": f"{falco_output_time(wt)}: {spec['priority']} {spec['text']} ({detail})",
        "output_fields": fields,
        "priority": spec["priority"],
        "rule": rule,
        "source": "syscall",
        "tags": spec["tags"],
        "time": nano_time(wt),
    }
    sink.add(node.name, "falco", wt, alert, critical)
    return alert
