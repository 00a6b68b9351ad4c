"""Inspektor Gadget events (``kubectl gadget run|trace … -o json``, ``ig run|trace … -o json`` or
``-o jsonpretty``).

One object per event (a line, or a pretty-printed document).  The output does not name its
gadget: the kind is read from the fields (see :data:`KIND_SQL`).  Schemas differ by version, all
read:

* image-based gadgets (``run trace_exec|trace_open|trace_tcp|trace_dns``, 2024+): Kubernetes
  context in ``k8s`` {``node``, ``namespace``, ``podName``, ``containerName``, ``owner``}, the
  container in ``runtime`` {``containerId``, ``containerName``, ``containerImageName`` …}, the
  process in ``proc`` {``comm``, ``pid``, ``tid``, ``mntns_id``, ``parent`` {``comm``, ``pid``},
  ``creds``} or flat (``comm``, ``pid``, ``mntns_id``), ``timestamp`` an RFC 3339 string (``Z`` from
  kubectl gadget, the local offset from ``ig``) with ``timestamp_raw`` epoch ns;
* built-in gadgets (``trace exec|open|tcp|dns|mount``, up to v0.3x): ``timestamp`` integer ns,
  ``mountnsid``, flat ``node``/``namespace``/``pod``/``container`` (v0.10) or ``k8s`` {``pod``,
  ``container``}.

Where the events go (``source`` = ``inspektor_gadget``):

* exec (``args``/``exepath`` and no file name) → ``process_events``, kind ``process_exec``;
* open (``fname``/``path``) → ``kprobes``, kind and ``function_name`` ``open``, ``file_path``;
* tcp (``src``/``dst`` or ``saddr``/``daddr``) → ``kprobes``, kind and ``function_name`` the
  operation (``connect``, ``accept``, ``close``), the addresses and ports, protocol TCP;
* dns (``qr``/``qtype``/``dnsName``) → ``other_events``, kind ``dns``, ``dns_query``;
* any other gadget (``mount`` …) → ``other_events``, kind its ``operation`` or ``gadget_event``.

**Exec identity.**  ``exec_id`` is ``ig:<node>:<pid>`` and ``parent_exec_id`` ``ig:<node>:<ppid>``
(``proc.parent.pid`` or ``ppid``; ``-`` for the node when the event names none, as ``ig`` on a
plain host).  The gadgets write no process start time, so a pid reused on a node within one
capture is one process; the mount namespace and the container id are kept (``container_id``,
``summary``) but are not part of the id, since a child's mount namespace may differ from its
parent's.  An event without an epoch time (the built-in DNS gadget's boot-relative ns, events
whose field set left the time out) is quarantined as an event without a valid time.
"""

from __future__ import annotations

from kernelsec_nb.sources._source import Capability, Mapping, Source
from kernelsec_nb.sources._sql import INT, epoch_ns, short_container_id, workload_from_pod

_ADDR = {"addr": "VARCHAR", "port": INT, "proto": "VARCHAR", "version": "VARCHAR"}
STRUCTURE: dict[str, object] = {
    "timestamp": "VARCHAR", "timestamp_raw": "VARCHAR", "type": "VARCHAR", "operation": "VARCHAR",
    **dict.fromkeys(("comm", "pid", "tid", "ppid", "uid", "gid", "mntns_id", "mountnsid", "mntnsid",
                     "netns_id", "netns"), "VARCHAR"),
    "k8s": {"node": "VARCHAR", "namespace": "VARCHAR", "podName": "VARCHAR", "pod": "VARCHAR",
            "containerName": "VARCHAR", "container": "VARCHAR", "hostnetwork": "BOOLEAN",
            "owner": {"kind": "VARCHAR", "name": "VARCHAR"}},
    "runtime": {"containerId": "VARCHAR", "containerName": "VARCHAR", "containerImageName": "VARCHAR",
                "runtimeName": "VARCHAR"},
    "proc": {"comm": "VARCHAR", "pid": "VARCHAR", "tid": "VARCHAR", "mntns_id": "VARCHAR",
             "parent": {"comm": "VARCHAR", "pid": "VARCHAR"},
             "creds": {"uid": "VARCHAR", "gid": "VARCHAR", "user": "VARCHAR"}},
    # built-in gadgets (v0.10): flat Kubernetes context
    "node": "VARCHAR", "namespace": "VARCHAR", "pod": "VARCHAR", "container": "VARCHAR",
    # exec
    "args": "JSON", "exepath": "VARCHAR", "cwd": "VARCHAR", "retval": "VARCHAR", "ret": "VARCHAR",
    # open
    "fname": "VARCHAR", "path": "VARCHAR", "fd": "VARCHAR", "error": "VARCHAR", "err": "VARCHAR",
    "flags": "JSON", "mode": "VARCHAR",
    # tcp
    "src": _ADDR, "dst": _ADDR, "saddr": "VARCHAR", "daddr": "VARCHAR", "sport": INT, "dport": INT,
    # dns
    "name": "VARCHAR", "dnsName": "VARCHAR", "qr": "VARCHAR", "qtype": "VARCHAR", "rcode": "VARCHAR",
    # mount
    "fs": "VARCHAR", "source": "VARCHAR", "target": "VARCHAR",
}

G = 'j."inspektor_gadget"'  #: the parsed line
#: The earliest time taken for an epoch time (2000-01-01): a smaller integer counts from boot.
EPOCH_FLOOR_NS = 946_684_800_000_000_000


def _nz(expr: str) -> str:
    return f"nullif({expr}, '')"


def _time(expr: str) -> str:
    """An integer text: epoch ns when it is one (after 2000); a time string: read with its offset."""
    return (f"CASE WHEN regexp_full_match({expr}, '[0-9]+') THEN CASE WHEN TRY_CAST({expr} AS BIGINT) "
            f">= {EPOCH_FLOOR_NS} THEN TRY_CAST({expr} AS BIGINT) END ELSE {epoch_ns(expr)} END")


_FILE = f"coalesce({_nz(f'{G}.fname')}, {_nz(f'{G}.path')})"
_TCP = (f"({G}.src.addr IS NOT NULL OR {G}.dst.addr IS NOT NULL OR {G}.saddr IS NOT NULL "
        f"OR {G}.daddr IS NOT NULL)")
_DNS = f"({G}.qr IS NOT NULL OR {G}.qtype IS NOT NULL OR {G}.dnsName IS NOT NULL)"
_EXEC = f"({G}.exepath IS NOT NULL OR {G}.args IS NOT NULL)"
_TYPE = f"nullif(lower({G}.type), 'normal')"

#: The event's kind, from the fields it has (its gadget is not written).
KIND_SQL = (f"CASE WHEN {_FILE} IS NOT NULL THEN 'open' "
            f"WHEN {_TCP} THEN coalesce(lower({G}.operation), {_TYPE}, 'tcp') "
            f"WHEN {_DNS} THEN 'dns' "
            f"WHEN {_EXEC} THEN 'process_exec' "
            f"ELSE coalesce(lower({G}.operation), {_TYPE}, 'gadget_event') END")

_NODE = f"coalesce({_nz(f'{G}.k8s.node')}, {_nz(f'{G}.node')})"
_NAMESPACE = f"coalesce({_nz(f'{G}.k8s.namespace')}, {_nz(f'{G}.namespace')})"
_POD = f"coalesce({_nz(f'{G}.k8s.podName')}, {_nz(f'{G}.k8s.pod')}, {_nz(f'{G}.pod')})"
_CONTAINER_NAME = (f"coalesce({_nz(f'{G}.k8s.containerName')}, {_nz(f'{G}.k8s.container')}, "
                   f"{_nz(f'{G}.container')}, {_nz(f'{G}.runtime.containerName')})")
_CONTAINER = _nz(f"{G}.runtime.containerId")
_PID = f"coalesce({G}.proc.pid, {G}.pid)"
_PPID = f"coalesce({G}.proc.parent.pid, {G}.ppid)"
_COMM = f"coalesce({G}.proc.comm, {G}.comm)"
_MNTNS = f"coalesce({G}.proc.mntns_id, {G}.mntns_id, {G}.mountnsid, {G}.mntnsid)"
_HOST = f"coalesce({_NODE}, '-')"
EXEC_ID = f"'ig:' || {_HOST} || ':' || {_PID}"
PARENT_EXEC_ID = f"'ig:' || {_HOST} || ':' || {_PPID}"
#: ``args``: a list (built-in trace exec, argv[0] first) or a string (image-based, the command line)
_ARGV = (f"coalesce(TRY(CAST(json_transform({G}.args, '[\"VARCHAR\"]') AS VARCHAR[])), "
         f"string_split(json_extract_string({G}.args, '$'), ' '))")
_IS_EXEC = f"({KIND_SQL}) = 'process_exec'"
_BINARY = f"coalesce(CASE WHEN {_IS_EXEC} THEN coalesce({_nz(f'{G}.exepath')}, {_ARGV}[1]) END, {_COMM})"
_ARGS = f"CASE WHEN {_IS_EXEC} THEN nullif(array_to_string({_ARGV}[2:], ' '), '') END"
_SADDR = f"coalesce({G}.src.addr, {G}.saddr)"
_SPORT = f"coalesce({G}.src.port, {G}.sport)"
_DADDR = f"coalesce({G}.dst.addr, {G}.daddr)"
_DPORT = f"coalesce({G}.dst.port, {G}.dport)"
_DNS_NAME = f"rtrim(coalesce({_nz(f'{G}.name')}, {_nz(f'{G}.dnsName')}), '.')"

EVENT_COLUMNS: dict[str, str] = {
    "time_ns": f"coalesce({_time(f'{G}.timestamp')}, {_time(f'{G}.timestamp_raw')})",
    "node": _NODE,
    "namespace": _NAMESPACE,
    "pod": _POD,
    "workload": f"coalesce({_nz(f'{G}.k8s.owner.name')}, {workload_from_pod(_POD)})",
    "container_id": short_container_id(_CONTAINER),
    "exec_id": EXEC_ID,
    "parent_exec_id": PARENT_EXEC_ID,
    "pid": _PID,
    "uid": f"coalesce({G}.proc.creds.uid, {G}.uid)",
    "binary": _BINARY,
    "args": _ARGS,
    "src_ip": f"CASE WHEN {_TCP} THEN {_SADDR} END",
    "src_port": f"CASE WHEN {_TCP} THEN {_SPORT} END",
    "dst_ip": f"CASE WHEN {_TCP} THEN {_DADDR} END",
    "dst_port": f"CASE WHEN {_TCP} THEN {_DPORT} END",
    "protocol": f"CASE WHEN {_TCP} THEN 'TCP' END",
    "dns_query": f"CASE WHEN {_DNS} THEN {_DNS_NAME} END",
    # the kind and what it was about (a mount's file system and target, the mount namespace)
    "summary": (f"concat_ws(' ', ({KIND_SQL}), {_FILE}, CASE WHEN {_DNS} THEN {_DNS_NAME} END, {G}.fs, "
                f"{G}.source, {G}.target, 'mntns ' || {_MNTNS})"),
}

PROCESS_EVENT_COLUMNS: dict[str, str] = {
    "exec_id": EXEC_ID, "pid": _PID, "uid": f"coalesce({G}.proc.creds.uid, {G}.uid)", "binary": _BINARY,
    "args": _ARGS, "cwd": f"{G}.cwd", "parent_exec_id": PARENT_EXEC_ID, "tid": f"coalesce({G}.proc.tid, {G}.tid)",
    "namespace": _NAMESPACE, "pod": _POD,
    "workload": f"coalesce({_nz(f'{G}.k8s.owner.name')}, {workload_from_pod(_POD)})",
    "workload_kind": _nz(f"{G}.k8s.owner.kind"),
    "container_id": short_container_id(_CONTAINER),
    "container_full_id": f"regexp_replace({_CONTAINER}, '^[a-z0-9-]+://', '')",
    "container_name": _CONTAINER_NAME,
    "image": _nz(f"{G}.runtime.containerImageName"),
    "parent_pid": _PPID,
    "parent_binary": f"{G}.proc.parent.comm",
}

HOOK_COLUMNS: dict[str, str] = {
    "function_name": KIND_SQL,
    "return_value": f"coalesce({_nz(f'{G}.error')}, {G}.err, {G}.ret, {G}.retval, {G}.fd)",
    "saddr": _SADDR, "sport": _SPORT, "daddr": _DADDR, "dport": _DPORT,
    "protocol": f"CASE WHEN {_TCP} THEN 'TCP' END",
    "file_path": _FILE,
    "hook_args": f"CAST({G}.flags AS VARCHAR)",
}

_HOOKS = "('open', 'connect', 'accept', 'close', 'tcp')"

SOURCE = Source(
    name="inspektor_gadget", title="Inspektor Gadget",
    # its events carry a mount namespace id, or the k8s and proc objects, at the top level
    claim=(("mntns_id",), ("mountnsid",), ("mntnsid",), ("k8s", "proc")),
    detect=f"{G}.k8s IS NOT NULL OR {_MNTNS} IS NOT NULL OR {G}.proc IS NOT NULL",
    kind=KIND_SQL, structure=STRUCTURE, event=EVENT_COLUMNS,
    maps=(Mapping("process_events", "kind = 'process_exec'", PROCESS_EVENT_COLUMNS),
          Mapping("kprobes", f"kind IN {_HOOKS}", HOOK_COLUMNS),
          Mapping("other_events", f"kind <> 'process_exec' AND kind NOT IN {_HOOKS}")),
    capabilities=frozenset({Capability.PROCESS_EVENTS, Capability.FILE_ACCESS, Capability.CONNECTIONS,
                            Capability.DNS}),
    samples=("public-new-sources/inspektor-gadget/*json",),
    order=16, color="#56B4E9",
)
