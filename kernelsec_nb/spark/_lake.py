"""Where Spark reads and writes the lake's tables (the layout: :mod:`kernelsec_nb.lake`).

Tables with ``node`` and a time are written ``<table>/node=<node>/day=<YYYY-MM-DD>/part-*.parquet``
by Spark's own ``partitionBy`` (its escaping of attacker-controlled node names is the
reference; NULL is ``__HIVE_DEFAULT_PARTITION__``); the others ``<table>/part-*.parquet``.
Tables rebuilt over the whole lake (``processes``, ``alerts``, ``clock_offsets``) are written
beside it and moved into place, through Hadoop's file system API (the lake may be any URL
Hadoop reads).
"""

from __future__ import annotations

import datetime
import json
import uuid
from pathlib import Path

import duckdb

MANIFEST = "_kernelsec_lake.json"
#: Tables partitioned by node and UTC day, and the column the day is taken from.
DAY_OF = {"process_events": "time_ns", "kprobes": "time_ns", "flows": "time_ns", "alerts": "time_ns",
          "other_events": "time_ns", "processes": "start_ns"}
PARTITIONS = ("node", "day")


class LakeError(Exception):
    """A lake this load cannot add to (one line)."""


class Store:
    """The lake at ``root`` as Spark sees it."""

    def __init__(self, spark, root: str) -> None:
        self.spark = spark
        self.root = root.rstrip("/")
        jvm = spark.sparkContext._jvm
        self._jvm = jvm
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()
        self._fs = jvm.org.apache.hadoop.fs.Path(self.root).getFileSystem(self._conf)

    def path(self, table: str) -> str:
        return f"{self.root}/{table}"

    def _hpath(self, p: str):
        return self._jvm.org.apache.hadoop.fs.Path(p)

    def exists(self, table: str) -> bool:
        return bool(self._fs.exists(self._hpath(self.path(table))))

    def read(self, table: str):
        """The table as a DataFrame (partition columns included), None when the lake has none."""
        if not self.exists(table):
            return None
        schema = self._schema(table)
        reader = self.spark.read.option("basePath", self.path(table))
        if schema is not None:
            reader = reader.schema(schema)
        return reader.parquet(self.path(table))

    def _schema(self, table: str):
        """The table's Spark schema (from the case's DuckDB schema), ``day`` added where partitioned."""
        from pyspark.sql.pandas.types import from_arrow_schema
        from pyspark.sql.types import StringType, StructField

        from kernelsec_nb.spark import _derive, _normalise

        arrow = {**_normalise.arrow_schemas(), "processes": _derive.processes_schema()}.get(table)
        if arrow is None:
            return None
        schema = from_arrow_schema(arrow)
        if table in DAY_OF:
            schema = schema.add(StructField("day", StringType()))
        return schema

    def files_rows(self) -> list[dict]:
        df = self.read("files")
        return [r.asDict() for r in df.collect()] if df is not None else []

    def _with_day(self, table: str, df):
        from pyspark.sql import functions as F

        if table not in DAY_OF:
            return df, []
        ns = F.col(DAY_OF[table])
        day = F.date_format(F.timestamp_micros(F.floor(ns / 1000)), "yyyy-MM-dd")
        return df.withColumn("day", day), list(PARTITIONS)

    def _write(self, table: str, df, target: str, mode: str) -> None:
        df, parts = self._with_day(table, df)
        writer = df.write.mode(mode)
        if parts:
            writer = writer.partitionBy(*parts)
        writer.parquet(target)

    def append(self, table: str, df) -> None:
        self._write(table, df, self.path(table), "append")

    def overwrite(self, table: str, df) -> None:
        """Write ``df`` beside the table, then move it into place (``df`` may read the table)."""
        tmp = f"{self.root}/.{table}.{uuid.uuid4().hex}"
        self._write(table, df, tmp, "overwrite")
        old = self._hpath(self.path(table))
        if self._fs.exists(old):
            self._fs.delete(old, True)
        if not self._fs.rename(self._hpath(tmp), old):
            raise LakeError(f"could not move {tmp} to {self.path(table)}")

    def write_small(self, table: str, rows) -> None:
        """A small Arrow table (the driver's) as the lake's ``table``."""
        from pyspark.sql.pandas.types import from_arrow_schema

        df = self.spark.createDataFrame(rows.to_pylist(), schema=from_arrow_schema(rows.schema))
        self.overwrite(table, df.coalesce(1))

    def local(self) -> str:
        """The lake as a local folder (DuckDB on the driver reads it)."""
        uri = self._fs.makeQualified(self._hpath(self.root)).toUri()
        if uri.getScheme() not in (None, "file"):
            raise LakeError(f"{self.root}: the driver reads the lake with DuckDB; only a local lake is supported")
        return str(uri.getPath())

    def duckdb(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection on the driver with ``flows``, ``kprobes`` (views over the lake)
        and a ``clock_offsets`` table (the lake's, to be replaced)."""
        import kernelsec_nb as kn

        root = self.local()
        con = kn.open_case().con
        for table in ("flows", "kprobes", "clock_offsets"):
            if next(Path(root, table).rglob("*.parquet"), None) is not None:
                glob = f"{root}/{table}/**/*.parquet"
                con.execute(f"DELETE FROM {table}")  # noqa: S608 - our names
                con.execute(f"INSERT INTO {table} BY NAME SELECT * EXCLUDE (day) FROM read_parquet(?, hive_partitioning = true)"  # noqa: S608
                            if table in DAY_OF else
                            f"INSERT INTO {table} BY NAME SELECT * FROM read_parquet(?)", [glob])  # noqa: S608
        return con

    def write_manifest(self, results: list) -> None:
        """The manifest: the tables, and this run appended to the runs."""
        from kernelsec_nb.spark import _normalise

        target = self._hpath(f"{self.root}/{MANIFEST}")
        manifest = {"format": "kernelsec-lake", "version": 1, "tables": {}, "written_by": "kernelsec-nb spark-load",
                    "runs": []}
        if self._fs.exists(target):
            stream = self._fs.open(target)
            manifest = json.loads(self._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8"))
            stream.close()
        schemas = _normalise.arrow_schemas()
        with duckdb.connect() as con:
            for name, schema in schemas.items():
                con.register("_t", schema.empty_table())
                cols = con.execute("DESCRIBE SELECT * FROM _t").fetchall()
                manifest["tables"][name] = {"columns": [[c[0], c[1]] for c in cols],
                                            "partitioned_by": list(PARTITIONS) if name in DAY_OF else []}
        manifest["runs"].append({"at": datetime.datetime.now(datetime.UTC).isoformat(), "by": "spark-load",
                                 "files": len(results), "lines": sum(f.lines for f in results),
                                 "loaded": sum(f.loaded for f in results)})
        out = self._fs.create(target, True)
        out.write(bytearray(json.dumps(manifest, indent=1).encode()))
        out.close()
