"""The case as an open Parquet lake: hive-partitioned tables any Parquet reader can read.

The layout is in :mod:`kernelsec_nb.lake._layout` (one module, shared with the Spark ingest).
"""

from __future__ import annotations
