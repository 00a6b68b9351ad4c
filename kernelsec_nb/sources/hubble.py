"""Cilium Hubble flows.

Accepted shapes, detected per line:

* the exporter file and ``hubble observe -o jsonpb``: ``{"flow": {...}, "node_name": ..., "time": ...}``
* bare flows from ``hubble observe -o json``: ``{"time": ..., "verdict": ..., "IP": ...}``
* field-masked exports (any subset of the flow's fields).

L3/L4 (TCP, UDP, SCTP, ICMPv4, ICMPv6), L7 HTTP and DNS requests and responses, every verdict.
Endpoint labels (``"k8s:key=value"`` strings) become a ``MAP(VARCHAR, VARCHAR)`` without the
``k8s:`` prefix (other prefixes such as ``reserved:`` are kept in the key).  The exporter's
``node_name`` may be ``cluster/node``: the cluster goes to its own column so that ``node``
compares with Tetragon's ``node_name`` and Falco's ``hostname``.
"""

from __future__ import annotations

import json
import re

from kernelsec_nb.sources._keys import top_keys_sql
from kernelsec_nb.sources._route import RouteSpec
from kernelsec_nb.sources._source import Capability, Mapping, Source
from kernelsec_nb.sources._sql import INT, epoch_ns, workload_from_pod

_PORTS = {"source_port": INT, "destination_port": INT}
_ICMP = {"type": INT, "code": INT}
#: TCP flags as Hubble names them, in the order they are listed in ``tcp_flags``.
TCP_FLAGS = ("SYN", "ACK", "FIN", "RST", "PSH", "URG", "ECE", "CWR", "NS")
_TCP = {**_PORTS, "flags": {flag: "BOOLEAN" for flag in TCP_FLAGS}}
_ENDPOINT = {
    "ID": "BIGINT",
    "identity": INT,
    "namespace": "VARCHAR",
    "labels": ["VARCHAR"],
    "pod_name": "VARCHAR",
    "workloads": [{"name": "VARCHAR", "kind": "VARCHAR"}],
    "cluster_name": "VARCHAR",
}
FLOW: dict[str, object] = {
    "time": "VARCHAR",
    "verdict": "VARCHAR",
    "drop_reason": INT,  # kept as written (a text column)
    "drop_reason_desc": "VARCHAR",
    "IP": {"source": "VARCHAR", "destination": "VARCHAR", "ipVersion": "VARCHAR"},
    "l4": {"TCP": _TCP, "UDP": _PORTS, "SCTP": _PORTS, "ICMPv4": _ICMP, "ICMPv6": _ICMP},
    "source": _ENDPOINT,
    "destination": _ENDPOINT,
    "Type": "VARCHAR",
    "node_name": "VARCHAR",
    "source_names": ["VARCHAR"],
    "destination_names": ["VARCHAR"],
    "l7": {
        "type": "VARCHAR",
        "latency_ns": "BIGINT",
        "http": {"code": INT, "method": "VARCHAR", "url": "VARCHAR", "protocol": "VARCHAR"},
        "dns": {"query": "VARCHAR", "ips": ["VARCHAR"], "rcode": INT, "qtypes": ["VARCHAR"]},
    },
    "is_reply": "BOOLEAN",
    "reply": "BOOLEAN",  # older flows, before is_reply: a plain bool, written only when true
    "traffic_direction": "VARCHAR",
    "Summary": "VARCHAR",
    "policy_match_type": "BIGINT",
    "trace_observation_point": "VARCHAR",
    "event_type": {"type": "BIGINT", "sub_type": "BIGINT"},
}

# The bare flow's keys live at the top level; "time" and "node_name" are shared with the others.
# Bare flows are wrapped as ``{"flow": ...}`` before parsing (see NORMALISE_SQL), so one FLOW
# structure serves both shapes.
STRUCTURE: dict[str, object] = {"flow": FLOW, "node_name": "VARCHAR", "time": "VARCHAR"}

#: A bare flow (``hubble observe -o json``): an object with flow keys and no ``flow`` wrapper
#: (nor Falco's ``rule``), all at the top level (a key nested in another tool's line is no flow's).
BARE_FLOW_KEYS = ("verdict", "IP", "l4")
NORMALISE_SQL = (
    f"WHEN {top_keys_sql(tuple((k,) for k in BARE_FLOW_KEYS), without=('flow', 'rule'))} "
    "THEN '{\"flow\":' || rtrim(raw, chr(10) || chr(13)) || '}' "
)

DETECT_SQL = "(j.flow IS NOT NULL)"


def _q(name: str) -> str:
    return f'"{name}"'


#: Columns computed once per line: ``f`` is the flow.
PRELUDE: dict[str, str] = {"f": "j.flow"}


def _f(path: str) -> str:
    """SQL for a flow field (``f`` is computed by :data:`PRELUDE`)."""
    return f"f.{path}"


def _node(which: str) -> str:
    raw = "coalesce(j.node_name, f.node_name)"
    return f"split_part({raw}, '/', -1)" if which == "node" else (
        f"CASE WHEN contains({raw}, '/') THEN split_part({raw}, '/', 1) END"
    )


def _labels(side: str) -> str:
    """SQL for an endpoint's labels as a map.  ``k8s:`` is dropped from the keys; a key seen twice
    keeps its first value and a null label is skipped (``map_from_entries`` refuses both, which
    failed the whole load).  The plain conversion is tried first; the careful one sorts the entries
    by (key, position) and keeps each key's first: O(n log n) for a crafted list of many labels."""
    lab = _f(f"{side}.labels")
    key = "split_part(CASE WHEN starts_with(l, 'k8s:') THEN substr(l, 5) ELSE l END, '=', 1)"
    value = "CASE WHEN contains(l, '=') THEN substr(l, strpos(l, '=') + 1) ELSE '' END"
    plain = f"map_from_entries(list_transform({lab}, lambda l: struct_pack(k := {key}, v := {value})))"
    ordered = (f"list_sort(list_transform(list_filter({lab}, lambda l: l IS NOT NULL), "
               f"lambda l, i: struct_pack(k := {key}, i := i, v := {value})))")
    firsts = (f"list_filter(list_zip({ordered}, list_prepend(NULL, {ordered})), "
              "lambda lp: lp[1] IS NOT NULL AND (lp[2] IS NULL OR lp[2].k <> lp[1].k))")
    careful = f"map_from_entries(list_transform({firsts}, lambda lp: struct_pack(k := lp[1].k, v := lp[1].v)))"
    # (the CASE: DuckDB's coalesce computed the careful map for every row, not only where the
    # plain one failed: +80 % on the labels; without labels both are NULL)
    return f"CASE WHEN {lab} IS NOT NULL THEN coalesce(TRY({plain}), {careful}) END"


def _workload(side: str) -> str:
    return (
        f"coalesce({_f(side + '.workloads')}[1].name, "
        f"{workload_from_pod(_f(side + '.pod_name'))})"
    )


_L4 = "f.l4"

EVENT_COLUMNS: dict[str, str] = {
    "time_ns": epoch_ns("f.time"),
    "node": _node("node"),
    "cluster": _node("cluster"),
    "namespace": f"coalesce({_f('source.namespace')}, {_f('destination.namespace')})",
    "pod": f"coalesce({_f('source.pod_name')}, {_f('destination.pod_name')})",
    "workload": f"CASE WHEN {_f('source.pod_name')} IS NOT NULL THEN {_workload('source')} "
    f"ELSE {_workload('destination')} END",
    "src_ip": _f('"IP".source'),
    "src_port": f"coalesce(({_L4}).\"TCP\".source_port, ({_L4}).\"UDP\".source_port, ({_L4}).\"SCTP\".source_port)",
    "dst_ip": _f('"IP".destination'),
    "dst_port": f"coalesce(({_L4}).\"TCP\".destination_port, ({_L4}).\"UDP\".destination_port, ({_L4}).\"SCTP\".destination_port)",
    "protocol": f"CASE WHEN ({_L4}).\"TCP\" IS NOT NULL THEN 'TCP' WHEN ({_L4}).\"UDP\" IS NOT NULL THEN 'UDP' "
    f"WHEN ({_L4}).\"SCTP\" IS NOT NULL THEN 'SCTP' WHEN ({_L4}).\"ICMPv4\" IS NOT NULL THEN 'ICMPv4' "
    f"WHEN ({_L4}).\"ICMPv6\" IS NOT NULL THEN 'ICMPv6' END",
    "verdict": _f("verdict"),
    "summary": _f('"Summary"'),
}

#: Columns of the ``flows`` table.
FLOW_COLUMNS: dict[str, str] = {
    "drop_reason": f"coalesce({_f('drop_reason_desc')}, CAST({_f('drop_reason')} AS VARCHAR))",
    "src_namespace": _f("source.namespace"),
    "src_pod": _f("source.pod_name"),
    "src_workload": f"CASE WHEN {_f('source.pod_name')} IS NOT NULL THEN {_workload('source')} END",
    "src_labels": _labels("source"),
    "src_identity": _f("source.identity"),
    "src_names": _f("source_names"),
    "dst_namespace": _f("destination.namespace"),
    "dst_pod": _f("destination.pod_name"),
    "dst_workload": f"CASE WHEN {_f('destination.pod_name')} IS NOT NULL THEN {_workload('destination')} END",
    "dst_labels": _labels("destination"),
    # the map as text, once at load (Sigma's DestinationLabels reads it; casting 340k maps per
    # hunt cost more than the rest of the network rules)
    "dst_labels_text": f"CAST({_labels('destination')} AS VARCHAR)",
    "dst_identity": _f("destination.identity"),
    "dst_names": _f("destination_names"),
    "icmp_type": f"coalesce(({_L4}).\"ICMPv4\".type, ({_L4}).\"ICMPv6\".type)",
    "tcp_flags": "nullif(concat_ws(',', " + ", ".join(
        f"CASE WHEN ({_L4}).\"TCP\".flags.\"{flag}\" THEN '{flag}' END" for flag in TCP_FLAGS) + "), '')",
    "flow_type": _f('"Type"'),
    "l7_type": f"CASE WHEN {_f('l7.http')} IS NOT NULL THEN 'http' WHEN {_f('l7.dns')} IS NOT NULL THEN 'dns' "
    f"WHEN {_f('l7')} IS NOT NULL THEN 'l7' END",
    "l7_direction": _f("l7.type"),
    "http_method": _f("l7.http.method"),
    "http_url": _f("l7.http.url"),
    "http_path": f"regexp_extract({_f('l7.http.url')}, '^(?:[a-zA-Z][a-zA-Z0-9+.-]*://[^/]*)?([^?#]*)', 1)",
    "http_code": f"nullif({_f('l7.http.code')}, '0')",
    "dns_query": _f("l7.dns.query"),
    "dns_ips": _f("l7.dns.ips"),
    "dns_rcode": _f("l7.dns.rcode"),
    "is_reply": f"coalesce({_f('is_reply')}, {_f('reply')}, false)",
    "traffic_direction": _f("traffic_direction"),
    "observation_point": _f("trace_observation_point"),
}


#: The event-model columns of a flow (``events`` view: the L7 ones come from ``flows``).
_EVENT_OF_FLOW = {**EVENT_COLUMNS, **{c: FLOW_COLUMNS[c] for c in ("http_method", "http_path", "http_code",
                                                                   "dns_query")}}


def on_route(expr: str) -> str:
    """A flow expression over ``j``/``f`` rewritten for the fast route (the line parsed as ``x``)."""
    expr = re.sub(r"\bf\.", "x.flow.", expr).replace("j.flow", "x.flow").replace("j.node_name", "x.node_name")
    if re.search(r"\bj\.|\bf\b", expr):
        raise ValueError(f"expression reads a part of j that the route does not have: {expr}")
    return expr


def routes() -> list[RouteSpec]:
    """The fast route: the exporter's and ``-o jsonpb``'s ``{"flow": {...}, ...}`` lines."""
    return [RouteSpec("hubble", "flow", "flows", '{"flow":', json.dumps(STRUCTURE), _EVENT_OF_FLOW,
                      on_route, present="x.flow IS NOT NULL", excludes=('"process_',),
                      # a few hundred label lists among millions of flows: each map built once
                      distinct=(_f("source.labels"), _f("destination.labels")))]


SOURCE = Source(
    name="hubble", title="Hubble", detect=DETECT_SQL, kind="'flow'", structure=STRUCTURE,
    event=_EVENT_OF_FLOW, maps=(Mapping("flows", columns=FLOW_COLUMNS),),
    capabilities=frozenset({Capability.FLOWS, Capability.DNS}),
    samples=("public/hubble/*.json",),
    precedence=10, order=20, normalise=NORMALISE_SQL, prelude=PRELUDE, routes=routes, color="#009E73",
    route_keys=('"flow"', *(f'"{k}"' for k in BARE_FLOW_KEYS)),
)
