"""Istio (Envoy sidecar and gateway) access logs: one HTTP request per line, to ``http_requests``.

Accepted shapes, detected per line from the content:

* Istio's default **TEXT** format (``meshConfig.accessLogFile`` with the default
  ``accessLogFormat``), and Envoy's own default format (the same without the fields from
  ``RESPONSE_CODE_DETAILS`` to ``UPSTREAM_TRANSPORT_FAILURE_REASON`` and after ``UPSTREAM_HOST``)::

    [START_TIME] "METHOD PATH PROTOCOL" CODE FLAGS DETAILS CONN_TERM "UPSTREAM_FAILURE" BYTES_RX
    BYTES_TX DURATION UPSTREAM_SVC_TIME "XFF" "USER_AGENT" "REQUEST_ID" "AUTHORITY" "UPSTREAM_HOST"
    UPSTREAM_CLUSTER UPSTREAM_LOCAL DOWNSTREAM_LOCAL DOWNSTREAM_REMOTE SNI ROUTE

* its **JSON** encoding (``accessLogEncoding: JSON``) with Istio's default keys (:data:`FIELDS`):
  numbers may be written as numbers or strings (``upstream_service_time`` is a string);
* either of them **wrapped in a container-log prefix** (CRI ``<time> stdout F …`` as kubelet keeps
  ``/var/log/pods``, Docker's ``{"log": …}``): the loader takes the wrapper off every line
  (:mod:`kernelsec_nb.sources._wrappers`); the table keeps which wrapper, its stream and its time.

``"-"``, ``null`` and empty mean "no value" (NULL).  Addresses ``ip:port`` (``[v6]:port``) are split
into ``*_ip`` and ``*_port``; one that is not ``ip:port`` (a pipe, an internal listener) keeps its
text in ``*_ip``.  The upstream cluster says the direction: ``inbound|PORT||`` (the sidecar passes
a request to its own pod), ``outbound|PORT|SUBSET|FQDN`` (a request of its pod, or of a gateway, to
a service); Istio's passthrough clusters likewise.  The fields a client chooses (path, user agent,
authority, request id, x-forwarded-for) are written by Envoy without escaping: a line whose quoted
fields hold ``"`` is split at the first place where the whole line fits.

The pod whose sidecar wrote a line is filled after the load (:data:`DERIVE`): from the file's path
when it is one kubelet keeps, else from the request's addresses (see
:mod:`kernelsec_nb.sources._pod_ips`).

Examples
--------
>>> from kernelsec_nb import sources
>>> sources.get("istio").tables[0].name
'http_requests'
"""

from __future__ import annotations

from kernelsec_nb.sources import _pod_ips
from kernelsec_nb.sources._source import Capability, Mapping, Source, TableSpec
from kernelsec_nb.sources._sql import PORT, epoch_ns, integer, workload_from_pod
from kernelsec_nb.sources._wrappers import CRI_PREFIX

#: Istio's default JSON keys (``accessLogEncoding: JSON``), in the TEXT format's order.
FIELDS = (
    "start_time", "method", "path", "protocol", "response_code", "response_flags",
    "response_code_details", "connection_termination_details", "upstream_transport_failure_reason",
    "bytes_received", "bytes_sent", "duration", "upstream_service_time", "x_forwarded_for",
    "user_agent", "request_id", "authority", "upstream_host", "upstream_cluster",
    "upstream_local_address", "downstream_local_address", "downstream_remote_address",
    "requested_server_name", "route_name",
)
#: Every field as its text (a JSON number's digits): integers are read by :func:`integer`.
STRUCTURE: dict[str, object] = {f: "VARCHAR" for f in FIELDS}

_Q = r'"(.*?)"'  # a quoted field as Envoy writes it (no escaping: the shortest that fits)
#: Istio's default TEXT format; Envoy's default lacks the two optional groups.
TEXT_PATTERN = (
    r'^\[([^\]]+)\] "(\S+) (.*?) (\S+)" ([0-9]+) (\S+)'
    rf"(?: (\S+) (\S+) {_Q})?"
    rf" ([0-9]+) ([0-9]+) ([0-9]+) (\S+) {_Q} {_Q} {_Q} {_Q} {_Q}"
    r"(?: (\S+) (\S+) (\S+) (\S+) (\S+) (\S+))?$"
)
_NAMES = "[" + ", ".join(f"'{f}'" for f in FIELDS) + "]"
#: SQL over a non-JSON line ``raw``: true when it is an access-log line (the pattern matched
#: without its groups, a cheaper search than their extraction).
TEXT_TEST = f"(starts_with(raw, '[') AND regexp_matches(raw, '{TEXT_PATTERN}'))"
#: The fields of a line the pattern does not match: every group empty (a match never has an
#: empty ``start_time``: ``[^\]]+``).
_NO_MATCH = "{" + ",".join(f'"{f}":""' for f in FIELDS) + "}"
#: SQL over a non-JSON line ``raw``: its fields as JSON text, NULL when it is no access-log line
#: (the pattern runs once: a line it does not match extracts all groups empty).
TEXT_SQL = (f"CASE WHEN starts_with(raw, '[') THEN nullif(CAST(to_json(regexp_extract(raw, '{TEXT_PATTERN}', "
            f"{_NAMES})) AS VARCHAR), '{_NO_MATCH}') END")
#: The same fields as the parsed line itself (``{"istio": fields}``, what ``json_transform`` of
#: :data:`TEXT_SQL` gives, without the JSON text in between): the pattern runs once, its groups
#: bound to ``x`` by a one-item list's lambda.
TEXT_VALUE = (f"CASE WHEN starts_with(raw, '[') THEN list_transform([regexp_extract(raw, '{TEXT_PATTERN}', "
              f"{_NAMES})], lambda x: CASE WHEN x.start_time <> '' THEN struct_pack(istio := x) END)[1] END")
#: A JSON line with Istio's keys is parsed against :data:`STRUCTURE` alone (``path``,
#: ``protocol`` and ``duration`` mean other things to other tools).
CLAIM = (("start_time", "response_code"),)

_J = 'j."istio"'


def v(field: str) -> str:
    """SQL for a field's text, NULL for ``-``, ``null`` or empty."""
    return f"nullif(nullif({_J}.{field}, '-'), '')"


DETECT_SQL = (f"({_J}.start_time IS NOT NULL AND {_J}.response_code IS NOT NULL AND coalesce("
              f"{_J}.downstream_remote_address, {_J}.upstream_host, {_J}.method, {_J}.authority) IS NOT NULL)")


def _ip(addr: str) -> str:
    return (f"CASE WHEN regexp_full_match({addr}, '\\[.*\\]:[0-9]+') THEN regexp_extract({addr}, '^\\[(.*)\\]:[0-9]+$', 1) "
            f"WHEN regexp_full_match({addr}, '[^:]*:[0-9]+') THEN regexp_extract({addr}, '^(.*):[0-9]+$', 1) "
            f"ELSE {addr} END")


def _port_text(addr: str) -> str:
    return f"CASE WHEN regexp_full_match({addr}, '(\\[.*\\]|[^:]*):[0-9]+') THEN regexp_extract({addr}, ':([0-9]+)$', 1) END"


def _port(addr: str) -> str:
    return integer(_port_text(addr), PORT)


def _address(prefix: str, field: str) -> dict[str, str]:
    return {f"{prefix}_ip": _ip(v(field)), f"{prefix}_port": _port(v(field))}


_CLUSTER = v("upstream_cluster")
#: The direction of a request as its cluster names it (Istio's naming).
DIRECTION_SQL = (f"CASE WHEN starts_with({_CLUSTER}, 'inbound|') OR starts_with({_CLUSTER}, 'InboundPassthroughCluster') "
                 f"THEN 'inbound' WHEN starts_with({_CLUSTER}, 'outbound|') OR {_CLUSTER} IN "
                 "('PassthroughCluster', 'BlackHoleCluster') THEN 'outbound' END")

# The container-log wrapper, read from the written line (``written``; ``raw`` is the line inside).
_WRAPPED = f"({_J} IS NOT NULL AND written <> raw)"
_DOCKER = f"({_WRAPPED} AND starts_with(written, '{{\"log\":'))"
_CRI_FIELDS = f"regexp_extract(written, '{CRI_PREFIX}', 0)"  # '<time> <stream> <tag> '
_CRI_TIME = f"split_part({_CRI_FIELDS}, ' ', 1)"
_DOCKER_TIME = "TRY(json_extract_string(written, '$.time'))"

#: The ``http_requests`` columns the loader fills (the pod's are filled after the load: :data:`DERIVE`).
COLUMNS: dict[str, str] = {
    "direction": DIRECTION_SQL,
    "method": v("method"),
    "authority": v("authority"),
    "path": v("path"),
    "http_path": f"regexp_extract({v('path')}, '^([^?#]*)', 1)",
    "protocol": v("protocol"),
    "response_code": integer(v("response_code")),
    "response_code_details": v("response_code_details"),
    "response_flags": v("response_flags"),
    "connection_termination_details": v("connection_termination_details"),
    "upstream_transport_failure_reason": v("upstream_transport_failure_reason"),
    "bytes_received": integer(v("bytes_received")),
    "bytes_sent": integer(v("bytes_sent")),
    "duration_ms": integer(v("duration")),
    "upstream_service_time_ms": integer(v("upstream_service_time")),
    **_address("upstream", "upstream_host"),
    "upstream_cluster": _CLUSTER,
    "upstream_service": f"nullif(split_part({_CLUSTER}, '|', 4), '')",
    "service_port": f"CASE WHEN contains({_CLUSTER}, '|') THEN {integer(f'split_part({_CLUSTER}, chr(124), 2)', PORT)} END",
    **_address("upstream_local", "upstream_local_address"),
    **_address("downstream_local", "downstream_local_address"),
    **_address("downstream_remote", "downstream_remote_address"),
    "requested_server_name": v("requested_server_name"),
    "route_name": v("route_name"),
    "request_id": v("request_id"),
    "user_agent": v("user_agent"),
    "x_forwarded_for": v("x_forwarded_for"),
    "log_format": f"CASE WHEN {_J} IS NOT NULL THEN CASE WHEN starts_with(ltrim(raw), '{{') THEN 'json' ELSE 'text' END END",
    "wrapper": f"CASE WHEN {_DOCKER} THEN 'docker' WHEN {_WRAPPED} THEN 'cri' END",
    "stream": f"CASE WHEN {_DOCKER} THEN TRY(json_extract_string(written, '$.stream')) "
              f"WHEN {_WRAPPED} THEN split_part({_CRI_FIELDS}, ' ', 2) END",
    "log_time_ns": f"CASE WHEN {_DOCKER} THEN {epoch_ns(_DOCKER_TIME)} WHEN {_WRAPPED} THEN {epoch_ns(_CRI_TIME)} END",
}

#: The event-model columns of a request: its connection is the downstream one (client → sidecar).
EVENT: dict[str, str] = {
    "time_ns": epoch_ns(v("start_time")),
    "src_ip": COLUMNS["downstream_remote_ip"],
    "src_port": _port_text(v("downstream_remote_address")),  # the event model's integers: their text
    "dst_ip": COLUMNS["downstream_local_ip"],
    "dst_port": _port_text(v("downstream_local_address")),
    "http_method": v("method"),
    "http_path": COLUMNS["http_path"],
    "summary": f"concat_ws(' ', {v('method')}, {v('path')}, {v('response_code')}, {v('response_flags')})",
}

TABLE_DDL = """
CREATE TABLE IF NOT EXISTS http_requests (
    event_id VARCHAR, time TIMESTAMPTZ, time_ns BIGINT,   -- the request's start (Envoy's START_TIME)
    namespace VARCHAR, pod VARCHAR, workload VARCHAR,     -- the pod whose sidecar (or gateway) wrote it
    container VARCHAR,                                    -- from kubelet's file path
    pod_from VARCHAR,                                     -- 'file' (its path) | 'address' (its addresses)
    direction VARCHAR,                                    -- inbound | outbound (from the cluster's name)
    method VARCHAR, authority VARCHAR, path VARCHAR,      -- path as written, query string included
    http_path VARCHAR,                                    -- path without its query string
    protocol VARCHAR, response_code BIGINT,               -- 0: no response sent (downstream went away)
    response_code_details VARCHAR, response_flags VARCHAR,
    connection_termination_details VARCHAR, upstream_transport_failure_reason VARCHAR,
    bytes_received BIGINT, bytes_sent BIGINT, duration_ms BIGINT, upstream_service_time_ms BIGINT,
    upstream_ip VARCHAR, upstream_port BIGINT,            -- UPSTREAM_HOST
    upstream_cluster VARCHAR, upstream_service VARCHAR,   -- outbound|PORT|SUBSET|FQDN: the FQDN
    service_port BIGINT,                                  -- inbound|PORT|| or outbound|PORT|...: PORT
    upstream_local_ip VARCHAR, upstream_local_port BIGINT,
    downstream_local_ip VARCHAR, downstream_local_port BIGINT,
    downstream_remote_ip VARCHAR, downstream_remote_port BIGINT,
    requested_server_name VARCHAR, route_name VARCHAR, request_id VARCHAR,
    user_agent VARCHAR, x_forwarded_for VARCHAR,
    log_format VARCHAR,                                   -- json | text
    wrapper VARCHAR, stream VARCHAR, log_time_ns BIGINT,  -- container-log prefix: cri | docker, its stream and time
    summary VARCHAR,
    file VARCHAR, line BIGINT, byte_offset BIGINT         -- provenance: the raw line (Case.raw)
)
"""

#: The ``events`` view's row of a request.
VIEW_SQL = """
SELECT event_id, 'istio', 'http_request', time, time_ns, NULL, NULL, namespace, pod, workload, NULL,
       NULL, NULL, NULL, NULL, NULL, NULL,
       downstream_remote_ip, downstream_remote_port, downstream_local_ip, downstream_local_port, NULL,
       NULL, method, http_path, nullif(response_code, 0), NULL, NULL, NULL, summary,
       file, line, byte_offset
FROM http_requests
"""

# kubelet's log paths: /var/log/pods/<ns>_<pod>_<uid>/<container>/<n>.log (rotated .log.<date>-<time>,
# maybe gzipped) and /var/log/containers/<pod>_<ns>_<container>-<64 hex>.log.
PODS_PATH = (r"(?:^|/)([a-z0-9][a-z0-9-]*)_([a-z0-9][a-z0-9.-]*)_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-"
             r"[0-9a-f]{4}-[0-9a-f]{12}/([a-z0-9][a-z0-9-]*)/[0-9]+\.log(?:\.[0-9]{8}-[0-9]{6})?(?:\.gz)?$")
CONTAINERS_PATH = r"(?:^|/)([a-z0-9][a-z0-9.-]*)_([a-z0-9][a-z0-9-]*)_([a-z0-9][a-z0-9-]*)-[0-9a-f]{64}\.log(?:\.gz)?$"

_FILE_PODS = f"""
SELECT file, CASE WHEN a.pod <> '' THEN a.namespace ELSE b.namespace END AS namespace,
       CASE WHEN a.pod <> '' THEN a.pod ELSE b.pod END AS pod,
       CASE WHEN a.pod <> '' THEN a.container ELSE b.container END AS container
FROM (SELECT file, regexp_extract(file, '{PODS_PATH}', ['namespace', 'pod', 'container']) AS a,
             regexp_extract(file, '{CONTAINERS_PATH}', ['pod', 'namespace', 'container']) AS b
      FROM (SELECT DISTINCT file FROM http_requests WHERE pod_from IS NULL))
WHERE a.pod <> '' OR b.pod <> ''
"""  # noqa: S608 - our own constants

#: The sidecar's own address of each request without a pod: inbound, the local address the client
#: reached (else the upstream host, the same pod); outbound, the upstream local address (else the
#: application's, downstream remote); unrouted (no cluster), the downstream local address.
_SIDECAR_KEYS = """
SELECT rowid AS rid, time_ns AS t, CASE direction WHEN 'outbound' THEN upstream_local_ip
                                   ELSE downstream_local_ip END AS ip, 1 AS prio
FROM http_requests WHERE pod IS NULL
UNION ALL
SELECT rowid, time_ns, CASE direction WHEN 'outbound' THEN downstream_remote_ip WHEN 'inbound' THEN upstream_ip END, 2
FROM http_requests WHERE pod IS NULL
"""

#: Run after every load (the flows and hooks that name pods may come in later files): the pod of
#: each request from its file's path (``pod_from = 'file'``), else from its addresses (``'address'``).
DERIVE: tuple[str, ...] = (
    "UPDATE http_requests SET namespace = NULL, pod = NULL, workload = NULL, pod_from = NULL "
    "WHERE pod_from = 'address'",
    f"""UPDATE http_requests SET namespace = f.namespace, pod = f.pod, container = f.container,
        workload = {workload_from_pod('f.pod')}, pod_from = 'file'
    FROM ({_FILE_PODS}) f WHERE http_requests.file = f.file AND http_requests.pod_from IS NULL""",  # noqa: S608
    f"""UPDATE http_requests SET namespace = m.namespace, pod = m.pod,
        workload = coalesce(m.workload, {workload_from_pod('m.pod')}), pod_from = 'address'
    FROM ({_pod_ips.resolve_sql(_SIDECAR_KEYS)}) m WHERE http_requests.rowid = m.rid""",  # noqa: S608
)

SOURCE = Source(
    name="istio", title="Istio", claim=CLAIM, text=TEXT_SQL, text_test=TEXT_TEST, text_value=TEXT_VALUE, detect=DETECT_SQL, kind="'http_request'",
    structure=STRUCTURE, event=EVENT, maps=(Mapping("http_requests", columns=COLUMNS),),
    tables=(TableSpec("http_requests", TABLE_DDL, event=("time_ns", "summary"), view=VIEW_SQL),),
    capabilities=frozenset({Capability.HTTP_REQUESTS}),
    samples=("public-new-sources/istio/*.log",),
    derive=DERIVE,
)
