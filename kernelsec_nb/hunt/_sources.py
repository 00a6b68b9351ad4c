"""What a Sigma log source is in a case: the view a rule runs over and its field mapping.

Examples
--------
>>> from kernelsec_nb.hunt._sources import SOURCES, source_for
>>> source_for("process_creation", "linux", None).fields["Image"]
'binary'
>>> print(SOURCES["process_creation"].sql(["parent_binary"]).splitlines()[-2])
FROM processes p LEFT JOIN processes pp ON pp.exec_id = p.parent_exec_id

Three views over the case's tables, one per kind of record a detection can mark:

* ``process_creation`` → ``processes`` started during the capture (``seen_as = 'exec'``), with
  the parent exec joined (``ParentImage``, ``ParentCommandLine``).  Entity ``process``.
* ``network_connection`` → Tetragon connect hooks (entity ``connection``, with the process)
  **and** Hubble flows that open a connection or carry a request (not replies; TCP flows only
  their ``SYN``; entity ``flow``, no process: Hubble names none).  A connection both tools saw
  hits twice, once per record.  ``category: firewall`` is the flows alone.
* ``product: kubernetes, service: audit`` (SigmaHQ's Kubernetes rules, any category) →
  ``api_calls``, one row per request, with the audit Event's field names (``verb``,
  ``objectRef.resource``, ``responseStatus.code``, ``user.username``…).  Entity ``api_call``;
  its pod is the sender's when a pod-bound token names it, else the pod the call acted on.
* ``file_event``, ``file_access``, ``file_change``, ``file_create``, ``file_delete``,
  ``file_rename`` → Tetragon file hooks (``kprobes.file_path``), with the process.  Entity
  ``file``.  ``file_access`` is every file hook; the others leave out hooks known to be reads
  only (``security_file_permission`` with mask 4, a ``*read*`` function), as Sigma's file events
  are creations and changes.

Each view's columns are text (booleans as ``'true'``/``'false'``; ``DestinationLabels`` is the
label map as text, ``{app=web, 'reserved:world'=''}``) except the numbers of :data:`NUMERIC`, named
like the documented tables; each :class:`Source`'s ``fields`` map Sigma's field names onto them.
A view is built from :class:`Part` s (one per table) with only the columns a query needs, and
joins only the process rows those columns read.  Besides Sigma's Linux
names, a few Kubernetes fields (``Namespace``, ``Pod``, ``Workload``, ``Node``, ``ContainerId``,
``ContainerImage``, ``ContainerInitTree``: false for a process ``kubectl exec`` started,
``ParentContainerInitTree``: the same of the parent, ``ContainerMainProcess``: the container's
first process, ``DestinationLabels``: Cilium's labels of a flow's destination) let rules say
what SigmaHQ's Linux rules cannot.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


# -- the views (readable SQL; values never appear in them) -------------------------------------
def _ip4(col: str) -> str:
    """An IPv4 address (text) as an integer, NULL for anything else (for ``|cidr``)."""
    octets = " + ".join(f"TRY_CAST(split_part({col}, '.', {i + 1}) AS UTINYINT)::UBIGINT * {256 ** (3 - i)}"
                        for i in range(4))
    return f"CASE WHEN length({col}) - length(replace({col}, '.', '')) = 3 THEN {octets} END"


def _process_cols(p: str, c: str) -> dict[str, str]:
    """The process columns, from alias ``p`` (the event's own fields) and ``c`` (its process row);
    ``pp`` is the parent's process row."""
    return {
        "binary": f'{p}."binary"', "args": f"{p}.args",
        "command_line": f"concat_ws(' ', {p}.\"binary\", {p}.args)",
        "cwd": f"{c}.cwd", "uid": f"{p}.uid",
        "user_name": f"CASE {p}.uid WHEN 0 THEN 'root' ELSE {p}.uid::VARCHAR END",
        "pid": f"{p}.pid", "parent_pid": "pp.pid", "parent_binary": 'pp."binary"',
        "parent_command_line": "concat_ws(' ', pp.\"binary\", pp.args)",
        "container_id": f"{p}.container_id", "image": f"{c}.image",
        "in_init_tree": f"{c}.in_init_tree::VARCHAR", "parent_in_init_tree": "pp.in_init_tree::VARCHAR",
        "container_main": f"({p}.container_id IS NOT NULL AND pp.container_id IS DISTINCT FROM {p}.container_id)::VARCHAR",
        "namespace": f"{p}.namespace", "pod": f"{p}.pod", "workload": f"{p}.workload", "node": f"{p}.node",
    }


@dataclass(frozen=True)
class Part:
    """The rows one table gives a view: ``FROM`` and ``WHERE``, the joins a column may need
    (by alias, included only when a selected column or another needed join names the alias),
    and the SQL of each column.  Only the columns a query needs are computed."""

    base: str
    where: str
    columns: dict[str, str]
    joins: tuple[tuple[str, str], ...] = ()
    #: a condition on one expression of few values (the hook's name), ``{key}`` in ``key_where``:
    #: evaluated per row by :meth:`sql`, on the distinct rows by :meth:`combinations`
    key: str = ""
    key_where: str = ""

    @property
    def row_where(self) -> str:
        """The whole ``WHERE`` over the table's rows."""
        return f"{self.where} AND {self.key_where.replace('{key}', self.key)}" if self.key else self.where

    def sql(self, needed: Iterable[str]) -> str:
        cols = [c for c in dict.fromkeys(needed) if c in self.columns]
        select = ",\n       ".join(f'{self.columns[c]} AS "{c}"' for c in cols)
        used = select + " " + self.row_where
        joins: list[str] = []
        for alias, join in reversed(self.joins):  # a later join may need an earlier one's alias
            if re.search(rf"\b{alias}\.", used):
                joins.insert(0, join)
                used += " " + join
        return f"SELECT {select}\nFROM {self.base}{''.join(' ' + j for j in joins)}\nWHERE {self.row_where}"

    def combinations(self, needed: Iterable[str]) -> str:
        """The distinct combinations of the columns in ``needed`` (the rows repeat; a rule is a
        function of the columns it reads).

        Aggregated before anything else: the columns that read the table alone are computed
        and made distinct in one aggregate over the table, with the raw columns the joins need
        (``k.exec_id``…); the joins and the columns that read them run on those distinct rows
        only.  A part with none of the columns gives one row (``_one``) when it has rows."""
        cols = [c for c in dict.fromkeys(needed) if c in self.columns]
        alias = self.base.split()[-1]
        if not cols:
            return f"SELECT * FROM (SELECT 1 AS _one FROM {self.base} WHERE {self.row_where} LIMIT 1)"  # noqa: S608
        others = "|".join(re.escape(a) for a, _ in self.joins)
        joined = {c for c in cols if others and re.search(rf"\b(?:{others})\.", self.columns[c])}
        outer = [f'{alias}."_v_{c}" AS "{c}"' if c not in joined else f'{self.columns[c]} AS "{c}"'
                 for c in cols]
        used = " ".join(self.columns[c] for c in joined)
        joins: list[str] = []
        for a, join in reversed(self.joins):
            if re.search(rf"\b{a}\.", used):
                joins.insert(0, join)
                used += " " + join
        raw = sorted(set(re.findall(rf'\b{re.escape(alias)}\.("[^"]+"|\w+)', used)))
        inner = [f'{self.columns[c]} AS "_v_{c}"' for c in cols if c not in joined]
        inner += [f"{alias}.{r}" for r in raw]
        where = ""
        if self.key:  # the key's condition on the distinct rows (a hook name, not every hook)
            inner.append(f'{self.key} AS "_v__key"')
            where = f"\nWHERE {self.key_where.replace('{key}', alias + '.' + chr(34) + '_v__key' + chr(34))}"
        return (f"SELECT {', '.join(outer)}\n"  # noqa: S608 - our SQL, no values
                # OFFSET 0: otherwise DuckDB pushes the key's condition back onto every row
                f"FROM (SELECT DISTINCT {', '.join(inner)} FROM {self.base} WHERE {self.where}"
                f"{' OFFSET 0' if self.key else ''}) {alias}"
                f"{''.join(' ' + j for j in joins)}{where}")


_KEYS_PROCESS = {"_entity": "'process'", "_exec_id": "p.exec_id", "_event_id": "p.exec_event_id",
                 "_time_ns": "p.start_ns"}
_PROCESS_PART = Part(
    base="processes p", where="p.seen_as = 'exec'",
    columns={**_KEYS_PROCESS, **_process_cols("p", "p")},
    joins=(("pp", "LEFT JOIN processes pp ON pp.exec_id = p.parent_exec_id"),))

_HOOK_JOINS = (("p", "LEFT JOIN processes p ON p.exec_id = k.exec_id"),
               ("pp", "LEFT JOIN processes pp ON pp.exec_id = coalesce(p.parent_exec_id, k.parent_exec_id)"))
_HOOK_KEYS = {"_exec_id": "k.exec_id", "_event_id": "k.event_id", "_time_ns": "k.time_ns"}

_CONNECTION_PART = Part(
    base="kprobes k",
    where="k.daddr IS NOT NULL",
    # a connect, send… hook (a per-row regex costs half a semi-join with the distinct names; the
    # combinations evaluate it on their distinct names only)
    key="coalesce(k.function_name, k.kind)",
    key_where="regexp_matches({key}, '(?i)(^|_)(connect|sendmsg|sendto|sendmmsg)$')",
    columns={"_entity": "'connection'", **_HOOK_KEYS, **_process_cols("k", "p"),
             "src_ip": "k.saddr", "src_port": "k.sport", "dst_ip": "k.daddr", "dst_port": "k.dport",
             "src_ip4": _ip4("k.saddr"), "dst_ip4": _ip4("k.daddr"), "protocol": "upper(k.protocol)",
             "initiated": "'true'"},
    joins=_HOOK_JOINS)

_FLOW_PART = Part(
    base="flows f",
    where="NOT coalesce(f.is_reply, false) AND (f.tcp_flags IS NULL OR f.tcp_flags = 'SYN')",
    columns={"_entity": "'flow'", "_exec_id": "NULL::VARCHAR", "_event_id": "f.event_id",
             "_time_ns": "f.time_ns", "src_ip": "f.src_ip", "src_port": "f.src_port",
             "dst_ip": "f.dst_ip", "dst_port": "f.dst_port", "protocol": "f.protocol",
             "src_ip4": _ip4("f.src_ip"), "dst_ip4": _ip4("f.dst_ip"),
             "dst_hostname": "coalesce(f.dst_names[1], f.dns_query)",
             # the text stored at load; rows written without it (by hand) cast their map
             "dst_labels": "coalesce(f.dst_labels_text, CAST(f.dst_labels AS VARCHAR))",
             "dst_namespace": "f.dst_namespace", "dst_pod": "f.dst_pod", "verdict": "f.verdict",
             "http_method": "f.http_method", "http_url": "f.http_url",
             "initiated": "CASE WHEN f.src_pod IS NOT NULL OR f.dst_pod IS NULL THEN 'true' ELSE 'false' END",
             "namespace": "coalesce(f.src_namespace, f.dst_namespace)",
             "pod": "coalesce(f.src_pod, f.dst_pod)", "workload": "coalesce(f.src_workload, f.dst_workload)",
             "node": "f.node"})

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

_FILE_COLUMNS = {"_entity": "'file'", **_HOOK_KEYS, **_process_cols("k", "p"),
                 "file_path": "k.file_path", "function_name": "k.function_name", "access": _ACCESS}
_FILE_ACCESS_PART = Part(base="kprobes k", where="k.file_path IS NOT NULL", columns=_FILE_COLUMNS,
                         joins=_HOOK_JOINS)
_FILE_EVENT_PART = Part(base="kprobes k", where=f"k.file_path IS NOT NULL AND ({_ACCESS}) IS DISTINCT FROM 'read'",
                        columns=_FILE_COLUMNS, joins=_HOOK_JOINS)

# Kubernetes API calls (the api_calls view: one row per request).  A hit's pod is the pod that
# sent the call when a pod-bound token names it, else the pod the call acted on.
_API_PART = Part(
    base="api_calls a", where="true",
    columns={"_entity": "'api_call'", "_exec_id": "NULL::VARCHAR", "_event_id": "a.event_id",
             "_time_ns": "a.time_ns", "node": "a.token_node",
             "namespace": "coalesce(CASE WHEN a.token_pod IS NOT NULL THEN a.sa_namespace END, a.namespace)",
             "pod": "coalesce(a.token_pod, CASE WHEN a.resource = 'pods' THEN coalesce(a.created_name, a.name) END)",
             "workload": "NULL::VARCHAR",
             "verb": "a.verb", "resource": "a.resource", "subresource": "a.subresource",
             "object_namespace": "a.namespace", "object_name": "a.name", "api_group": "a.api_group",
             "code": "a.code", "request_uri": "a.request_uri", "user_agent": "a.user_agent",
             "user": 'a."user"', "impersonated_user": "a.impersonated_user",
             "groups": "array_to_string(a.groups, ',')", "sa_namespace": "a.sa_namespace",
             "sa_name": "a.sa_name", "src_ip": "a.src_ip", "src_ip4": _ip4("a.src_ip"), "stage": "a.stage",
             "level": "a.level", "decision": "a.decision"})

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
# the audit Event's own field names (SigmaHQ's Kubernetes rules write them so), and ours
_AUDIT_FIELDS = {
    "verb": "verb", "objectRef.resource": "resource", "objectRef.subresource": "subresource",
    "objectRef.namespace": "object_namespace", "objectRef.name": "object_name",
    "objectRef.apiGroup": "api_group", "apiGroup": "api_group", "responseStatus.code": "code",
    "requestURI": "request_uri", "userAgent": "user_agent", "user.username": "user",
    "user.groups": "groups", "impersonatedUser.username": "impersonated_user",
    "sourceIPs": "src_ip", "stage": "stage", "level": "level",
    "annotations.authorization.k8s.io/decision": "decision",
    "ServiceAccountNamespace": "sa_namespace", "ServiceAccount": "sa_name",
    "Namespace": "namespace", "Pod": "pod", "Node": "node",
}


#: The view columns that hold numbers (compared as numbers; strings compare with their text).
NUMERIC = frozenset({"uid", "pid", "parent_pid", "src_port", "dst_port", "code"})
#: IP columns with an integer twin ``<column>4`` (their IPv4 address as a number, for ``|cidr``).
IP_COLUMNS = frozenset({"src_ip", "dst_ip"})


@dataclass(frozen=True)
class Source:
    """One Sigma log source category as a view of the case: its parts and its fields."""

    category: str
    parts: tuple[Part, ...]
    fields: dict[str, str]
    #: The rules' log source it serves, when not its category (``product``/``service``).
    logsource: tuple[tuple[str, str], ...] = ()

    def sql(self, needed: Iterable[str] | None = None) -> str:
        """The view with the columns in ``needed`` (and the keys; default: all of them)."""
        cols = list(dict.fromkeys([*KEYS, *(self.all_columns if needed is None else needed)]))
        return "\nUNION ALL BY NAME\n".join(part.sql(cols) for part in self.parts)

    def combinations(self, needed: Iterable[str]) -> str:
        """The view's distinct combinations of the columns in ``needed`` (no keys; see
        :meth:`Part.combinations`); they may repeat across parts."""
        return "\nUNION ALL BY NAME\n".join(part.combinations(needed) for part in self.parts)

    @property
    def all_columns(self) -> list[str]:
        """Every column its parts can give (the keys first)."""
        return list(dict.fromkeys(c for part in self.parts for c in part.columns))

    @property
    def columns(self) -> frozenset[str]:
        """The columns a rule over this source may use (the field mapping's targets)."""
        return frozenset(self.fields.values())

    @property
    def ip4(self) -> frozenset[str]:
        """Its IP columns that have an integer twin ``<column>4``."""
        return self.columns & IP_COLUMNS

    @property
    def numeric(self) -> frozenset[str]:
        """Its columns that hold numbers."""
        return self.columns & NUMERIC


#: The columns every query of a view selects (what a hit says besides its rule).
KEYS = ("_entity", "_exec_id", "_event_id", "_time_ns", "node", "namespace", "pod", "workload")

_FILE_SOURCE_FIELDS = {**_PROCESS_FIELDS, **_FILE_FIELDS}
SOURCES: dict[str, Source] = {
    "process_creation": Source("process_creation", (_PROCESS_PART,), _PROCESS_FIELDS),
    "network_connection": Source("network_connection", (_CONNECTION_PART, _FLOW_PART),
                                 {**_PROCESS_FIELDS, **_NET_FIELDS, **_FIREWALL_FIELDS}),
    "firewall": Source("firewall", (_FLOW_PART,), {**_NET_FIELDS, **_FIREWALL_FIELDS,
                                                  **{k: v for k, v in _PROCESS_FIELDS.items()
                                                     if v in ("namespace", "pod", "workload", "node")}}),
    "file_access": Source("file_access", (_FILE_ACCESS_PART,), _FILE_SOURCE_FIELDS),
    **{c: Source(c, (_FILE_EVENT_PART,), _FILE_SOURCE_FIELDS)
       for c in ("file_event", "file_change", "file_create", "file_delete", "file_rename")},
    # SigmaHQ's Kubernetes audit rules: ``product: kubernetes, service: audit`` (whatever category)
    "kubernetes_audit": Source("kubernetes_audit", (_API_PART,), _AUDIT_FIELDS,
                               (("product", "kubernetes"), ("service", "audit"))),
}

#: Products whose rules run (a rule naming no product runs too).
PRODUCTS = frozenset({"linux", "kubernetes"})


def source_for(category: str | None, product: str | None, service: str | None) -> Source:
    """The view of a rule's log source, or a ``ValueError`` saying why there is none."""
    if product is not None and product.lower() not in PRODUCTS:
        raise ValueError(f"log source product {product!r} is not in a case (only "
                         f"{', '.join(sorted(PRODUCTS))})")
    if (product or "").lower() == "kubernetes" and (service or "").lower() == "audit":
        return SOURCES["kubernetes_audit"]
    if service is not None:
        raise ValueError(f"log source service {service!r} (e.g. auditd, syslog) is not in a case")
    if category is None or category.lower() not in SOURCES:
        raise ValueError(f"log source category {category!r} is not mapped (mapped: "
                         f"{', '.join(sorted(SOURCES))})")
    return SOURCES[category.lower()]
