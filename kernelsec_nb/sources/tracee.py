"""Aqua Tracee events (``tracee --output json``: the ``trace.Event`` JSON of Tracee up to v0.23).

One event per line: ``timestamp`` (epoch ns, an integer), ``eventName``/``eventId`` (a string),
the process (``processId`` … namespace-local, ``hostProcessId``/``hostThreadId``/
``hostParentProcessId`` host pids, ``threadStartTime``, ``processName``, ``userId``,
``mountNamespace``), ``hostName``, the container and pod (flat ``containerId``/``podName``… up to
early 2023, nested ``container``/``kubernetes`` since; both read), and ``args``: a list of
``{name, type, value}`` whose value may be any JSON type.  Signature findings (``eventId`` ≥ 6000)
add ``metadata`` (``Description``, ``Properties`` with the ATT&CK ``external_id``, ``Category``,
``Severity``).  Lines are claimed by their top-level ``eventName`` and ``hostProcessId`` keys and parsed
against this structure alone.

Where the events go (``source`` = ``tracee``, ``kind`` in the event model's words):

* ``sched_process_exec`` and successful ``execve``/``execveat`` → ``process_events``, kind
  ``process_exec`` (``binary`` the ``pathname`` argument, ``args`` the ``argv`` after the first);
  ``sched_process_exit`` → kind ``process_exit`` (``exit_status`` its ``exit_code``);
* file opens (``open``, ``openat``, ``openat2``, ``security_file_open``, ...) and socket calls
  (``connect``, ``accept``, ``bind``, ``security_socket_*``) → ``kprobes`` with ``function_name``
  the event name, ``file_path``, ``daddr``/``dport`` (or ``saddr``/``sport`` for a bind);
* signature findings → ``alerts``: ``rule`` the signature's name, ``tags`` the technique id and
  ``mitre_<category>`` (as Falco tags them), ``priority`` from ``Severity`` (0 Informational,
  1 Notice, 2 Warning, 3 Error, 4 Critical), ``fields`` the properties and ``syscall`` (the system
  call the signature fired on);
* every other event (``net_packet_*`` with its addresses, DNS question and HTTP request,
  ``read``, ``mount`` ...) → ``other_events`` with its name as ``kind``.

**Exec identity.**  ``exec_id`` is ``tracee:<hostName>:<processEntityId>`` when Tracee writes the
entity ids (v0.19+: a hash of the process's start time and host pid), with ``parentEntityId`` for
the parent; otherwise ``tracee:<hostName>:<hostProcessId>`` and ``…:<hostParentProcessId>`` (the
parent's start time is not written, so a pid reused on a host within one capture is one
process).  The exec of a process keeps its id (Tetragon gives each exec a new one).  ``start_ns``
is ``threadStartTime`` of a thread-group leader when it is an epoch time (the 2022 samples write
it boot-relative: NULL).  ``in_init_tree`` is true for a container's init (``processId`` 1 in a pid
namespace of its own), NULL for every other process: Tracee does not say whether a process
descends from it (the findings resolve it from the parents).  An event whose ``timestamp`` is not an epoch time is quarantined.
"""

from __future__ import annotations

from kernelsec_nb.sources._source import Capability, Mapping, Source
from kernelsec_nb.sources._sql import INT, short_container_id, workload_from_pod

_ARG = {"name": "VARCHAR", "type": "VARCHAR", "value": "JSON"}
STRUCTURE: dict[str, object] = {
    "timestamp": INT, "threadStartTime": INT,
    **dict.fromkeys(("processId", "threadId", "parentProcessId", "hostProcessId", "hostThreadId",
                     "hostParentProcessId", "userId", "mountNamespace", "pidNamespace", "cgroupId"), INT),
    "processName": "VARCHAR", "hostName": "VARCHAR", "executable": {"path": "VARCHAR"},
    **dict.fromkeys(("containerId", "containerImage", "containerName", "podName", "podNamespace",
                     "podUID"), "VARCHAR"),
    "container": {"id": "VARCHAR", "name": "VARCHAR", "image": "VARCHAR", "imageDigest": "VARCHAR"},
    "kubernetes": {"podName": "VARCHAR", "podNamespace": "VARCHAR", "podUID": "VARCHAR"},
    "eventId": "VARCHAR", "eventName": "VARCHAR", "returnValue": INT, "syscall": "VARCHAR",
    "matchedPolicies": ["VARCHAR"], "processEntityId": INT, "parentEntityId": INT,
    "args": [_ARG],
    "metadata": {"Description": "VARCHAR", "Version": "VARCHAR", "Properties": "JSON"},
}

T = 'j."tracee"'  #: the parsed line
#: The earliest time taken for an epoch time (2000-01-01): a smaller ``timestamp`` or
#: ``threadStartTime`` counts from boot.
EPOCH_FLOOR_NS = 946_684_800_000_000_000


def _arg_sql(name: str) -> str:
    return f"list_filter({T}.args, lambda a: a.name = '{name}')[1].value"


#: The arguments the columns read, each looked up once per line (a prelude value, named
#: ``tracee_arg_<name>``) rather than once per column that reads it (~60 lookups a line).
ARGS_READ = ("pathname", "cmdpath", "syscall_pathname", "argv", "src", "src_port", "dst", "dst_port",
             "proto_http", "proto_dns", "remote_addr", "addr", "local_addr", "type", "exit_code")
PRELUDE = {f"tracee_arg_{name}": _arg_sql(name) for name in ARGS_READ}


def arg(name: str) -> str:
    """SQL for the value (JSON) of the argument ``name`` of the event (NULL when absent)."""
    return f"tracee_arg_{name}" if name in ARGS_READ else _arg_sql(name)


def arg_text(name: str) -> str:
    """SQL for the argument ``name`` as text (a string without its quotes, a number's digits)."""
    return f"nullif(json_extract_string({arg(name)}, '$'), '')"


def _epoch(expr: str) -> str:
    return f"CASE WHEN TRY_CAST({expr} AS BIGINT) >= {EPOCH_FLOOR_NS} THEN TRY_CAST({expr} AS BIGINT) END"


def _nz(expr: str) -> str:
    return f"nullif({expr}, '')"


_EXEC = "('sched_process_exec', 'execve', 'execveat')"
_FILE = "('open', 'openat', 'openat2', 'creat', 'security_file_open', 'security_inode_unlink', 'magic_write')"
_SOCKET = ("('connect', 'accept', 'accept4', 'bind', 'security_socket_connect', 'security_socket_accept', "
           "'security_socket_bind', 'security_socket_listen')")
_IS_SIGNATURE = f"(TRY_CAST({T}.eventId AS BIGINT) >= 6000 OR {T}.metadata.Properties IS NOT NULL)"

KIND_SQL = (f"CASE WHEN {_IS_SIGNATURE} THEN 'alert' "
            f"WHEN {T}.eventName = 'sched_process_exec' OR ({T}.eventName IN {_EXEC} AND {T}.returnValue = '0') "
            "THEN 'process_exec' "
            f"WHEN {T}.eventName = 'sched_process_exit' THEN 'process_exit' ELSE {T}.eventName END")

_ENTITY = f"{T}.processEntityId IS NOT NULL AND {T}.processEntityId <> '0'"
_HOST = f"coalesce({T}.hostName, '')"
EXEC_ID = (f"'tracee:' || {_HOST} || ':' || CASE WHEN {_ENTITY} THEN {T}.processEntityId "
           f"ELSE {T}.hostProcessId END")
PARENT_EXEC_ID = (f"'tracee:' || {_HOST} || ':' || CASE WHEN {_ENTITY} THEN {T}.parentEntityId "
                  f"ELSE {T}.hostParentProcessId END")
_NAMESPACE = f"coalesce({_nz(f'{T}.kubernetes.podNamespace')}, {_nz(f'{T}.podNamespace')})"
_POD = f"coalesce({_nz(f'{T}.kubernetes.podName')}, {_nz(f'{T}.podName')})"
_CONTAINER = f"coalesce({_nz(f'{T}.container.id')}, {_nz(f'{T}.containerId')})"
_KIND = KIND_SQL
_ARGV = f"TRY(CAST(json_transform({arg('argv')}, '[\"VARCHAR\"]') AS VARCHAR[]))"
_IS_EXEC = f"({_KIND}) = 'process_exec'"
#: The program run by an exec, else the process's executable, else its name.
_BINARY = (f"CASE WHEN {_IS_EXEC} THEN coalesce({arg_text('pathname')}, {arg_text('cmdpath')}) END")
_BINARY_ANY = f"coalesce({_BINARY}, {_nz(f'{T}.executable.path')}, {T}.processName)"
_ARGS = f"CASE WHEN {_IS_EXEC} THEN nullif(array_to_string({_ARGV}[2:], ' '), '') END"
_START = f"CASE WHEN {T}.hostThreadId = {T}.hostProcessId THEN {_epoch(f'{T}.threadStartTime')} END"
#: A container's init: pid 1 of a pid namespace of its own (``processId`` 1, its host pid another).
#: Tracee says no more of the container's tree; the rest is resolved from the parents
#: (:func:`kernelsec_nb.findings._init_tree.resolve_init_tree`).
_INIT = (f"CASE WHEN {_CONTAINER} IS NOT NULL AND TRY_CAST({T}.processId AS BIGINT) = 1 "
         f"AND TRY_CAST({T}.hostProcessId AS BIGINT) <> 1 THEN TRUE END")

# a net_packet_* event's packet: its addresses and what it carried
_PROTOCOL = (f"CASE {T}.eventName WHEN 'net_packet_tcp' THEN 'TCP' WHEN 'net_packet_udp' THEN 'UDP' "
             f"WHEN 'net_packet_icmp' THEN 'ICMP' WHEN 'net_packet_icmpv6' THEN 'ICMPv6' END")
_DNS = arg("proto_dns")
_HTTP = arg("proto_http")
_SOCKADDR = f"coalesce({arg('remote_addr')}, {arg('addr')}, {arg('local_addr')})"
_SOCK_IP = (f"coalesce(json_extract_string({_SOCKADDR}, '$.sin_addr'), "
            f"json_extract_string({_SOCKADDR}, '$.sin6_addr'))")
_SOCK_PORT = (f"coalesce(json_extract_string({_SOCKADDR}, '$.sin_port'), "
              f"json_extract_string({_SOCKADDR}, '$.sin6_port'))")
_BIND = f"contains({T}.eventName, 'bind') OR contains({T}.eventName, 'listen')"
_PROPS = f"{T}.metadata.Properties"


def _prop(key: str) -> str:
    return _nz(f"json_extract_string({_PROPS}, '$.{key}')")


_SEVERITY = (f"CASE TRY_CAST({_prop('Severity')} AS BIGINT) WHEN 0 THEN 'Informational' WHEN 1 THEN 'Notice' "
             "WHEN 2 THEN 'Warning' WHEN 3 THEN 'Error' WHEN 4 THEN 'Critical' END")
_RULE = f"coalesce({_prop('signatureName')}, {T}.eventName)"

EVENT_COLUMNS: dict[str, str] = {
    "time_ns": _epoch(f"{T}.timestamp"),
    "node": _nz(f"{T}.hostName"),
    "namespace": _NAMESPACE,
    "pod": _POD,
    "workload": workload_from_pod(_POD),
    "container_id": short_container_id(_CONTAINER),
    "exec_id": EXEC_ID,
    "parent_exec_id": PARENT_EXEC_ID,
    "pid": f"{T}.hostProcessId",
    "uid": f"{T}.userId",
    "binary": _BINARY_ANY,
    "args": _ARGS,
    "src_ip": arg_text("src"),
    "src_port": arg_text("src_port"),
    "dst_ip": f"coalesce({arg_text('dst')}, CASE WHEN NOT ({_BIND}) THEN {_SOCK_IP} END)",
    "dst_port": f"coalesce({arg_text('dst_port')}, CASE WHEN NOT ({_BIND}) THEN {_SOCK_PORT} END)",
    "protocol": _PROTOCOL,
    "http_method": _nz(f"json_extract_string({_HTTP}, '$.method')"),
    "http_path": _nz(f"json_extract_string({_HTTP}, '$.uri_path')"),
    "http_code": f"nullif(json_extract_string({_HTTP}, '$.status_code'), '0')",
    "dns_query": _nz(f"json_extract_string({_DNS}, '$.questions[0].name')"),
    "rule": f"CASE WHEN {_IS_SIGNATURE} THEN {_RULE} END",
    "priority": f"CASE WHEN {_IS_SIGNATURE} THEN {_SEVERITY} END",
    # the event's name, and what it was about
    "summary": f"concat_ws(' ', {T}.eventName, coalesce({arg_text('pathname')}, {arg_text('syscall_pathname')}))",
}

PROCESS_EVENT_COLUMNS: dict[str, str] = {
    "exec_id": EXEC_ID, "pid": f"{T}.hostProcessId", "uid": f"{T}.userId", "binary": _BINARY_ANY,
    "args": _ARGS, "start_ns": _START, "parent_exec_id": PARENT_EXEC_ID, "tid": f"{T}.hostThreadId",
    "namespace": _NAMESPACE, "pod": _POD, "workload": workload_from_pod(_POD),
    "container_id": short_container_id(_CONTAINER),
    "container_full_id": f"regexp_replace({_CONTAINER}, '^[a-z0-9-]+://', '')",
    "container_name": f"coalesce({_nz(f'{T}.container.name')}, {_nz(f'{T}.containerName')})",
    "image": f"coalesce({_nz(f'{T}.container.image')}, {_nz(f'{T}.containerImage')})",
    "exit_status": f"CASE WHEN {T}.eventName = 'sched_process_exit' THEN {arg_text('exit_code')} END",
    "parent_pid": f"{T}.hostParentProcessId",
    "in_init_tree": _INIT,
}

HOOK_COLUMNS: dict[str, str] = {
    "function_name": f"{T}.eventName",
    "policy_name": f"nullif(array_to_string({T}.matchedPolicies, ','), '')",
    "return_value": f"{T}.returnValue",
    "saddr": f"CASE WHEN {_BIND} THEN {_SOCK_IP} END",
    "sport": f"CASE WHEN {_BIND} THEN {_SOCK_PORT} END",
    "daddr": f"CASE WHEN NOT ({_BIND}) THEN {_SOCK_IP} END",
    "dport": f"CASE WHEN NOT ({_BIND}) THEN {_SOCK_PORT} END",
    "protocol": (f"CASE WHEN contains({arg_text('type')}, 'SOCK_STREAM') THEN 'TCP' "
                 f"WHEN contains({arg_text('type')}, 'SOCK_DGRAM') THEN 'UDP' END"),
    "file_path": f"coalesce({arg_text('pathname')}, {arg_text('syscall_pathname')})",
    "hook_args": f"CAST(to_json({T}.args) AS VARCHAR)",
    "start_ns": _START,
    "in_init_tree": _INIT,
}

ALERT_COLUMNS: dict[str, str] = {
    # the process by the identity of Tracee's own exec events: the finding is linked to them
    "exec_id": EXEC_ID,
    "rule": _RULE,
    "priority": _SEVERITY,
    "tags": f"list_filter([{_prop('external_id')}, 'mitre_' || replace({_prop('Category')}, '-', '_')], "
            "lambda t: t IS NOT NULL)",
    "ppid": f"{T}.hostParentProcessId",
    "proc_name": f"{T}.processName",
    "container_name": f"coalesce({_nz(f'{T}.container.name')}, {_nz(f'{T}.containerName')})",
    "image": f"coalesce({_nz(f'{T}.container.image')}, {_nz(f'{T}.containerImage')})",
    "output": f"{T}.metadata.Description",
    # the properties, and the system call the signature fired on (``syscall``: a rule on a process
    # start saw a program run, :func:`kernelsec_nb.findings.detections.event_claims`)
    "fields": f"CASE WHEN {_PROPS} IS NOT NULL OR {T}.syscall IS NOT NULL THEN TRY(CAST(json_transform("
              f"json_merge_patch(coalesce({_PROPS}, '{{}}'), json_object('syscall', {T}.syscall)), "
              "'\"MAP(VARCHAR, VARCHAR)\"') AS MAP(VARCHAR, VARCHAR))) END",
}

SOURCE = Source(
    name="tracee", title="Tracee",
    # Tracee's lines carry these two at the top level
    claim=(("eventName", "hostProcessId"),),
    detect=f"{T}.eventName IS NOT NULL",
    kind=KIND_SQL, structure=STRUCTURE, event=EVENT_COLUMNS, prelude=PRELUDE,
    maps=(Mapping("process_events", "kind IN ('process_exec', 'process_exit')", PROCESS_EVENT_COLUMNS),
          Mapping("alerts", "kind = 'alert'", ALERT_COLUMNS),
          Mapping("kprobes", f"kind IN {_FILE} OR kind IN {_SOCKET}", HOOK_COLUMNS),
          Mapping("other_events", f"kind NOT IN ('process_exec', 'process_exit', 'alert') AND kind NOT IN {_FILE} "
                                  f"AND kind NOT IN {_SOCKET}")),
    capabilities=frozenset({Capability.PROCESS_EVENTS, Capability.FILE_ACCESS, Capability.CONNECTIONS,
                            Capability.DNS, Capability.ALERTS}),
    samples=("public-new-sources/tracee/*.ndjson",),
    order=15, color="#CC79A7",
)
