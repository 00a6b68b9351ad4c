"""``kn.spark.load``: build (or add to) a lake with Apache Spark, the local loader in every task.

What runs where:

* **driver** — finds the files (:func:`kernelsec_nb.store._discover.discover`, as ``case.load``),
  spreads them over tasks by size, applies the global rules to the per-file results (the same
  content twice is "already loaded"), estimates the clock offsets and writes the manifest;
* **executors** — each task loads its files with the project's loader in an in-memory case
  (:mod:`kernelsec_nb.spark._normalise`) and writes each file's rows straight into the lake as
  part files of this run; Spark gets back only each file's ids, cut into buckets (Arrow IPC
  values), and each file's result.  The tasks of each bucket find the events seen in an earlier
  file or in the lake (:mod:`kernelsec_nb.spark._dedup`: the copy of the first file in load
  order stays, the one ``case.load`` keeps); the files that lost events are loaded again with
  those ids seeded (their exact accounting, and their part files rewritten without them).  Then
  ``processes`` and the alerts' Kubernetes fields are built with the project's SQL per key
  (:mod:`kernelsec_nb.spark._derive`) from the lake's files, bucketed the same way.

Every step is an RDD of Python values (opaque to the JVM, moved between tasks by bucket): no
DataFrame, so no query for the driver's JVM to plan (that planning was serial, several CPU
seconds per run, and kept ``local[2]`` from gaining on ``local[1]``).

Files are the unit of work (a gzip stream cannot be split; a file's ``files`` row, its sha256 and
its accounting are the file's); a fleet's exports are many files, spread over the tasks by their
decompressed size.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from kernelsec_nb.lake import _layout
from kernelsec_nb.lake._write import _tidy
from kernelsec_nb.spark import _dedup, _derive, _lake, _normalise, _parts
from kernelsec_nb.store import _decompress
from kernelsec_nb.store._discover import discover
from kernelsec_nb.store.load import NotAnExport  # noqa: F401 - documented: the same refusals
from kernelsec_nb.store.report import FileResult, LoadReport

#: Tasks per core of the cluster for the normalising stage (a few, so a big file does not leave
#: the other cores idle at the end).
TASKS_PER_CORE = 3
_LOG = logging.getLogger(__name__)


class _Phases:
    """Logs how long each step took (``logging.getLogger("kernelsec_nb.spark.load")`` at INFO)."""

    def __init__(self) -> None:
        self.last = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        _LOG.info("%s: %.1f s", name, now - self.last)
        self.last = now


_SAME = re.compile(r"^same content as (.*): nothing added$")


def _conf(spark) -> None:
    """Session settings the lake needs (UTC, microsecond timestamps, partition values as text)."""
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    spark.conf.set("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
    spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
    spark.sparkContext._jsc.hadoopConfiguration().set("mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
    spark.sparkContext._jsc.hadoopConfiguration().set("parquet.enable.summary-metadata", "false")


def _bins(files: list[tuple[int, str, int]], n: int) -> list[list[tuple[int, str]]]:
    """``files`` (order, path, size) spread over ``n`` tasks, biggest first onto the lightest
    (``size``: the bytes once decompressed, as a gzip trailer gives them: a gzip file is loaded
    at the rate of its lines, not of its stored bytes)."""
    bins: list[list[tuple[int, str]]] = [[] for _ in range(max(1, min(n, len(files))))]
    weight = [0] * len(bins)
    for order, path, size in sorted(files, key=lambda f: (-f[2], f[0])):
        i = weight.index(min(weight))
        bins[i].append((order, path))
        weight[i] += size + 1
    return [b for b in bins if b]


def load(spark, paths: str | Path | Iterable[str | Path], lake: str | Path, *,
         follow_links: bool = False, threads: int | None = None) -> LoadReport:
    """Load export files, folders or globs into the lake ``lake`` with Spark; returns the same
    :class:`~kernelsec_nb.store.report.LoadReport` as :meth:`kernelsec_nb.Case.load`.

    A lake that exists is added to, as ``load --lake`` adds to it: content it has is "already
    loaded", its events are duplicates, and ``processes``, the alerts' Kubernetes fields and the
    clock offsets are rebuilt over the whole lake.  The exports and the lake are read and
    written by the executors: local paths (or folders mounted at the same place on every
    executor).  ``threads``: DuckDB threads per task (default ``spark.task.cpus``, 1).
    """
    from kernelsec_nb.lake._write import _locked

    root = Path(lake).expanduser().absolute()
    _lake.Store.prepare(root)
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root):
        return _load(spark, paths, root, follow_links, threads)


def _load(spark, paths, root: Path, follow_links: bool, threads: int | None) -> LoadReport:
    phase = _Phases()
    started = dt.datetime.now(dt.UTC)
    _conf(spark)
    threads = threads or int(spark.conf.get("spark.task.cpus", "1") or 1)
    store = _lake.Store(spark, root, _lake.Store.prepare(root), _layout.new_run_id())
    _tidy(root, store.manifest)
    found = discover(paths, follow_links=follow_links)
    report = LoadReport()
    report.files.extend(FileResult(str(p), "error", message=m) for p, m in found.errors)
    report.files.extend(FileResult(str(p), "skipped", message=m) for p, m in found.refused)
    if found.skipped:
        names = ", ".join(f.name for f in found.skipped[:5]) + (", …" if len(found.skipped) > 5 else "")
        n = len(found.skipped)
        report.notes.append(f"{n} file{'s' if n != 1 else ''} in the folders left out by their name "
                            f"(documentation, notebooks, hidden files; name a file to read it): {names}")
    known = [{k: v for k, v in row.items() if k != "loaded_at"} for row in store.arrow("files").to_pylist()]
    inputs = [(i, str(p), _size(p)) for i, p in enumerate(found.files)]
    _refuse_grown(known, inputs)
    written: dict[str, int] = {}
    rewritten: set[str] = set()
    results: dict[int, tuple[FileResult, Any]] = {}
    parts: dict[int, dict] = {}  # per file: the part files written, rows per table
    gone: set[int] = set()
    kept: list[int] = []
    if inputs:
        weights = [(o, path, _weight(path, size)) for o, path, size in inputs]
        bins = _bins(weights, _tasks(spark, sum(size for _, _, size in weights)))
        gone = _load_files(spark, store, known, bins, threads, results, parts, phase)
        kept = sorted(o for o, (res, _) in results.items() if o not in gone and res.status in ("loaded", "damaged"))
        for o in kept:
            for table, n in parts[o]["rows"].items():
                if table != "alerts":  # counted when written to the lake (_derive_tables)
                    written[table] = written.get(table, 0) + n
        files_rows = pa.Table.from_pylist([results[o][1] for o in kept], schema=_layout.arrow_schema("files"))
        store.write_small("files", files_rows)
        written["files"] = files_rows.num_rows
    derive = any(results[o][0].loaded for o in kept)  # the derived tables, over the whole lake
    report.files.extend(results[o][0] for o in range(len(inputs)))
    hubble = [results[o][0].path for o in kept if results[o][0].loaded and "hubble" in results[o][0].sources]
    # the driver's own step reads the flows, kprobes and files only: it runs beside the Spark jobs
    # of processes and alerts (its thread waits on DuckDB, the main thread on Spark)
    with ThreadPoolExecutor(1) as pool:
        finishing = pool.submit(_finish, store, report, derive, bool(inputs), hubble, written)
        if derive:
            rewritten |= _derive_tables(spark, store, written)
            phase("processes and alerts")
        rewritten |= finishing.result()
    for table in _layout.TABLES:  # a table the lake has no file of gets an empty one (its schema)
        if not store.live_files(table) and not _run_files(store, table):
            _parts.write_empty(str(root), store.run, table)
    store.commit(report, written, rewritten, started)
    phase("clock offsets, notes, manifest")
    return report


def _tasks(spark, total: int) -> int:
    """How many tasks load the files: a few per core, fewer for a small input."""
    cores = spark.sparkContext.defaultParallelism
    return max(1, min(cores * TASKS_PER_CORE, max(cores, total // (64 << 20))))


def _load_files(spark, store, known: list[dict], bins: list[list[tuple[int, str]]], threads: int,
                results: dict[int, tuple[FileResult, Any]], parts: dict[int, dict], phase: _Phases) -> set[int]:
    """The files loaded by the tasks (``bins``: the files of each task), their rows written to the
    lake; then the events seen in an earlier file or in the lake found on the ids (:mod:`_dedup`)
    and the files that lost some loaded again with those ids seeded (their accounting, warnings,
    times and rows are then ``case.load``'s; their part files of the first pass replaced).  Two
    Spark jobs of Python values (RDDs: no query to plan); the driver gets one value per file.
    Fills ``results`` and ``parts``; returns the files "already loaded" from another task's."""
    from pyspark import StorageLevel

    sc = spark.sparkContext
    n = sc.defaultParallelism * TASKS_PER_CORE  # buckets of ids: a few per core
    load_files = functools.partial(_normalise.normalise, root=str(store.root), run=store.run, known_files=known,
                                   threads=threads)

    def first_pass(tasks):
        yield from load_files(((o, path, None, None) for files in tasks for o, path in files), buckets=n)

    # the rows go to the lake from the tasks; Spark gets their ids, bucketed, and the files' results
    first = sc.parallelize(bins, len(bins)).mapPartitions(first_pass).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        _collect(first.filter(lambda kv: kv[0] == _normalise.RESULT).values().collect(), results, parts)
        gone = _already_loaded(results, known)
        for o in gone:  # their content was loaded from an earlier file (in another task)
            _remove(parts.pop(o, {}).get("paths", []))
        phase("normalised and written")
        ids = first.filter(lambda kv: kv[0] != _normalise.RESULT and kv[1][0] not in gone)
        lake = [p for t in _normalise.event_tables() for p in store.live_files(t)]
        if lake:
            ids = ids.union(sc.parallelize(lake, min(len(lake), n)).mapPartitions(lambda it: _dedup.lake_ids(it, n)))
        task = {o: i for i, files in enumerate(bins) for o, _ in files}
        path = {o: p for files in bins for o, p in files}
        old = {o: p["paths"] for o, p in parts.items() if p["paths"]}

        def again(items):
            seeds: dict[int, list[str]] = {}
            for o, data in items:
                seeds.setdefault(o, []).extend(_parts.from_ipc(data).column("event_id").to_pylist())
            if seeds:
                yield from (v for _, v in load_files((o, path[o], seeds[o], old.get(o, [])) for o in sorted(seeds)))

        # duplicates across files: the copy of the first file in load order stays, none where the lake has it
        _collect(ids.partitionBy(n, lambda b: b).mapPartitions(_dedup.losers)
                 .partitionBy(len(bins), lambda o: task[o]).mapPartitions(again).collect(), results, parts)
        phase("duplicates across files")
    finally:
        first.unpersist()
    return gone


def _collect(values, results: dict[int, tuple[FileResult, Any]], parts: dict[int, dict]) -> None:
    """The files' results and part files from a pass's result values (see _normalise.normalise)."""
    for o, result, frow, written in values:
        results[o] = (_normalise.result_of(result), frow)
        parts[o] = json.loads(written)


def _remove(paths: Iterable[str]) -> None:
    for p in paths:
        Path(p).unlink(missing_ok=True)


def _weight(path: str, size: int) -> int:
    """A file's share of the work: its bytes once decompressed (a gzip file's trailer says)."""
    try:
        return _decompress.size_hint(Path(path), size)
    except OSError:  # unreadable: its task says so at once
        return size


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _refuse_grown(known: list[dict], inputs: list[tuple[int, str, int]]) -> None:
    """A path the lake has, with other content (an export that grew since), is refused: the
    lake keeps each file's rows as first loaded (``case.load`` re-reads such a file)."""
    have = {row["path"]: row["bytes"] for row in known}
    for _, path, size in inputs:
        if path in have and have[path] != size:
            raise _lake.LakeError(f"{path} is in the lake with other content (it grew since): load its new "
                                  "lines from a copy under another name, or build the lake again")


def _already_loaded(results: dict[int, tuple[FileResult, Any]], known: list[dict]) -> set[int]:
    """Files whose content an earlier file (in load order) or the lake holds: "already loaded",
    as ``case.load`` says, their rows dropped.  Rewrites their results; returns their orders."""
    first: dict[str, dict] = {}
    by_path: dict[str, dict] = {}
    for row in known:
        first.setdefault(row["sha256"], row)
        by_path[row["path"]] = row
    gone = set()
    for o in sorted(results):
        res, frow = results[o]
        if res.status == "already loaded":  # in its task: against that task's earlier file or the lake
            m = _SAME.match(res.message)
            if m and m.group(1) in by_path:
                prior = first[by_path[m.group(1)]["sha256"]]["path"]
                res.message = f"same content as {prior}: nothing added"
            continue
        if frow is None:
            continue
        row = frow
        if row["path"] in by_path and by_path[row["path"]]["sha256"] != row["sha256"]:
            _refuse_grown([by_path[row["path"]]], [(o, row["path"], -1)])
        by_path[row["path"]] = row
        earlier = first.get(row["sha256"])
        if earlier is not None and (earlier["loaded"] + earlier["duplicates"] or earlier["quarantined"]):
            events = row["loaded"] + row["duplicates"]
            results[o] = (FileResult(res.path, "already loaded", tuple(earlier["sources"] or ()), earlier["format"],
                                     row["lines"], 0, events, row["quarantined"], row["blank"],
                                     message=f"same content as {earlier['path']}: nothing added"), None)
            gone.add(o)
        else:
            first.setdefault(row["sha256"], row)
    return gone


def _derive_tables(spark, store, written: dict[str, int]) -> set[str]:
    """``processes`` and the alerts' Kubernetes fields over the whole lake (see _derive); the
    tables rewritten whole."""
    root, run = str(store.root), store.run
    schemas = _normalise.arrow_schemas()
    pschema = _derive.processes_schema()
    parts = [(t, p) for t in _derive.PROCESS_COLUMNS for p in sorted(set(store.live_files(t) + _run_files(store, t)))]
    if parts:  # the tasks read and bucket the rows themselves: Spark moves opaque values, by bucket
        sc = spark.sparkContext
        n = sc.defaultParallelism * TASKS_PER_CORE  # buckets: a few per core

        def build(index, items):
            batches = _derive.build_bucket((v for _, v in items), pschema)
            for counts in _parts.write_rows(batches, root, run, index, "processes"):
                yield from zip(counts.column("table").to_pylist(), counts.column("rows").to_pylist(), strict=True)

        done = (sc.parallelize(parts, min(len(parts), sc.defaultParallelism * TASKS_PER_CORE))
                .mapPartitions(lambda it: _derive.bucket_rows(it, n))
                .partitionBy(n, lambda b: b).mapPartitionsWithIndex(build).collect())
        for table, rows in done:
            written[table] = written.get(table, 0) + rows
    rewritten = {"processes"}

    # alerts: if one (old or new) may take its Kubernetes fields from a process, all are written again
    old = store.live_files("alerts")
    staged = sorted(str(p) for p in (Path(_normalise.work_folder(root, run)) / "alerts").glob("*/*/*.parquet"))
    if not _derive.any_fillable(old + staged):  # the new alerts as the tasks wrote them, moved into the lake
        for p in staged:
            dest = store.root / Path(p).relative_to(_normalise.work_folder(root, run))
            dest.parent.mkdir(parents=True, exist_ok=True)
            Path(p).replace(dest)
        written["alerts"] = written.get("alerts", 0) + sum(pq.ParquetFile(p).metadata.num_rows
                                                           for p in _run_files(store, "alerts"))
        return rewritten
    aschema = schemas["alerts"]
    items = [("alerts", p) for p in old + staged] + [("processes", p) for p in _run_files(store, "processes")]

    def fill(index, values):
        for counts in _parts.write_rows(_derive.fill_bucket(values, aschema), root, run, index, "alerts"):
            yield from zip(counts.column("table").to_pylist(), counts.column("rows").to_pylist(), strict=True)

    sc = spark.sparkContext
    n = sc.defaultParallelism * TASKS_PER_CORE  # buckets of containers: a few per core
    done = (sc.parallelize(items, min(len(items), n)).mapPartitions(lambda it: _derive.bucket_alerts(it, n, aschema))
            .partitionBy(n, lambda b: b).mapPartitionsWithIndex(fill).collect())
    for table, rows in done:
        written[table] = written.get(table, 0) + rows
    return rewritten | {"alerts"}


def _run_files(store, table: str) -> list[str]:
    """The part files this run wrote of ``table`` (not in the manifest yet)."""
    base = store.root / table
    pattern = "*/*/*.parquet" if table in _layout.PARTITIONED else "*.parquet"
    return sorted(str(p) for p in base.glob(pattern) if _layout.run_of(p.name) == store.run) if base.is_dir() else []


def _derive_targets() -> list[str]:
    """Tables a source fills after every load from the whole case (``Source.derive``: the Istio
    requests' pods, from the flows' and hooks' addresses)."""
    from kernelsec_nb import sources

    return [t.name for s in sources.registry() if s.derive for t in s.tables]


#: The driver's DuckDB memory (the clock offsets and the flows seen twice read every flow: their
#: joins spill to the run's work folder beyond it, so the driver stays flat in the input's size).
DRIVER_MEMORY_LIMIT = "64MB"


def _driver_case(store):
    """The driver's in-memory case for :func:`_finish`: DuckDB at :data:`DRIVER_MEMORY_LIMIT` and
    one thread, spilling into the run's work folder (removed with it)."""
    import kernelsec_nb as kn

    case = kn.open_case()
    spill = Path(_normalise.work_folder(str(store.root), store.run)) / "driver"
    spill.mkdir(parents=True, exist_ok=True)
    case.con.execute(f"SET memory_limit = '{DRIVER_MEMORY_LIMIT}'")
    # one thread: under this cap two threads' buffers ran the flows' self-join out of memory
    # (3 runs in 6 of tests/spark/test_driver.py) instead of spilling; one thread spilled in 20 of 20
    case.con.execute("SET threads = 1")
    case.con.execute("SET temp_directory = '" + str(spill).replace("'", "''") + "'")
    return case


def _finish(store, report: LoadReport, derived: bool, any_files: bool, hubble_files: list[str],
            written: dict[str, int]) -> set[str]:
    """On the driver, by DuckDB over the lake's files, with the same functions as ``case.load``:
    the clock offsets, the sources' derived columns (``Source.derive``, from ``pod_addresses``
    built here first) and ``case_state`` when
    events came in, and the notes.  Returns the tables written whole.  It reads neither
    ``processes`` nor ``alerts`` (the sources' derived columns come from flows and hooks), so it
    runs in a thread beside the Spark jobs that write them."""
    from kernelsec_nb.store import _derived, _skew, _twice

    targets = _derive_targets() if derived else []
    rewritten: set[str] = set()
    case = _driver_case(store)
    con = case.con
    try:
        for table in ("flows", "kprobes", "clock_offsets", "files", *targets):
            files = sorted(set(store.live_files(table) + _run_files(store, table)))
            if not files:
                continue
            if table in ("flows", "kprobes"):  # read where they lie (only read here): the driver stays flat
                listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
                con.execute(f"DROP TABLE {table}")  # noqa: S608 - our names
                con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet([{listed}], "  # noqa: S608 - our paths, quoted
                            "union_by_name = true, hive_partitioning = false)")
                continue
            con.execute(f"DELETE FROM {table}")  # noqa: S608 - our names
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM read_parquet(?, union_by_name = true, "  # noqa: S608
                        "hive_partitioning = false)", [files])
        if derived:
            skew = _skew.clock_skew(con)
            _derived.derive_sources(con)  # pod_addresses (not a lake table), then the sources' columns
            con.execute("DELETE FROM case_state")
            con.execute("INSERT INTO case_state VALUES (?, now())", [_derived.mark(con)])
            for table in ("clock_offsets", "case_state", *targets):
                for p in _run_files(store, table):  # this run's parts of it, written again whole
                    Path(p).unlink()
                rows = con.sql(f"SELECT * FROM {table}").to_arrow_table()  # noqa: S608 - our names
                store.write_small(table, rows)
                written[table] = rows.num_rows
                rewritten.add(table)
            hubble_or_tetragon = any(f.loaded and {"hubble", "tetragon"} & set(f.sources) for f in report.files)
            if hubble_or_tetragon and con.execute("SELECT 1 FROM flows LIMIT 1").fetchall():
                report.clock_skew = skew
            else:
                report.clock_skew = _skew.noted_offsets(con)
        elif any_files:
            report.clock_skew = _skew.noted_offsets(con)
        report.notes += _twice.flows_seen_twice(con, hubble_files)
    finally:
        case.close()
    return rewritten


__all__ = ["load"]
