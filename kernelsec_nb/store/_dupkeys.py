"""Lines with a key written twice in one object the loader reads: refused (quarantined).

DuckDB's ``json_transform`` keeps the *first* value of a duplicated key, while ``jq``, Python's
``json`` and Go keep the *last*: the case and the analyst's other tools would disagree about the
same line.  None of the tools writes such a line (protojson and Falco's encoder cannot), so one is
hand-made or mangled by a shipper: ambiguous and suspicious.  It is quarantined with the reason
``duplicate key "<name>" in <path>`` (the raw text stays in ``quarantine.raw``).

What is checked: every object of the structure a line is parsed against (the line itself, the
event body, its process and parent with their pod and container, a flow and its endpoints and
layer 4 and layer 7 parts, Falco's ``output_fields``, Tetragon's ``pod_labels``); objects inside
lists (hook arguments, workloads) are not read as objects and not checked; of the sources with a
structure of their own (the Kubernetes audit log, Tracee, Inspektor Gadget, Istio) the line's top
level only.  Keys are compared as
JSON reads them (``"p\\u0069d"`` is ``pid``; a blank before the colon changes nothing): DuckDB's
``json_keys`` returns them decoded.

Cost: a second JSON walk of each line (``json_keys`` of those objects).  The test of the key
lists (one ``list_unique`` per object, ~1 microsecond each, the larger part of the cost) runs
once per distinct layout, not per line: the lines are grouped by their exact key lists, so the
result is the same as testing each line, while a tool's lines share a few layouts (23 in 71 000
Hubble flows, 15 in 40 000 Tetragon execs).  A byte-level test cannot rule a duplicate out: the
tools' lines hold the same key names many times in different objects (``pid`` in the process,
its parent, its container, its namespaces; ``namespace`` in both endpoints of a flow), and the
counting string functions that could tell (``replace``, regular expressions) cost more than the
parse itself.  The fast routes make the test once their lines are sorted (:func:`unroute`): a
line with a duplicate takes the general path, where :func:`mark` says which key and where.

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
import numpy as np
import pyarrow as pa

from kernelsec_nb import sources
from kernelsec_nb.sources._wrappers import UNWRAP_SQL
from kernelsec_nb.store import _arrow


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


def _grouped(keyed: str, keys: list[str]) -> str:
    """SQL: the ``rec`` of the rows of ``keyed`` (with ``rec`` and the key lists ``keys``) that
    hold a key twice.  The test runs once per distinct set of key lists: the lines of one tool
    share a few layouts (23 in 71 000 flows), and the test is a function of the lists alone.
    The lines are grouped by the lists' JSON text (``to_json``: quoted and escaped, so two lists
    have the same text only when they are equal; cheaper to group by than the nested lists)."""
    dup = " OR ".join(has_duplicate_sql(k) for k in keys)
    firsts = ", ".join(f"any_value({k}) AS {k}" for k in keys)
    by = ", ".join(f"to_json({k})" for k in keys)
    return (f"SELECT unnest(recs) AS rec FROM (SELECT list(rec) AS recs, {firsts} FROM ({keyed}) GROUP BY {by}) "  # noqa: S608
            f"WHERE {dup}")


#: Per fast route (numbered as ``_ingest.ROUTES``, from 1): the lines of the registered
#: ``_dupkeys_block`` given that route that hold a key twice in an object of its structure.
_ROUTE_DUPLICATES = [
    _grouped(f"SELECT rec, {keys_sql('raw', object_paths(json.loads(sources.STRUCTURE if spec.shared_keys else spec.structure)))} AS keys "  # noqa: S608
             f"FROM _dupkeys_block WHERE route = {i}", ["keys"])
    for i, spec in enumerate(sources.routes(), start=1)
]


def unroute(con: duckdb.DuckDBPyConnection, block: pa.Table, route: np.ndarray) -> np.ndarray:
    """``route`` (the fast route of each line of ``block``, 0: the general path) with 0 for the
    lines that hold a key twice in an object their route reads: the general path quarantines
    them (:func:`mark`)."""
    present = np.unique(route[route > 0])
    if not len(present):
        return route
    con.register("_dupkeys_block", block.select(["rec", "raw"]).append_column("route", _arrow.array(route)))
    try:
        found = con.execute(" UNION ALL ".join(_ROUTE_DUPLICATES[i - 1] for i in present)).fetchnumpy()["rec"]
    finally:
        con.unregister("_dupkeys_block")
    if len(found):
        route = route.copy()
        route[np.asarray(found, dtype=np.int64)] = 0  # rec is the line's index in the block
    return route


#: The objects read of a line on the general path: its top level as written, and every object of
#: the shared structure once the line is put in that shape (``sources.NORMALISE_SQL``: Tetragon's
#: event body under ``ev``, a bare flow under ``flow``).
_UNION_PATHS = object_paths(json.loads(sources.STRUCTURE))
_GENERAL_KEYS = """
SELECT rec, raw, normalised, {raw_keys} AS raw_keys, {keys} AS keys
FROM (SELECT rec, raw, {normalise} AS normalised
      FROM (SELECT rec, {unwrap} AS raw FROM _block WHERE NOT taken AND note IS NULL)
      WHERE left(ltrim(raw), 1) = '{{')
"""
_KEYS = keys_sql("normalised", _UNION_PATHS)
#: The lines of the general path with a key twice (cheap: once per layout, see _grouped).  The
#: line's own top level is walked apart only when the line was rewritten (most lines are not:
#: then it is the first of ``keys``, ``$``, and a second walk of the line would test it again).
_GENERAL_DUPLICATES = _grouped(_GENERAL_KEYS.format(
    raw_keys=f"CASE WHEN normalised <> raw THEN {keys_sql('raw', ['$'])} END", keys=_KEYS,
    normalise=sources.NORMALISE_SQL, unwrap=UNWRAP_SQL), ["raw_keys", "keys"])
#: ... and, for those lines only, what the reason needs.
DUPLICATES_SQL = f"""
SELECT rec, raw_keys, keys, CASE WHEN normalised <> raw THEN normalised ->> '$.kind' END AS kind,
       normalised <> raw AND NOT starts_with(normalised, '{{"kind"') AS wrapped
FROM ({_GENERAL_KEYS.format(raw_keys=keys_sql("raw", ["$"]), keys=_KEYS, normalise=sources.NORMALISE_SQL,
                             unwrap=UNWRAP_SQL)}) WHERE list_contains($recs, rec)
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
        recs = con.execute(_GENERAL_DUPLICATES).fetchnumpy()["rec"]
        found = con.execute(DUPLICATES_SQL, {"recs": [int(r) for r in recs]}).fetchall() if len(recs) else []
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
