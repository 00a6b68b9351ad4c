"""Kubernetes API audit events (``audit.k8s.io`` ``Event``), as the API server's log backend and
its webhook write them.

Formats read, detected per line from the content (never from the file name):

* one ``Event`` per line (``audit.k8s.io/v1`` and ``v1beta1``), as the log backend writes it;
  also the same event re-serialised with sorted keys and no ``apiVersion`` (Falco's trace files)
  and the pre-1.13 shape with ``timestamp`` instead of ``requestReceivedTimestamp``;
* the webhook backend's batches, ``{"kind":"EventList","apiVersion":"audit.k8s.io/v1",
  "items":[...]}`` on one line: each item is one event.  The load splits such a line into its
  items (:func:`split_batches`), each a record of its own with its exact bytes (its id is their
  hash, as for a line) and the line's number and offset; **a batch line counts as one line per
  item** in the load's accounting (as the items of a pretty-printed JSON array do), so
  ``lines == loaded + duplicates + quarantined + blank`` still holds.  An empty batch is one
  blank record.

Each event (one *stage* of one request: ``RequestReceived``, ``ResponseStarted``,
``ResponseComplete``, ``Panic``) is one row of the ``audit_events`` table; a request's several
stages share its ``auditID`` and are **one row of the ``api_calls`` view** (:data:`API_CALLS_SQL`)
with its stages listed.  Byte-identical lines are duplicates as for every source; two different
lines of the same stage (the log file and the webhook both captured) are two ``audit_events``
rows and still one call.

Identity columns (see the README, "API calls"):

* ``user``/``groups``: who authenticated; ``impersonated_user``/``impersonated_groups``: the
  identity it acted as;
* ``sa_namespace``/``sa_name``: the service account parsed from ``system:serviceaccount:NS:NAME``,
  of the **user** when the user is one, else of the impersonated user; ``sa_of`` says which
  (``'user'`` | ``'impersonated'``).  Only the user's own service account is a credential a pod
  holds (the correlation uses only ``sa_of = 'user'``);
* ``token_pod``/``token_pod_uid``/``token_node``: a pod-bound token's pod and node, from
  ``user.extra["authentication.kubernetes.io/pod-name"]`` (``…/pod-uid``, ``…/node-name``).

``created_name`` is the name of the object a ``create`` made (not a subresource's, such as
``pods/exec``): the response's ``metadata.name`` when the audit level kept the response, else
the name the request or the objectRef gave; NULL when the log does not say (a generated name at
level ``Metadata``).
"""

from __future__ import annotations

import json
import re

from kernelsec_nb.sources._route import RouteSpec
from kernelsec_nb.sources._source import Capability, Mapping, Source, TableSpec
from kernelsec_nb.sources._sql import epoch_ns, integer

#: This source's name in ``files.sources``, ``events.source`` and the filters.
NAME = "k8s_audit"
#: The ``kind`` of its rows in the ``events`` view.
KIND = "api_call"

_IDENTITY = {"username": "VARCHAR", "uid": "VARCHAR", "groups": ["VARCHAR"],
             "extra": "MAP(VARCHAR, VARCHAR[])"}
_META = {"name": "VARCHAR", "namespace": "VARCHAR", "uid": "VARCHAR", "generateName": "VARCHAR"}

#: What ``json_transform`` reads of an event (``kind`` is shared with Tetragon's normalised line).
STRUCTURE: dict[str, object] = {
    "kind": "VARCHAR",
    "apiVersion": "VARCHAR",
    "level": "VARCHAR",
    "auditID": "VARCHAR",
    "stage": "VARCHAR",
    "requestURI": "VARCHAR",
    "verb": "VARCHAR",
    "user": _IDENTITY,
    "impersonatedUser": _IDENTITY,
    "sourceIPs": ["VARCHAR"],
    "userAgent": "VARCHAR",
    "objectRef": {"resource": "VARCHAR", "subresource": "VARCHAR", "namespace": "VARCHAR",
                  "name": "VARCHAR", "apiGroup": "VARCHAR", "apiVersion": "VARCHAR", "uid": "VARCHAR"},
    "responseStatus": {"code": "VARCHAR", "status": "VARCHAR", "reason": "VARCHAR", "message": "VARCHAR"},
    "requestObject": {"kind": "VARCHAR", "metadata": _META, "spec": {"serviceAccountName": "VARCHAR",
                                                                     "nodeName": "VARCHAR"}},
    "responseObject": {"kind": "VARCHAR", "metadata": _META, "spec": {"serviceAccountName": "VARCHAR",
                                                                      "nodeName": "VARCHAR"}},
    "requestReceivedTimestamp": "VARCHAR",
    "stageTimestamp": "VARCHAR",
    "timestamp": "VARCHAR",
    "annotations": "MAP(VARCHAR, VARCHAR)",
}

#: A parsed line ``j`` is an audit event: the kind says so (or, re-serialised without kind and
#: apiVersion, it has an auditID, a verb and a stage or request URI).  Checked before Tetragon's
#: detection, which takes any line with a ``kind``.
DETECT_SQL = ("(j.auditID IS NOT NULL AND j.verb IS NOT NULL AND coalesce(j.kind = 'Event', "
              "j.stage IS NOT NULL OR j.requestURI IS NOT NULL) "
              "AND coalesce(starts_with(j.apiVersion, 'audit.k8s.io/'), true))")

#: The text a line must hold to be looked at as a batch (cheap test before any parse).
_BATCH_HINT = '"EventList"'

_SA_RE = "^system:serviceaccount:([^:]+):([^:]+)$"
_USER_IS_SA = f"regexp_full_match(j.user.username, '{_SA_RE[1:-1]}')"
_IMP_IS_SA = f"regexp_full_match(j.impersonatedUser.username, '{_SA_RE[1:-1]}')"
_SA_USER = f"CASE WHEN {_USER_IS_SA} THEN j.user.username WHEN {_IMP_IS_SA} THEN j.impersonatedUser.username END"


def _extra(key: str) -> str:
    return f"j.user.extra['authentication.kubernetes.io/{key}'][1]"


_WRITTEN = "coalesce(j.requestReceivedTimestamp, j.timestamp)"
#: Time of the request: ``requestReceivedTimestamp``, else ``timestamp`` (pre-1.13 events), else
#: the stage's time.
TIME_SQL = f"coalesce({epoch_ns('j.requestReceivedTimestamp')}, {epoch_ns('j.timestamp')}, {epoch_ns('j.stageTimestamp')})"

_CREATE = "(j.verb = 'create' AND j.objectRef.subresource IS NULL)"

#: The ``audit_events`` columns, as SQL over the parsed line ``j`` (integers as their JSON text:
#: the loader turns them into numbers, see :data:`kernelsec_nb.sources._sql.INTEGER_COLUMNS`).
COLUMNS: dict[str, str] = {
    "time_ns": TIME_SQL,
    "stage_ns": epoch_ns("j.stageTimestamp"),
    "audit_id": "j.auditID",
    "stage": "j.stage",
    "level": "j.level",
    "api_version": "j.apiVersion",
    "verb": "j.verb",
    "user": "j.user.username",
    "user_uid": "j.user.uid",
    "groups": "j.user.groups",
    "impersonated_user": "j.impersonatedUser.username",
    "impersonated_groups": "j.impersonatedUser.groups",
    "sa_namespace": f"regexp_extract({_SA_USER}, '{_SA_RE}', 1)",
    "sa_name": f"regexp_extract({_SA_USER}, '{_SA_RE}', 2)",
    "sa_of": f"CASE WHEN {_USER_IS_SA} THEN 'user' WHEN {_IMP_IS_SA} THEN 'impersonated' END",
    "token_pod": _extra("pod-name"),
    "token_pod_uid": _extra("pod-uid"),
    "token_node": _extra("node-name"),
    "source_ips": "j.sourceIPs",
    "src_ip": "j.sourceIPs[1]",
    "user_agent": "j.userAgent",
    "resource": "j.objectRef.resource",
    "subresource": "j.objectRef.subresource",
    "namespace": "j.objectRef.namespace",
    "name": "j.objectRef.name",
    "api_group": "j.objectRef.apiGroup",
    "code": integer("j.responseStatus.code"),
    "status_reason": "j.responseStatus.reason",
    "status_message": "j.responseStatus.message",
    "request_uri": "j.requestURI",
    "created_name": (f"CASE WHEN {_CREATE} THEN coalesce(j.responseObject.metadata.name, "
                     "j.requestObject.metadata.name, j.objectRef.name) END"),
    "created_uid": f"CASE WHEN {_CREATE} THEN j.responseObject.metadata.uid END",
    # a created pod's service account and node, when the audit level kept the object
    "created_sa": (f"CASE WHEN {_CREATE} THEN coalesce(j.responseObject.spec.serviceAccountName, "
                   "j.requestObject.spec.serviceAccountName) END"),
    "created_node": (f"CASE WHEN {_CREATE} THEN coalesce(j.responseObject.spec.nodeName, "
                     "j.requestObject.spec.nodeName) END"),
    "decision": "j.annotations['authorization.k8s.io/decision']",
    "authz_reason": "j.annotations['authorization.k8s.io/reason']",
}

#: The common event-model columns of its rows in the ``events`` view (SQL over ``audit_events``).
SUMMARY_SQL = ("concat_ws(' ', verb, concat_ws('/', resource, subresource), "
               "nullif(concat_ws('/', namespace, name), ''), 'by ' || user, '(' || code || ')')")

#: DDL of the table this source loads into (one row per audit event, i.e. per stage).
TABLE_DDL = """
CREATE TABLE IF NOT EXISTS audit_events (
    event_id VARCHAR, time TIMESTAMPTZ, time_ns BIGINT, stage_ns BIGINT,
    audit_id VARCHAR, stage VARCHAR, level VARCHAR, api_version VARCHAR, verb VARCHAR,
    "user" VARCHAR, user_uid VARCHAR, groups VARCHAR[],
    impersonated_user VARCHAR, impersonated_groups VARCHAR[],
    sa_namespace VARCHAR, sa_name VARCHAR, sa_of VARCHAR,
    token_pod VARCHAR, token_pod_uid VARCHAR, token_node VARCHAR,
    source_ips VARCHAR[], src_ip VARCHAR, user_agent VARCHAR,
    resource VARCHAR, subresource VARCHAR, namespace VARCHAR, name VARCHAR, api_group VARCHAR,
    code BIGINT, status_reason VARCHAR, status_message VARCHAR, request_uri VARCHAR,
    created_name VARCHAR, created_uid VARCHAR, created_sa VARCHAR, created_node VARCHAR,
    decision VARCHAR, authz_reason VARCHAR,
    file VARCHAR, line BIGINT, byte_offset BIGINT  -- provenance: the raw line (Case.raw)
)
"""

#: The stages in the order a request goes through them.
STAGE_ORDER = ("RequestReceived", "ResponseStarted", "ResponseComplete", "Panic")
_RANK = "list_position(['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'], stage)"

#: ``api_calls``: one row per request (its events grouped by ``auditID``; an event without one is
#: a call of its own).  Its columns are those of its latest stage (the response code: of the
#: latest stage that has one), the time the earliest; ``stages`` lists the stages seen, in
#: order, ``event_ids`` the events (for ``case.raw``/``explain``/tags) and ``event_id``,
#: ``file``, ``line``, ``byte_offset`` are its first event's.  (One row is picked per call and
#: its columns read, rather than thirty ``arg_max``: five times faster.)
_LATEST = ("stage", "verb", '"user"', "groups", "impersonated_user", "impersonated_groups",
           "sa_namespace", "sa_name", "sa_of", "token_pod", "token_pod_uid", "token_node",
           "source_ips", "src_ip", "user_agent", "resource", "subresource", "namespace", "name",
           "api_group", "status_reason", "request_uri", "created_name", "created_uid",
           "created_sa", "created_node", "decision", "level")
_FIRST = ("event_id", "file", "line", "byte_offset")
#: The ``api_calls`` rows as a query (what the view is; code that reads calls where the view may
#: be missing, a lake, reads this).
API_CALLS_SELECT = f"""
WITH r AS (
    SELECT *, coalesce({_RANK}, 0) AS _rank, coalesce(audit_id, event_id) AS _call FROM audit_events
), k AS (
    SELECT _call, min(time_ns) AS time_ns, max(stage_ns) AS end_ns,
           list_transform(list_sort(list(DISTINCT _rank) FILTER (WHERE _rank > 0)),
                          lambda r: {list(STAGE_ORDER)}[r]) AS stages,
           arg_max(code, _rank) AS code,
           list(event_id ORDER BY _rank, time_ns, event_id) AS event_ids,
           arg_max(event_id, (_rank, time_ns, event_id)) AS _last,
           arg_min(event_id, (_rank, time_ns, event_id)) AS _first
    FROM r GROUP BY _call
)
SELECT k._call AS call_id, l.audit_id, make_timestamp(k.time_ns // 1000)::TIMESTAMPTZ AS time, k.time_ns,
       k.end_ns, k.stages, {", ".join(f"l.{c}" for c in _LATEST)}, k.code, k.event_ids,
       {", ".join(f"f.{c}" for c in _FIRST)}
FROM k JOIN r l ON l.event_id = k._last JOIN r f ON f.event_id = k._first
"""  # noqa: S608 - our own column names only
API_CALLS_SQL = "CREATE OR REPLACE VIEW api_calls AS" + API_CALLS_SELECT


def batch_items(text: str) -> list[str] | None:
    """The items of an ``EventList`` line, each its exact text, or None when the line is no
    batch (then it is loaded, or refused, as the line it is).

    Each item keeps its characters as written (cut with the C JSON scanner, no re-serialising),
    so its id is the hash of its bytes, as for a line.

    >>> batch_items('{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"a": 1}, {"b":[2]}]}')
    ['{"a": 1}', '{"b":[2]}']
    >>> batch_items('{"kind":"EventList","items":[]}')
    []
    >>> batch_items('{"kind":"Event","verb":"get"}') is None
    True
    """
    dec = json.JSONDecoder()
    try:
        doc, end = dec.raw_decode(text.strip())
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("kind") != "EventList" or not isinstance(doc.get("items"), list):
        return None
    start = _items_offset(text, dec)
    if start is None:  # an odd line (a duplicate "items" key): the parsed items, re-serialised
        return [json.dumps(item, separators=(",", ":")) for item in doc["items"]]
    items: list[str] = []
    i = start + 1
    while True:
        i = _skip(text, i, " \t\r\n")
        if text.startswith("]", i):
            return items
        _, j = dec.raw_decode(text, i)
        items.append(text[i:j])
        i = _skip(text, j, " \t\r\n,")


def _skip(text: str, i: int, chars: str) -> int:
    while i < len(text) and text[i] in chars:
        i += 1
    return i


def _items_offset(text: str, dec: json.JSONDecoder) -> int | None:
    """Offset of the ``[`` of the top-level ``items`` value of the JSON object ``text`` (a key
    named ``items`` nested in another value is not it); the last one when the key repeats, as
    the parse keeps the last."""
    i = _skip(text, 0, " \t\r\n") + 1
    found = None
    while True:
        i = _skip(text, i, " \t\r\n,")
        if i >= len(text) or text[i] == "}":
            return found
        key, i = dec.raw_decode(text, i)
        i = _skip(text, i, " \t\r\n:")
        if key == "items":
            found = i if text.startswith("[", i) else None
        _, i = dec.raw_decode(text, i)


# -- the source -------------------------------------------------------------------------------
#: The parsed event: an audit line is claimed (parsed against this structure alone, under its
#: own key), so its ``kind: "Event"`` and ``user`` object need not agree with the other tools.
_KEY = f'j."{NAME}"'


def _own(expr: str) -> str:
    """An expression over ``j`` (as written above) read from this source's own key."""
    return re.sub(r"\bj\.", _KEY + ".", expr)


#: The line is an audit event's: its object has these keys (at the top level: a pod's labels or a
#: request body may hold any key).
CLAIM = (("auditID", "verb"),)

#: The rows this source adds to the ``events`` view (every column of the view, in its order).
EVENTS_VIEW = f"""SELECT event_id, '{NAME}', '{KIND}', time, time_ns, NULL, NULL, namespace,
       CASE WHEN resource = 'pods' THEN coalesce(created_name, name) END, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, src_ip, NULL, NULL, NULL, NULL, NULL, NULL, NULL, code, NULL, NULL,
       NULL, {SUMMARY_SQL}, file, line, byte_offset
FROM audit_events"""  # noqa: S608 - our own names

#: How the API server's log backend starts an event's line (``kind`` first, its encoder's order).
ROUTE_PREFIX = '{"kind":"Event",'


def on_route(expr: str) -> str:
    """An expression over this source's parsed line (``j."k8s_audit"``) rewritten for the fast
    route (the line parsed against :data:`STRUCTURE` as ``x``)."""
    out = expr.replace(_KEY, "x")
    if re.search(r"\bj\.", out):
        raise ValueError(f"expression reads a part of j that the route does not have: {expr}")
    return out


def routes() -> list[RouteSpec]:
    """The fast route: an event line as the log backend writes it, parsed against
    :data:`STRUCTURE` alone and inserted straight into ``audit_events``.

    The general path claims such a line for this source (its ``auditID`` and ``verb`` keys,
    at the top level: the route's ``present`` asks for both values) unless an earlier claim
    takes it; a line holding the text of such a claim's keys, or of a key the shared sources
    rewrite, is left to it (:func:`kernelsec_nb.sources.route_excludes`).
    """
    from kernelsec_nb.sources import route_excludes

    return [RouteSpec(NAME, KIND, "audit_events", ROUTE_PREFIX, json.dumps(STRUCTURE),
                      {"time_ns": _own(TIME_SQL), "kind": f"'{KIND}'"}, on_route,
                      present=f"x IS NOT NULL AND {on_route(_own(DETECT_SQL))}",
                      excludes=route_excludes(NAME), shared_keys=True)]


SOURCE = Source(
    name=NAME, title="Kubernetes audit", claim=CLAIM,
    detect=_own(DETECT_SQL), kind=f"'{KIND}'", structure=STRUCTURE,
    event={"time_ns": _own(TIME_SQL)},
    maps=(Mapping("audit_events", columns={k: _own(v) for k, v in COLUMNS.items() if k != "time_ns"}),),
    # the table, and the view of one row per request
    tables=(TableSpec("audit_events", TABLE_DDL.strip() + ";\n" + API_CALLS_SQL, ("time_ns",), view=EVENTS_VIEW),),
    capabilities=frozenset({Capability.API_CALLS}),
    samples=("public-new-sources/k8s-audit/*.log", "public-new-sources/k8s-audit/falco-trace-files/*.json"),
    split=(_BATCH_HINT, batch_items), routes=routes,
    precedence=5, order=40,
)
