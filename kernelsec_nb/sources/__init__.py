"""Export formats: one module per tool, each with the JSON structure DuckDB parses and the SQL
that maps it to the event model.

The loader parses every line once with ``json_transform`` against :data:`STRUCTURE` (the union of
what the three tools write) and then lets each source module turn the parsed struct ``j`` into
columns.  Detection is per line, from the content, never from the file name.
"""

from __future__ import annotations

import json

from kernelsec_nb.sources import falco, hubble, tetragon

#: The one structure every line is parsed against (a DuckDB ``json_transform`` structure).
STRUCTURE: str = json.dumps({**tetragon.STRUCTURE, **hubble.STRUCTURE, **falco.STRUCTURE})

#: SQL expression naming the source of a parsed line ``j`` (NULL when it is none of ours).
SOURCE_SQL: str = f"""CASE
    WHEN {hubble.DETECT_SQL} THEN 'hubble'
    WHEN {falco.DETECT_SQL} THEN 'falco'
    WHEN {tetragon.DETECT_SQL} THEN 'tetragon'
END"""

#: SQL rewriting a raw line into the shape :data:`STRUCTURE` parses (Tetragon's event key into
#: ``kind``/``ev``, bare Hubble flows into ``{"flow": ...}``); other lines stay as they are.
NORMALISE_SQL: str = f"CASE {tetragon.NORMALISE_SQL} {hubble.NORMALISE_SQL} ELSE raw END"

#: Columns computed once per parsed line before the event columns (named sub-structs).
PRELUDE: dict[str, str] = {**tetragon.PRELUDE, **hubble.PRELUDE}
#: Computed from the prelude columns, once per line.
PRELUDE_ARGS: dict[str, str] = dict(tetragon.PRELUDE_ARGS)

__all__ = ["NORMALISE_SQL", "PRELUDE", "PRELUDE_ARGS", "STRUCTURE", "SOURCE_SQL", "tetragon", "hubble", "falco"]
