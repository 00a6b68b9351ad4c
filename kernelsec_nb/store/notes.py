"""The team's notes kept in the case: tags and notes on events, flows and processes, and saved queries.

Both live in tables of the case file (``annotations``, ``saved_queries``; see schema.sql) that a
load never touches, so they survive reloads, and every analyst who opens the case for writing in
turn adds to the same tables: notes of two analysts merge in the file.

An annotation targets an event or a flow by its ``event_id``, or a process by its ``exec_id``
(both stable: a reload of the same exports gives the same ids).  Every value reaches DuckDB as a
parameter.  A saved query names one of :data:`QUERY_METHODS` (an allow-list: a name stored in
the case never picks an arbitrary attribute) and its filters as JSON.

Examples
--------
>>> import kernelsec_nb as kn
>>> case = kn.open_case()
>>> case.notes().height
0
>>> case.save_query("drops", "events", verdict="DROPPED")
>>> case.queries()["name"].to_list()
['drops']
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

from kernelsec_nb.store import filters

#: The query methods a saved query may name, and the filter profile that checks its filters
#: (None: the method checks its own arguments when it runs).
QUERY_METHODS: dict[str, str | None] = {
    "events": "events",
    "processes": "processes",
    "process_tree": "process_tree",
    "flows": "flows_attributed",
    "alerts": "alerts_attributed",
    "api_calls": "api_calls",
    "activity": None,
}

#: The tag :meth:`NotesMixin.star` puts.
STAR = "star"


def default_author() -> str:
    """The OS user (``getpass.getuser()``), or ``'unknown'`` where the system names none."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user with no passwd entry and no $USER
        return "unknown"


def _tags(tags: str | Iterable[str] | None) -> list[str]:
    if tags is None:
        return []
    items = [tags] if isinstance(tags, str) else list(tags)
    out = []
    for t in items:
        if not isinstance(t, str) or not t.strip():
            raise ValueError(f"a tag is a non-empty string, not {t!r}")
        if t.strip() not in out:
            out.append(t.strip())
    return out


# -- filters as JSON -------------------------------------------------------------------------
def filters_to_json(flt: Mapping[str, Any]) -> str:
    """Filters as a JSON object: times become ISO strings, compiled patterns
    ``{"regex": ..., "flags": ...}``, tuples and sets lists.

    >>> filters_to_json({"pod": re.compile("^web", re.I), "port": (80, 443)})
    '{"pod": {"regex": "^web", "flags": 34}, "port": [80, 443]}'
    """
    def enc(v: Any) -> Any:
        if isinstance(v, re.Pattern):
            return {"regex": v.pattern, "flags": int(v.flags)}
        if isinstance(v, (dt.datetime, dt.date)):
            return v.isoformat()
        if isinstance(v, dt.timedelta):
            return f"{int(v.total_seconds() * 1e9)}ns"
        if isinstance(v, (list, tuple, set, frozenset)):
            return [enc(x) for x in v]
        if v is None or isinstance(v, (str, int, float, bool)):
            return v
        if hasattr(v, "isoformat"):  # pandas/numpy timestamps
            return v.isoformat()
        raise TypeError(f"a saved query cannot keep a {type(v).__name__} filter value")
    return json.dumps({k: enc(v) for k, v in flt.items()}, ensure_ascii=False)


def filters_from_json(text: str) -> dict[str, Any]:
    """The filters :func:`filters_to_json` wrote (patterns compiled again).

    >>> filters_from_json('{"pod": {"regex": "^web", "flags": 34}}')["pod"].pattern
    '^web'
    """
    def dec(v: Any) -> Any:
        if isinstance(v, dict) and set(v) == {"regex", "flags"}:
            return re.compile(v["regex"], int(v["flags"]))
        if isinstance(v, list):
            return [dec(x) for x in v]
        return v
    return {k: dec(v) for k, v in json.loads(text).items()}


class NotesMixin:
    """Mixed into :class:`kernelsec_nb.Case`: tags, notes and saved queries."""

    con: Any
    read_only: bool
    path: str

    def _writable(self, what: str) -> None:
        if self.read_only:
            from kernelsec_nb.store.case import CaseError

            raise CaseError(f"{self.path} is open read-only; open it without read_only to {what}")

    # -- annotations -------------------------------------------------------------------------
    def _targets(self, target: Any) -> list[tuple[str, str]]:
        """``(target_kind, target)`` of an event_id, exec_id, a row (dict) or a DataFrame's rows,
        looked up in two queries whatever their number."""
        wanted: list[tuple[str, str]] = []  # (what the id may be: event, exec or any, the id)
        rows = target.iter_rows(named=True) if isinstance(target, pl.DataFrame) else [target]
        for row in rows:
            if isinstance(row, Mapping):
                if row.get("event_id"):
                    wanted.append(("event", str(row["event_id"])))
                elif row.get("exec_id"):
                    wanted.append(("exec", str(row["exec_id"])))
                else:
                    raise ValueError("a row to tag needs an event_id or an exec_id column")
            elif isinstance(row, str) and row:
                wanted.append(("any", row))
            else:
                raise TypeError(f"tag an event_id, an exec_id or a row, not {type(row).__name__}")
        if not wanted:
            return []
        ids = sorted({i for _, i in wanted})
        kinds = dict(self.con.execute(
            "SELECT event_id, any_value(kind) FROM events WHERE event_id IN (SELECT unnest(?::VARCHAR[])) "
            "GROUP BY 1", [ids]).fetchall())
        execs = {r[0] for r in self.con.execute(
            "SELECT DISTINCT exec_id FROM processes WHERE exec_id IN (SELECT unnest(?::VARCHAR[]))", [ids]).fetchall()}
        out = []
        for may_be, i in wanted:
            if may_be != "exec" and i in kinds:
                out.append(("flow" if kinds[i] == "flow" else "event", i))
            elif may_be != "event" and i in execs:
                out.append(("exec", i))
            else:
                raise KeyError(f"no {'event' if may_be == 'event' else 'event or process' if may_be == 'any' else 'process'}"
                               f" {i!r} in this case")
        return out

    def tag(self, target: Any, tags: str | Iterable[str] | None, note: str | None = None,
            author: str | None = None) -> pl.DataFrame:
        """Tag an event, a flow or a process, with an optional note; returns the rows added.

        ``target`` is an ``event_id`` (a flow's too), an ``exec_id``, a row (a dict, e.g.
        ``df.row(0, named=True)``: its ``event_id``, else its ``exec_id``) or a DataFrame (each of
        its rows).  ``tags`` is one tag or a list (one row each); with no tag, ``note`` is kept as
        a plain note.  ``author`` defaults to the OS user.  A tag the target already has gets
        another row (another author or note).

        Examples
        --------
        >>> case.tag(flow_event_id, ["exfil", "c2"], note="PUT to the exhaust port")  # doctest: +SKIP
        >>> case.flows(tag="exfil")  # doctest: +SKIP
        """
        self._writable("tag")
        names = _tags(tags)
        if not names and note is None:
            raise ValueError("give a tag or a note")
        who = author or default_author()
        now = dt.datetime.now(dt.UTC)
        rows = [(uuid.uuid4().hex, kind, t, name, note, who, now)
                for kind, t in self._targets(target) for name in (names or [None])]
        if rows:  # an empty DataFrame tags nothing
            self.con.executemany("INSERT INTO annotations VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        ids = [r[0] for r in rows]
        return self._fetch_notes("SELECT * FROM annotations WHERE list_contains($ids, id) ORDER BY list_position($ids, id)",
                                 {"ids": ids})

    def star(self, target: Any, note: str | None = None, author: str | None = None) -> pl.DataFrame:
        """Tag ``target`` with ``"star"`` (see :meth:`tag`); ``case.events(tag="star")`` finds it."""
        return self.tag(target, STAR, note=note, author=author)

    def untag(self, target: Any, tags: str | Iterable[str] | None = None) -> int:
        """Remove ``tags`` (every annotation, notes included, when None) from ``target``, whoever
        wrote them; returns how many rows went."""
        self._writable("untag")
        names = _tags(tags)
        gone = 0
        for _kind, t in self._targets(target):
            cond, params = "target = ?", [t]
            if tags is not None:
                cond += " AND list_contains(?, tag)"
                params.append(names)
            gone += self.con.execute(f"DELETE FROM annotations WHERE {cond}", params).fetchall()[0][0]  # noqa: S608
        return int(gone)

    def _fetch_notes(self, query: str, params: list[Any] | dict[str, Any]) -> pl.DataFrame:
        rel = self.con.sql(query, params=params)
        return pl.from_arrow(rel.to_arrow_table())  # type: ignore[return-value]

    def notes(self, **flt: Any) -> pl.DataFrame:
        """The team's annotations, oldest first: ``id``, ``target_kind``, ``target``, ``tag``,
        ``note``, ``author``, ``created``, and what the target is: ``time``, ``node``,
        ``namespace``, ``pod``, ``binary``, ``summary``.

        Filters: ``tag``, ``author``, ``target_kind``, ``target`` (a value or a list: any of).

        Examples
        --------
        >>> case.notes(tag="star", author="alice")  # doctest: +SKIP
        """
        cond, params = [], []
        for key in ("tag", "author", "target_kind", "target"):
            value = flt.pop(key, None)
            if value is not None:
                cond.append(f"a.{key} IN (SELECT unnest(?::VARCHAR[]))")
                params.append([str(v) for v in (value if isinstance(value, (list, tuple, set)) else [value])])
        if flt:
            raise TypeError(f"unknown filter {next(iter(flt))!r} for notes; known: tag, author, target_kind, target")
        where = " AND ".join(cond) or "true"
        return self._fetch_notes(
            "SELECT a.*, coalesce(e.time, p.start_time) AS time, coalesce(e.node, p.node) AS node, "  # noqa: S608
            "coalesce(e.namespace, p.namespace) AS namespace, coalesce(e.pod, p.pod) AS pod, "
            'coalesce(e."binary", p."binary") AS "binary", coalesce(e.summary, p.args) AS summary '
            "FROM annotations a "
            "LEFT JOIN (SELECT DISTINCT ON (event_id) * FROM events WHERE event_id IN "
            "  (SELECT target FROM annotations WHERE target_kind <> 'exec')) e "
            "  ON a.target_kind <> 'exec' AND e.event_id = a.target "
            "LEFT JOIN processes p ON a.target_kind = 'exec' AND p.exec_id = a.target "
            f"WHERE {where} ORDER BY a.created, a.id", params)

    # -- saved queries -----------------------------------------------------------------------
    def save_query(self, name: str, method: str, *, replace: bool = False, **flt: Any) -> None:
        """Keep ``method``'s ``filters`` in the case under ``name`` (:meth:`query` runs them).

        ``method`` is one of :data:`QUERY_METHODS`; the filters are checked now (an unknown
        filter or a bad regex is refused here, not when a colleague runs it).  A name already
        saved is refused unless ``replace=True``.

        Examples
        --------
        >>> case.save_query("puts to the port", "flows", http_method="PUT", tag="exfil")  # doctest: +SKIP
        """
        self._writable("save a query")
        if not isinstance(name, str) or not name.strip():
            raise ValueError("a saved query needs a name")
        if method not in QUERY_METHODS:
            raise ValueError(f"{method!r} is not a query method; one of {', '.join(QUERY_METHODS)}")
        profile = QUERY_METHODS[method]
        if profile is not None:
            filters.where(profile, **dict(flt))  # TypeError/ValueError naming a bad filter
        text = filters_to_json(flt)
        exists = self.con.execute("SELECT 1 FROM saved_queries WHERE name = ?", [name]).fetchall()
        if exists and not replace:
            raise ValueError(f"a query named {name!r} is already saved (replace=True to overwrite it)")
        self.con.execute("DELETE FROM saved_queries WHERE name = ?", [name])
        self.con.execute("INSERT INTO saved_queries VALUES (?, ?, ?, ?, ?)",
                         [name, method, text, default_author(), dt.datetime.now(dt.UTC)])

    def saved_query(self, name: str) -> tuple[str, dict[str, Any]]:
        """The method and filters saved under ``name``."""
        row = self.con.execute("SELECT method, filters FROM saved_queries WHERE name = ?", [name]).fetchall()
        if not row:
            raise KeyError(f"no saved query {name!r} in this case")
        method, text = row[0]
        if method not in QUERY_METHODS:  # a case file edited by hand
            raise ValueError(f"saved query {name!r} names {method!r}, not a query method")
        return method, filters_from_json(text)

    def query(self, name: str) -> pl.DataFrame:
        """Run the query saved under ``name`` and return its DataFrame.

        Examples
        --------
        >>> case.query("puts to the port")  # doctest: +SKIP
        """
        method, flt = self.saved_query(name)
        return getattr(self, method)(**flt)  # type: ignore[no-any-return]

    def queries(self) -> pl.DataFrame:
        """The saved queries: ``name``, ``method``, ``filters`` (JSON), ``author``, ``created``."""
        return self._fetch_notes("SELECT * FROM saved_queries ORDER BY name", [])
