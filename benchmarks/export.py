"""Benchmark the exports' memory: each format against reading the same table whole.

A case file with ``n`` synthetic flows is written once; then, each in a fresh process, (a) the
baseline reads the ``flows`` table whole into polars (what an export that did not stream would
hold), and (b) each format exports the same table.  Printed: peak RSS above the process's RSS
after opening the case, as a ratio of the baseline's, and the time as a ratio of the baseline's.
Streaming writers keep their ratio well below 1 and about flat as ``n`` grows.

Usage::

    python benchmarks/export.py                  # 1M flows
    python benchmarks/export.py --rows 300000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import kernelsec_nb as kn

T0 = 1_715_664_000 * 10**9

_CHILD = r"""
import json, resource, sys, time
import kernelsec_nb as kn
case_path, what, out = sys.argv[1:4]
case = kn.open_case(case_path, read_only=True)
case.con.execute("SET enable_progress_bar = false")
def rss_kb():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM"))
before = rss_kb()
t = time.perf_counter()
if what == "baseline":
    df = case.sql("SELECT * FROM flows ORDER BY time_ns, event_id")
    rows = df.height
else:
    rows = case.export(out, what, table="flows")["rows"]
print(json.dumps({"rows": rows, "peak_mb": (rss_kb() - before) / 1024, "seconds": time.perf_counter() - t}))
"""


def build(path: Path, n: int) -> None:
    """A case file whose ``flows`` table holds ``n`` synthetic flows over three hours."""
    with kn.open_case(path) as case:
        case.con.execute(f"""
            INSERT INTO flows BY NAME
            SELECT substr(md5(i::VARCHAR), 1, 20) AS event_id,
                   {T0} + i * 10000 AS time_ns, make_timestamp(({T0} + i * 10000) // 1000)::TIMESTAMPTZ AS time,
                   'node-' || (i % 5) AS node, 'c1' AS cluster,
                   CASE WHEN i % 7 = 0 THEN 'DROPPED' ELSE 'FORWARDED' END AS verdict,
                   'default' AS src_namespace, 'web-' || (i % 50) AS src_pod, 'web' AS src_workload,
                   MAP {{'app': 'web'}} AS src_labels, ['web.default'] AS src_names,
                   '10.0.' || (i % 250) || '.1' AS src_ip, 30000 + i % 30000 AS src_port,
                   'default' AS dst_namespace, 'api-' || (i % 20) AS dst_pod, 'api' AS dst_workload,
                   '10.1.' || (i % 250) || '.2' AS dst_ip, 80 AS dst_port, 'TCP' AS protocol,
                   CASE WHEN i % 3 = 0 THEN 'GET' END AS http_method,
                   CASE WHEN i % 3 = 0 THEN '/v1/items/' || i END AS http_path,
                   'flow ' || i AS summary, '/exports/hubble.json' AS file, i AS line, i * 400 AS byte_offset
            FROM range({n}) t(i)""")  # noqa: S608 - integers of ours
        # the rows' file as a finished load records it (a read-only open refuses rows of an
        # unfinished load)
        case.con.execute("INSERT INTO files (path, sha256, lines, loaded) VALUES "
                         "('/exports/hubble.json', 'synthetic', ?, ?)", [n, n])
    kn.open_case(path).close()  # the derived tables brought up to date once, as after a load


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kn-export-bench-") as tmp:
        case_path = Path(tmp) / "case.duckdb"
        build(case_path, args.rows)
        results = {}
        for what in ("baseline", "csv", "parquet", "timesketch", "ecs"):
            out = Path(tmp) / f"out-{what}"
            run = subprocess.run([sys.executable, "-c", _CHILD, str(case_path), what, str(out)],
                                 capture_output=True, text=True, check=True)
            results[what] = json.loads(run.stdout.strip().splitlines()[-1])
        base = results["baseline"]
        print(f"{args.rows} flows; baseline (the table read whole into polars): "
              f"{base['peak_mb']:.0f} MB above the open case, {base['seconds']:.2f} s")
        print(f"{'format':<11} {'rows':>9} {'memory / baseline':>18} {'time / baseline':>16}")
        for what, r in results.items():
            if what == "baseline":
                continue
            assert r["rows"] == base["rows"], (what, r["rows"])
            print(f"{what:<11} {r['rows']:>9} {r['peak_mb'] / max(base['peak_mb'], 1):>18.2f} "
                  f"{r['seconds'] / base['seconds']:>16.1f}")


if __name__ == "__main__":
    main()
