"""Process tree: ancestry and descendants as an indented tree, annotated with network and alerts."""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl

from kernelsec_nb.viz import _common as c
from kernelsec_nb.viz import _procs

ROW = 22
INDENT = 22
STATUS = {"exec'd from outside the init tree": ("#D55E00", "diamond"),
          "killed by a signal": ("#CC79A7", "cross"),
          "in the init tree": ("#0072B2", "circle"),
          "unknown origin": ("#999999", "square")}


def _order(procs: pl.DataFrame) -> list[tuple[dict[str, Any], int]]:
    """Depth-first order by start time; roots are processes whose parent is not in the frame."""
    rows = {r["exec_id"]: r for r in procs.iter_rows(named=True)}
    kids: dict[str | None, list[str]] = {}
    for r in rows.values():
        parent = r["parent_exec_id"] if r["parent_exec_id"] in rows else None
        kids.setdefault(parent, []).append(r["exec_id"])
    key = lambda e: (rows[e]["start_ns"] is not None, rows[e]["start_ns"] or 0, e)  # noqa: E731
    out: list[tuple[dict[str, Any], int]] = []
    stack = [(e, 0) for e in sorted(kids.get(None, []), key=key, reverse=True)]
    seen: set[str] = set()
    while stack:
        e, depth = stack.pop()
        if e in seen:
            continue
        seen.add(e)
        out.append((rows[e], depth))
        stack.extend((k, depth + 1) for k in sorted(kids.get(e, []), key=key, reverse=True))
    return out


def _status(r: dict[str, Any]) -> str:
    if r["outside_init"]:
        return "exec'd from outside the init tree"
    if r.get("signal"):
        return "killed by a signal"
    if r["in_init_tree"]:
        return "in the init tree"
    return "unknown origin"


def process_tree(case: Any, exec_id: str | None = None, *, max_nodes: int = 300,
                 width: int = c.WIDTH, **filters: Any) -> alt.LayerChart:
    """Process ancestry and descendants as an indented tree.

    Each row is one process (``binary args``), indented under its parent, ordered by start
    time.  Processes exec'd into a container from outside its init tree (``kubectl exec``)
    are vermillion diamonds; killed processes are crosses.  The right-hand note counts the
    connections the process opened, the Hubble flows attributed to it and the Falco alerts
    raised for it.

    Parameters
    ----------
    case : Case
        The case.
    exec_id : str, optional
        Draw this process with all its ancestors and descendants.
    max_nodes : int
        At most this many processes (the earliest) when drawing by filters.
    width : int
        Pixels.
    **filters
        The filter vocabulary of the ``processes`` table (``namespace``, ``pod``, ``binary``,
        ``since`` …), used when ``exec_id`` is not given.

    Returns
    -------
    altair.LayerChart

    Examples
    --------
    >>> import kernelsec_nb as kn
    >>> chart = kn.viz.process_tree(kn.open_case(), namespace="default")
    >>> chart.to_dict()["title"]["subtitle"]
    ['no processes match']
    """
    if exec_id is not None:
        procs = _procs.family(case, exec_id, max_nodes)
        what = f"ancestry and descendants of {exec_id}"
    else:
        procs = _procs.matching(case, max_nodes, **filters)
        what = "processes matching the filters, with their ancestors"
    procs = _procs.annotate(case, procs)
    if exec_id is not None:  # the command, not its exec id (that is in the tooltips)
        me = [r for r in procs.iter_rows(named=True) if r["exec_id"] == exec_id] if procs.height else []
        if me:
            cmd = " ".join(f"{(me[0]['binary'] or '?').rsplit('/', 1)[-1]} {me[0]['args'] or ''}".split())
            what = f"ancestry and descendants of {cmd if len(cmd) <= 60 else cmd[:59] + '…'}"
    order = _order(procs)
    rows = []
    for i, (r, depth) in enumerate(order):
        notes = []
        if r["connections"]:
            notes.append(f"{r['connections']} conn")
        if r["flows"]:
            notes.append(f"{r['flows']} flows")
        if r["alerts"]:
            notes.append(f"{r['alerts']} ALERT" + ("S" if r["alerts"] > 1 else ""))
        if r.get("signal"):
            notes.append(str(r["signal"]))
        name = (r["binary"] or "?").rsplit("/", 1)[-1]
        label = f"{name} {r['args'] or ''}".strip()
        rows.append({
            "row": i, "x": depth * INDENT + 8, "y": i * ROW + ROW // 2,
            "px": (depth - 1) * INDENT + 8 if depth else None,
            "label": label, "note": " · ".join(notes),
            "status": _status(r),
            "ink": "#D55E00" if r["outside_init"] else "#000000", "exec_id": r["exec_id"], "parent": r["parent_exec_id"],
            "binary": r["binary"], "args": r["args"], "pod": f"{r['namespace']}/{r['pod']}",
            "node": r["node"], "pid": r["pid"], "start": c.utc_text(r["start_ns"]),
            "exit": c.utc_text(r["exit_ns"]), "signal": r["signal"],
            "connections": r["connections"], "flows": r["flows"], "alerts": r["alerts"],
        })
    df = pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()
    subtitle = [f"{len(rows)} processes: {what}" if rows else "no processes match"]
    if not rows:
        return alt.layer(alt.Chart(alt.Data(values=[])).mark_point()).properties(
            width=width, height=80,
            title=alt.TitleParams(text="Process tree", subtitle=subtitle, anchor="start"))
    df = c.clip_text(df, ["label", "args", "binary"], 90)
    parent_y = {r["exec_id"]: r["y"] for r in rows}
    links = []
    for r in rows:
        if r["px"] is not None and r["parent"] in parent_y:
            py = parent_y[r["parent"]]
            links.append({"x": r["px"], "x2": r["px"], "y": py, "y2": r["y"]})
            links.append({"x": r["px"], "x2": r["x"], "y": r["y"], "y2": r["y"]})
    px = lambda f: alt.X(f"{f}:Q", scale=None, axis=None)  # noqa: E731
    py = lambda f: alt.Y(f"{f}:Q", scale=None, axis=None)  # noqa: E731
    statuses = list(STATUS)
    tooltip = [alt.Tooltip("label:N", title="process"), "exec_id:N", "parent:N", "pod:N",
               "node:N", "pid:Q", alt.Tooltip("start:N", title="start (UTC)"),
               alt.Tooltip("exit:N", title="exit (UTC)"), "signal:N", "connections:Q",
               "flows:Q", "alerts:Q", "status:N"]
    base = alt.Chart(c.inline(df))
    layers: list[Any] = []
    if links:
        layers.append(alt.Chart(alt.Data(values=links)).mark_rule(color="#888888").encode(
            x=px("x"), x2="x2:Q", y=py("y"), y2="y2:Q"))
    layers.append(base.mark_point(filled=True, size=90, stroke="#000000", strokeWidth=0.6).encode(
        x=px("x"), y=py("y"),
        color=alt.Color("status:N", title="process", legend=c.legend(), scale=alt.Scale(
            domain=statuses, range=[STATUS[s][0] for s in statuses])),
        shape=alt.Shape("status:N", legend=c.legend(), scale=alt.Scale(
            domain=statuses, range=[STATUS[s][1] for s in statuses])),
        tooltip=tooltip).add_params(alt.selection_point(name="pick_process", fields=["exec_id"])))
    layers.append(base.mark_text(align="left", baseline="middle", dx=10, fontSize=11,
                                 font="monospace", limit=width - 260).encode(
        x=px("x"), y=py("y"), text="label:N", tooltip=tooltip,
        color=alt.Color("ink:N", scale=None)))
    layers.append(base.mark_text(align="right", baseline="middle", fontSize=11,
                                 fontWeight="bold", color="#D55E00").encode(
        x=alt.value(width), y=py("y"), text="note:N", tooltip=tooltip))
    return alt.layer(*layers).properties(
        width=width, height=len(rows) * ROW + 4,
        title=alt.TitleParams(text="Process tree", subtitle=subtitle, anchor="start"),
    ).properties(view=alt.ViewBackground(stroke=None))
