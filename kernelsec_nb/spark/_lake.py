"""The lake as the Spark ingest reads and commits it (the layout: :mod:`kernelsec_nb.lake._layout`).

The same rules as the local writer (:mod:`kernelsec_nb.lake._write`): one writer at a time (its
lock), a run's part files are read only once the run is in the manifest, a table written whole
(``processes``, ``alerts``, ``clock_offsets``, ``case_state``) makes the run its ``base_run``.
The event tables, ``files`` and ``quarantine`` only gain the rows of the files a run loaded.

The lake is a folder every executor reaches at the same path (local mode: a local folder).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from kernelsec_nb.lake import _layout
from kernelsec_nb.lake._write import _prepare, _tidy
from kernelsec_nb.spark import _parts

LakeError = _layout.LakeError


class Store:
    """The lake at ``root`` during one run."""

    def __init__(self, spark, root: Path, manifest: dict[str, Any], run: str) -> None:
        self.spark, self.root, self.manifest, self.run = spark, root, manifest, run

    @classmethod
    def prepare(cls, root: Path) -> dict[str, Any]:
        return _prepare(root)

    def live_files(self, table: str) -> list[str]:
        """The part files that make ``table`` now (the manifest's live runs)."""
        base = self.root / table
        if not base.is_dir():
            return []
        live = set(_layout.live_runs(self.manifest, table))
        pattern = "*/*/*.parquet" if table in _layout.PARTITIONED else "*.parquet"
        return sorted(str(p) for p in base.glob(pattern) if _layout.run_of(p.name) in live)

    def arrow(self, table: str) -> pa.Table:
        """A small table (``files``, ``clock_offsets``) read on the driver."""
        files = self.live_files(table)
        schema = _layout.arrow_schema(table)
        if not files:
            return schema.empty_table()
        return pa.concat_tables(pq.read_table(f).select(schema.names).cast(schema) for f in files)

    def write_small(self, table: str, rows: pa.Table, n: int = 0) -> None:
        """A table of the driver's as one part file of this run."""
        schema = _parts.table_schema(table)
        dest = self.root / table
        dest.mkdir(parents=True, exist_ok=True)
        pq.write_table(rows.select(schema.names).cast(schema), dest / _layout.part_name(self.run, n),
                       compression="zstd")

    def commit(self, report, written: dict[str, int], rewritten: set[str], started: dt.datetime) -> None:
        """Add the run to the manifest (the commit), then remove what it made obsolete."""
        from kernelsec_nb import __version__

        runs = self.manifest.setdefault("runs", [])
        runs.append({"id": self.run, "written_by": f"kernelsec_nb {__version__} (spark-load)",
                     "started": started.isoformat(), "finished": dt.datetime.now(dt.UTC).isoformat(),
                     **{k: report.total(k) for k in ("lines", "loaded", "duplicates", "quarantined", "blank")},
                     "files": sum(1 for f in report.files if f.status in ("loaded", "damaged")),
                     "rows": written})
        for table in rewritten:
            self.manifest["tables"].setdefault(table, {})["base_run"] = self.run
        _layout.write_manifest(self.root, self.manifest)
        _tidy(self.root, self.manifest)
