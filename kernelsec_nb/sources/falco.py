"""Falco alerts written with ``json_output: true`` (also as relayed by falcosidekick).

Keys: ``time`` (RFC 3339, ns), ``rule``, ``priority``, ``source``, ``tags``, ``hostname``,
``output``, ``output_fields`` (dotted keys such as ``proc.cmdline``; values may be null or
``<NA>``), and ``uuid`` from falcosidekick.  When ``time`` is missing the alert time comes from
``output_fields['evt.time']`` (ns since epoch).  ``hostname`` is the node name when Falco runs as a
DaemonSet, so it is the ``node`` column.
"""

from __future__ import annotations

import json

from kernelsec_nb.sources._route import RouteSpec
from kernelsec_nb.sources._source import Capability, Mapping, Source
from kernelsec_nb.sources._sql import epoch_ns, null_if_na, short_container_id, workload_from_pod

STRUCTURE: dict[str, object] = {
    "rule": "VARCHAR",
    "priority": "VARCHAR",
    "output": "VARCHAR",
    "tags": ["VARCHAR"],
    "hostname": "VARCHAR",
    "uuid": "VARCHAR",
    "output_fields": "MAP(VARCHAR, VARCHAR)",
    "source": "VARCHAR",
    # "time" is shared with the other sources.
}

DETECT_SQL = "(j.rule IS NOT NULL AND (j.output IS NOT NULL OR j.priority IS NOT NULL))"


def field(key: str) -> str:
    """SQL for one ``output_fields`` value, with ``<NA>`` and empty strings as NULL."""
    return null_if_na(f"j.output_fields['{key}']")


#: An alert whose ``time`` is written but unreadable takes ``output_fields`` ``evt.time``; the load
#: counts it (see :data:`kernelsec_nb.sources.tetragon.TIME_FALLBACK`).
TIME_FALLBACK = ("time unreadable, output_fields evt.time used", epoch_ns("j.time"),
                 f"coalesce(TRY_CAST({field('evt.time')} AS BIGINT), TRY_CAST({field('evt_time')} AS BIGINT), "
                 f"{epoch_ns(field('evt.time'))}, {epoch_ns(field('evt.time.iso8601'))})")

EVENT_COLUMNS: dict[str, str] = {
    "time_ns": f"coalesce({TIME_FALLBACK[1]}, {TIME_FALLBACK[2]})",
    "node": "j.hostname",
    "namespace": field("k8s.ns.name"),
    "pod": field("k8s.pod.name"),
    # Falco names no workload since its Kubernetes client went (0.37); the older client's and the
    # k8smeta plugin's deployment field when present, else the pod name without its generated
    # suffixes, as for Hubble endpoints (case.alerts() prefers Tetragon's workload of the exec)
    "workload": f"coalesce({field('k8smeta.deployment.name')}, {field('k8s.deployment.name')}, "
    f"{workload_from_pod(field('k8s.pod.name'))})",
    "container_id": short_container_id(field("container.id")),
    "pid": field("proc.pid"),  # integers: turned into numbers by the loader (_sql.integer)
    "binary": f"coalesce({field('proc.exepath')}, {field('proc.exe')})",
    "args": f"coalesce({field('proc.args')}, {field('proc.cmdline')})",
    "summary": "j.rule",
    "priority": "j.priority",
}

ALERT_COLUMNS: dict[str, str] = {
    "rule": "j.rule",
    "priority": "j.priority",
    "alert_source": "j.source",
    "tags": "j.tags",
    "proc_name": field("proc.name"),
    "cmdline": field("proc.cmdline"),
    "ppid": field("proc.ppid"),
    "pname": field("proc.pname"),
    "user_name": field("user.name"),
    "container_name": field("container.name"),
    "image": field("container.image.repository"),
    "output": "j.output",
    "uuid": "j.uuid",
    "fields": "j.output_fields",
}


#: How Falco starts a line: ``hostname`` first since 0.33 (its encoder's order), ``output`` before.
ROUTE_PREFIXES = ('{"hostname":', '{"output":')


def on_route(expr: str) -> str:
    """An alert expression over ``j`` rewritten for the fast route (the line parsed as ``x``)."""
    return expr.replace("j.", "x.")


def routes() -> list[RouteSpec]:
    """The fast routes: an alert line as Falco writes it (one per :data:`ROUTE_PREFIXES`), parsed
    against :data:`STRUCTURE` and its ``time`` alone.

    The general path parses such a line against the union of the shared sources' structures,
    where Hubble (a ``flow`` key) and Tetragon (a ``process_*`` event key) go first, and an
    isolated source's keys claim it: a line holding the text of any of those keys is left to the
    general path (``excludes``), which then decides as before.  Its objects are checked for
    duplicate keys as the general path checks them (``shared_keys``).
    """
    from kernelsec_nb.sources import route_excludes

    return [RouteSpec("falco", "alert", "alerts", prefix, json.dumps({**STRUCTURE, "time": "VARCHAR"}),
                      {**EVENT_COLUMNS, "rule": "j.rule", "kind": "'alert'"}, on_route,
                      present=f"x IS NOT NULL AND {on_route(DETECT_SQL)}",
                      excludes=route_excludes("falco"), shared_keys=True)
            for prefix in ROUTE_PREFIXES]


SOURCE = Source(
    name="falco", title="Falco", detect=DETECT_SQL, kind="'alert'", structure=STRUCTURE,
    event={**EVENT_COLUMNS, "rule": "j.rule"}, maps=(Mapping("alerts", columns=ALERT_COLUMNS),),
    capabilities=frozenset({Capability.ALERTS}),
    samples=("public/falco/*.log",),
    precedence=20, order=30, time_fallback=TIME_FALLBACK, routes=routes, color="#D55E00",
)
