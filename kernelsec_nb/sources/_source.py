"""What a source module declares: the :class:`Source` record, its table mappings and capabilities.

Every public module of :mod:`kernelsec_nb.sources` defines ``SOURCE = Source(...)``; the package
finds them (see :func:`kernelsec_nb.sources.registry`) and the loader, the schema and the
``events`` view are built from them.  All SQL here is over the parsed line ``j`` (a struct of the
source's :attr:`Source.structure`) or the staged row; it is text of our own, never a value read
from an export.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from kernelsec_nb.sources._keys import top_keys_sql
from kernelsec_nb.sources._route import RouteSpec


class Capability(enum.Enum):
    """What kind of evidence a source brings: the rest of the code asks for these, not for names.

    Examples
    --------
    >>> from kernelsec_nb import sources
    >>> sorted(s.name for s in sources.having(Capability.FLOWS))
    ['hubble']
    """

    #: exec/exit events with an exec identity: ``processes``, ancestry, process trees
    PROCESS_EVENTS = "process events"
    #: kernel hooks of processes (kprobes, tracepoints, LSM): the ``kprobes`` table
    HOOKS = "hooks"
    #: files opened by processes (a path per event)
    FILE_ACCESS = "file access"
    #: connections made by processes (connect/accept with the process that made them)
    CONNECTIONS = "connections"
    #: network flows between endpoints (the ``flows`` table: verdicts, L7)
    FLOWS = "flows"
    #: DNS queries and answers
    DNS = "dns"
    #: alerts of a detection engine (the ``alerts`` table: rule, priority)
    ALERTS = "alerts"
    #: Kubernetes API calls (who did what through the API server)
    API_CALLS = "api calls"
    #: HTTP requests as a proxy saw them (method, path, response code)
    HTTP_REQUESTS = "http requests"


@dataclass(frozen=True)
class Mapping:
    """Which of a source's events go to a table, and the table's own columns for them.

    ``where`` is SQL over the staged row (its ``kind`` column; ``true``: every event of the
    source).  ``columns`` are the table's own columns (not the event-model ones, which come from
    :attr:`Source.event`), as SQL over the parsed line ``j`` and the prelude names.  A column of
    the table that the mapping does not name is NULL for its rows.
    """

    table: str
    where: str = "true"
    columns: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TableSpec:
    """A table a source adds to the case (say ``api_calls``), declared in its own module.

    ``ddl`` is its ``CREATE TABLE IF NOT EXISTS`` statement (the provenance columns ``event_id``,
    ``time``, ``time_ns``, ``file``, ``line``, ``byte_offset`` included: the loader fills them);
    ``event`` the event-model columns (:data:`kernelsec_nb.store._tables.EVENT_COLUMNS`) the
    table stores from :attr:`Source.event`; ``view`` the ``SELECT`` its rows add to the
    ``events`` view, giving every column of the view in its order (``NULL`` where it has none).
    """

    name: str
    ddl: str
    event: tuple[str, ...]
    view: str | None = None


@dataclass(frozen=True)
class Source:
    """One export format: how its lines are recognised, parsed and mapped into the case's tables.

    Detection is per line, from the content.  A line goes through these steps (the general path;
    :attr:`routes` are faster ways in for lines written exactly as the tool writes them):

    1. the container-log wrapper, if any, is taken off (CRI ``<time> stdout F <line>``, Docker's
       ``{"log": "<line>\\n", ...}``: see :mod:`kernelsec_nb.sources._wrappers`), for every
       source; the event id stays the hash of the line as written;
    2. a JSON line whose top-level keys :attr:`claim` names is this source's alone: it is parsed as
       ``{"<name>": <line>}`` against ``{"<name>": structure}`` and staged apart (whatever keys and
       types the others use); other JSON lines are rewritten by the :attr:`normalise` clauses and
       parsed against the union of the :attr:`structure` of the sources without ``claim`` or
       ``text`` (which may not disagree on a key's type);
    3. a line that is not JSON is offered to the :attr:`text` parsers: the first that gives JSON
       text has it parsed as with ``claim``;
    4. the first source (by :attr:`precedence`) whose :attr:`detect` holds owns the line; its
       :attr:`kind`, :attr:`event` columns and :attr:`maps` make the rows.

    Attributes
    ----------
    name : str
        The ``source`` column's value (``tetragon``).
    title : str
        How messages name the tool (``Tetragon``).
    detect : str
        SQL over ``j``: the line is one of this source's events.
    kind : str
        SQL over ``j``: the event's kind (``process_exec``, ``flow``, ``alert``, ...).
    structure : dict
        The ``json_transform`` structure of a line (under ``j``, or ``j."<name>"`` with ``claim``
        or ``text``).
    event : dict
        The event-model columns (``time_ns``, ``node``, ``pod``, ``exec_id``, ...) as SQL over
        ``j``; ``time_ns`` is required, the others default to NULL.
    maps : tuple of Mapping
        The tables its events go to.
    capabilities : frozenset of Capability
        What evidence it brings.
    samples : tuple of str
        Globs (relative to the shared data folder, ``../shared/data``) of real exports its tests
        load.
    precedence : int
        Detection order: a line holding several tools' keys belongs to the lowest.
    order : int
        The order of the :attr:`normalise` clauses and of the names in messages.
    normalise : str
        ``WHEN <test over raw> THEN <rewritten raw>`` clauses (may be empty).
    claim : tuple of tuples of str, or None
        Top-level keys that make a JSON line this source's: the line's object has every key of
        one of the tuples (``(("auditID", "verb"),)``; ``(("a",), ("b", "c"))``: ``a``, or both
        ``b`` and ``c``); it is then parsed against this source's structure alone.  Only the
        object's own keys count, never a key nested in one of its values (labels, arguments,
        a request body: what an attacker writes); the test is cheap (a text search, then one
        ``json_exists`` on the lines that hold the keys' text: see
        :mod:`kernelsec_nb.sources._keys`).
    text : str or None
        SQL over a non-JSON line ``raw``: the JSON text of its structure, or NULL when the line
        is not this source's (``regexp_extract`` into ``json_object``, say).
    text_test : str or None
        SQL over a non-JSON line ``raw``: true exactly when :attr:`text` is not NULL, cheaper to
        compute (a regular expression's match without its groups); it tells which lines go to
        this source's group (None: ``(text) IS NOT NULL``).
    text_value : str or None
        SQL over a non-JSON line ``raw``: the parsed line itself, what ``json_transform`` of
        :attr:`text` gives against ``{name: structure}``, or NULL; when given, a group of this
        source alone parses its text lines with it, without the JSON text in between (None:
        :attr:`text` is parsed).
    prelude, prelude_args : dict
        Named values computed once per line before the columns (the second may read the first).
    time_fallback : tuple or None
        (message, the written time, its fallback), SQL over ``j``, when ``time_ns`` is
        ``coalesce(written, fallback)``: the load counts the events whose written time was
        unreadable.
    routes : callable
        The fast routes (:class:`~kernelsec_nb.sources._route.RouteSpec`), computed once.
    tables : tuple of TableSpec
        Tables this source adds to the case.
    color : str or None
        Its colour in charts (an Okabe-Ito colour; None: the next free one of the palette).
    split : tuple or None
        For a source that writes several events on one line (a webhook's batch): a substring
        such a line holds, and a function from the line's text to its events' texts (None: not
        such a line).  Each event becomes a record of its own (see
        :mod:`kernelsec_nb.store._split`).
    route_keys : tuple of str
        For a source of the shared group: the text (as a line writes it) of the keys by which the
        general path rewrites a line for it (:attr:`normalise`) or takes a line for it before a
        source of lower :attr:`precedence`; another source's fast route leaves a line holding
        any of them to the general path (see :func:`kernelsec_nb.sources.route_excludes`).
    derive : tuple of str
        SQL statements run after every load, with the other derived tables (after ``processes``,
        in the same transaction): fill the columns of its :attr:`tables` that need other sources'
        events (a pod named by its address, say).  They must give the same result whatever they
        ran on before (a later load may bring the events they read).
    """

    name: str
    title: str
    detect: str
    kind: str
    structure: dict[str, object]
    event: dict[str, str]
    maps: tuple[Mapping, ...]
    capabilities: frozenset[Capability]
    samples: tuple[str, ...] = ()
    precedence: int = 100
    order: int = 100
    normalise: str = ""
    claim: tuple[tuple[str, ...], ...] | None = None
    text: str | None = None
    text_test: str | None = None
    text_value: str | None = None
    prelude: dict[str, str] = field(default_factory=dict)
    prelude_args: dict[str, str] = field(default_factory=dict)
    time_fallback: tuple[str, str, str] | None = None
    routes: Callable[[], list[RouteSpec]] = list
    tables: tuple[TableSpec, ...] = ()
    color: str | None = None
    split: tuple[str, Callable[[str], list[str] | None]] | None = None
    derive: tuple[str, ...] = ()
    route_keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.claim is not None:
            top_keys_sql(self.claim)  # refuses a malformed claim (a flat tuple, an odd key)

    @property
    def claim_sql(self) -> str | None:
        """SQL over the (unwrapped) JSON line ``raw``: :attr:`claim` holds (None: no claim)."""
        return None if self.claim is None else top_keys_sql(self.claim)

    @property
    def isolated(self) -> bool:
        """Parsed against its own structure (under ``j."<name>"``), not the union."""
        return self.claim is not None or self.text is not None

    @property
    def key(self) -> str:
        """SQL for the parsed line of an isolated source (``j."<name>"``)."""
        return f'j."{self.name}"'
