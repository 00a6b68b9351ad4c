"""Export formats: one module per tool, each declaring a :class:`Source` (``SOURCE = Source(...)``).

The package finds its sources itself (:func:`registry`: every public module with a ``SOURCE``), so
adding a source touches only its own module, its tests and the README (see "How to add a source"
there).  From the sources the loader builds one parse of each line:

* the container-log wrapper is taken off (:mod:`kernelsec_nb.sources._wrappers`);
* a JSON line is parsed once with ``json_transform`` against :data:`STRUCTURE`: the union of the
  structures of the sources that share the top level (Tetragon, Hubble, Falco: their keys never
  disagree on a type, checked here), plus one key per *isolated* source (one with
  :attr:`Source.claim` or :attr:`Source.text`), under which a line it claims is parsed against its
  own structure alone (so the Kubernetes audit log's ``kind: "Event"`` and Tracee's integer
  ``timestamp`` need not agree with anyone);
* a non-JSON line is offered to the sources' text parsers (:attr:`Source.text`);
* :data:`SOURCE_SQL` names the source of the parsed line ``j`` (NULL when it is none of ours).

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


def splitters() -> tuple[tuple[str, Callable[[str], list[str] | None]], ...]:
    """The sources' line splitters (:attr:`Source.split`), for lines holding several events."""
    return tuple(s.split for s in registry() if s.split is not None)


def tables() -> tuple[TableSpec, ...]:
    """The tables the sources add to the case (beyond the event model's own)."""
    return tuple(t for s in registry() for t in s.tables)


def _union() -> dict[str, object]:
    union: dict[str, object] = {}
    owner: dict[str, str] = {}
    for s in registry():
        parts = {s.name: s.structure} if s.isolated else s.structure
        for key, typ in parts.items():
            if key in union and union[key] != typ:
                raise ValueError(f"sources {owner[key]} and {s.name} parse the key {key!r} as different "
                                 "types: give one of them a claim (its own structure)")
            union[key], owner[key] = typ, owner.get(key, s.name)
    return union


def _normalise() -> str:
    clauses = []
    for s in sorted(registry(), key=lambda s: (s.order, s.name)):
        if s.claim is not None:
            clauses.append(f"WHEN {s.claim} THEN '{{\"{s.name}\":' || raw || '}}' ")
        clauses.append(s.normalise)
    return f"CASE {''.join(clauses)} ELSE raw END"


def _text() -> str | None:
    texts = [f"'{{\"{s.name}\":' || ({s.text}) || '}}'" for s in registry() if s.text is not None]
    return (f"coalesce({', '.join(texts)})" if len(texts) > 1 else texts[0]) if texts else None


def _detect(s: Source) -> str:
    return f"({s.key} IS NOT NULL AND {s.detect})" if s.isolated else s.detect


#: The one structure every JSON line is parsed against (a DuckDB ``json_transform`` structure).
STRUCTURE: str = json.dumps(_union())

#: SQL expression naming the source of a parsed line ``j`` (NULL when it is none of ours).
SOURCE_SQL: str = "CASE\n" + "".join(
    f"    WHEN {_detect(s)} THEN '{s.name}'\n" for s in sorted(registry(), key=lambda s: (s.precedence, s.name))
) + "END"

#: SQL rewriting a raw JSON line into the shape :data:`STRUCTURE` parses (Tetragon's event key
#: into ``kind``/``ev``, bare Hubble flows into ``{"flow": ...}``, a claimed line under its
#: source's key); other lines stay as they are.
NORMALISE_SQL: str = _normalise()

#: SQL over a non-JSON line ``raw``: the JSON text to parse, under its source's key (NULL: no
#: source reads it).  None when no source reads text lines.
TEXT_SQL: str | None = _text()

#: Columns computed once per parsed line before the event columns (named sub-structs).
PRELUDE: dict[str, str] = {k: v for s in registry() for k, v in s.prelude.items()}
#: Computed from the prelude columns, once per line.
PRELUDE_ARGS: dict[str, str] = {k: v for s in registry() for k, v in s.prelude_args.items()}
if len(PRELUDE) != sum(len(s.prelude) for s in registry()) or \
        len(PRELUDE_ARGS) != sum(len(s.prelude_args) for s in registry()):
    raise ValueError("two sources name a prelude value alike")

__all__ = ["NORMALISE_SQL", "PRELUDE", "PRELUDE_ARGS", "SOURCE_SQL", "STRUCTURE", "TEXT_SQL", "Capability",
           "Mapping", "RouteSpec", "Source", "TableSpec", "get", "having", "names_with", "registry", "routes", "splitters", "table_sources",
           "tables", "titles"]
