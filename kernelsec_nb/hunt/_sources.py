"""What a Sigma log source is in a case: the view a rule runs over and its field mapping.

Three views over the case's tables, one per kind of record a detection can mark:

* ``process_creation`` → ``processes`` started during the capture (``seen_as = 'exec'``), with
  the parent exec joined (``ParentImage``, ``ParentCommandLine``).  Entity ``process``.
* ``network_connection`` → Tetragon connect hooks (entity ``connection``, with the process)
  **and** Hubble flows that open a connection or carry a request (not replies; TCP flows only
  their ``SYN``; entity ``flow``, no process: Hubble names none).  A connection both tools saw
  hits twice, once per record.  ``category: firewall`` is the flows alone.
* ``file_event``, ``file_access``, ``file_change``, ``file_create``, ``file_delete``,
  ``file_rename`` → Tetragon file hooks (``kprobes.file_path``), with the process.  Entity
  ``file``.  ``file_access`` is every file hook; the others leave out hooks known to be reads
  only (``security_file_permission`` with mask 4, a ``*read*`` function), as Sigma's file events
  are creations and changes.

Each view's columns are text (numbers, booleans as ``'true'``/``'false'``), named like the
documented tables; :data:`FIELDS` maps Sigma's field names onto them.  Besides Sigma's Linux
names, a few Kubernetes fields (``Namespace``, ``Pod``, ``Workload``, ``Node``, ``ContainerId``,
``ContainerImage``, ``ContainerInitTree``: false for a process ``kubectl exec`` started,
``ParentContainerInitTree``: the same of the parent, ``ContainerMainProcess``: the container's
first process, ``DestinationLabels``: Cilium's labels of a flow's destination) let rules say
what SigmaHQ's Linux rules cannot.
"""

from __future__ import annotations

from dataclasses import dataclass

# -- the views (readable SQL; values never appear in them) -------------------------------------
_PROCESS_COLS = """
    {p}."binary" AS "binary", {p}.args AS args,
    concat_ws(' ', {p}."binary", {p}.args) AS command_line,
    {c}.cwd AS cwd, {p}.uid::VARCHAR AS uid,
    CASE {p}.uid WHEN 0 THEN 'root' ELSE {p}.uid::VARCHAR END AS user_name,
    {p}.pid::VARCHAR AS pid, pp.pid::VARCHAR AS parent_pid,
    pp."binary" AS parent_binary, concat_ws(' ', pp."binary", pp.args) AS parent_command_line,
    {p}.container_id AS container_id, {c}.image AS image,
    {c}.in_init_tree::VARCHAR AS in_init_tree, pp.in_init_tree::VARCHAR AS parent_in_init_tree,
    ({p}.container_id IS NOT NULL AND pp.container_id IS DISTINCT FROM {p}.container_id)::VARCHAR
        AS container_main,
    {p}.namespace AS namespace, {p}.pod AS pod, {p}.workload AS workload, {p}.node AS node"""

PROCESS_CREATION = f"""
SELECT 'process' AS _entity, p.exec_id AS _exec_id, NULL::VARCHAR AS _event_id, p.start_ns AS _time_ns,
       {_PROCESS_COLS.format(p='p', c='p')}
FROM processes p LEFT JOIN processes pp ON pp.exec_id = p.parent_exec_id
WHERE p.seen_as = 'exec'"""  # noqa: S608 - our own SQL, no values

_HOOK_PROCESS = """
FROM kprobes k LEFT JOIN processes p ON p.exec_id = k.exec_id
     LEFT JOIN processes pp ON pp.exec_id = coalesce(p.parent_exec_id, k.parent_exec_id)"""

CONNECTIONS = f"""
SELECT 'connection' AS _entity, k.exec_id AS _exec_id, k.event_id AS _event_id, k.time_ns AS _time_ns,
       {_PROCESS_COLS.format(p='k', c='p')},
       k.saddr AS src_ip, k.sport::VARCHAR AS src_port, k.daddr AS dst_ip, k.dport::VARCHAR AS dst_port,
       upper(k.protocol) AS protocol, NULL::VARCHAR AS dst_hostname, NULL::VARCHAR AS dst_labels,
       NULL::VARCHAR AS dst_namespace, NULL::VARCHAR AS dst_pod, 'true' AS initiated
{_HOOK_PROCESS}
WHERE k.daddr IS NOT NULL AND regexp_matches(coalesce(k.function_name, k.kind),
                                             '(?i)(^|_)(connect|sendmsg|sendto|sendmmsg)$')"""

FLOWS = """
SELECT 'flow' AS _entity, NULL::VARCHAR AS _exec_id, f.event_id AS _event_id, f.time_ns AS _time_ns,
       f.src_ip AS src_ip, f.src_port::VARCHAR AS src_port, f.dst_ip AS dst_ip,
       f.dst_port::VARCHAR AS dst_port, f.protocol AS protocol,
       coalesce(f.dst_names[1], f.dns_query) AS dst_hostname,
       array_to_string(list_transform(map_entries(f.dst_labels),
                                      lambda e: e.key || coalesce('=' || e.value, '')), ' ') AS dst_labels,
       f.dst_namespace AS dst_namespace, f.dst_pod AS dst_pod,
       f.verdict AS verdict, f.http_method AS http_method, f.http_url AS http_url,
       CASE WHEN f.src_pod IS NOT NULL OR f.dst_pod IS NULL THEN 'true' ELSE 'false' END AS initiated,
       coalesce(f.src_namespace, f.dst_namespace) AS namespace, coalesce(f.src_pod, f.dst_pod) AS pod,
       coalesce(f.src_workload, f.dst_workload) AS workload, f.node AS node
FROM flows f
WHERE NOT coalesce(f.is_reply, false) AND (f.tcp_flags IS NULL OR f.tcp_flags = 'SYN')"""

NETWORK_CONNECTION = f"{CONNECTIONS}\nUNION ALL BY NAME\n{FLOWS}"

_ACCESS = """CASE
    WHEN regexp_matches(k.function_name, '(?i)write|trunc|unlink|rename|create|mkdir|rmdir|link|chmod|chown|setattr')
        THEN 'write'
    WHEN regexp_matches(k.function_name, '(?i)read') THEN 'read'
    WHEN regexp_matches(k.function_name, '(?i)permission')
        THEN CASE WHEN TRY_CAST(regexp_extract(k.hook_args, '"int_arg":\\s*(\\d+)', 1) AS INTEGER) & 2 <> 0
                  THEN 'write'
                  WHEN TRY_CAST(regexp_extract(k.hook_args, '"int_arg":\\s*(\\d+)', 1) AS INTEGER) & 4 <> 0
                  THEN 'read' END
    END"""

FILE_ACCESS = f"""
SELECT 'file' AS _entity, k.exec_id AS _exec_id, k.event_id AS _event_id, k.time_ns AS _time_ns,
       {_PROCESS_COLS.format(p='k', c='p')},
       k.file_path AS file_path, k.function_name AS function_name, {_ACCESS} AS access
{_HOOK_PROCESS}
WHERE k.file_path IS NOT NULL"""

FILE_EVENT = f"SELECT * FROM ({FILE_ACCESS}) WHERE access IS DISTINCT FROM 'read'" # noqa: S608

# -- field mapping: Sigma's names → the views' columns ----------------------------------------
_PROCESS_FIELDS = {
    "Image": "binary", "CommandLine": "command_line", "OriginalFileName": "binary",
    "ParentImage": "parent_binary", "ParentCommandLine": "parent_command_line",
    "CurrentDirectory": "cwd", "User": "user_name", "uid": "uid", "UserId": "uid",
    "ProcessId": "pid", "ParentProcessId": "parent_pid",
    "Namespace": "namespace", "Pod": "pod", "Workload": "workload", "Node": "node",
    "ContainerId": "container_id", "ContainerImage": "image",
    "ContainerInitTree": "in_init_tree", "ParentContainerInitTree": "parent_in_init_tree",
    "ContainerMainProcess": "container_main",
}
_NET_FIELDS = {
    "DestinationIp": "dst_ip", "DestinationPort": "dst_port", "DestinationHostname": "dst_hostname",
    "SourceIp": "src_ip", "SourcePort": "src_port", "Protocol": "protocol",
    "Initiated": "initiated", "DestinationLabels": "dst_labels",
    "DestinationNamespace": "dst_namespace", "DestinationPod": "dst_pod",
}
_FIREWALL_FIELDS = {
    "src_ip": "src_ip", "dst_ip": "dst_ip", "src_port": "src_port", "dst_port": "dst_port",
    "action": "verdict", "Verdict": "verdict", "HttpMethod": "http_method", "HttpUrl": "http_url",
}
_FILE_FIELDS = {"TargetFilename": "file_path", "Function": "function_name", "Access": "access"}


@dataclass(frozen=True)
class Source:
    """One Sigma log source category as a view of the case: its SQL and its fields."""

    category: str
    sql: str
    fields: dict[str, str]

    @property
    def columns(self) -> frozenset[str]:
        """The columns a rule over this source may use (the field mapping's targets)."""
        return frozenset(self.fields.values())


_FILE_SOURCE_FIELDS = {**_PROCESS_FIELDS, **_FILE_FIELDS}
SOURCES: dict[str, Source] = {
    "process_creation": Source("process_creation", PROCESS_CREATION, _PROCESS_FIELDS),
    "network_connection": Source("network_connection", NETWORK_CONNECTION,
                                 {**_PROCESS_FIELDS, **_NET_FIELDS, **_FIREWALL_FIELDS}),
    "firewall": Source("firewall", FLOWS, {**_NET_FIELDS, **_FIREWALL_FIELDS,
                                           **{k: v for k, v in _PROCESS_FIELDS.items()
                                              if v in ("namespace", "pod", "workload", "node")}}),
    "file_access": Source("file_access", FILE_ACCESS, _FILE_SOURCE_FIELDS),
    **{c: Source(c, FILE_EVENT, _FILE_SOURCE_FIELDS)
       for c in ("file_event", "file_change", "file_create", "file_delete", "file_rename")},
}

#: Products whose rules run (a rule naming no product runs too).
PRODUCTS = frozenset({"linux", "kubernetes"})


def source_for(category: str | None, product: str | None, service: str | None) -> Source:
    """The view of a rule's log source, or a ``ValueError`` saying why there is none."""
    if product is not None and product.lower() not in PRODUCTS:
        raise ValueError(f"log source product {product!r} is not in a case (only "
                         f"{', '.join(sorted(PRODUCTS))})")
    if service is not None:
        raise ValueError(f"log source service {service!r} (e.g. auditd, syslog) is not in a case")
    if category is None or category.lower() not in SOURCES:
        raise ValueError(f"log source category {category!r} is not mapped (mapped: "
                         f"{', '.join(sorted(SOURCES))})")
    return SOURCES[category.lower()]
