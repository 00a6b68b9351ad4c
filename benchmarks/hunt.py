"""Benchmark of kernelsec_nb.hunt: 50 Sigma rules over a big case vs one scan of ``processes``.

Prints, from the same run (best of ``--rounds``, the case warm in DuckDB's buffer):

* the hunt: ``case.hunt(rules)`` for the first ``--rules`` runnable rules of the bundled pack and
  the SigmaHQ rules of ``tests/hunt/data/sigmahq`` (compiled once, outside the timing; each log
  source's rules run as one query);
* the baseline: one DuckDB scan of the ``processes`` table that reads its command line
  (``concat_ws(' ', "binary", args) ILIKE '%/nc %'``, counted);
* their ratio, and the ratio per 10 rules (target: ≤ 3), in wall time and in CPU time;
* per log source: its rules' time against one scan of the table(s) its view reads (the network
  view reads every Tetragon connect and every Hubble flow: far more rows than ``processes``).

Build the case once (≥ 800k events; a couple of minutes) and reuse it::

    python -m kernelsec_nb.synth --target-bytes 1450M --seed 8 --mix all --out /tmp/bulk.ndjson
    kernelsec-nb load /tmp/bulk.duckdb /tmp/bulk.ndjson
    python benchmarks/hunt.py /tmp/bulk.duckdb
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import kernelsec_nb as kn  # noqa: E402
from kernelsec_nb.hunt import HuntWarning, RuleSet, bundled_rules, compile_rules  # noqa: E402
from kernelsec_nb.hunt._runner import _run_batch  # noqa: E402
from kernelsec_nb.hunt._sources import SOURCES  # noqa: E402

BASELINE = "SELECT count(*) FROM processes WHERE concat_ws(' ', \"binary\", args) ILIKE ?"
#: One scan of what each kind of view reads, for the per-source lines.
SOURCE_SCANS = {
    "process_creation": BASELINE,
    "network_connection": "SELECT (SELECT count(*) FROM kprobes WHERE daddr ILIKE ?) + "
                          "(SELECT count(*) FROM flows WHERE dst_ip ILIKE ?)",
    "file_access": "SELECT count(*) FROM kprobes WHERE file_path ILIKE ?",
    "file_event": "SELECT count(*) FROM kprobes WHERE file_path ILIKE ?",
}


def best(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def timed(fn) -> tuple[float, float]:
    """Wall and CPU time of one call (CPU: this process, every DuckDB thread; steadier than wall
    time on a shared machine)."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("case", help="a case file with at least 800k events")
    ap.add_argument("--rules", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    case = kn.open_case(args.case, read_only=True)
    n_events = case.sql("SELECT count(*) AS n FROM events")["n"][0]
    n_procs = case.sql("SELECT count(*) AS n FROM processes")["n"][0]
    every = compile_rules([bundled_rules(), ROOT / "tests" / "hunt" / "data" / "sigmahq"])
    ruleset = RuleSet(rules=every.rules[:args.rules])
    if len(ruleset.rules) < args.rules:
        sys.exit(f"only {len(ruleset.rules)} runnable rules")
    per_source: dict[str, int] = {}
    for r in ruleset.rules:
        per_source[r.source.category] = per_source.get(r.source.category, 0) + 1
    print(f"case: {n_events:,} events, {n_procs:,} processes; {len(ruleset.rules)} rules {per_source}")

    def hunt() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", HuntWarning)
            hunt.hits = case.hunt(ruleset).height  # type: ignore[attr-defined]

    def scan() -> None:
        case.con.execute(BASELINE, ["%/nc %"]).fetchall()

    scan(), hunt()  # warm-up: the case's blocks in DuckDB's buffer
    t_scan, t_hunt = [], []
    for _ in range(args.rounds):  # interleaved
        t_scan.append(timed(scan))
        t_hunt.append(timed(hunt))
    s, h = min(t for t, _ in t_scan), min(t for t, _ in t_hunt)
    s_cpu, h_cpu = min(c for _, c in t_scan), min(c for _, c in t_hunt)
    ratio = h / s
    print(f"one scan of processes: {s * 1000:.1f} ms (CPU {s_cpu * 1000:.1f} ms)")
    print(f"hunt, {len(ruleset.rules)} rules: {h * 1000:.1f} ms (CPU {h_cpu * 1000:.1f} ms; "
          f"{hunt.hits:,} hits)")  # type: ignore[attr-defined]
    print(f"CPU ratio: {h_cpu / s_cpu:.1f}× one scan's CPU; per 10 rules: "
          f"{h_cpu / s_cpu / (len(ruleset.rules) / 10):.2f}×")
    print(f"ratio: {ratio:.1f}× one scan; per 10 rules: {ratio / (len(ruleset.rules) / 10):.2f}× "
          f"(target ≤ 3): {'met' if ratio / (len(ruleset.rules) / 10) <= 3 else 'NOT met'}")
    by_source: dict[str, list] = {}
    for r in ruleset.rules:
        by_source.setdefault(r.source.category, []).append(r)
    for name, rules in by_source.items():
        scan_sql = SOURCE_SCANS.get(name, BASELINE)
        n = scan_sql.count("?")
        t_src = best(lambda: case.con.execute(scan_sql, ["%zz%"] * n).fetchall(), args.rounds)  # noqa: B023
        t_run = best(lambda: _run_batch(case.con, SOURCES[name], rules), args.rounds)  # noqa: B023
        print(f"  {name}: {len(rules)} rules {t_run * 1000:.1f} ms = {t_run / t_src:.1f}× one scan of its "
              f"table(s) ({t_src * 1000:.1f} ms), {t_run / t_src / (len(rules) / 10):.2f}× per 10 rules")


if __name__ == "__main__":
    main()
