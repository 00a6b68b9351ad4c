"""Provenance of a finding: the events behind an exec or an event, with file, line and raw JSON.

* an exec id: the exec events of its ancestry (root first), then its attributed flows (and their
  connect kprobes) and its attributed alerts;
* a flow event id: the flow, the connect kprobe it was attributed to, the exec chain;
* an alert event id: the alert, the exec chain;
* any other event id (a Tetragon event): the event, its exec chain.

Examples
--------
>>> import kernelsec_nb as kn
>>> explain(kn.open_case(), "nothing-here")
Traceback (most recent call last):
...
KeyError: "no event or exec 'nothing-here' in this case"
"""

from __future__ import annotations

from typing import Any

import polars as pl

COLUMNS = ["role", "source", "kind", "event_id", "time", "node", "exec_id", "summary", "file", "line", "raw"]
_EV = "SELECT event_id, source, kind, time, node, exec_id, summary, file, line FROM events"


def _exec_event(case: Any, exec_id: str) -> pl.DataFrame:
    """The event that best documents an exec: its process_exec, else its first own event."""
    return case._fetch(f"{_EV} WHERE exec_id = ? ORDER BY kind <> 'process_exec', time_ns LIMIT 1",  # noqa: S608
                       [exec_id])


def _chain(case: Any, exec_id: str) -> list[pl.DataFrame]:
    """One row per exec of the ancestry; an exec the capture saw only as a parent has no event of
    its own (its child's event, the next row, names it)."""
    out = []
    for row in case.ancestry(exec_id).iter_rows(named=True):
        captured = bool(row.get("captured"))
        ev = _exec_event(case, row["exec_id"]) if captured else pl.DataFrame()
        role = "exec" if captured else "exec (not captured)"
        if ev.height and ev["kind"][0] != "process_exec":  # started before the capture
            role = f"exec (first seen in a {ev['kind'][0]})"
        if ev.height == 0:
            ev = pl.DataFrame({"exec_id": [row["exec_id"]]})
        out.append(ev.with_columns(pl.lit(role).alias("role"), pl.lit(row["exec_id"]).alias("exec_id")))
    return out


def _events(case: Any, ids: list[str], role: str) -> pl.DataFrame | None:
    ids = [i for i in ids if i is not None]
    if not ids:
        return None
    ev = case._fetch(f"{_EV} WHERE event_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY time", [ids])  # noqa: S608
    return ev.with_columns(pl.lit(role).alias("role"))


def _raw(case: Any, event_id: str | None) -> str | None:
    if event_id is None:
        return None
    try:
        return str(case.raw(event_id))
    except Exception as exc:  # noqa: BLE001 - a moved file must not hide the rest of the chain
        return f"<raw unavailable: {exc}>"


def explain(case: Any, id: str) -> pl.DataFrame:  # noqa: A002
    """The provenance chain behind an exec id or an event id (see the module docstring).

    Parameters
    ----------
    case : kernelsec_nb.Case
        The case.
    id : str
        An ``exec_id`` or an ``event_id``.

    Returns
    -------
    polars.DataFrame
        ``role``, ``source``, ``kind``, ``event_id``, ``time``, ``node``, ``exec_id``,
        ``summary``, ``file``, ``line``, ``raw`` (the exported JSON, read back via ``case.raw``).

    Examples
    --------
    >>> case.explain(flow_event_id).select("role", "kind", "file", "line")  # doctest: +SKIP
    """
    parts: list[pl.DataFrame | None] = []
    ev = case._fetch(f"{_EV} WHERE event_id = ? LIMIT 1", [id])  # noqa: S608
    if ev.height:
        kind = ev["kind"][0]
        if kind == "flow":
            fl = case._flow_attribution().filter(pl.col("event_id") == id)
            exec_id = fl["exec_id"][0] if fl.height else None
            parts.append(ev.with_columns(pl.lit("flow").alias("role"), pl.lit(exec_id, dtype=pl.String).alias("exec_id")))
            if fl.height:
                parts.append(_events(case, [fl["conn_event_id"][0]], f"connect ({fl['match'][0]})"))
        elif kind == "alert":
            al = case._alert_attribution().filter(pl.col("event_id") == id)
            exec_id = al["exec_id"][0] if al.height else None
            parts.append(ev.with_columns(pl.lit("alert").alias("role"), pl.lit(exec_id, dtype=pl.String).alias("exec_id")))
        else:
            parts.append(ev.with_columns(pl.lit(kind or "event").alias("role")))
            exec_id = ev["exec_id"][0]
        if exec_id is not None and exec_id in case.parent_index().pos:
            parts = [*_chain(case, exec_id), *parts]
    elif id in case.parent_index().pos:
        parts.extend(_chain(case, id))
        fl = case._flow_attribution().filter(pl.col("exec_id") == id)
        parts.append(_events(case, fl["conn_event_id"].unique().to_list(), "connect"))
        parts.append(_events(case, fl["event_id"].to_list(), "flow"))
        al = case._alert_attribution().filter(pl.col("exec_id") == id)
        parts.append(_events(case, al["event_id"].to_list(), "alert"))
    else:
        raise KeyError(f"no event or exec {id!r} in this case")
    frames = [p for p in parts if p is not None and p.height]
    out = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
    for c in COLUMNS:
        if c not in out.columns:
            out = out.with_columns(pl.lit(None).alias(c))
    out = out.with_columns(pl.Series("raw", [_raw(case, e) for e in out["event_id"].to_list()],
                                     dtype=pl.String))
    return out.select(COLUMNS)
