"""The filter vocabulary shared by every query method, in Hubble's and Tetragon's words.

``namespace``, ``pod`` (prefix, or regex when it contains regex syntax or is a compiled pattern),
``workload``, ``node``, ``from_pod``/``to_pod``, ``from_workload``/``to_workload``, ``verdict``,
``http_method``, ``http_path`` (regex; the path without its query string), ``http_url`` (regex on
the whole URL, query string included; flows only), ``http_status``, ``fqdn``/``dns_query`` (regex), ``port``,
``binary`` (regex), ``args`` (regex), ``kind``, ``source``, ``exec_id``, ``rule``, ``priority``,
``since``/``until`` (datetimes, ISO strings, or ns integers; naive times are UTC) and
``around=<time>, window="5m"`` for a slice around a pivot time.  A list value means "any of".

Every value reaches DuckDB as a parameter: :func:`where` returns SQL made only of our own column
names and ``?`` placeholders, plus the list of values.

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
import re
from collections.abc import Callable, Iterable
from typing import Any

_REGEX_CHARS = re.compile(r"[\^$*+?()\[\]{}|\\]")
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


def _compiles(v: str) -> bool:
    try:
        re.compile(v)
    except re.error:
        return False
    return True


def _is_regex(v: Any) -> bool:
    """A compiled pattern, or a string with regex syntax that compiles (else it is a literal)."""
    return isinstance(v, re.Pattern) or (
        isinstance(v, str) and bool(_REGEX_CHARS.search(v)) and _compiles(v)
    )


def _pattern(v: Any) -> str:
    return v.pattern if isinstance(v, re.Pattern) else str(v)


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
        return sql, [str(p) for p in params]
    return build


def _regex(cols: list[str]) -> Callable[[Any], Clause]:
    def build(v: Any) -> Clause:
        for val in _values(v):
            if not isinstance(val, re.Pattern) and not _compiles(str(val)):
                raise ValueError(f"{val!r} is not a valid regular expression (escape it with re.escape)")
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
    """Prefix match, or regex when the value is a pattern."""
    def build(v: Any) -> Clause:
        parts, params = [], []
        for val in _values(v):
            for c in cols:
                if _is_regex(val):
                    parts.append(f"regexp_matches({c}, ?)")
                    params.append(_pattern(val))
                else:
                    parts.append(f"starts_with({c}, ?)")
                    params.append(str(val))
        return " OR ".join(parts), params
    return build


def _int(cols: list[str]) -> Callable[[Any], Clause]:
    def build(v: Any) -> Clause:
        sql, params = _any(cols, lambda c: f"{c} = ?", v)
        return sql, [int(p) for p in params]
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
    },
    "processes": {**_COMMON},
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
}
PROFILES["alerts_attributed"] = {
    **PROFILES["alerts"],
    "workload": _eq(["workload"]),
    "exec_id": _eq(["exec_id"]),
    "container_id": _eq(["container_id"]),
    "binary": _regex(['coalesce("binary", proc_name)']),
    "args": _regex(["coalesce(args, cmdline)"]),
    "match": _eq(["match"]),
}
PROFILES["process_tree"] = {**PROFILES["processes"], "root_exec_id": _eq(["root_exec_id"])}
TIME_COLUMN["process_tree"] = "start_ns"


def where(table: str, **filters: Any) -> tuple[str, list[Any]]:
    """SQL ``WHERE`` body (without the keyword; ``'true'`` when empty) and its parameters."""
    profile = PROFILES[table]
    tcol = TIME_COLUMN.get(table, "time_ns")
    clauses: list[str] = []
    params: list[Any] = []
    around = filters.pop("around", None)
    window = filters.pop("window", None)
    if around is not None:
        half = to_duration_ns(window if window is not None else "5m")
        pivot = to_ns(around)
        filters.setdefault("since", pivot - half)
        filters.setdefault("until", pivot + half)
    for key, value in filters.items():
        if value is None:
            continue
        if key == "since":
            clauses.append(f"{tcol} >= ?")
            params.append(to_ns(value))
        elif key == "until":
            clauses.append(f"{tcol} <= ?")
            params.append(to_ns(value))
        elif key in profile:
            sql, p = profile[key](value)
            clauses.append(sql)
            params.extend(p)
        else:
            known = ", ".join(sorted([*profile, "since", "until", "around", "window"]))
            raise TypeError(f"unknown filter {key!r} for {table}; known filters: {known}")
    if not clauses:
        return "true", []
    return " AND ".join(f"({c})" for c in clauses), params
