"""Benchmark the timeline view on synthetic captures of 100k, 1M and 10M events.

For each size: the time of the timeline's aggregation query alone (baseline), of building
the timeline spec (``kn.viz.timeline(case)`` + ``to_dict()``), of rendering it to SVG with
vl-convert, and the spec size in bytes.  Target: spec + SVG <= 2 x aggregation + 1 s, and a
spec size that does not grow with the number of events.

Usage::

    python benchmarks/viz.py                    # 100k, 1M, 10M
    python benchmarks/viz.py --sizes 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import time

import kernelsec_nb as kn
from kernelsec_nb.viz import _common as c
from kernelsec_nb.viz.timeline import CLASS_SQL, COLORS, LANES, TARGET_BUCKETS

T0 = 1_715_664_000 * 10**9  # 2024-05-14T05:20Z
SPAN = 3 * 3600 * 10**9


def build(n: int) -> kn.Case:
    """An in-memory case whose events table holds ``n`` synthetic rows over three hours."""
    case = kn.open_case()
    case.con.execute(f"""
        INSERT INTO events BY NAME
        SELECT substr(md5(i::VARCHAR), 1, 20) AS event_id,
               CASE WHEN i % 10 < 6 THEN 'tetragon' WHEN i % 10 < 9 THEN 'hubble' ELSE 'falco' END
                   AS source,
               CASE WHEN i % 10 < 3 THEN 'process_exec' WHEN i % 10 < 5 THEN 'process_exit'
                    WHEN i % 10 < 6 THEN 'process_kprobe' WHEN i % 10 < 9 THEN 'flow'
                    ELSE 'alert' END AS kind,
               {T0} + (hash(i) % {SPAN})::BIGINT AS time_ns,
               make_timestamp(({T0} + (hash(i) % {SPAN})::BIGINT) // 1000)::TIMESTAMPTZ AS time,
               'node-' || (i % 3)::VARCHAR AS node,
               'ns-' || (i % 7)::VARCHAR AS namespace,
               'wl-' || (i % 60)::VARCHAR AS workload,
               'wl-' || (i % 60)::VARCHAR || '-pod' AS pod,
               CASE WHEN i % 10 BETWEEN 6 AND 8 THEN (CASE WHEN i % 5000 = 7 THEN 'DROPPED'
                    ELSE 'FORWARDED' END) END AS verdict,
               CASE WHEN i % 10 = 9 AND i % 1000 <> 9 THEN NULL ELSE NULL END AS rule,
               '/usr/bin/prog' || (i % 50)::VARCHAR AS "binary",
               '--flag ' || (i % 997)::VARCHAR AS args
        FROM range({n}) t(i)""")  # noqa: S608
    # keep Falco alerts rare, as in real captures: 1 in 10,000 events
    case.con.execute("UPDATE events SET source = 'tetragon', kind = 'process_kprobe' "
                     "WHERE source = 'falco' AND hash(event_id) % 1000 <> 0")
    case.con.execute("UPDATE events SET rule = 'Terminal shell in container', priority = 'Notice' "
                     "WHERE source = 'falco'")
    return case


def aggregation_only(case: kn.Case) -> float:
    """The timeline's aggregation query alone, run the same way (baseline)."""
    (t0, t1), = case.con.execute("SELECT min(time_ns), max(time_ns) FROM events").fetchall()
    bucket = c.nice_bucket(int(t1) - int(t0), TARGET_BUCKETS)
    start = time.perf_counter()
    c.sql(case, f"""
        SELECT lane, color, (time_ns // {bucket}) * {bucket} AS bucket_ns, count(*) AS n,
               count(*) FILTER (WHERE class IN ('alert', 'dropped flow')) AS notable
        FROM (SELECT {LANES['workload']} AS lane, {COLORS['source']} AS color,
                     {CLASS_SQL} AS class, time_ns FROM events) GROUP BY ALL""")  # noqa: S608
    return time.perf_counter() - start


def run(n: int) -> dict[str, float]:
    t = time.perf_counter()
    case = build(n)
    gen = time.perf_counter() - t
    aggregation_only(case)  # warm caches for both measurements alike
    agg = min(aggregation_only(case) for _ in range(2))
    import vl_convert as vlc

    vlc.vegalite_to_svg({"mark": "point"}, vl_version="6.4")  # start vl-convert's engine once
    t_spec = t_svg = float("inf")
    for _ in range(2):  # best of two, like the baseline (the machine is shared)
        t = time.perf_counter()
        spec = kn.viz.timeline(case).to_dict()
        t_spec = min(t_spec, time.perf_counter() - t)
        t = time.perf_counter()
        svg = vlc.vegalite_to_svg(spec, vl_version="6.4")
        t_svg = min(t_svg, time.perf_counter() - t)
    size = len(json.dumps(spec))
    case.close()
    return {"events": n, "generate_s": gen, "aggregation_s": agg, "spec_s": t_spec,
            "svg_s": t_svg, "spec_bytes": size, "svg_bytes": len(svg),
            "ratio": (t_spec + t_svg) / agg, "budget_s": 2 * agg + 1.0,
            "ok": (t_spec + t_svg) <= 2 * agg + 1.0, "subtitle": spec["title"]["subtitle"][0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    args = ap.parse_args()
    print(f"{'events':>10} {'agg s':>7} {'spec s':>7} {'svg s':>7} {'(spec+svg)/agg':>15} "
          f"{'budget s':>9} {'ok':>3} {'spec bytes':>11}  subtitle")
    for n in args.sizes:
        r = run(n)
        print(f"{r['events']:>10} {r['aggregation_s']:>7.3f} {r['spec_s']:>7.3f} "
              f"{r['svg_s']:>7.3f} {r['ratio']:>15.2f} {r['budget_s']:>9.2f} "
              f"{'yes' if r['ok'] else 'NO':>3} {r['spec_bytes']:>11}  {r['subtitle']}",
              flush=True)


if __name__ == "__main__":
    main()
