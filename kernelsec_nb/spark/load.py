"""``kn.spark.load``: build (or add to) a lake with Apache Spark, the local loader in every task.

What runs where:

* **driver** — finds the files (:func:`kernelsec_nb.store._discover.discover`, as ``case.load``),
  spreads them over tasks by size, applies the global rules to the per-file results (the same
  content twice is "already loaded"), estimates the clock offsets and writes the manifest;
* **executors** — each task loads its files with the project's loader in an in-memory case
  (:mod:`kernelsec_nb.spark._normalise`); Spark then drops events seen in an earlier file or in
  the lake (by ``event_id``, keeping the copy of the first file in load order, the one
  ``case.load`` keeps), reloads the files that lost events to get their exact accounting, builds
  ``processes`` and fills the alerts' Kubernetes fields with the project's SQL per key
  (:mod:`kernelsec_nb.spark._derive`), and writes every table as Parquet.

Files are the unit of work (a gzip stream cannot be split); a fleet's exports are many files.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kernelsec_nb.spark import _derive, _lake, _normalise
from kernelsec_nb.store._discover import discover
from kernelsec_nb.store.load import NotAnExport  # noqa: F401 - documented: the same refusals
from kernelsec_nb.store.report import FileResult, LoadReport

#: Tasks per core of the cluster for the normalising stage (a few, so a big file does not leave
#: the other cores idle at the end).
TASKS_PER_CORE = 3
#: Up to this many event ids seen more than once are sent to every task (a broadcast join);
#: more are joined by a shuffle.
BROADCAST_IDS = 2_000_000
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
    """``files`` (order, path, size) spread over ``n`` tasks, biggest first onto the lightest."""
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

    A lake that exists is added to: its files' content is "already loaded" again, its events are
    duplicates, and ``processes``, the alerts' fields and the clock offsets are rebuilt over
    the whole lake.  Paths are read by the executors: local paths (or a folder mounted at the
    same place on every executor).

    ``threads``: DuckDB threads per task (default ``spark.task.cpus``, 1).
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    phase = _Phases()
    _conf(spark)
    lake = str(lake)
    threads = threads or int(spark.conf.get("spark.task.cpus", "1") or 1)
    found = discover(paths, follow_links=follow_links)
    report = LoadReport()
    report.files.extend(FileResult(str(p), "error", message=m) for p, m in found.errors)
    report.files.extend(FileResult(str(p), "skipped", message=m) for p, m in found.refused)
    if found.skipped:
        names = ", ".join(f.name for f in found.skipped[:5]) + (", …" if len(found.skipped) > 5 else "")
        n = len(found.skipped)
        report.notes.append(f"{n} file{'s' if n != 1 else ''} in the folders left out by their name "
                            f"(documentation, notebooks, hidden files; name a file to read it): {names}")
    store = _lake.Store(spark, lake)
    known = store.files_rows()
    inputs = [(i, str(p), _size(p)) for i, p in enumerate(found.files)]
    if not inputs:
        return report
    _refuse_grown(known, inputs)

    schemas = _normalise.arrow_schemas()
    out_arrow = _normalise.output_schema(schemas)
    out_schema = from_arrow_schema(out_arrow)
    cores = spark.sparkContext.defaultParallelism
    bins = _bins(inputs, cores * TASKS_PER_CORE)
    run = functools.partial(_normalise.normalise, schema=out_arrow, known_files=known, threads=threads)

    def first_pass(batches):
        for batch in batches:
            yield from run(zip(batch.column("o").to_pylist(), batch.column("path").to_pylist(),
                               [None] * batch.num_rows, strict=True))

    files_df = spark.sparkContext.parallelize(bins, len(bins)).flatMap(lambda b: b).toDF("o long, path string")
    normalised = files_df.mapInArrow(first_pass, out_schema).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        results = {r.o: (_normalise.result_of(r.result), r.files)
                   for r in normalised.where(F.col("t") == _normalise.RESULT).select("o", "result", "files").collect()}
        gone = _already_loaded(results, known)
        phase("normalised")

        # global duplicates: an event of an earlier file (or of the lake) wins
        tables = _normalise.event_tables()
        ids = None
        for table in tables:
            part = normalised.where((F.col("t") == table) & ~F.col("o").isin(list(gone))).select(
                F.col(f"{table}.event_id").alias("event_id"), "o")
            ids = part if ids is None else ids.unionByName(part)
            old = store.read(table)
            if old is not None:
                ids = ids.unionByName(old.select("event_id", F.lit(-1).cast("long").alias("o")))
        multi = (ids.groupBy("event_id").agg(F.min("o").alias("first"), F.count("*").alias("n"))
                 .where(F.col("n") > 1).select("event_id", "first")).persist(StorageLevel.MEMORY_AND_DISK)
        repeated = multi.count()
        if repeated:
            losers = (ids.where(F.col("o") >= 0).join(multi, "event_id").where(F.col("o") > F.col("first"))
                      .groupBy("o").agg(F.collect_list("event_id").alias("seed")))
            affected = losers.join(files_df, "o")

            def second_pass(batches):
                for batch in batches:
                    yield from _normalise.normalise(
                        zip(batch.column("o").to_pylist(), batch.column("path").to_pylist(),
                            batch.column("seed").to_pylist(), strict=True),
                        out_arrow, known_files=known, with_rows=False, threads=threads)

            again = affected.mapInArrow(second_pass, out_schema).select("o", "result", "files")
            for r in again.collect():
                results[r.o] = (_normalise.result_of(r.result), r.files)
        phase("duplicates across files")
        kept_orders = [o for o, (res, _) in results.items() if o not in gone and res.status in ("loaded", "damaged")]

        # the rows
        written = {}
        for table in tables:
            rows = normalised.where((F.col("t") == table) & ~F.col("o").isin(list(gone))).select("o", f"{table}.*")
            if repeated:  # the copy of the first file (in load order) stays; none where the lake has it
                first = F.broadcast(multi) if repeated <= BROADCAST_IDS else multi
                rows = (rows.join(first, "event_id", "left")
                        .where(F.col("first").isNull() | (F.col("o") == F.col("first"))).drop("first"))
            written[table] = rows.drop("o")
        quarantine = normalised.where((F.col("t") == "quarantine") & ~F.col("o").isin(list(gone))).select("quarantine.*")
        files_rows = spark.createDataFrame(
            [results[o][1] for o in sorted(kept_orders)], schema=out_schema["files"].dataType) if kept_orders else None

        for table in tables:
            if table != "alerts":
                store.append(table, written[table])
        store.append("quarantine", quarantine)
        if files_rows is not None:
            store.append("files", files_rows)
        new_events = any(results[o][0].loaded for o in kept_orders)
        phase("written")
        if new_events:
            _derive_tables(spark, store, written["alerts"], from_arrow_schema)
            phase("processes and alerts")
        elif written["alerts"] is not None:
            store.append("alerts", written["alerts"])
    finally:
        normalised.unpersist()

    report.files.extend(results[o][0] for o in range(len(inputs)))
    _finish(store, report, new_events, [results[o][0].path for o in kept_orders
                                        if results[o][0].loaded and "hubble" in results[o][0].sources])
    store.write_manifest([f for f in report.files if f.status not in ("skipped",)])
    phase("clock offsets, notes, manifest")
    return report


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
        row = frow.asDict()
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


def _derive_tables(spark, store, new_alerts, from_arrow_schema) -> None:
    """``processes`` and the alerts' Kubernetes fields over the whole lake (see _derive)."""
    from pyspark.sql import functions as F

    schemas = _normalise.arrow_schemas()
    pschema = _derive.processes_schema()
    tetragon = list(_derive.PROCESS_INPUTS)
    structs = {t: from_arrow_schema(schemas[t]) for t in tetragon}
    tagged = None
    for table, by in _derive.PROCESS_INPUTS.items():
        rows = store.read(table)
        if rows is None:
            continue
        k = F.explode(F.array_distinct(F.array_compact(F.array(*[F.col(c) for c in by]))))
        one = rows.select(k.alias("k"), F.lit(table).alias("t"),
                          *[(F.struct(*[F.col(f.name) for f in structs[table]]) if t == table
                             else F.lit(None).cast(structs[t])).alias(t) for t in tetragon])
        tagged = one if tagged is None else tagged.unionByName(one)
    if tagged is None or tagged.isEmpty():
        processes = spark.createDataFrame([], from_arrow_schema(pschema))
    else:
        processes = tagged.repartition("k").mapInArrow(
            functools.partial(_derive.build_processes, schema=pschema), from_arrow_schema(pschema))
    store.overwrite("processes", processes)

    # alerts: the old ones and the new ones, those without Kubernetes fields filled per container
    alerts_schema = schemas["alerts"]
    astruct = from_arrow_schema(alerts_schema)
    old = store.read("alerts")
    alerts = new_alerts.select(*[f.name for f in astruct])
    if old is not None:
        alerts = old.select(*[f.name for f in astruct]).unionByName(alerts)
    fillable = F.expr(_derive.FILLABLE)
    side = alerts.where(fillable)
    if side.isEmpty():  # no alert to fill (the usual case): the new ones are added as they are
        store.append("alerts", new_alerts)
        return
    procs = store.read("processes").where("container_id IS NOT NULL AND pod IS NOT NULL").select(*_derive.FILL_FROM)
    pstruct = procs.schema
    one = side.select(F.col("container_id").alias("k"), F.lit("alerts").alias("t"),
                      F.struct(*[F.col(f.name) for f in astruct]).alias("alerts"),
                      F.lit(None).cast(pstruct).alias("processes"))
    two = procs.select(F.col("container_id").alias("k"), F.lit("processes").alias("t"),
                       F.lit(None).cast(astruct).alias("alerts"),
                       F.struct(*[F.col(c) for c in _derive.FILL_FROM]).alias("processes"))
    filled = one.unionByName(two).repartition("k").mapInArrow(
        functools.partial(_derive.fill_alerts, schema=alerts_schema), astruct)
    store.overwrite("alerts", alerts.where(~fillable | fillable.isNull()).unionByName(filled))


def _finish(store, report: LoadReport, new_events: bool, hubble_files: list[str]) -> None:
    """Clock offsets (estimated when events came in) and the notes, read by DuckDB on the driver
    from the lake just written (the same functions as ``case.load``)."""
    from kernelsec_nb.store import _skew, _twice

    con = store.duckdb()
    try:
        if new_events:
            skew = _skew.clock_skew(con)
            store.write_small("clock_offsets", con.sql("SELECT * FROM clock_offsets").to_arrow_table())
            tetragon_or_hubble = any(f.loaded and {"hubble", "tetragon"} & set(f.sources) for f in report.files)
            if tetragon_or_hubble and con.execute("SELECT 1 FROM flows LIMIT 1").fetchall():
                report.clock_skew = skew
            else:
                report.clock_skew = _skew.noted_offsets(con)
        else:
            report.clock_skew = _skew.noted_offsets(con)
        report.notes += _twice.flows_seen_twice(con, hubble_files)
    finally:
        con.close()


__all__ = ["load"]
