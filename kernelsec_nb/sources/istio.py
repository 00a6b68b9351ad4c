"""Istio (Envoy sidecar and gateway) access logs: one HTTP request per line.

Accepted shapes, detected per line from the content:

* Istio's default **TEXT** format (``meshConfig.accessLogFile`` with the default
  ``accessLogFormat``), and Envoy's own default format (the same without the fields from
  ``RESPONSE_CODE_DETAILS`` to ``UPSTREAM_TRANSPORT_FAILURE_REASON`` and after ``UPSTREAM_HOST``)::

    [START_TIME] "METHOD PATH PROTOCOL" CODE FLAGS DETAILS CONN_TERM "UPSTREAM_FAILURE" BYTES_RX
    BYTES_TX DURATION UPSTREAM_SVC_TIME "XFF" "USER_AGENT" "REQUEST_ID" "AUTHORITY" "UPSTREAM_HOST"
    UPSTREAM_CLUSTER UPSTREAM_LOCAL DOWNSTREAM_LOCAL DOWNSTREAM_REMOTE SNI ROUTE

* its **JSON** encoding (``accessLogEncoding: JSON``) with Istio's default keys
  (:data:`FIELDS`); numbers may be written as numbers or strings (``upstream_service_time`` is a
  string), an empty value as ``"-"`` or ``null``;
* either of them **wrapped in a container-log prefix** (CRI ``<time> stdout F …`` as kubelet keeps
  ``/var/log/pods``, Docker's ``{"log": …}``): see :mod:`kernelsec_nb.sources._unwrap`.

``"-"``, ``null`` and empty mean "no value" (NULL).  Addresses ``ip:port`` (``[v6]:port``) are split
into ``*_ip`` and ``*_port``; one that is not ``ip:port`` (a pipe, an internal listener) keeps its
text in ``*_ip``.  The upstream cluster says the direction: ``inbound|PORT||`` (the sidecar passes
a request to its own pod), ``outbound|PORT|SUBSET|FQDN`` (a request of its pod, or of a gateway,
to a service); Istio's passthrough clusters likewise.  The text fields a client chooses (path,
user agent, authority, request id, x-forwarded-for) are written by Envoy without escaping:
a line whose quoted fields hold ``"`` is split at the first place the whole line fits.

The pod whose sidecar wrote the line is read from the file's path when it is one kubelet keeps
(``/var/log/pods/<ns>_<pod>_<uid>/<container>/N.log``, ``/var/log/containers/<pod>_<ns>_<container>-<id>.log``);
otherwise the case fills it from the addresses after the load (:mod:`kernelsec_nb.correlate._http`).
"""

from __future__ import annotations

import json

from kernelsec_nb.sources import _unwrap
from kernelsec_nb.sources._sql import PORT, epoch_ns, integer, workload_from_pod

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
STRUCTURE: dict[str, str] = {f: "VARCHAR" for f in FIELDS}

_Q = r'"(.*?)"'  # a quoted field as Envoy writes it (no escaping: the shortest that fits)
#: Istio's default TEXT format; the Envoy default lacks the two optional groups.
TEXT_PATTERN = (
    r'^\[([^\]]+)\] "(\S+) (.*?) (\S+)" ([0-9]+) (\S+)'
    rf"(?: (\S+) (\S+) {_Q})?"
    rf" ([0-9]+) ([0-9]+) ([0-9]+) (\S+) {_Q} {_Q} {_Q} {_Q} {_Q}"
    r"(?: (\S+) (\S+) (\S+) (\S+) (\S+) (\S+))?$"
)
_TEXT_NAMES = "[" + ", ".join(f"'{f}'" for f in FIELDS) + "]"

#: kubelet's log paths: ``/var/log/pods/<ns>_<pod>_<uid>/<container>/<n>.log`` (rotated:
#: ``.log.<date>-<time>``, maybe gzipped) and ``/var/log/containers/<pod>_<ns>_<container>-<id>.log``.
PODS_PATH = (r"(?:^|/)([a-z0-9][a-z0-9-]*)_([a-z0-9][a-z0-9.-]*)_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-"
             r"[0-9a-f]{4}-[0-9a-f]{12}/([a-z0-9][a-z0-9-]*)/[0-9]+\.log(?:\.[0-9]{8}-[0-9]{6})?(?:\.gz)?$")
CONTAINERS_PATH = r"(?:^|/)([a-z0-9][a-z0-9.-]*)_([a-z0-9][a-z0-9-]*)_([a-z0-9][a-z0-9-]*)-[0-9a-f]{64}\.log(?:\.gz)?$"


def layers(raw: str = "raw", file: str = "$file") -> list[dict[str, str]]:
    """SQL computing, for the line ``raw`` of the file named ``file``, the columns ``w`` (the
    container-log wrapper, see :func:`kernelsec_nb.sources._unwrap.layers`), ``a`` (the access
    log's fields as text, NULL when the payload is no access-log line), ``a_format`` (``'json'``,
    ``'text'``) and ``fp`` (namespace, pod and container from the file path), as layers."""
    payload = "w.payload"
    as_json = (f"CASE WHEN starts_with(ltrim({payload}), '{{') "
               f"THEN TRY(json_transform({payload}, '{json.dumps(STRUCTURE)}')) END")
    as_text = (f"CASE WHEN starts_with({payload}, '[') "
               f"THEN regexp_extract({payload}, '{TEXT_PATTERN}', {_TEXT_NAMES}) END")
    json_ok = ("_ja.start_time IS NOT NULL AND _ja.response_code IS NOT NULL AND coalesce("
               "_ja.downstream_remote_address, _ja.upstream_host, _ja.method, _ja.authority) IS NOT NULL")
    pods = f"regexp_extract({file}, '{PODS_PATH}', ['namespace', 'pod', 'container'])"
    containers = f"regexp_extract({file}, '{CONTAINERS_PATH}', ['pod', 'namespace', 'container'])"
    fp = ("CASE WHEN _fp1.pod <> '' THEN _fp1 WHEN _fp2.pod <> '' "
          "THEN struct_pack(namespace := _fp2.namespace, pod := _fp2.pod, container := _fp2.container) END")
    return [*_unwrap.layers(raw), {"_ja": as_json, "_ta": as_text, "_fp1": pods, "_fp2": containers},
            {"a": f"CASE WHEN {json_ok} THEN _ja WHEN _ta.start_time <> '' THEN _ta END",
             "a_format": f"CASE WHEN {json_ok} THEN 'json' WHEN _ta.start_time <> '' THEN 'text' END",
             "fp": fp}]


#: SQL: the line is an access-log line (over the columns of :func:`layers`).
DETECT_SQL = "(a IS NOT NULL)"


def v(field: str) -> str:
    """SQL for a field's text, NULL for ``-``, ``null`` or empty."""
    return f"nullif(nullif(a.{field}, '-'), '')"


def _ip(addr: str) -> str:
    return (f"CASE WHEN regexp_full_match({addr}, '\\[.*\\]:[0-9]+') THEN regexp_extract({addr}, '^\\[(.*)\\]:[0-9]+$', 1) "
            f"WHEN regexp_full_match({addr}, '[^:]*:[0-9]+') THEN regexp_extract({addr}, '^(.*):[0-9]+$', 1) "
            f"ELSE {addr} END")


def _port(addr: str) -> str:
    text = f"regexp_extract({addr}, ':([0-9]+)$', 1)"
    return f"CASE WHEN regexp_full_match({addr}, '(\\[.*\\]|[^:]*):[0-9]+') THEN {integer(text, PORT)} END"


def _address(prefix: str, field: str) -> dict[str, str]:
    return {f"{prefix}_ip": _ip(v(field)), f"{prefix}_port": _port(v(field))}


_CLUSTER = v("upstream_cluster")
#: The direction of a request as its cluster names it (Istio's naming).
DIRECTION_SQL = (f"CASE WHEN starts_with({_CLUSTER}, 'inbound|') OR starts_with({_CLUSTER}, 'InboundPassthroughCluster') "
                 f"THEN 'inbound' WHEN starts_with({_CLUSTER}, 'outbound|') OR {_CLUSTER} IN "
                 "('PassthroughCluster', 'BlackHoleCluster') THEN 'outbound' END")

#: Columns of the ``http_requests`` table (over the columns of :func:`layers`).
COLUMNS: dict[str, str] = {
    "time_ns": epoch_ns(v("start_time")),
    "namespace": "fp.namespace",
    "pod": "fp.pod",
    "workload": workload_from_pod("fp.pod"),
    "container": "fp.container",
    "pod_from": "CASE WHEN fp.pod IS NOT NULL THEN 'file' END",
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
    "log_format": "a_format",
    "wrapper": "w.wrapper",
    "stream": "w.stream",
    "log_time_ns": epoch_ns("w.time"),
    "summary": f"concat_ws(' ', {v('method')}, {v('path')}, {v('response_code')}, {v('response_flags')})",
}

#: Why a line that is an access-log line is refused (NULL: it loads), over the :func:`layers` columns.
REFUSAL_SQL = ("CASE WHEN w.partial THEN 'container-log line cut by the runtime (CRI tag P): its record goes on "
               f"in the next line' WHEN {COLUMNS['time_ns']} IS NULL THEN 'istio access log without a valid start_time' END")

#: The case table (columns in :data:`COLUMNS` order, plus the event id and provenance).
TABLE_DDL = """
CREATE TABLE IF NOT EXISTS http_requests (
    event_id VARCHAR, time TIMESTAMPTZ, time_ns BIGINT,   -- the request's start (Envoy's START_TIME)
    namespace VARCHAR, pod VARCHAR, workload VARCHAR,     -- the pod whose sidecar (or gateway) wrote it
    container VARCHAR,                                    -- from the file path, when kubelet's
    pod_from VARCHAR,                                     -- 'file' (its path) | 'address' (filled after the load)
    direction VARCHAR,                                    -- inbound | outbound (from the cluster name)
    method VARCHAR, authority VARCHAR, path VARCHAR,      -- path as written, query string included
    http_path VARCHAR,                                    -- path without its query string
    protocol VARCHAR, response_code BIGINT,               -- 0: no response sent (downstream went away)
    response_code_details VARCHAR, response_flags VARCHAR,
    connection_termination_details VARCHAR, upstream_transport_failure_reason VARCHAR,
    bytes_received BIGINT, bytes_sent BIGINT, duration_ms BIGINT, upstream_service_time_ms BIGINT,
    upstream_ip VARCHAR, upstream_port BIGINT,            -- UPSTREAM_HOST
    upstream_cluster VARCHAR, upstream_service VARCHAR,   -- outbound|PORT|SUBSET|FQDN: FQDN
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
);
"""

#: The ``events`` view's row of a request: the connection is the downstream one (client → sidecar).
EVENTS_VIEW_SQL = """
SELECT event_id, 'istio' AS source, 'http_request' AS kind, time, time_ns, NULL::VARCHAR AS node,
       NULL::VARCHAR AS cluster, namespace, pod, workload, NULL::VARCHAR AS container_id,
       NULL::VARCHAR AS exec_id, NULL::VARCHAR AS parent_exec_id, NULL::BIGINT AS pid, NULL::BIGINT AS uid,
       NULL::VARCHAR AS "binary", NULL::VARCHAR AS args,
       downstream_remote_ip AS src_ip, downstream_remote_port AS src_port,
       downstream_local_ip AS dst_ip, downstream_local_port AS dst_port, NULL::VARCHAR AS protocol,
       NULL::VARCHAR AS verdict, method AS http_method, http_path, nullif(response_code, 0) AS http_code,
       NULL::VARCHAR AS dns_query, NULL::VARCHAR AS rule, NULL::VARCHAR AS priority, summary,
       file, line, byte_offset
FROM http_requests
"""


def parse(lines: list[str], file: str = "") -> list[dict]:
    """The :data:`COLUMNS` of each line (None for a line that is no access-log line), with
    ``reason`` when a detected line is refused: for tests and the docs.

    >>> row = parse(['[2022-06-22T10:27:00.362Z] "GET /status/418?x=1 HTTP/1.1" 418 - via_upstream - "-" '
    ...              '0 135 25 25 "-" "curl/7.83.1-DEV" "adc1465d" "httpbin:8000" "172.17.0.7:80" '
    ...              'outbound|8000||httpbin.default.svc.cluster.local 172.17.0.6:57130 10.99.37.119:8000 '
    ...              '172.17.0.6:50514 - default'])[0]
    >>> row["method"], row["http_path"], row["response_code"], row["direction"], row["upstream_service"]
    ('GET', '/status/418', 418, 'outbound', 'httpbin.default.svc.cluster.local')
    >>> row["downstream_remote_ip"], row["downstream_remote_port"], row["requested_server_name"]
    ('172.17.0.6', 50514, None)
    """
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE TEMP TABLE _l (n INTEGER, raw VARCHAR)")
    con.executemany("INSERT INTO _l VALUES (?, ?)", [[i, x] for i, x in enumerate(lines)])
    cols = ", ".join(f"{expr} AS {name}" for name, expr in COLUMNS.items())
    sql = (f"SELECT {DETECT_SQL} AS ok, {REFUSAL_SQL} AS reason, {cols} "  # noqa: S608 - our own constants
           f"FROM ({_unwrap.select(layers('raw', '$file'), 'SELECT * FROM _l')}) ORDER BY n")
    cur = con.execute(sql, {"file": file})
    names = [d[0] for d in cur.description]
    return [dict(zip(names[1:], r[1:], strict=True)) if r[0] else None for r in cur.fetchall()]
