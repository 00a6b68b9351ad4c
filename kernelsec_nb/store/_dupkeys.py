"""Lines with a key written twice in one object the loader reads: refused (quarantined).

DuckDB's ``json_transform`` keeps the *first* value of a duplicated key, while ``jq``, Python's
``json`` and Go keep the *last*: the case and the analyst's other tools would disagree about the
same line.  None of the tools writes such a line (protojson and Falco's encoder cannot), so one is
hand-made or mangled by a shipper: ambiguous and suspicious.  It is quarantined with the reason
``duplicate key "<name>" in <path>`` (the raw text stays in ``quarantine.raw``).

What is checked: every object of the structure a line is parsed against (the line itself, the
event body, its process and parent with their pod and container, a flow and its endpoints and
layer 4 and layer 7 parts, Falco's ``output_fields``, Tetragon's ``pod_labels``); objects inside
lists (hook arguments, workloads) are not read as objects and not checked.  Keys are compared as
JSON reads them (``"p\\u0069d"`` is ``pid``; a blank before the colon changes nothing): DuckDB's
``json_keys`` returns them decoded.

Cost: a second JSON walk of each line (``json_keys`` of those objects) and a test per object.  A
byte-level test cannot rule a duplicate out: the tools' lines hold the same key names many times
in different objects (``pid`` in the process, its parent, its container, its namespaces;
``namespace`` in both endpoints of a flow), so only the objects tell.  The fast routes make the
test where they sort the lines (:func:`route_sql`, one of a route's exclusions): a line with a
duplicate takes the general path, where :func:`mark` says which key and where.

Examples
--------
>>> import duckdb, pyarrow as pa
>>> block = pa.table({"rec": [0, 1], "raw": ['{"flow":{"time":"t"}}', '{"flow":{"time":"t","time":"u"}}'],
...                   "note": pa.nulls(2, pa.string()), "taken": [False, False]})
>>> mark(duckdb.connect(), block).column("note").to_pylist()
[None, 'duplicate key "time" in $.flow']
"""

from __future__ import annotations

import json

import duckdb
import pyarrow as pa

from kernelsec_nb import sources
from kernelsec_nb.sources._wrappers import UNWRAP_SQL


def object_paths(structure: object, at: str = "$") -> list[str]:
    """JSON paths of the objects of a ``json_transform`` structure (its structs and maps).

    >>> object_paths({"a": {"b": "VARCHAR", "c": {"d": "BIGINT"}}, "m": "MAP(VARCHAR, VARCHAR)", "l": [{"x": "VARCHAR"}]})
    ['$', '$."a"', '$."a"."c"', '$."m"']
    """
    if isinstance(structure, str):
        return [at] if structure.startswith("MAP(") else []
    if not isinstance(structure, dict):
        return []  # a list: its items are not checked
    return [at, *(p for key, sub in structure.items() for p in object_paths(sub, f'{at}."{key}"'))]


def paths_sql(paths: list[str]) -> str:
    """The paths as a SQL list literal (constant: ``json_keys`` takes constant paths only)."""
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in dict.fromkeys(paths)) + "]"


def keys_sql(text: str, paths: list[str]) -> str:
    """SQL for the keys, as written (a key twice: twice), of each object at ``paths`` of the JSON
    ``text`` (NULL for a path that is not an object; NULL when ``text`` is not JSON)."""
    return f"TRY(json_keys({text}, {paths_sql(paths)}))"


def has_duplicate_sql(keys: str) -> str:
    """SQL: true when one of the key lists ``keys`` (see :func:`keys_sql`) holds a key twice.

    >>> import duckdb
    >>> sql = has_duplicate_sql(keys_sql("j", ["$", '$."a"']))
    >>> [duckdb.sql(f"SELECT {sql} FROM (SELECT ? AS j)", params=[j]).fetchall()[0][0]
    ...  for j in ['{"a":{"b":1},"c":2}', '{"a":{"b":1,"b":2}}', '{"a":1,"a":1}', 'not json']]
    [False, True, True, False]
    """
    return f"coalesce(list_bool_or(list_transform({keys}, lambda ks: list_unique(ks) < len(ks))), false)"


def route_sql(structure: str) -> str:
    """SQL over ``raw``: the line holds a key twice in an object of a route's ``structure``."""
    return has_duplicate_sql(keys_sql("raw", object_paths(json.loads(structure))))


#: The objects read of a line on the general path: its top level as written, and every object of
#: the shared structure once the line is put in that shape (``sources.NORMALISE_SQL``: Tetragon's
#: event body under ``ev``, a bare flow under ``flow``).
_UNION_PATHS = object_paths(json.loads(sources.STRUCTURE))
DUPLICATES_SQL = f"""
SELECT rec, raw_keys, keys, CASE WHEN normalised <> raw THEN normalised ->> '$.kind' END AS kind,
       normalised <> raw AND NOT starts_with(normalised, '{{"kind"') AS wrapped
FROM (
    SELECT rec, raw, normalised, {keys_sql("raw", ["$"])} AS raw_keys, {keys_sql("normalised", _UNION_PATHS)} AS keys
    FROM (SELECT rec, raw, {sources.NORMALISE_SQL} AS normalised
          FROM (SELECT rec, {UNWRAP_SQL} AS raw FROM _block WHERE NOT taken AND note IS NULL)
          WHERE left(ltrim(raw), 1) = '{{')
) WHERE {has_duplicate_sql("raw_keys")} OR {has_duplicate_sql("keys")}
"""  # noqa: S608 - built from our own structure constants


def _first_twice(keys: list[str] | None) -> str | None:
    seen: set[str] = set()
    for k in keys or ():
        if k in seen:
            return k
        seen.add(k)
    return None


def reason(raw_keys: list[list[str] | None], keys: list[list[str] | None], kind: str | None,
           wrapped: bool) -> str:
    """The quarantine reason: the first key written twice and the path of its object as the
    line writes it (``$.process_exec.process``, not the shared shape's ``$.ev.process``).

    >>> reason([["kind", "ev"]], [None, None, ["pid", "uid", "pid"]], "process_exec", False)
    'duplicate key "pid" in $.process_exec.process'
    """
    key = _first_twice(raw_keys[0] if raw_keys else None)
    if key is not None:
        return f'duplicate key "{key[:100]}" in $'
    for ks, path in zip(keys, dict.fromkeys(_UNION_PATHS), strict=False):
        key = _first_twice(ks)
        if key is None:
            continue
        shown = path
        if kind and shown.startswith('$."ev"'):
            shown = '$."' + kind[:100] + '"' + shown[len('$."ev"'):]
        elif wrapped and shown.startswith('$."flow"'):
            shown = "$" + shown[len('$."flow"'):]
        return f'duplicate key "{key[:100]}" in {shown.replace(chr(34), "")}'
    return "duplicate key"


def mark(con: duckdb.DuckDBPyConnection, block: pa.Table) -> pa.Table:
    """``block`` (with ``rec``, ``raw``, ``note`` and ``taken``) with a note on each line not
    taken by a route that holds a key twice in an object the loader reads: the general path
    quarantines it with the note as its reason."""
    con.register("_block", block)
    try:
        found = con.execute(DUPLICATES_SQL).fetchall()
    finally:
        con.unregister("_block")
    if not found:
        return block
    notes = block.column("note").to_pylist()
    index = {rec: i for i, rec in enumerate(block.column("rec").to_pylist())}
    for rec, raw_keys, keys, kind, wrapped in found:
        notes[index[rec]] = reason(raw_keys, keys, kind, bool(wrapped))
    i = block.schema.get_field_index("note")
    return block.set_column(i, "note", pa.array(notes, pa.string()))
