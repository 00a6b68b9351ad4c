"""Tests of a JSON line's **top-level** keys, cheap enough to run on every line before any parse.

A key found anywhere in a line is not the line's: a Kubernetes audit event's pod labels, a
Tetragon process's ``pod_labels``, a Tracee argument or a Falco ``output_fields`` object may hold
any key an attacker chose (``"eventName"``, ``"auditID"``, ``"flow"`` ...).  A source's claim, or
a rewriting clause that depends on which keys a line has, must look at the keys of the object
itself.  :func:`top_keys_sql` does it in two steps:

1. a text test: every key of one alternative occurs with its quotes (``'"auditID":'``; quotes
   inside a JSON string are escaped, so this finds keys, at any depth).  Most lines fail it, and
   cost only this scan;
2. only for the lines that pass, ``json_exists`` with the keys' paths (``$."auditID"``): one parse
   by DuckDB's JSON reader that answers for every key at once, at the top level only.  (Measured
   on Tracee lines: about a fifth of the parse into the source's structure; ``json_keys``, which
   builds the list of every key, cost twice as much.)

A line that is not valid JSON fails the test (the load then says why it refused it).
"""

from __future__ import annotations

import re

_PLAIN = re.compile(r"[A-Za-z0-9_.@/-]+")


def _contains(raw: str, key: str) -> str:
    # searched for without its opening quote first: DuckDB's search stops at every quote of a
    # JSON line, a rarer first character is found faster (see store._ingest._contains)
    return f"(contains({raw}, '{key}\":') AND contains({raw}, '\"{key}\":'))"


def check_keys(keys: tuple[str, ...]) -> None:
    """Refuse a key that is not a plain name (it goes into SQL text and a JSON path)."""
    for key in keys:
        if not isinstance(key, str) or not _PLAIN.fullmatch(key):
            raise ValueError(f"a top-level key must be a plain name (letters, digits, _.@/-): {key!r}")


def top_keys_sql(alternatives: tuple[tuple[str, ...], ...], without: tuple[str, ...] = (),
                 raw: str = "raw") -> str:
    """SQL over the line ``raw``: its top-level keys include every key of one of ``alternatives``
    and none of ``without`` (a key of ``without`` nested deeper does not count).

    Examples
    --------
    >>> import duckdb
    >>> sql = top_keys_sql((("eventName", "hostProcessId"),))
    >>> con = duckdb.connect()
    >>> con.execute(f"SELECT {sql} FROM (SELECT ? AS raw)", ['{"eventName":"x","hostProcessId":1}']).fetchone()
    (True,)
    >>> hostile = '{"kind":"Event","labels":{"eventName":"x","hostProcessId":"1"}}'
    >>> con.execute(f"SELECT {sql} FROM (SELECT ? AS raw)", [hostile]).fetchone()
    (False,)
    """
    if not alternatives or any(not isinstance(a, tuple) or not a for a in alternatives):
        raise ValueError("alternatives: a tuple of non-empty tuples of keys, e.g. (('auditID', 'verb'),)")
    keys = list(dict.fromkeys(k for a in (*alternatives, without) for k in a))
    check_keys(tuple(keys))
    text = " OR ".join("(" + " AND ".join(_contains(raw, k) for k in a) + ")" for a in alternatives)
    paths = ", ".join(f"'$.\"{k}\"'" for k in keys)
    pos = {k: i for i, k in enumerate(keys, start=1)}
    have = " OR ".join("(" + " AND ".join(f"e[{pos[k]}]" for k in a) + ")" for a in alternatives)
    lacks = "".join(f" AND NOT e[{pos[k]}]" for k in without)
    # json_exists answers for every path with one parse; the one-element list binds its answer
    # to ``e`` once (a CASE evaluates its THEN only on the lines that passed the text test)
    exists = f"TRY(json_exists({raw}, [{paths}]))"
    return (f"CASE WHEN {text} THEN coalesce(list_transform([{exists}], lambda e: ({have}){lacks})[1], false) "
            "ELSE false END")
