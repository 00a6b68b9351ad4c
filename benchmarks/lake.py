"""Lake benchmark (issue 23): building a lake against ``case.load``, and the notebook calls on it.

    python benchmarks/lake.py                    # a 1 GB mixed capture
    python benchmarks/lake.py --size 256M        # a quick run
    python benchmarks/lake.py --capture-dir DIR  # a capture made before (kept by an earlier run)

The capture: ``kernelsec_nb.synth.write_bulk(mix="all")`` (Tetragon, Hubble and Falco lines of
three nodes), cut into four files rotated as an exporter rotates them: ``bulk.log.3.gz``,
``.2.gz``, ``.1.gz`` (gzip) and ``bulk.log``.  Rates are MB/s of decompressed bytes.

Each build runs in its own subprocess: ``case.load`` into a ``.duckdb`` file (the baseline),
``kn.load_lake`` (``load --lake``), and — when ``kernelsec_nb.spark`` is installed with the
``spark`` extra — ``kn.spark.load`` with ``local[1]`` and ``local[2]``.  For each: MB/s, the
driver's peak RSS, the peak RSS of the whole process tree (sampled every 0.1 s from /proc: the
JVM of Spark is a child), and the ratio to ``case.load``; and Spark's ``local[2]``/``local[1]``.

Then the README's notebook calls on the lake and on the ``.duckdb`` case (best of ``--repeat``):
``events`` with a pod and a time filter, ``flows`` with a verdict, ``ancestry``, ``findings``;
printed as lake/case time ratios (target: within 2x).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: The builds, by name: what the child process runs.
BUILDS = {"case.load (.duckdb)": "case", "load --lake": "lake", "spark local[1]": "spark1", "spark local[2]": "spark2"}


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)


def make_capture(folder: Path, size: int) -> None:
    """``write_bulk`` output cut into four rotated files, the three older ones gzipped."""
    from kernelsec_nb.synth.bulk import write_bulk

    folder.mkdir(parents=True)
    whole = folder / "whole.ndjson"
    write_bulk(whole, target_bytes=size, mix="all")
    names = ["bulk.log.3.gz", "bulk.log.2.gz", "bulk.log.1.gz", "bulk.log"]
    quarter = whole.stat().st_size // len(names)
    with open(whole, "rb") as src:
        for name in names:
            opener = (lambda p: gzip.open(p, "wb", compresslevel=1)) if name.endswith(".gz") else (lambda p: open(p, "wb"))
            with opener(folder / name) as dst:
                written = 0
                for line in src:
                    dst.write(line)
                    written += len(line)
                    if written >= quarter and name != names[-1]:
                        break
    whole.unlink()


def decompressed_mb(folder: Path) -> float:
    from kernelsec_nb.store._decompress import open_export

    total = 0
    for p in sorted(folder.iterdir()):
        with open_export(p) as f:
            while chunk := f.read(16 << 20):
                total += len(chunk)
    return total / 1e6


# -- one build, in a child process -----------------------------------------------------------
def _child(kind: str, capture: str, out: str) -> None:
    import resource

    import kernelsec_nb as kn

    t0 = time.perf_counter()
    if kind == "case":
        with kn.open_case(os.path.join(out, "case.duckdb")) as case:
            n = case.load(capture, progress=False).total("loaded")
    elif kind == "lake":
        n = kn.load_lake(os.path.join(out, "lake"), capture, progress=False).total("loaded")
    else:  # the Spark ingest (issue 23, part 2): kn.spark.load(spark, paths, lake)
        import kernelsec_nb.spark as kspark
        from kernelsec_nb.spark.session import LOAD_ONLY, local_session

        master = "local[1]" if kind == "spark1" else "local[2]"
        spark = local_session(master, app="kernelsec-lake-bench", extra=LOAD_ONLY)  # as spark-load's
        t0, cpu0 = time.perf_counter(), _tree_cpu(os.getpid())  # the JVM's start is not the ingest's
        report = kspark.load(spark, [capture], os.path.join(out, f"lake-{kind}"))
        n = report.total("loaded") if hasattr(report, "total") else None
        seconds = time.perf_counter() - t0
        tree_cpu = _tree_cpu(os.getpid()) - cpu0  # the JVM and the Python workers are children: before they stop
        spark.stop()
    if kind in ("case", "lake"):
        seconds = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    print(json.dumps({"seconds": seconds, "events": n, "rss": usage.ru_maxrss * 1024,
                      "cpu": cpu, "tree_cpu": tree_cpu if kind.startswith("spark") else cpu}))


def _tree_stats(root: int) -> list[list[str]]:
    """The /proc/PID/stat fields (after the command name) of ``root`` and every live process
    below it."""
    parents: dict[int, int] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            parents[int(entry)] = int(fields[1])
            stats[int(entry)] = fields
        except (OSError, IndexError, ValueError):
            continue
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            out.append(stats[pid])
        todo += [p for p, pp in parents.items() if pp == pid]
    return out


def _tree_cpu(root: int) -> float:
    """CPU seconds of ``root`` and every live process below it, with their reaped children
    (utime, stime, cutime, cstime from /proc: Spark's Python workers are reaped by its daemon)."""
    tick = os.sysconf("SC_CLK_TCK")
    return sum(sum(int(x) for x in fields[11:15]) / tick for fields in _tree_stats(root))


def _tree_rss(root: int) -> int:
    """Bytes of RSS of ``root`` and every process below it, from /proc."""
    return sum(int(fields[21]) * os.sysconf("SC_PAGE_SIZE") for fields in _tree_stats(root))


def build(kind: str, capture: Path, out: Path) -> dict | None:
    """Run one build in a child; its result with the process tree's peak RSS, None if skipped."""
    proc = subprocess.Popen([sys.executable, __file__, "--child", kind, str(capture), str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    done.set()
    sampler.join()
    if proc.returncode != 0:
        if kind.startswith("spark") and ("ModuleNotFoundError" in stderr or "ImportError" in stderr):
            return None
        raise SystemExit(f"{kind} failed:\n{stderr[-3000:]}")
    return json.loads(stdout.strip().splitlines()[-1]) | {"tree_rss": peak}


# -- the notebook calls ----------------------------------------------------------------------
def _calls(case) -> dict:  # type: ignore[no-untyped-def]
    """The README's notebook calls, with arguments taken from the data (the same on both stores)."""
    pod = case.sql("SELECT pod, count(*) n FROM events WHERE pod IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1")["pod"][0]
    lo, hi = case.sql("SELECT min(time_ns) lo, max(time_ns) hi FROM events").row(0)
    mid = lo + (hi - lo) // 2
    since, until = mid, mid + 10 * 60 * 10**9  # ten minutes in the middle
    import datetime as dt

    as_time = lambda ns: dt.datetime.fromtimestamp(ns / 1e9, dt.UTC)  # noqa: E731
    exec_id = case.sql("SELECT exec_id FROM processes WHERE parent_exec_id IS NOT NULL AND seen_as = 'exec' "
                       "ORDER BY start_ns DESC, exec_id LIMIT 1")["exec_id"][0]
    return {
        "events(pod, since, until)": lambda c: c.events(pod=pod, since=as_time(since), until=as_time(until)).height,
        "flows(verdict='DROPPED')": lambda c: c.flows(verdict="DROPPED").height,
        "ancestry(exec_id)": lambda c: c.ancestry(exec_id).height,
        "findings()": lambda c: len(c.findings().incidents),
    }


def queries(case_path: Path, lake: Path, repeat: int) -> list[tuple[str, float, float, bool]]:
    """Each call on a freshly opened case file and lake, best of ``repeat``: (call, case s, lake s, same)."""
    import kernelsec_nb as kn

    with kn.open_case(case_path, read_only=True) as case:
        calls = _calls(case)
    rows = []
    for name, call in calls.items():
        best = {}
        answers = {}
        for _ in range(repeat):
            for store, path in (("case", case_path), ("lake", lake)):
                with kn.open_case(path, read_only=True) as c:  # fresh: no cached frame from the round before
                    t0 = time.perf_counter()
                    answers[store] = call(c)
                    took = time.perf_counter() - t0
                best[store] = min(best.get(store, took), took)
        rows.append((name, best["case"], best["lake"], answers["case"] == answers["lake"]))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="1G", help="bytes of NDJSON to generate (default 1G)")
    ap.add_argument("--capture-dir", help="a capture folder made before (its four files)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds of each notebook call (best counts)")
    ap.add_argument("--builds", default=",".join(BUILDS.values()),
                    help="which builds, comma-separated: case,lake,spark1,spark2 (default: all; case is the baseline)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(*args.child)
        return
    work = Path(tempfile.mkdtemp(prefix="kn-lake-bench-"))
    if args.capture_dir:
        capture = Path(args.capture_dir)
    else:
        capture = work / "capture"
        t0 = time.perf_counter()
        make_capture(capture, parse_size(args.size))
        print(f"generated {capture} in {time.perf_counter() - t0:.0f} s (kept: --capture-dir reuses it)")
    mb = decompressed_mb(capture)
    stored = sum(p.stat().st_size for p in capture.iterdir()) / 1e6
    print(f"capture: {len(list(capture.iterdir()))} files, {stored:.0f} MB stored, {mb:.0f} MB decompressed")
    out = work / "out"
    out.mkdir()
    results = {}
    chosen = {"case", *args.builds.split(",")}
    for name, kind in BUILDS.items():
        if kind not in chosen:
            continue
        r = build(kind, capture, out)
        if r is None:
            print(f"{name}: skipped (kernelsec_nb.spark / pyspark not installed: pip install '.[spark]')")
            continue
        results[name] = r
        print(f"{name}: {r['seconds']:.1f} s", flush=True)
    base = results["case.load (.duckdb)"]
    # CPU seconds too: on a shared machine the wall time is mostly waiting for a core.  "tree CPU"
    # is the build's whole process tree (Spark's JVM and Python workers are children of the driver);
    # "MB per CPU s" is the per-core rate a cluster's executors would run at
    print(f"\n{'build':<22} {'MB/s':>7} {'driver RSS':>11} {'tree RSS':>9} {'x case.load':>12} {'tree CPU s':>11} "
          f"{'x in CPU':>9} {'MB/CPU s':>9}")
    for name, r in results.items():
        print(f"{name:<22} {mb / r['seconds']:>7.0f} {r['rss'] / 2**20:>9.0f}MB {r['tree_rss'] / 2**20:>7.0f}MB "
              f"{base['seconds'] / r['seconds']:>11.2f}x {r['tree_cpu']:>11.1f} {base['tree_cpu'] / r['tree_cpu']:>8.2f}x "
              f"{mb / r['tree_cpu']:>9.1f}")
    if "spark local[1]" in results and "spark local[2]" in results:
        print(f"spark local[2] / local[1]: {results['spark local[1]']['seconds'] / results['spark local[2]']['seconds']:.2f}x "
              "(target >= 1.6x); local[2] / case.load: "
              f"{base['seconds'] / results['spark local[2]']['seconds']:.2f}x (target >= 0.5x)")
    if "lake" not in chosen:
        shutil.rmtree(out)
        return
    du = lambda p: (p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*") if f.is_file())) / 1e6  # noqa: E731
    print(f"on disk: case file {du(out / 'case.duckdb'):.0f} MB, lake {du(out / 'lake'):.0f} MB "
          f"({sum(1 for _ in (out / 'lake').rglob('*.parquet'))} Parquet files)")
    print(f"\n{'notebook call':<28} {'case s':>8} {'lake s':>8} {'lake/case':>10}  same answer")
    for name, c, lk, same in queries(out / "case.duckdb", out / "lake", args.repeat):
        print(f"{name:<28} {c:>8.3f} {lk:>8.3f} {lk / c:>9.2f}x  {same}")
    print("(target: lake within 2x of the case file)")
    shutil.rmtree(out)
    if not args.capture_dir:
        print(f"capture kept in {capture}")


if __name__ == "__main__":
    main()
