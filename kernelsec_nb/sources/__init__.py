"""Export formats: one module per tool, each declaring a :class:`Source` (``SOURCE = Source(...)``).

The package finds its sources itself (:func:`registry`: every public module with a ``SOURCE``), so
adding a source touches only its own module, its tests and the README (see "How to add a source"
there).  From the sources the loader builds one parse of each line:

* the container-log wrapper is taken off (:mod:`kernelsec_nb.sources._wrappers`);
* the line's group is told (:func:`groups`, :func:`group_sql`): a line an *isolated* source (one
  with :attr:`Source.claim` or :attr:`Source.text`) claims by its top-level keys, or whose text
  it parses, is that source's alone (a key nested in a value claims nothing); every other line belongs to the sources that share the top level (Tetragon,
  Hubble, Falco: their keys never disagree on a type, checked here);
* each group's lines are parsed once with ``json_transform`` against the group's structure
  (:func:`parse_of`: the shared group's is :data:`STRUCTURE`; an isolated source's line is parsed
  as ``{"<name>": line}`` against its own, so the Kubernetes audit log's ``kind: "Event"`` and
  Tracee's integer ``timestamp`` need not agree with anyone) and staged by a statement of the
  group's own: a source's columns cost the other groups' lines nothing;
* :data:`SOURCE_SQL` names the source of a parsed line ``j`` of the shared group (NULL when it is
  none of them).

Detection is per line, from the content, never from the file name.  The rest of the code asks
what evidence a case holds by :class:`Capability` (:func:`having`), not by a tool's name.

Examples
--------
>>> from kernelsec_nb import sources
>>> [s.name for s in sources.registry()]
['tetragon', 'tracee', 'inspektor_gadget', 'hubble', 'falco', 'k8s_audit', 'istio']
>>> sources.get("falco").title
'Falco'
>>> sorted(s.name for s in sources.having(sources.Capability.PROCESS_EVENTS))
['inspektor_gadget', 'tetragon', 'tracee']
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from kernelsec_nb.sources._route import RouteSpec
from kernelsec_nb.sources._source import Capability, Mapping, Source, TableSpec


@cache
def registry() -> tuple[Source, ...]:
    """Every source of the package, in :attr:`Source.order` (then name)."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        source = getattr(importlib.import_module(f"{__name__}.{info.name}"), "SOURCE", None)
        if isinstance(source, Source):
            found.append(source)
    names = [s.name for s in found]
    if len(set(names)) != len(names):
        raise ValueError(f"two sources share a name: {sorted(names)}")
    return tuple(sorted(found, key=lambda s: (s.order, s.name)))


def get(name: str) -> Source:
    """The source called ``name`` (KeyError when there is none)."""
    for source in registry():
        if source.name == name:
            return source
    raise KeyError(name)


def having(capability: Capability) -> tuple[Source, ...]:
    """The sources that bring ``capability``."""
    return tuple(s for s in registry() if capability in s.capabilities)


def names_with(capability: Capability) -> frozenset[str]:
    """The names of the sources that bring ``capability`` (to test a case's ``files.sources``)."""
    return frozenset(s.name for s in having(capability))


def table_sources(table: str) -> tuple[str, ...]:
    """The names of the sources whose events go to ``table``."""
    return tuple(s.name for s in registry() if any(m.table == table for m in s.maps))


def titles(joiner: str = "or") -> str:
    """The tools' names for a message: ``Tetragon, Hubble or Falco``."""
    words = [s.title for s in registry()]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {joiner} {words[-1]}"


def routes() -> list[RouteSpec]:
    """Every source's fast routes, in registry order."""
    return [spec for s in registry() for spec in s.routes()]


def route_excludes(name: str) -> tuple[str | tuple[str, ...], ...]:
    """What a fast route of the source ``name`` leaves to the general path, as
    :attr:`RouteSpec.excludes`: the keys of the claims the general path tests before its own
    group (every claim for a source of the shared group; a claim takes all of its keys: each a
    tuple), and the other shared sources' :attr:`Source.route_keys` (a line they would rewrite,
    or take first).  A line that holds their text only inside a value is odd enough to take the
    slower path.

    Examples
    --------
    >>> route_excludes("falco")[:2]
    ('"process_', '"flow"')
    >>> ('"eventName"', '"hostProcessId"') in route_excludes("k8s_audit")
    True
    """
    source = get(name)
    isolated = [g[0] for g in groups()[1:]]
    before = isolated[:isolated.index(source)] if source in isolated else isolated
    keys = [k for s in registry() if s.name != name for k in s.route_keys]
    claims = [tuple(f'"{k}"' for k in claim) for s in before if s.claim for claim in s.claim]
    return tuple(dict.fromkeys([*keys, *claims]))


def splitters() -> tuple[tuple[str, Callable[[str], list[str] | None]], ...]:
    """The sources' line splitters (:attr:`Source.split`), for lines holding several events."""
    return tuple(s.split for s in registry() if s.split is not None)


def tables() -> tuple[TableSpec, ...]:
    """The tables the sources add to the case (beyond the event model's own)."""
    return tuple(t for s in registry() for t in s.tables)


def groups() -> tuple[tuple[Source, ...], ...]:
    """The sources whose lines are parsed and staged together: first those that share the top
    level (parsed against the union of their structures), then each source with a claim or a text
    parser alone (its lines are told apart first, by :func:`group_sql`, and parsed against its own
    structure: the others' structures and columns cost its lines nothing, and its cost nothing to
    theirs)."""
    shared = tuple(s for s in registry() if not s.isolated)
    return (shared, *((s,) for s in registry() if s.isolated))


def _union(group: tuple[Source, ...]) -> dict[str, object]:
    union: dict[str, object] = {}
    owner: dict[str, str] = {}
    for s in group:
        parts = {s.name: s.structure} if s.isolated else s.structure
        for key, typ in parts.items():
            if key in union and union[key] != typ:
                raise ValueError(f"sources {owner[key]} and {s.name} parse the key {key!r} as different "
                                 "types: give one of them a claim (its own structure)")
            union[key], owner[key] = typ, owner.get(key, s.name)
    return union


def _detect(s: Source) -> str:
    return f"({s.key} IS NOT NULL AND {s.detect})" if s.isolated else s.detect


@dataclass(frozen=True)
class Parse:
    """How the lines of one group of sources (:func:`groups`) are parsed into ``j`` and named."""

    structure: str  #: the ``json_transform`` structure (JSON text)
    source_sql: str  #: SQL over ``j``: the source's name (NULL: none of the group's)
    normalise_sql: str  #: SQL over a JSON line ``raw``: the text to parse
    text_sql: str | None  #: SQL over a non-JSON line ``raw``: the JSON text to parse (None: no parser)
    text_parse: str | None  #: SQL over a non-JSON line ``raw``: the parsed line ``j`` (None: no parser)
    prelude: dict[str, str]
    prelude_args: dict[str, str]


def parse_of(group: tuple[Source, ...]) -> Parse:
    """The :class:`Parse` of a group of sources."""
    ordered = sorted(group, key=lambda s: (s.order, s.name))
    if len(group) == 1 and group[0].isolated:
        # its group's JSON lines are exactly those it claims (told by group_sql): no second test
        clauses = f"WHEN true THEN '{{\"{group[0].name}\":' || raw || '}}' " if group[0].claim else ""
    else:
        clauses = "".join(f"WHEN {s.claim_sql} THEN '{{\"{s.name}\":' || raw || '}}' " if s.claim is not None
                          else "" for s in ordered)
    clauses += "".join(s.normalise for s in ordered)
    texts = [f"'{{\"{s.name}\":' || ({s.text}) || '}}'" for s in ordered if s.text is not None]
    text = (f"coalesce({', '.join(texts)})" if len(texts) > 1 else texts[0]) if texts else None
    prelude = {k: v for s in group for k, v in s.prelude.items()}
    prelude_args = {k: v for s in group for k, v in s.prelude_args.items()}
    if len(prelude) != sum(len(s.prelude) for s in group) or \
            len(prelude_args) != sum(len(s.prelude_args) for s in group):
        raise ValueError("two sources name a prelude value alike")
    structure = json.dumps(_union(group))
    text_parse = None if text is None else f"TRY(json_transform({text}, '{structure}'))"
    if len(group) == 1 and group[0].isolated and group[0].text_value is not None:
        text_parse = group[0].text_value  # the structure's value at once, not JSON text parsed again
    return Parse(
        structure=structure,
        source_sql="CASE\n" + "".join(f"    WHEN {_detect(s)} THEN '{s.name}'\n"
                                      for s in sorted(group, key=lambda s: (s.precedence, s.name))) + "END",
        normalise_sql=f"CASE {clauses} ELSE raw END" if clauses else "raw",
        text_sql=text, text_parse=text_parse, prelude=prelude, prelude_args=prelude_args)


def group_sql(ws: str) -> str | None:
    """SQL over a (unwrapped) line ``raw``: the index in :func:`groups` of the group that reads it
    (0: the shared one); ``ws`` is SQL for the whitespace trimmed before the first character.
    None when there is one group."""
    if len(groups()) == 1:
        return None
    claims = " ".join(f"WHEN {g[0].claim_sql} THEN {i}" for i, g in enumerate(groups()) if i and g[0].claim)
    texts = " ".join(f"WHEN {g[0].text_test or f'({g[0].text}) IS NOT NULL'} THEN {i}"
                     for i, g in enumerate(groups()) if i and g[0].text)
    return (f"CASE WHEN left(ltrim(raw, {ws}), 1) = '{{' THEN {f'CASE {claims} ELSE 0 END' if claims else '0'} "
            f"ELSE {f'CASE {texts} ELSE 0 END' if texts else '0'} END")


_SHARED = parse_of(groups()[0])
#: The structure the shared sources' lines are parsed against (a DuckDB ``json_transform``
#: structure): the union of theirs, which may not disagree on a key's type.
STRUCTURE: str = _SHARED.structure
#: SQL expression naming the source of a parsed line ``j`` of the shared group (NULL when it is
#: none of them).
SOURCE_SQL: str = _SHARED.source_sql
#: SQL rewriting a raw JSON line into the shape :data:`STRUCTURE` parses (Tetragon's event key
#: into ``kind``/``ev``, bare Hubble flows into ``{"flow": ...}``); other lines stay as they are.
NORMALISE_SQL: str = _SHARED.normalise_sql
#: Columns computed once per parsed line before the event columns (named sub-structs).
PRELUDE: dict[str, str] = _SHARED.prelude
#: Computed from the prelude columns, once per line.
PRELUDE_ARGS: dict[str, str] = _SHARED.prelude_args

__all__ = ["NORMALISE_SQL", "PRELUDE", "PRELUDE_ARGS", "SOURCE_SQL", "STRUCTURE", "Capability", "Mapping",
           "Parse", "RouteSpec", "Source", "TableSpec", "get", "group_sql", "groups", "having", "names_with",
           "parse_of", "registry", "route_excludes", "routes", "splitters", "table_sources",
           "tables", "titles"]
