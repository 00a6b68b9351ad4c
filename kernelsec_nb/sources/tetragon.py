"""Cilium Tetragon JSON export (``tetra getevents -o json`` and the export file).

One event per line: ``{"<event type>": {...}, "node_name": ..., "time": ...}``.  Every event type
Tetragon has written is recognised (``process_exec``, ``process_exit``, ``process_kprobe``,
``process_tracepoint``, ``process_uprobe``, ``process_lsm``, ``process_loader``,
``process_throttle`` and the older ``process_connect``/``process_listen``/``process_close`` with
flat ``source_ip``/``destination_ip`` fields).  A line with another ``process_*`` key is still
loaded, with that key as ``kind``.  Old schemas (no ``workload``, ``tid``, ``ns``, ``cap``) load
with those columns NULL; newer fields (``ancestors``, ``in_init_tree``, ``cluster_name``,
``node_labels``) are read when present.
"""

from __future__ import annotations

from kernelsec_nb.sources._sql import epoch_ns, short_container_id, workload_from_pod

_IMAGE = {"id": "VARCHAR", "name": "VARCHAR"}
_CONTAINER = {
    "id": "VARCHAR",
    "name": "VARCHAR",
    "image": _IMAGE,
    "start_time": "VARCHAR",
    "pid": "BIGINT",
    "maybe_exec_probe": "BOOLEAN",
}
_POD = {
    "namespace": "VARCHAR",
    "name": "VARCHAR",
    "container": _CONTAINER,
    "pod_labels": "MAP(VARCHAR, VARCHAR)",
    "workload": "VARCHAR",
    "workload_kind": "VARCHAR",
}
_CAPS = {"permitted": ["VARCHAR"], "effective": ["VARCHAR"], "inheritable": ["VARCHAR"]}
PROCESS = {
    "exec_id": "VARCHAR",
    "parent_exec_id": "VARCHAR",
    "pid": "BIGINT",
    "tid": "BIGINT",
    "uid": "BIGINT",
    "auid": "BIGINT",
    "cwd": "VARCHAR",
    "binary": "VARCHAR",
    "arguments": "VARCHAR",
    "flags": "VARCHAR",
    "start_time": "VARCHAR",
    "in_init_tree": "BOOLEAN",
    "pod": _POD,
    "docker": "VARCHAR",
    "cap": _CAPS,
}

#: Event types with a process and a parent; their extra fields follow.
KINDS: dict[str, dict[str, object]] = {
    "process_exec": {},
    "process_exit": {"signal": "VARCHAR", "status": "BIGINT", "time": "VARCHAR"},
    "process_kprobe": {
        "function_name": "VARCHAR",
        "args": "JSON",
        "return": "JSON",
        "action": "VARCHAR",
        "policy_name": "VARCHAR",
        "return_action": "VARCHAR",
    },
    "process_tracepoint": {
        "subsys": "VARCHAR",
        "event": "VARCHAR",
        "args": "JSON",
        "policy_name": "VARCHAR",
        "action": "VARCHAR",
    },
    "process_uprobe": {"path": "VARCHAR", "symbol": "VARCHAR", "policy_name": "VARCHAR", "args": "JSON"},
    "process_lsm": {
        "function_name": "VARCHAR",
        "args": "JSON",
        "policy_name": "VARCHAR",
        "action": "VARCHAR",
    },
    "process_loader": {"path": "VARCHAR", "buildid": "VARCHAR"},
    "process_connect": {
        "source_ip": "VARCHAR",
        "source_port": "BIGINT",
        "destination_ip": "VARCHAR",
        "destination_port": "BIGINT",
        "protocol": "VARCHAR",
    },
    "process_close": {
        "source_ip": "VARCHAR",
        "source_port": "BIGINT",
        "destination_ip": "VARCHAR",
        "destination_port": "BIGINT",
        "protocol": "VARCHAR",
    },
    "process_listen": {"ip": "VARCHAR", "port": "BIGINT", "protocol": "VARCHAR"},
}

#: Kinds that become rows of the ``kprobes`` table (hooks and the old socket events).
HOOK_KINDS = [k for k in KINDS if k not in ("process_exec", "process_exit", "process_loader")]

STRUCTURE: dict[str, object] = {
    **{kind: {"process": PROCESS, "parent": PROCESS, **extra} for kind, extra in KINDS.items()},
    "process_throttle": {"type": "VARCHAR", "cgroup": "VARCHAR"},
    "node_name": "VARCHAR",
    "cluster_name": "VARCHAR",
    "time": "VARCHAR",
}

_TOP_KEYS = "['node_name', 'time', 'cluster_name', 'node_labels', 'aggregation_info']"

DETECT_SQL = "(" + " OR ".join(f"j.{k} IS NOT NULL" for k in [*KINDS, "process_throttle"]) + ")"

#: A Tetragon line of a type we do not know yet (checked last: it reads the keys again).
DETECT_UNKNOWN_SQL = (
    "((j.node_name IS NOT NULL OR j.time IS NOT NULL) AND len(list_filter(json_keys(raw), "
    f"lambda k: k LIKE 'process_%' AND NOT list_contains({_TOP_KEYS}, k))) > 0)"
)

KIND_SQL = (
    "CASE "
    + " ".join(f"WHEN j.{k} IS NOT NULL THEN '{k}'" for k in [*KINDS, "process_throttle"])
    + f" ELSE list_filter(json_keys(raw), lambda k: NOT list_contains({_TOP_KEYS}, k))[1] END"
)


def _pick(path: str) -> str:
    """SQL taking ``<kind>.<path>`` from whichever event type the line carries."""
    return "coalesce(" + ", ".join(f"j.{k}.{path}" for k in KINDS) + ")"


_HOOKS = ("process_kprobe", "process_tracepoint", "process_uprobe", "process_lsm")

#: Columns computed once per line before the others (they are referenced many times).
PRELUDE: dict[str, str] = {
    "proc": _pick("process"),
    "par": _pick("parent"),
    "hargs": "CAST(coalesce(" + ", ".join(f"j.{k}.args" for k in _HOOKS) + ") AS JSON[])",
}
P = "proc"
PARENT = "par"

#: Columns of the common ``events`` table, as SQL over the parsed line ``j``.
EVENT_COLUMNS: dict[str, str] = {
    # Old exports may lack the top-level "time": fall back to the exit time, then the exec's
    # process start time (documented in the README).
    "time_ns": f"coalesce({epoch_ns('j.time')}, {epoch_ns('j.process_exit.time')}, "
    f"{epoch_ns('j.process_exec.process.start_time')})",
    "node": "j.node_name",
    "cluster": "j.cluster_name",
    "namespace": f"({P}).pod.namespace",
    "pod": f"({P}).pod.name",
    "workload": f"coalesce(({P}).pod.workload, {workload_from_pod(f'({P}).pod.name')})",
    "container_id": short_container_id(f"coalesce(({P}).pod.container.id, ({P}).docker)"),
    "exec_id": f"({P}).exec_id",
    "parent_exec_id": f"coalesce(({P}).parent_exec_id, ({PARENT}).exec_id)",
    "pid": f"({P}).pid",
    "uid": f"({P}).uid",
    "binary": f'({P})."binary"',
    "args": f"({P}).arguments",
    "src_ip": "coalesce(j.process_connect.source_ip, j.process_close.source_ip, j.process_listen.ip)",
    "src_port": "coalesce(j.process_connect.source_port, j.process_close.source_port, j.process_listen.port)",
    "dst_ip": "coalesce(j.process_connect.destination_ip, j.process_close.destination_ip)",
    "dst_port": "coalesce(j.process_connect.destination_port, j.process_close.destination_port)",
    "protocol": "coalesce(j.process_connect.protocol, j.process_close.protocol, j.process_listen.protocol)",
    "summary": f"coalesce(j.process_kprobe.function_name, j.process_lsm.function_name, "
    f"j.process_tracepoint.subsys || '/' || j.process_tracepoint.event, j.process_uprobe.symbol, "
    f"j.process_exit.signal)",
}


def _proc_cols(p: str, prefix: str) -> dict[str, str]:
    return {
        f"{prefix}exec_id": f"({p}).exec_id",
        f"{prefix}pid": f"({p}).pid",
        f"{prefix}uid": f"({p}).uid",
        f"{prefix}binary": f'({p})."binary"',
        f"{prefix}args": f"({p}).arguments",
        f"{prefix}cwd": f"({p}).cwd",
        f"{prefix}flags": f"({p}).flags",
        f"{prefix}start_ns": epoch_ns(f"({p}).start_time"),
        f"{prefix}parent_exec_id": f"({p}).parent_exec_id",
    }


#: Columns of ``process_events`` (exec and exit events, with the process and its parent).
PROCESS_EVENT_COLUMNS: dict[str, str] = {
    **_proc_cols(P, ""),
    "tid": f"({P}).tid",
    "auid": f"({P}).auid",
    "in_init_tree": f"({P}).in_init_tree",
    "namespace": f"({P}).pod.namespace",
    "pod": f"({P}).pod.name",
    "workload": f"coalesce(({P}).pod.workload, {workload_from_pod(f'({P}).pod.name')})",
    "workload_kind": f"({P}).pod.workload_kind",
    "container_id": short_container_id(f"coalesce(({P}).pod.container.id, ({P}).docker)"),
    "container_full_id": f"regexp_replace(({P}).pod.container.id, '^[a-z0-9-]+://', '')",
    "container_name": f"({P}).pod.container.name",
    "image": f"({P}).pod.container.image.name",
    "pod_labels": f"({P}).pod.pod_labels",
    "cap_permitted": f"({P}).cap.permitted",
    "cap_effective": f"({P}).cap.effective",
    "cap_inheritable": f"({P}).cap.inheritable",
    "exit_status": "j.process_exit.status",
    "signal": "nullif(j.process_exit.signal, '')",
    **_proc_cols(PARENT, "parent_"),
}

_SOCK = "(list_filter(hargs, lambda a: (a->'sock_arg') IS NOT NULL)[1]->'sock_arg')"
_FILE = ("(list_filter(hargs, lambda a: (a->'file_arg') IS NOT NULL "
         "OR (a->'path_arg') IS NOT NULL)[1])")
_CAP = "(list_filter(hargs, lambda a: (a->'capability_arg') IS NOT NULL)[1]->'capability_arg')"

#: Columns of the ``kprobes`` table (kprobe/tracepoint/uprobe/lsm hooks and old socket events).
HOOK_COLUMNS: dict[str, str] = {
    "function_name": "coalesce(j.process_kprobe.function_name, j.process_lsm.function_name, "
    "j.process_tracepoint.subsys || '/' || j.process_tracepoint.event, j.process_uprobe.symbol, "
    "replace(kind, 'process_', ''))",
    "policy_name": "coalesce(j.process_kprobe.policy_name, j.process_tracepoint.policy_name, "
    "j.process_uprobe.policy_name, j.process_lsm.policy_name)",
    "action": "coalesce(j.process_kprobe.action, j.process_tracepoint.action, j.process_lsm.action)",
    "return_value": "CAST(j.process_kprobe.return AS VARCHAR)",
    "saddr": f"coalesce({_SOCK}->>'saddr', j.process_connect.source_ip, j.process_close.source_ip, j.process_listen.ip)",
    "sport": f"coalesce(TRY_CAST({_SOCK}->>'sport' AS BIGINT), j.process_connect.source_port, "
    "j.process_close.source_port, j.process_listen.port)",
    "daddr": f"coalesce({_SOCK}->>'daddr', j.process_connect.destination_ip, j.process_close.destination_ip)",
    "dport": f"coalesce(TRY_CAST({_SOCK}->>'dport' AS BIGINT), j.process_connect.destination_port, "
    "j.process_close.destination_port)",
    "protocol": f"coalesce(replace({_SOCK}->>'protocol', 'IPPROTO_', ''), j.process_connect.protocol, "
    "j.process_close.protocol, j.process_listen.protocol)",
    "file_path": f"coalesce({_FILE}->'file_arg'->>'path', {_FILE}->'path_arg'->>'path')",
    "capability": f"{_CAP}->>'name'",
    "hook_args": "CAST(hargs AS VARCHAR)",
}
