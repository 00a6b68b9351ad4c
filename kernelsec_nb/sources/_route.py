"""What a source module says about its fast routes (see ``kernelsec_nb.store._ingest``).

A fast route takes the lines that start exactly as their tool writes them (the event's key
first), parses them against that kind's own structure as ``x``, and computes the same columns
from the same expressions as the general path, rewritten to read ``x`` directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RouteSpec:
    """One kind of line with a fast route.

    Examples
    --------
    >>> from kernelsec_nb.sources import hubble
    >>> [(r.kind, r.table, r.prefix) for r in hubble.routes()]
    [('flow', 'flows', '{"flow":')]
    """

    source: str  #: tetragon | hubble | falco
    kind: str  #: the event kind of the rows
    table: str  #: the case table the rows go to
    prefix: str  #: the exact start of such a line
    structure: str  #: the ``json_transform`` structure the whole line is parsed against
    event: dict[str, str]  #: the event-model columns, as SQL over ``j`` (the general path's)
    rewrite: Callable[[str], str]  #: an expression over ``j`` -> the same over ``x``
    layers: tuple[dict[str, str], ...] = ()  #: named values computed first, one projection each
    present: str = "x IS NOT NULL"  #: SQL over ``x``: the line holds this kind's event
    #: Text that sends a line to the general path instead: the key of a source the general path
    #: would take it for (a line holding two tools' keys is odd; both paths must agree on it); a
    #: tuple of texts: the line holds all of them (the keys of a claim).
    excludes: tuple[str | tuple[str, ...], ...] = ()
    #: Parts of the line (SQL over ``j``) whose every column is computed once per distinct value
    #: of the part in a block, not once per line (see :mod:`kernelsec_nb.store._lookups`).
    distinct: tuple[str, ...] = ()
    #: The line's objects are checked for a key written twice as the general path checks a line of
    #: the shared sources (every object of their union structure), not only those of
    #: :attr:`structure`: for a route whose lines the general path parses as written (no rewrite).
    shared_keys: bool = False
