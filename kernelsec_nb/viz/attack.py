"""Attack flow: one causal chain across sources, left to right in time."""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl

from kernelsec_nb.viz import _common as c
from kernelsec_nb.viz import _procs

LANES = ["process", "connection", "flow", "alert", "destination", "died after"]
LANE_COLORS = ["#0072B2", "#56B4E9", "#009E73", "#D55E00", "#E69F00", "#CC79A7"]
LANE_SHAPES = ["square", "triangle-right", "circle", "triangle-up", "diamond", "cross"]
LANE_H = 90
SLOT_H = 24
#: Rows of labels a lane may grow to; a label that fits in none is left out (its mark stays,
#: the full text in its tooltip).
SLOTS = 8
#: Characters of a label before it is elided (the full text is in the tooltip's ``detail``).
LABEL_CHARS = 40
#: Average width of a 10 px label character, for placing labels without overlap.
CHAR_PX = 6.2
#: Edges into one mark from this many sources are bundled (a bus above the target's lane).
BUNDLE_FROM = 3
DIED_WINDOW_NS = 120 * 10**9


def elide(text: str, n: int = LABEL_CHARS) -> str:
    """``text`` cut to ``n`` characters with an ellipsis.

    >>> elide("curl -s -X PUT http://deathstar.default.svc/v1/exhaust-port", 24)
    'curl -s -X PUT http://d…'
    """
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def place_labels(items: list[dict[str, Any]], width: int, t0: int, t1: int) -> None:
    """Give each item a row (``slot``) in its lane and a side so no two labels overlap.

    Items are placed left to right in time; each takes the first row whose last label ends left
    of its mark; a label that would run past the right edge is drawn to the left of its mark
    (``side``).  When no row is free (more than :data:`SLOTS` overlapping), the mark takes the
    least busy row and its label is thinned out (``label`` emptied; ``detail`` keeps the text).
    """
    span = max(t1 - t0, 1)
    pad = 40  # the time scale's padding
    px = {id(it): pad + (c.to_ns_text(it["time"]) - t0) / span * (width - 2 * pad) for it in items}
    for lane in LANES:
        ends: list[float] = []  # per row: the right end of its last label, in pixels
        for it in sorted((it for it in items if it["lane"] == lane), key=lambda it: (it["time"], it["key"])):
            x = px[id(it)]
            w = len(it["label"]) * CHAR_PX + 14
            right = x + w <= width + 30
            lo, hi = (x, x + w) if right else (x - w, x)
            it["side"] = "right" if right else "left"
            free = [i for i, end in enumerate(ends) if end < lo]
            if free:
                slot = free[0]
            elif len(ends) < SLOTS:
                ends.append(float("-inf"))
                slot = len(ends) - 1
            else:  # thinned: the mark stays, its label goes to the tooltip
                slot = min(range(len(ends)), key=lambda i: ends[i])
                it["label"] = ""
                it["slot"] = slot
                continue
            ends[slot] = max(hi, x + 8)
            it["slot"] = slot


def bundle(links: list[dict[str, Any]], lane_top: dict[str, int]) -> list[dict[str, Any]]:
    """Fans of :data:`BUNDLE_FROM` or more edges drawn as buses instead of diagonals.

    Out of one source (a shell's commands): the source drops to a line half a row below it,
    which runs to the last target; each target rises or drops to it.  Into one target (a
    destination many requests reached): each source drops to a line just above the target's
    lane, which runs under them all, and one segment joins it to the target.
    """
    def key(ln: dict[str, Any]) -> tuple[str, str]:
        return ln["time"], ln["time2"]

    out: list[dict[str, Any]] = []
    rest: list[dict[str, Any]] = []
    by_src: dict[str, list[dict[str, Any]]] = {}
    for ln in links:
        by_src.setdefault(ln["from"], []).append(ln)
    for group in by_src.values():
        if len(group) < BUNDLE_FROM:
            rest.extend(group)
            continue
        src = group[0]
        bus = src["y"] + SLOT_H / 2
        xs = sorted({g["time2"] for g in group} | {src["time"]})
        out.append({**src, "time2": src["time"], "y2": bus})
        out.append({**src, "time": xs[0], "time2": xs[-1], "y": bus, "y2": bus})
        out.extend({**g, "time": g["time2"], "y": bus} for g in sorted(group, key=key))
    into: dict[str, list[dict[str, Any]]] = {}
    for ln in rest:
        into.setdefault(ln["to"], []).append(ln)
    for group in into.values():
        if len(group) < BUNDLE_FROM:
            out.extend(group)
            continue
        tgt = group[0]
        bus = lane_top[tgt["to_lane"]] + 12
        xs = sorted({g["time"] for g in group} | {tgt["time2"]})
        out.extend({**g, "time2": g["time"], "y2": bus} for g in sorted(group, key=key))
        out.append({**tgt, "time": xs[0], "time2": xs[-1], "y": bus, "y2": bus})
        out.append({**tgt, "time": tgt["time2"], "y": bus})
    return out


def _entry(case: Any, exec_id: str) -> str:
    """The first process of the chain: walk up while the parent is in the same container and
    outside the init tree (the shell a ``kubectl exec`` started), else the process itself."""
    cur = exec_id
    for _ in range(64):
        rows = case.con.execute(
            "SELECT c.in_init_tree, p.exec_id, p.in_init_tree, p.container_id = c.container_id "
            "FROM processes c LEFT JOIN processes p ON p.exec_id = c.parent_exec_id "
            "WHERE c.exec_id = ?", [cur]).fetchall()
        if not rows or rows[0][1] is None:
            return cur
        child_init, parent, parent_init, same = rows[0]
        if child_init is False and parent_init is False and same:
            cur = parent
        else:
            return cur
    return cur


def chain(case: Any, exec_id: str) -> dict[str, pl.DataFrame]:
    """The pieces of the causal chain starting at the entry process of ``exec_id``.

    Returns ``processes``, ``connections``, ``flows``, ``alerts`` and ``died`` frames.
    """
    entry = _entry(case, exec_id)
    procs = c.sql(case, f"""
        WITH RECURSIVE down(exec_id, depth) AS (
            SELECT ?::VARCHAR, 0 UNION ALL
            SELECT p.exec_id, down.depth + 1 FROM down
            JOIN processes p ON p.parent_exec_id = down.exec_id WHERE down.depth < 64)
        SELECT {_procs.PROC_COLS} FROM processes WHERE exec_id IN (SELECT exec_id FROM down)
        ORDER BY start_ns NULLS FIRST, exec_id LIMIT 200""", [entry])  # noqa: S608
    ids = procs["exec_id"].to_list()
    conns = c.sql(case, """
        SELECT event_id, exec_id, time_ns, saddr, sport, daddr, dport, protocol, function_name
        FROM kprobes WHERE exec_id IN (SELECT unnest(?::VARCHAR[]))
          AND (function_name ILIKE '%connect%' OR kind = 'process_connect')
        UNION ALL BY NAME
        SELECT event_id, exec_id, time_ns, src_ip AS saddr, src_port AS sport, dst_ip AS daddr,
               dst_port AS dport, protocol, kind AS function_name
        FROM events WHERE exec_id IN (SELECT unnest(?::VARCHAR[])) AND kind = 'process_connect'
        ORDER BY time_ns, event_id LIMIT 200""", [ids, ids])
    # the requests only: a reply's destination is the session's own pod
    flows = _procs.connection_flows(case, ids).filter(~pl.col("is_reply").fill_null(False)).unique(
        "event_id", keep="first").sort(["time_ns", "event_id"]).head(200)
    alerts = c.sql(case, """
        SELECT a.event_id, p.exec_id, a.time_ns, a.rule, a.priority, a.output
        FROM processes p JOIN alerts a ON a.container_id = p.container_id AND a.pid = p.pid
        WHERE p.exec_id IN (SELECT unnest(?::VARCHAR[]))
        ORDER BY a.time_ns, a.event_id LIMIT 100""", [ids])
    died = pl.DataFrame()
    # where deaths by a signal count: the workloads the chain's requests reached, and its own
    dests = pl.concat([
        flows.filter(pl.col("dst_workload").is_not_null()).select("dst_namespace", "dst_workload")
        if flows.height else pl.DataFrame(schema={"dst_namespace": pl.String, "dst_workload": pl.String}),
        procs.head(1).filter(pl.col("workload").is_not_null()).select(
            pl.col("namespace").alias("dst_namespace"), pl.col("workload").alias("dst_workload"))],
        how="vertical_relaxed").unique() if procs.height else pl.DataFrame()
    times = [x for x in (*(flows["time_ns"].to_list() if flows.height else []),
                         *procs["start_ns"].to_list()) if x is not None]
    if dests.height and times:
        t0, t1 = min(times), max(times) + DIED_WINDOW_NS
        died = c.sql(case, """
            SELECT e.event_id, e.exec_id, e.time_ns, e.namespace, e.workload, e.pod, e."binary",
                   e.summary AS signal
            FROM events e JOIN processes p USING (exec_id)
            WHERE e.kind = 'process_exit' AND p.signal IS NOT NULL AND p.signal <> ''
              AND e.time_ns BETWEEN ? AND ?
              AND (e.namespace, e.workload) IN (
                  SELECT (unnest(?::VARCHAR[]), unnest(?::VARCHAR[])))
            ORDER BY e.time_ns, e.event_id LIMIT 100""",
                     [t0, t1, dests["dst_namespace"].to_list(), dests["dst_workload"].to_list()])
    return {"processes": procs, "connections": conns, "flows": flows, "alerts": alerts,
            "died": died}


def attack_flow(case: Any, exec_id: str, *, width: int = 720) -> alt.LayerChart:
    """One causal chain across sources, left to right in time.

    From the entry process of ``exec_id`` (walking up through parents exec'd from outside the
    container's init tree): every exec, the connections they opened (Tetragon), the Hubble
    flows those became (verdict, HTTP path), the Falco alerts raised for them, the destination
    workloads, and processes in those workloads or in the chain's own workload that died by a
    signal during the chain or shortly after.  Arrows link parent→child,
    process→connection→flow→destination, process→alert, destination→death and entry→death (in
    its own workload).

    Parameters
    ----------
    case : Case
        The case.
    exec_id : str
        Any process of the chain.
    width : int
        Pixels.

    Returns
    -------
    altair.LayerChart

    Examples
    --------
    >>> import kernelsec_nb as kn
    >>> chart = kn.viz.attack_flow(kn.open_case(), exec_id="nope")
    >>> chart.to_dict()["title"]["subtitle"][0]
    'no process nope in this case'
    """
    parts = chain(case, exec_id)
    items: list[dict[str, Any]] = []
    edges: list[tuple[str, str]] = []

    def add(key: str, lane: str, t: int, label: str, **tip: Any) -> None:
        items.append({"key": key, "lane": lane, "time": c.utc_text(t), "y": 0,
                      "label": elide(label), **tip})

    procs = parts["processes"]
    for r in procs.iter_rows(named=True):
        name = (r["binary"] or "?").rsplit("/", 1)[-1]
        add(f"p:{r['exec_id']}", "process", r["start_ns"] or 0, f"{name} {r['args'] or ''}",
            detail=f"{r['binary']} {r['args'] or ''}", where=f"{r['namespace']}/{r['pod']}",
            id=r["exec_id"])
        if r["parent_exec_id"] in set(procs["exec_id"].to_list()):
            edges.append((f"p:{r['parent_exec_id']}", f"p:{r['exec_id']}"))
    conn_keys: dict[tuple[Any, ...], str] = {}
    for r in parts["connections"].iter_rows(named=True):
        key = f"c:{r['event_id']}"
        add(key, "connection", r["time_ns"], f"{r['protocol'] or ''} {r['daddr']}:{r['dport']}",
            detail=f"{r['saddr']}:{r['sport']} → {r['daddr']}:{r['dport']}", id=r["event_id"])
        edges.append((f"p:{r['exec_id']}", key))
        conn_keys[(r["saddr"], r["sport"], r["daddr"], r["dport"])] = key
        conn_keys.setdefault((r["exec_id"], r["daddr"], r["dport"]), key)
    dest_first: dict[str, int] = {}
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in parts["flows"].iter_rows(named=True):  # one item per request kind, not per packet
        http = " ".join(str(x) for x in (r["http_method"], r["http_path"], r["http_code"]) if x)
        dest = f"{r['dst_namespace']}/{r['dst_workload']}" if r["dst_workload"] else str(
            r["dst_ip"])
        # its own connection (same 5-tuple), else its process's connection to that destination
        src = conn_keys.get((r["src_ip"], r["src_port"], r["dst_ip"], r["dst_port"])) or conn_keys.get(
            (r["exec_id"], r["dst_ip"], r["dst_port"]), f"p:{r['exec_id']}")
        groups.setdefault((src, r["verdict"], http or r["dns_query"] or "", dest), []).append(r)
    for (src, verdict, what, dest), rows in groups.items():
        r = rows[0]
        key = f"f:{r['event_id']}"
        times = f" ×{len(rows)}" if len(rows) > 1 else ""
        add(key, "flow", r["time_ns"], f"{verdict} {what}".strip() + times,
            detail=f"{verdict} → {dest} {r['dst_ip']}:{r['dst_port']} {what}{times}",
            id=r["event_id"])
        edges.append((src, key))
        dest_first.setdefault(dest, r["time_ns"])
        edges.append((key, f"d:{dest}"))
    for dest, t in sorted(dest_first.items(), key=lambda kv: (kv[1], kv[0])):
        add(f"d:{dest}", "destination", t, dest, detail=dest, id=dest)
    for r in parts["alerts"].iter_rows(named=True):
        key = f"a:{r['event_id']}"
        add(key, "alert", r["time_ns"], f"{r['priority']}: {r['rule']}",
            detail=r["output"] or r["rule"], id=r["event_id"])
        edges.append((f"p:{r['exec_id']}", key))
    entry = f"p:{procs['exec_id'][0]}" if procs.height else None
    for r in parts["died"].iter_rows(named=True):
        key = f"x:{r['event_id']}"
        name = (r["binary"] or "?").rsplit("/", 1)[-1]
        add(key, "died after", r["time_ns"], f"{name} {r['signal'] or ''}",
            detail=f"{r['namespace']}/{r['pod']} {r['binary']} {r['signal'] or ''}",
            id=r["exec_id"])
        dest = f"{r['namespace']}/{r['workload']}"
        # a death in a workload the chain reached hangs off it; one in the chain's own pod, off its entry
        edges.append((f"d:{dest}", key) if dest in dest_first else (entry, key))
    who = procs.filter(pl.col("exec_id") == exec_id) if procs.height else procs
    row = (who if who.height else procs).row(0, named=True) if procs.height else None
    command = f"{(row['binary'] or '?').rsplit('/', 1)[-1]} {row['args'] or ''}".strip() if row else ""
    return _draw(items, edges, exec_id, command, width)


def _draw(items: list[dict[str, Any]], edges: list[tuple[str, str]], exec_id: str,
          command: str, width: int) -> alt.LayerChart:
    title = "Attack flow"
    if not items:
        return alt.layer(alt.Chart(alt.Data(values=[])).mark_point()).properties(
            width=width, height=120, title=alt.TitleParams(
                text=title, subtitle=[f"no process {exec_id} in this case"], anchor="start"))
    ns = [c.to_ns_text(it["time"]) for it in items]
    place_labels(items, width, min(ns), max(ns))
    # lanes as tall as their busiest need: one row (slot) per label, up to SLOTS
    top, lane_y = 0, {}
    for lane in LANES:
        lane_y[lane] = top
        used = max((it["slot"] for it in items if it["lane"] == lane), default=0) + 1
        top += 26 + used * SLOT_H
    for it in items:
        it["y"] = lane_y[it["lane"]] + 20 + it.pop("slot") * SLOT_H
    height = top
    where = {it["key"]: it for it in items}
    links = [{"time": where[a]["time"], "time2": where[b]["time"], "y": where[a]["y"],
              "y2": where[b]["y"], "link": f"{where[a]['lane']} → {where[b]['lane']}",
              "from": a, "to": b, "to_lane": where[b]["lane"]}
             for a, b in edges if a in where and b in where]
    links = [{k: v for k, v in ln.items() if k not in ("from", "to", "to_lane")} for ln in bundle(links, lane_y)]
    counts = {lane: sum(1 for it in items if it["lane"] == lane) for lane in LANES}
    # the command, not its exec id (the id is in the marks' tooltips)
    subtitle = [f"chain of {elide(command, 60) or exec_id}: " + ", ".join(f"{n} {lane}" for lane, n in counts.items())]
    thinned = sum(1 for it in items if not it["label"])
    if thinned:
        subtitle.append(f"{thinned} labels left out where they would overlap (hover a mark for its text)")
    x = alt.X("time:T", scale=alt.Scale(type="utc", padding=40),
              axis=c.time_axis(max(ns) - min(ns)))
    y = alt.Y("y:Q", scale=None, axis=None)
    lanes_df = [{"lane": lane, "y": lane_y[lane] + 6} for lane in LANES]
    layers: list[Any] = [
        alt.Chart(alt.Data(values=lanes_df)).mark_rule(color="#dddddd").encode(
            y=alt.Y("y:Q", scale=None, axis=None)),
        alt.Chart(alt.Data(values=lanes_df)).mark_text(align="left", baseline="top", dx=2,
                                                       fontWeight="bold", color="#555555").encode(
            x=alt.value(0), y=alt.Y("y:Q", scale=None, axis=None), text="lane:N"),
    ]
    if links:
        layers.append(alt.Chart(alt.Data(values=links)).mark_rule(
            color="#666666", strokeWidth=1.2, opacity=0.8).encode(
            x=x, x2="time2:T", y=y, y2="y2:Q", tooltip=["link:N"]))
    tooltip = [alt.Tooltip("time:N", title="time (UTC)"), "lane:N", "detail:N", "where:N", "id:N"]
    base = alt.Chart(alt.Data(values=items))
    layers.append(base.mark_point(filled=True, size=130, stroke="#000000", strokeWidth=0.8).encode(
        x=x, y=y,
        color=alt.Color("lane:N", title="step", scale=alt.Scale(domain=LANES, range=LANE_COLORS),
                        legend=alt.Legend(orient="bottom", direction="horizontal")),
        shape=alt.Shape("lane:N", scale=alt.Scale(domain=LANES, range=LANE_SHAPES),
                        legend=alt.Legend(orient="bottom", direction="horizontal")),
        tooltip=tooltip).add_params(alt.selection_point(name="pick_step", fields=["key"])))
    for side, dx in (("right", 9), ("left", -9)):
        shown_ = [it for it in items if it["label"] and it["side"] == side]
        if shown_:
            layers.append(alt.Chart(alt.Data(values=shown_)).mark_text(
                align="left" if side == "right" else "right", baseline="middle", dx=dx, fontSize=10).encode(
                x=x, y=y, text="label:N", tooltip=tooltip))
    return alt.layer(*layers).properties(
        width=width, height=height,
        title=alt.TitleParams(text=title, subtitle=subtitle, anchor="start"),
        view=alt.ViewBackground(stroke=None))  # legend below: labels run to the right edge
