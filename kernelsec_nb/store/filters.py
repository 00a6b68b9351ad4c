"""The filter vocabulary shared by every query method, in Hubble's and Tetragon's words.

``namespace``, ``pod`` (a literal name prefix, whatever characters it holds; a regex only when
given as a compiled pattern, ``re.compile("^web-[0-9]+$")``),
``workload``, ``node``, ``from_pod``/``to_pod``, ``from_workload``/``to_workload``, ``verdict``,
``http_method``, ``http_path`` (regex; the path without its query string), ``http_url`` (regex on
the whole URL, query string included; flows and sidecar access logs), ``http_status``, ``fqdn``/``dns_query`` (regex), ``port``,
``binary`` (regex), ``args`` (regex), ``kind``, ``source``, ``exec_id``, ``rule``, ``priority``,
``tag`` (rows the team tagged with ``case.tag``: the event, or its process), ``verb``,
``resource`` (``pods`` or ``pods/exec``) and ``user`` (a name prefix, or a compiled regex) for API calls,
``since``/``until`` (datetimes, ISO strings, or ns integers; naive times are UTC) and
``around=<time>, window="5m"`` for a slice around a pivot time.  A list value means "any of".

Every value reaches DuckDB as a parameter: :func:`where` returns SQL made only of our own column
names and ``?`` placeholders, plus the list of values.  A regex is checked by the engine that
runs it, DuckDB's RE2 (no look-around, no backreferences): one it refuses is a ``ValueError``
naming the filter, before the query runs.  A compiled pattern's ``re.IGNORECASE``,
``re.MULTILINE`` and ``re.DOTALL`` become RE2's ``(?i)``, ``(?m)``, ``(?s)``.

Examples
--------
>>> sql, params = where("flows", from_pod="xwing", verdict="DROPPED", since="2026-11-20T10:00Z")
>>> sql
'(starts_with(src_pod, ?)) AND (upper(verdict) = upper(?)) AND (time_ns >= ?)'
>>> params[:2]
['xwing', 'DROPPED']
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

import duckdb

_UNITS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9,
          "d": 86400 * 10**9}

Clause = tuple[str, list[Any]]


def to_ns(value: Any) -> int:
    """A time (datetime, date, ISO string, polars/pandas timestamp or ns int) → ns since epoch, UTC."""
    if isinstance(value, bool):
        raise TypeError("a time cannot be a bool")
    if isinstance(value, int):
        return value
    if hasattr(value, "to_pydatetime"):  # pandas.Timestamp
        value = value.to_pydatetime()
    if isinstance(value, str):
        text = value.strip().replace(" ", "T", 1)
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"cannot read {value!r} as a time (use ISO 8601, e.g. 2026-11-20T10:00Z)") from exc
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if not isinstance(value, dt.datetime):
        raise TypeError(f"cannot use {type(value).__name__} as a time")
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    delta = value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def to_duration_ns(value: Any) -> int:
    """``"5m"``, ``"30s"``, ``"1h30m"``, ``"250ms"``, a timedelta or ns int → nanoseconds."""
    if isinstance(value, dt.timedelta):
        return int(value.total_seconds() * 1e9)
    if isinstance(value, int):
        return value
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*(ns|us|ms|s|m|h|d)", str(value))
    if not parts or "".join(f"{a}{b}" for a, b in parts) != re.sub(r"\s", "", str(value)):
        raise ValueError(f"cannot read {value!r} as a duration (e.g. '5m', '30s', '1h')")
    return int(sum(float(n) * _UNITS[u] for n, u in parts))


def _values(v: Any) -> list[Any]:
    if isinstance(v, (list, tuple, set, frozenset)):
        return list(v)
    return [v]


_RE2: duckdb.DuckDBPyConnection | None = None
_RE2_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4096)
def re2_error(pattern: str) -> str | None:
    """Why DuckDB's regex engine (RE2) refuses ``pattern``, or None when it compiles it.

    Python's ``re`` accepts more (look-ahead ``(?=…)``, backreferences ``\\1``): the engine that
    runs the filter judges it.

    Examples
    --------
    >>> re2_error("kill$") is None, re2_error("kill(?=$)")
    (True, 'invalid perl operator: (?=')
    """
    global _RE2
    with _RE2_LOCK:
        if _RE2 is None:
            _RE2 = duckdb.connect()
        try:
            _RE2.execute("SELECT regexp_matches('', ?)", [pattern]).fetchall()
        except duckdb.Error as exc:
            return str(exc).removeprefix("Invalid Input Error: ")
    return None


_INLINE_FLAGS = ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"))


def _pattern(v: Any) -> str:
    """The regex text DuckDB runs, checked by DuckDB (a ``ValueError`` when it refuses it)."""
    if isinstance(v, re.Pattern):
        if v.flags & re.VERBOSE:
            raise ValueError(f"{v.pattern!r}: re.VERBOSE patterns cannot run in DuckDB (RE2)")
        flags = "".join(c for flag, c in _INLINE_FLAGS if v.flags & flag)
        text = f"(?{flags}){v.pattern}" if flags else str(v.pattern)
    else:
        text = str(v)
    why = re2_error(text)
    if why is not None:
        raise ValueError(f"{text!r} is not a regular expression DuckDB can run ({why}; its RE2 has "
                         "no look-ahead/behind or backreferences; escape a literal with re.escape)")
    return text


def _any(cols: Iterable[str], test: Callable[[str], str], value: Any) -> Clause:
    """OR over columns and values: ``test(col)`` is SQL with one ``?``."""
    parts, params = [], []
    for val in _values(value):
        for col in cols:
            parts.append(test(col))
            params.append(val)
    return " OR ".join(parts), params


def _eq(cols: list[str]) -> Callable[[Any], Clause]:
    return lambda v: _any(cols, lambda c: f"{c} = ?", v)


def _node(cols: list[str], cluster: str | None = None) -> Callable[[Any], Clause]:
    """Node names as Tetragon and Falco write them; Hubble's ``cluster/node`` form is read as its
    node and, in a table with a ``cluster`` column, that cluster where an event names one (two
    clusters' ``worker-3`` stay apart)."""
    def build(v: Any) -> Clause:
        parts, params = [], []
        for value in _values(v):
            name_of_cluster, _, name = str(value).rpartition("/")
            for col in cols:
                if name_of_cluster and cluster:
                    parts.append(f"({col} = ? AND coalesce({cluster} = ?, true))")
                    params += [name, name_of_cluster]
                else:
                    parts.append(f"{col} = ?")
                    params.append(name)
        return " OR ".join(parts), params
    return build


def _ieq(cols: list[str]) -> Callable[[Any], Clause]:
    def build(v: Any) -> Clause:
        sql, params = _any(cols, lambda c: f"upper({c}) = upper(?)", v)
        if any(not isinstance(p, str) for p in params):
            raise ValueError(f"a text (or a list of texts), not {next(type(p).__name__ for p in params if not isinstance(p, str))}")
        return sql, params
    return build


def _regex(cols: list[str]) -> Callable[[Any], Clause]:
    def build(v: Any) -> Clause:
        sql, params = _any(cols, lambda c: f"regexp_matches({c}, ?)", v)
        return sql, [_pattern(p) for p in params]
    return build


def _regex_names(cols: list[str], lists: list[str]) -> Callable[[Any], Clause]:
    """Regex on scalar columns, or on any name of list columns (Hubble's ``--fqdn``: the DNS
    query, or a name the endpoint is known by)."""
    scalar = _regex(cols)

    def build(v: Any) -> Clause:
        sql, params = scalar(v)
        more, extra = _any(lists, lambda c: f"list_bool_or(list_transform({c}, lambda n: regexp_matches(n, ?)))", v)
        return f"{sql} OR {more}", params + [_pattern(p) for p in extra]
    return build


def _name(cols: list[str]) -> Callable[[Any], Clause]:
    """Prefix match of the literal text (a pod named ``web(1)`` is found by its name), or a regex
    when the value is a compiled pattern."""
    def build(v: Any) -> Clause:
        parts, params = [], []
        for val in _values(v):
            for c in cols:
                if isinstance(val, re.Pattern):
                    parts.append(f"regexp_matches({c}, ?)")
                    params.append(_pattern(val))
                else:
                    parts.append(f"starts_with({c}, ?)")
                    params.append(str(val))
        return " OR ".join(parts), params
    return build


#: Annotation targets (store/notes.py): an event or flow by its event_id, a process by its exec_id.
_TAGGED_EVENTS = "SELECT target FROM annotations WHERE target_kind <> 'exec' AND tag = ?"
_TAGGED_EXECS = "SELECT target FROM annotations WHERE target_kind = 'exec' AND tag = ?"


def _tagged(event_col: str | None, exec_col: str | None) -> Callable[[Any], Clause]:
    """Rows the team tagged (``case.tag``): the event itself, or the process it belongs to."""
    def build(v: Any) -> Clause:
        parts, params = [], []
        for val in _values(v):
            if event_col:
                parts.append(f"{event_col} IN ({_TAGGED_EVENTS})")
                params.append(str(val))
            if exec_col:
                parts.append(f"{exec_col} IN ({_TAGGED_EXECS})")
                params.append(str(val))
        return " OR ".join(parts), params
    return build


def _int(cols: list[str]) -> Callable[[Any], Clause]:
    def build(v: Any) -> Clause:
        sql, params = _any(cols, lambda c: f"{c} = ?", v)
        try:
            numbers = [int(p) for p in params if not isinstance(p, (bool, float)) or p == int(p)]
        except (TypeError, ValueError):
            numbers = []
        if len(numbers) != len(params) or any(n < 0 for n in numbers):
            raise ValueError(f"a whole number ≥ 0 (or a list of them), not {v!r}")
        return sql, numbers
    return build


# Which columns each filter reads, per table.  A filter missing for a table is an error.
_ENDPOINT_TABLES = {"flows"}
_COMMON: dict[str, Callable[[Any], Clause]] = {
    "namespace": _eq(["namespace"]),
    "pod": _name(["pod"]),
    "workload": _eq(["workload"]),
    "node": _node(["node"]),
    "exec_id": _eq(["exec_id"]),
    "binary": _regex(['"binary"']),
    "args": _regex(["args"]),
    "tag": _tagged("event_id", "exec_id"),
}
# Verdict and L7 filters: the same columns in ``events`` and ``flows``.
_FLOW_DETAIL: dict[str, Callable[[Any], Clause]] = {
    "verdict": _ieq(["verdict"]),
    "http_method": _ieq(["http_method"]),
    "http_path": _regex(["http_path"]),
    "http_status": _int(["http_code"]),
    "dns_query": _regex(["dns_query"]),
    "fqdn": _regex(["dns_query"]),
}
PROFILES: dict[str, dict[str, Callable[[Any], Clause]]] = {
    "events": {
        **_COMMON,
        "node": _node(["node"], cluster="cluster"),
        "source": _eq(["source"]),
        "kind": _eq(["kind"]),
        **_FLOW_DETAIL,
        "port": _int(["src_port", "dst_port"]),
        "rule": _regex(["rule"]),
        "priority": _ieq(["priority"]),
        "from_pod": _name(["pod"]),
        "from_workload": _eq(["workload"]),
    },
    "flows": {
        "namespace": _eq(["src_namespace", "dst_namespace"]),
        "pod": _name(["src_pod", "dst_pod"]),
        "workload": _eq(["src_workload", "dst_workload"]),
        "node": _node(["node"], cluster="cluster"),
        "from_pod": _name(["src_pod"]),
        "to_pod": _name(["dst_pod"]),
        "from_workload": _eq(["src_workload"]),
        "to_workload": _eq(["dst_workload"]),
        "from_namespace": _eq(["src_namespace"]),
        "to_namespace": _eq(["dst_namespace"]),
        "from_ip": _eq(["src_ip"]),
        "to_ip": _eq(["dst_ip"]),
        **_FLOW_DETAIL,
        "fqdn": _regex_names(["dns_query"], ["src_names", "dst_names"]),
        "http_url": _regex(["http_url"]),
        "port": _int(["dst_port", "src_port"]),
        "protocol": _ieq(["protocol"]),
        "tag": _tagged("event_id", None),
    },
    "processes": {**_COMMON, "tag": _tagged(None, "exec_id")},
    "kprobes": {
        **_COMMON,
        "node": _node(["node"], cluster="cluster"),
        "kind": _eq(["kind"]),
        "port": _int(["dport", "sport"]),
        "function_name": _eq(["function_name"]),
    },
    "alerts": {
        "namespace": _eq(["namespace"]),
        "pod": _name(["pod"]),
        "workload": _eq(["workload"]),
        "node": _node(["node"]),
        "rule": _regex(["rule"]),
        "priority": _ieq(["priority"]),
        "binary": _regex(["proc_name"]),
        "args": _regex(["cmdline"]),
        "tag": _tagged("event_id", None),
    },
}

#: The time column each table is filtered on by ``since``/``until``/``around``.
TIME_COLUMN = {"processes": "start_ns"}

# Profiles of correlation results (kernelsec_nb.correlate): a table's own filters plus those of
# the process each row is attributed to.
PROFILES["flows_attributed"] = {
    **PROFILES["flows"],
    "exec_id": _eq(["exec_id"]),
    "binary": _regex(['"binary"']),
    "args": _regex(["args"]),
    "match": _eq(["match"]),
    "tag": _tagged("event_id", "exec_id"),
}
PROFILES["alerts_attributed"] = {
    **PROFILES["alerts"],
    "workload": _eq(["workload"]),
    "exec_id": _eq(["exec_id"]),
    "container_id": _eq(["container_id"]),
    "binary": _regex(['coalesce("binary", proc_name)']),
    "args": _regex(["coalesce(args, cmdline)"]),
    "match": _eq(["match"]),
    "tag": _tagged("event_id", "exec_id"),
}
# Sidecar access logs (``http_requests``): the pod is the one whose sidecar wrote the request;
# ``http_url`` is the path as written (query string included), ``http_path`` the path without it.
PROFILES["http_requests"] = {
    "namespace": _eq(["namespace"]),
    "pod": _name(["pod"]),
    "workload": _eq(["workload"]),
    "http_method": _ieq(["method"]),
    "http_path": _regex(["http_path"]),
    "http_url": _regex(["path"]),
    "http_status": _int(["response_code"]),
    "authority": _eq(["authority"]),
    "direction": _eq(["direction"]),
    "response_flags": _regex(["response_flags"]),
    "request_id": _eq(["request_id"]),
    "port": _int(["downstream_local_port", "service_port"]),
    "tag": _tagged("event_id", None),
}
PROFILES["http_requests_attributed"] = {
    **PROFILES["http_requests"],
    "from_pod": _name(["client_pod"]),
    "exec_id": _eq(["exec_id"]),
    "binary": _regex(['"binary"']),
    "args": _regex(["args"]),
    "match": _eq(["match"]),
    "tag": _tagged("event_id", "exec_id"),
}
PROFILES["process_tree"] = {**PROFILES["processes"], "root_exec_id": _eq(["root_exec_id"])}

def _resource(v: Any) -> Clause:
    """An API resource as kubectl writes it: ``pods`` (every call on pods, its subresources
    too) or ``pods/exec`` (that subresource only)."""
    parts, params = [], []
    for val in _values(v):
        resource, sep, sub = str(val).partition("/")
        if sep:
            parts.append("(resource = ? AND subresource = ?)")
            params += [resource, sub]
        else:
            parts.append("resource = ?")
            params.append(resource)
    return " OR ".join(parts), params


def _tagged_calls(v: Any) -> Clause:
    """API calls the team tagged: one of the call's events (any stage), or its process."""
    parts, params = [], []
    for val in _values(v):
        parts.append("list_has_any(event_ids, coalesce((SELECT list(target) FROM annotations "
                     "WHERE target_kind <> 'exec' AND tag = ?), []))")
        parts.append(f"exec_id IN ({_TAGGED_EXECS}) OR linked_exec_id IN ({_TAGGED_EXECS})")
        params += [str(val), str(val), str(val)]
    return " OR ".join(parts), params


# API calls (case.api_calls): ``pod`` is the pod that sent the call or the pod it acted on.
PROFILES["api_calls"] = {
    "namespace": _eq(["namespace", "src_namespace"]),
    "pod": _name(["src_pod", "target_pod"]),
    "from_pod": _name(["src_pod"]),
    "to_pod": _name(["target_pod"]),
    "from_namespace": _eq(["src_namespace"]),
    "node": _node(["src_node"]),
    "verb": _ieq(["verb"]),
    "resource": _resource,
    "user": _name(['"user"', "impersonated_user"]),
    "exec_id": _eq(["exec_id", "linked_exec_id"]),
    "binary": _regex(['"binary"']),
    "http_status": _int(["code"]),
    "src_match": _eq(["src_match"]),
    "link": _eq(["link"]),
    "tag": _tagged_calls,
}
TIME_COLUMN["process_tree"] = "start_ns"


def where(table: str, **filters: Any) -> tuple[str, list[Any]]:
    """SQL ``WHERE`` body (without the keyword; ``'true'`` when empty) and its parameters."""
    profile = PROFILES[table]
    tcol = TIME_COLUMN.get(table, "time_ns")
    clauses: list[str] = []
    params: list[Any] = []
    around = filters.pop("around", None)
    window = filters.pop("window", None)
    if window is not None and around is None:
        raise ValueError("filter window: a window is taken around a time: give around=<time> too")
    if around is not None:
        half = to_duration_ns(window if window is not None else "5m")
        pivot = to_ns(around)
        filters.setdefault("since", pivot - half)
        filters.setdefault("until", pivot + half)
    if filters.get("since") is not None and filters.get("until") is not None \
            and to_ns(filters["since"]) > to_ns(filters["until"]):
        raise ValueError(f"filter since ({filters['since']}) is after until ({filters['until']}): nothing can match")
    for key, value in filters.items():
        if value is None:
            continue
        if isinstance(value, dict) or (isinstance(value, (list, tuple, set, frozenset))
                                       and any(isinstance(x, dict) for x in value)):
            raise ValueError(f"filter {key}: a value or a list of values, not a dict")
        if key == "since":
            clauses.append(f"{tcol} >= ?")
            params.append(to_ns(value))
        elif key == "until":
            clauses.append(f"{tcol} <= ?")
            params.append(to_ns(value))
        elif key in profile:
            try:
                sql, p = profile[key](value)
            except ValueError as exc:
                raise ValueError(f"filter {key}: {exc}") from None
            clauses.append(sql)
            params.extend(p)
        else:
            known = ", ".join(sorted([*profile, "since", "until", "around", "window"]))
            raise TypeError(f"unknown filter {key!r} for {table}; known filters: {known}")
    if not clauses:
        return "true", []
    return " AND ".join(f"({c})" for c in clauses), params
