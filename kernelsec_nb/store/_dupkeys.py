"""Lines with a key written twice in one object: refused (quarantined) before they are read.

DuckDB's ``json_transform`` keeps the *first* value of a duplicated key, while ``jq``, Python's
``json`` and Go keep the *last*: the case and the analyst's other tools would disagree about the
same line.  None of the tools writes such a line (protojson and Falco's encoder cannot), so one is
hand-made or mangled by a shipper: ambiguous and suspicious.  It is quarantined with the reason
``duplicate key "<name>"`` (the raw text stays in ``quarantine.raw``).

What is checked: every object the loader reads values from (the line itself, the event body, its
process and parent with their pod and container, a flow and its endpoints, layer 4 and layer 7
parts, Falco's ``output_fields``, Tetragon's ``pod_labels``).  Objects inside lists (hook
arguments, workloads) are not.

Examples
--------
>>> import duckdb, pyarrow as pa
>>> block = pa.table({"rec": [0, 1], "raw": ['{"flow":{"time":"t"}}', '{"flow":{"time":"t","time":"u"}}'],
...                   "note": pa.nulls(2, pa.string())})
>>> mark(duckdb.connect(), block).column("note").to_pylist()
[None, 'duplicate key "time" in $.flow']
"""

from __future__ import annotations

import json

import duckdb
import pyarrow as pa

from kernelsec_nb.sources import falco, hubble, tetragon


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


def _paths_sql(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in dict.fromkeys(paths)) + "]"


#: Per line shape as the tools write it (the event key first): the objects to check.
_BY_PREFIX: dict[str, list[str]] = {
    **{tetragon.route_prefix(kind): object_paths(json.loads(tetragon.route_structure(kind)) if kind in tetragon.ROUTES
                                                 else {kind: tetragon.STRUCTURE["ev"]})
       for kind in tetragon.KINDS},
    '{"flow":': object_paths(hubble.STRUCTURE),
}
#: Any other line: the top-level objects of every shape (an event key not first, bare flows,
#: alerts), two levels of Tetragon bodies.
_OTHER: list[str] = [
    *object_paths(hubble.STRUCTURE),
    *object_paths(hubble.FLOW),
    *object_paths(falco.STRUCTURE),
    *(p for kind in tetragon.KINDS for p in (f'$."{kind}"', f'$."{kind}".process', f'$."{kind}".parent',
                                             f'$."{kind}".process.pod', f'$."{kind}".process.pod.container')),
]
_PATHS = ("CASE " + " ".join(f"WHEN starts_with(raw, '{prefix}') THEN {_paths_sql(paths)}"
                             for prefix, paths in _BY_PREFIX.items())
          + f" ELSE {_paths_sql(_OTHER)} END")
# json_keys takes constant paths only: one call per shape.
_KEYS = ("CASE " + " ".join(f"WHEN starts_with(raw, '{prefix}') THEN json_keys(raw, {_paths_sql(paths)})"
                            for prefix, paths in _BY_PREFIX.items())
         + f" ELSE json_keys(raw, {_paths_sql(_OTHER)}) END")
#: The lines of ``_block`` with a key twice in a checked object, with their keys and paths.
DUPLICATES_SQL = f"""
SELECT rec, keys, {_PATHS} AS paths FROM (
    SELECT rec, raw, TRY({_KEYS}) AS keys FROM _block WHERE note IS NULL
) WHERE list_bool_or(list_transform(keys, lambda ks: list_unique(ks) < len(ks)))
"""  # noqa: S608 - built from our own structure constants


def _reason(keys: list[list[str] | None], paths: list[str]) -> str:
    for ks, path in zip(keys, paths, strict=True):
        seen: set[str] = set()
        for k in ks or ():
            if k in seen:
                return f'duplicate key "{k[:100]}" in {path.replace(chr(34), "")}'
            seen.add(k)
    return "duplicate key"


def mark(con: duckdb.DuckDBPyConnection, block: pa.Table) -> pa.Table:
    """``block`` (with ``rec``, ``raw`` and ``note``) with a note on each line holding a
    duplicated key in an object the loader reads: the routes leave it, the general path
    quarantines it with the note as reason."""
    con.register("_block", block)
    try:
        found = con.execute(DUPLICATES_SQL).fetchall()
    finally:
        con.unregister("_block")
    if not found:
        return block
    notes = block.column("note").to_pylist()
    recs = block.column("rec").to_pylist()
    index = {rec: i for i, rec in enumerate(recs)}
    for rec, keys, paths in found:
        notes[index[rec]] = _reason(keys, paths)
    i = block.schema.get_field_index("note")
    return block.set_column(i, "note", pa.array(notes, pa.string()))
