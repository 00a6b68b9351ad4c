"""The case as an open Parquet lake: hive-partitioned tables any Parquet reader can read.

:func:`load_lake` loads exports into a lake folder (a new one, or one to extend);
:func:`kernelsec_nb.open_case` opens a lake folder read-only, as a :class:`~kernelsec_nb.Case`
whose tables are views over the Parquet files.  The layout (folders, partitions, the manifest)
is in :mod:`kernelsec_nb.lake._layout`, shared with the Spark ingest; the README's section
"The lake" documents it with the schema.

Examples
--------
>>> import kernelsec_nb as kn, tempfile, os
>>> lake = os.path.join(tempfile.mkdtemp(), "lake")
>>> report = kn.load_lake(lake, [], progress=False)
>>> kn.open_case(lake)                                   # doctest: +ELLIPSIS
<Case '...lake', lake, read-only>
"""

from __future__ import annotations

from kernelsec_nb.lake._layout import LakeError, is_lake, read_manifest
from kernelsec_nb.lake._read import LakeCase, open_lake, run_text
from kernelsec_nb.lake._write import load_lake

__all__ = ["LakeCase", "LakeError", "is_lake", "load_lake", "open_lake", "read_manifest", "run_text"]
