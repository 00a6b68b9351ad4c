"""Cilium Tetragon JSON export (``tetra getevents -o json`` and the export file).

One event per line: ``{"<event type>": {...}, "node_name": ..., "time": ...}``.  Every event type
Tetragon has written is recognised (``process_exec``, ``process_exit``, ``process_kprobe``,
``process_tracepoint``, ``process_uprobe``, ``process_lsm``, ``process_loader``,
``process_throttle`` and the older ``process_connect``/``process_listen``/``process_close`` with
flat ``source_ip``/``destination_ip`` fields).  A line with another ``process_*`` key is still
loaded, with that key as ``kind``.  Old schemas (no ``workload``, ``tid``, ``ns``, ``cap``) load
with those columns NULL; of the newer fields ``in_init_tree`` and ``cluster_name`` are read when
present, ``ancestors``, ``node_labels`` and the process's ``ns`` (namespaces) are left in the raw
line (``case.raw``).
"""

from __future__ import annotations

import json
import re

from kernelsec_nb.sources import falco, hubble  # their detection keys (see _OTHER_TOOLS)
from kernelsec_nb.sources._route import RouteSpec
from kernelsec_nb.sources._source import Capability, Mapping, Source
from kernelsec_nb.sources._sql import INT, epoch_ns, short_container_id, workload_from_pod

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
    "pid": INT,
    "tid": INT,
    "uid": INT,
    "auid": INT,
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
    "process_exit": {"signal": "VARCHAR", "status": INT, "time": "VARCHAR"},
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
        "source_port": INT,
        "destination_ip": "VARCHAR",
        "destination_port": INT,
        "protocol": "VARCHAR",
    },
    "process_close": {
        "source_ip": "VARCHAR",
        "source_port": INT,
        "destination_ip": "VARCHAR",
        "destination_port": INT,
        "protocol": "VARCHAR",
    },
    "process_listen": {"ip": "VARCHAR", "port": INT, "protocol": "VARCHAR"},
}

#: Kinds that become rows of the ``kprobes`` table (hooks and the old socket events).
HOOK_KINDS = [k for k in KINDS if k not in ("process_exec", "process_exit", "process_loader")]

#: What is read of the ``parent`` (its capabilities, labels and namespaces are those of its own
#: exec event; parsing them for every event cost a fifth of the load).  Its pod is read, for a
#: parent the capture has no event of (a container's main process started before the capture);
#: hook events read only the parent's exec_id (see :func:`route_structure`).
PARENT_PROCESS = {**{k: PROCESS[k] for k in ("exec_id", "parent_exec_id", "pid", "uid", "cwd", "binary",
                                             "arguments", "flags", "start_time", "in_init_tree")},
                  "pod": {"namespace": "VARCHAR", "name": "VARCHAR", "workload": "VARCHAR",
                          "container": {"id": "VARCHAR"}}}

# Every event type's body, merged: the fields of one type are NULL for the others.
_BODY: dict[str, object] = {"process": PROCESS, "parent": PARENT_PROCESS,
                            "type": "VARCHAR", "cgroup": "VARCHAR"}
for _extra in KINDS.values():
    _BODY.update(_extra)

# Parsing one body structure is ~5x faster than one structure per event type, so each line is
# first rewritten from ``{"process_exec": {...}, ...}`` to ``{"kind": "process_exec", "ev": {...},
# ...}``.  Tetragon writes the event first (protobuf field order); a line where it is not first
# is rebuilt with JSON functions instead (slower, same result).  Only a *top-level* ``process_*``
# key counts: a flow or an alert whose text merely contains "process_ (in a URL or a command
# line: attacker-controlled) is left as it is.
_FIRST_KEY = r'^\s*\{\s*"(process_[a-z0-9_]+)"\s*:'
_TOP = ("node_name", "time", "cluster_name")
_TOP_KEY = "list_filter(json_keys(raw), lambda k: starts_with(k, 'process_'))[1]"  # (LIKE: _ is a wildcard)
NORMALISE_SQL = (
    f"WHEN regexp_matches(raw, '{_FIRST_KEY}') "
    f"THEN regexp_replace(raw, '{_FIRST_KEY}', '{{\"kind\":\"\\1\",\"ev\":') "
    f"WHEN contains(raw, '\"process_') AND TRY({_TOP_KEY}) IS NOT NULL THEN coalesce(TRY(CAST(json_object("
    f"'kind', {_TOP_KEY}, 'ev', json_extract(raw, '$.\"' || {_TOP_KEY} || '\"'), "
    + ", ".join(f"'{k}', raw->'{k}'" for k in _TOP)
    + ") AS VARCHAR)), raw) "
)

STRUCTURE: dict[str, object] = {
    "kind": "VARCHAR",
    "ev": _BODY,
    "node_name": "VARCHAR",
    "cluster_name": "VARCHAR",
    "time": "VARCHAR",
}

DETECT_SQL = "(j.kind IS NOT NULL)"
KIND_SQL = "j.kind"

#: The kprobe/tracepoint/uprobe/lsm ``args`` fields flattened into columns: a list of one-key
#: objects, parsed once into this structure (the whole list is also kept as JSON text).
HOOK_ARG: dict[str, object] = {
    "sock_arg": {"saddr": "VARCHAR", "sport": INT, "daddr": "VARCHAR", "dport": INT,
                 "protocol": "VARCHAR"},
    "file_arg": {"path": "VARCHAR"},
    "path_arg": {"path": "VARCHAR"},
    "linux_binprm_arg": {"path": "VARCHAR"},  # security_bprm_* hooks: the program being run
    "sockaddr_arg": {"addr": "VARCHAR", "port": INT},  # security_socket_connect/bind hooks
    "capability_arg": {"name": "VARCHAR"},
}
_HOOKS = "('process_kprobe', 'process_tracepoint', 'process_uprobe', 'process_lsm')"

#: Columns computed once per line before the others (they are referenced many times).
PRELUDE: dict[str, str] = {
    "proc": "j.ev.process",
    "par": "j.ev.parent",
    "hargs": f"CASE WHEN j.kind IN {_HOOKS} THEN TRY(json_transform(j.ev.args, '{json.dumps([HOOK_ARG])}')) END",
}


def _first(field: str) -> str:
    """SQL for ``field`` of the first hook argument that has it (positions 1-4 directly, the
    rest through a filter, which costs more)."""
    direct = ", ".join(f"hargs[{i}].{field}" for i in range(1, 5))
    return (f"coalesce({direct}, CASE WHEN len(hargs) > 4 THEN "
            f"list_filter(hargs, lambda a: a.{field} IS NOT NULL)[1].{field} END)")


#: Computed from ``hargs`` once per line (each is used by several columns).
PRELUDE_ARGS: dict[str, str] = {
    "sock": _first("sock_arg"),
    "fpath": f"coalesce({_first('file_arg.path')}, {_first('path_arg.path')}, {_first('linux_binprm_arg.path')})",
    "sockaddr": _first("sockaddr_arg"),
    "capname": _first("capability_arg.name"),
}
#: A ``sockaddr_arg`` is the address a socket binds to in a bind hook, else the one it connects to.
_BIND = "contains(lower(coalesce(j.ev.function_name, '')), 'bind')"
P = "proc"
PARENT = "par"


def _ev(kinds: tuple[str, ...], field: str) -> str:
    """``j.ev.<field>`` when the line is one of ``kinds``."""
    names = ", ".join(f"'{k}'" for k in kinds)
    return f"CASE WHEN j.kind IN ({names}) THEN j.ev.{field} END"


_SOCKET_KINDS = ("process_connect", "process_close")

#: An event whose top-level ``time`` is written but unreadable (not RFC 3339) takes its time from
#: a fallback, as one without it does; the load counts it under this message.  (message, the
#: written time, the fallback: SQL over ``j``; ``time_ns`` is the first of the two.)
TIME_FALLBACK = ("time unreadable, the exit or process start time used", epoch_ns("j.time"),
                 f"coalesce({epoch_ns(_ev(('process_exit',), 'time'))}, "
                 f"{epoch_ns(_ev(('process_exec',), 'process.start_time'))})")

#: Columns of the common ``events`` table, as SQL over the parsed line ``j``.
EVENT_COLUMNS: dict[str, str] = {
    # Old exports may lack the top-level "time": fall back to the exit time, then the exec's
    # process start time (documented in the README).
    "time_ns": f"coalesce({TIME_FALLBACK[1]}, {TIME_FALLBACK[2]})",
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
    "src_ip": "coalesce(j.ev.source_ip, j.ev.ip)",
    "src_port": "coalesce(j.ev.source_port, j.ev.port)",
    "dst_ip": "j.ev.destination_ip",
    "dst_port": "j.ev.destination_port",
    "protocol": _ev(("process_connect", "process_close", "process_listen"), "protocol"),
    # what the event is about: the hook, the uprobe's symbol and library, the exit's signal, the
    # library a loader event loaded, a throttle's start or stop and cgroup
    "summary": "coalesce(j.ev.function_name, j.ev.subsys || '/' || j.ev.event, "
    f"j.ev.symbol || coalesce(' in ' || {_ev(('process_uprobe',), 'path')}, ''), nullif(j.ev.signal, ''), "
    f"{_ev(('process_loader',), 'path')}, "
    f"nullif(concat_ws(' ', {_ev(('process_throttle',), 'type')}, {_ev(('process_throttle',), 'cgroup')}), ''))",
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
    # Tetragon leaves a zero status out (protobuf JSON): a clean exit is 0; killed by a signal, NULL
    "exit_status": "CASE WHEN j.kind = 'process_exit' THEN coalesce(j.ev.status, "
    "CASE WHEN coalesce(j.ev.signal, '') = '' THEN '0' END) END",
    "signal": "nullif(" + _ev(("process_exit",), "signal") + ", '')",
    **_proc_cols(PARENT, "parent_"),
    "parent_namespace": f"({PARENT}).pod.namespace",
    "parent_pod": f"({PARENT}).pod.name",
    "parent_workload": f"coalesce(({PARENT}).pod.workload, {workload_from_pod(f'({PARENT}).pod.name')})",
    "parent_container_id": short_container_id(f"({PARENT}).pod.container.id"),
    "parent_in_init_tree": f"({PARENT}).in_init_tree",
}

#: Columns of the ``kprobes`` table (kprobe/tracepoint/uprobe/lsm hooks and old socket events).
HOOK_COLUMNS: dict[str, str] = {
    "function_name": "coalesce(j.ev.function_name, j.ev.subsys || '/' || j.ev.event, j.ev.symbol, "
    "replace(j.kind, 'process_', ''))",
    "policy_name": "j.ev.policy_name",
    "action": "j.ev.action",
    "return_value": "CAST(j.ev.return AS VARCHAR)",
    "saddr": f"coalesce(sock.saddr, j.ev.source_ip, j.ev.ip, CASE WHEN {_BIND} THEN sockaddr.addr END)",
    "sport": f"coalesce(sock.sport, j.ev.source_port, j.ev.port, CASE WHEN {_BIND} THEN sockaddr.port END)",
    "daddr": f"coalesce(sock.daddr, j.ev.destination_ip, CASE WHEN NOT {_BIND} THEN sockaddr.addr END)",
    "dport": f"coalesce(sock.dport, j.ev.destination_port, CASE WHEN NOT {_BIND} THEN sockaddr.port END)",
    "protocol": "coalesce(replace(sock.protocol, 'IPPROTO_', ''), "
    + _ev(("process_connect", "process_close", "process_listen"), "protocol") + ")",
    "file_path": "fpath",
    "capability": "capname",
    "hook_args": "CAST(j.ev.args AS VARCHAR)",
    "start_ns": epoch_ns(f"({P}).start_time"),
    "in_init_tree": f"({P}).in_init_tree",
}


# -- fast routes ---------------------------------------------------------------------------------
# Tetragon writes the event first (``{"process_kprobe":{...},"node_name":...}``).  A line that
# starts that way is parsed against its own kind's structure: no rewrite into the union shape,
# and hooks read only the process fields their columns use.  Other lines take the general path.

#: The process fields the ``kprobes`` and ``events`` columns read.
_HOOK_PROCESS: dict[str, object] = {
    **{k: PROCESS[k] for k in ("exec_id", "parent_exec_id", "pid", "uid", "binary", "arguments",
                               "docker", "start_time", "in_init_tree")},
    "pod": {"namespace": "VARCHAR", "name": "VARCHAR", "workload": "VARCHAR",
            "container": {"id": "VARCHAR"}},
}

#: Event kinds with a fast route, and the table their rows go to.
ROUTES: dict[str, str] = {
    "process_exec": "process_events",
    "process_exit": "process_events",
    "process_kprobe": "kprobes",
    "process_tracepoint": "kprobes",
    "process_uprobe": "kprobes",
    "process_lsm": "kprobes",
}


def route_prefix(kind: str) -> str:
    """The exact start of a line of ``kind`` as Tetragon writes it."""
    return '{"' + kind + '":'


#: Top-level keys that make the general path take a line for another tool (see sources.SOURCE_SQL:
#: a Hubble ``flow`` object, or a Falco ``rule`` with ``output`` or ``priority``); a route reads
#: them too and hands such an odd line on, so that both paths agree on it.  (Absent scalar keys
#: cost next to nothing to parse; a ``contains`` over every line cost a tenth of the load.)
_OTHER_TOOLS: dict[str, object] = {"flow": "JSON",  # non-null exactly when the FLOW struct is (any value
                                   # but JSON null); reading it as FLOW built its empty vectors for every line
                                   **{k: falco.STRUCTURE[k] for k in ("rule", "output", "priority")}}
_ROUTE_PRESENT = (f"x IS NOT NULL AND NOT ({hubble.DETECT_SQL} OR {falco.DETECT_SQL})"
                  .replace("j.", "x."))


def route_structure(kind: str) -> str:
    """The ``json_transform`` structure of a line of ``kind`` (event key first)."""
    body = dict(_BODY)
    if ROUTES[kind] == "kprobes":
        body |= {"process": _HOOK_PROCESS, "parent": {"exec_id": "VARCHAR"}}
    return json.dumps({kind: body, "node_name": "VARCHAR", "cluster_name": "VARCHAR", "time": "VARCHAR",
                       **_OTHER_TOOLS})


#: Prelude columns a route computes (``proc``/``par`` are read from the parsed line directly).
ROUTE_PRELUDE: dict[str, str] = {k: v for k, v in PRELUDE.items() if k not in (P, PARENT)}


def on_route(expr: str, kind: str) -> str:
    """A column expression over ``j`` rewritten to read the line ``x`` parsed against
    :func:`route_structure` of ``kind`` directly: ``j.ev`` becomes ``x."<kind>"``, ``(proc)`` its
    process, ``j.kind`` a constant.  (Intermediate ``ev``/``proc`` columns cost a third of the
    kprobe insert: each projection layer carried the big structs along.)"""
    body = f'x."{kind}"'
    for old, new in ((f"({P})", f"({body}.process)"), (f"({PARENT})", f"({body}.parent)"),
                     ("j.ev.", f"{body}."), ("j.ev", body), ("j.kind", f"'{kind}'"),
                     ("j.node_name", "x.node_name"), ("j.cluster_name", "x.cluster_name"),
                     ("j.time", 'x."time"')):
        expr = expr.replace(old, new)
    if re.search(r"\bj\.|\b(proc|par)\b", expr):
        raise ValueError(f"expression reads a part of j that routes do not have: {expr}")
    return expr


def routes() -> list[RouteSpec]:
    """The fast routes: one per kind in :data:`ROUTES`."""
    return [
        RouteSpec("tetragon", kind, table, route_prefix(kind), route_structure(kind),
                  {**EVENT_COLUMNS, "kind": "j.kind"}, lambda e, k=kind: on_route(e, k),
                  (ROUTE_PRELUDE, PRELUDE_ARGS), present=_ROUTE_PRESENT)
        for kind, table in ROUTES.items()
    ]


#: Kinds with a table of their own (the other ``process_*`` kinds are hooks: ``kprobes``).
_KINDS_OWN = "('process_exec', 'process_exit', 'process_loader', 'process_throttle')"

SOURCE = Source(
    name="tetragon", title="Tetragon", detect=DETECT_SQL, kind=KIND_SQL, structure=STRUCTURE,
    event=EVENT_COLUMNS,
    maps=(Mapping("process_events", "kind IN ('process_exec', 'process_exit')", PROCESS_EVENT_COLUMNS),
          Mapping("kprobes", f"kind NOT IN {_KINDS_OWN}", HOOK_COLUMNS),
          Mapping("other_events", "kind IN ('process_loader', 'process_throttle')")),
    capabilities=frozenset({Capability.PROCESS_EVENTS, Capability.HOOKS, Capability.FILE_ACCESS,
                            Capability.CONNECTIONS}),
    samples=("public/tetragon/**/*.json",),
    route_keys=('"process_',),
    precedence=30, order=10, normalise=NORMALISE_SQL, prelude=PRELUDE, prelude_args=PRELUDE_ARGS,
    time_fallback=TIME_FALLBACK, routes=routes, color="#0072B2",
)
