"""A fast route's columns computed once: per distinct value of a part of the line instead of
once per line (:func:`plan`), and from another column's value instead of again (:func:`reused`).

Some columns of a route depend on one small part of the line only, and cost far more than the
rest: a flow's endpoint labels become a ``MAP`` through list lambdas (the three label columns
were two thirds of the flows route's CPU), while a capture holds a few hundred distinct label
lists among millions of flows.  A route names such parts (``RouteSpec.distinct``, SQL over the
parsed line); every column whose expression reads the line only through one of them is then
computed over the block's distinct values of that part and joined back to the lines:

.. code-block:: sql

    WITH r AS MATERIALIZED (SELECT <the other columns>, <part 1> AS _k0, <part 2> AS _k1 FROM ...),
         d AS MATERIALIZED (SELECT _k, <column's expression over _k> AS _v0, ... FROM
               (SELECT DISTINCT _k FROM (SELECT _k0 AS _k FROM r UNION SELECT _k1 FROM r)))
    SELECT r.*, CASE WHEN r._k0 IS NULL THEN (SELECT _v0 FROM d WHERE _k IS NULL) ELSE d0._v0 END
           AS src_labels, ...
    FROM r LEFT JOIN d AS d0 ON r._k0 = d0._k LEFT JOIN d AS d1 ON r._k1 = d1._k

The expression is the column's own text with the part replaced by ``_k``: the same function of
the same value, so the same result (``UNION`` groups equal values, and the join matches them:
lists holding NULLs compare equal element by element; a NULL part takes ``d``'s NULL row).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

#: An expression at least this long is computed once when another one repeats it whole.
_REUSE_CHARS = 200


def _q(name: str) -> str:
    return f'"{name}"'


@dataclass(frozen=True)
class Lookups:
    """Which columns of a route are looked up, and how.

    Examples
    --------
    >>> lk = plan({"a": "f(x.p)", "b": "g(x.p, x.q)", "c": "h(x.q)"}, ("x.p",))
    >>> lk.columns, lk.keys, lk.values
    ({'a': (0, '_v0')}, ('x.p',), ({'_v0': 'f(_k)'},))
    >>> plan({"b": "g(x.p, x.q)"}, ("x.p",)).columns
    {}
    """

    #: column name -> (index of its part in ``keys``, the value's name in the lookup table)
    columns: dict[str, tuple[int, str]]
    #: the parts (SQL over the parsed line ``x``), as computed with the other columns (``_k<i>``)
    keys: tuple[str, ...]
    #: the lookup table's values, one projection per layer: name -> SQL over ``_k`` (a later
    #: layer may read an earlier one's names)
    values: tuple[dict[str, str], ...]

    def join(self, rows: str) -> str:
        """SQL: the rows of ``rows`` (which computes ``_k<i>``) with the looked-up columns added."""
        if not self.columns:
            return rows
        # (all SQL here is built from our own column names and the sources' expressions)
        distinct = " UNION ".join(f"SELECT _k{i} AS _k FROM _r" for i in range(len(self.keys)))  # noqa: S608
        table = f"SELECT DISTINCT _k FROM ({distinct})"  # noqa: S608
        for layer in self.values:
            table = f"SELECT *, {', '.join(f'{e} AS {n}' for n, e in layer.items())} FROM ({table})"  # noqa: S608
        used = sorted({i for i, _ in self.columns.values()})
        # (``=``, not ``IS NOT DISTINCT FROM``: DuckDB joined lists 10x slower on the latter; a
        # NULL part takes the value ``d`` computed for NULL)
        picked = ", ".join(f"CASE WHEN _r._k{i} IS NULL THEN (SELECT {v} FROM _d WHERE _k IS NULL) "  # noqa: S608
                           f"ELSE _d{i}.{v} END AS {_q(c)}" for c, (i, v) in self.columns.items())
        joins = " ".join(f"LEFT JOIN _d AS _d{i} ON _r._k{i} = _d{i}._k" for i in used)
        return (f"WITH _r AS MATERIALIZED ({rows}), _d AS MATERIALIZED ({table}) "  # noqa: S608 - our own SQL
                f"SELECT _r.*, {picked} FROM _r {joins}")


def plan(texts: dict[str, str], parts: tuple[str, ...]) -> Lookups:
    """The lookups of a route whose columns are ``texts`` (name -> SQL over ``x``) for the
    distinct ``parts``: a column is looked up when, its part replaced by ``_k``, it no longer
    reads ``x``."""
    columns: dict[str, tuple[int, str]] = {}
    bodies: dict[str, str] = {}  # body -> value name
    keys: list[str] = []
    for name, expr in texts.items():
        for part in parts:
            # the part itself, not a longer name that starts with it
            body = re.sub(rf"(?<![\w.]){re.escape(part)}(?!\w)", "_k", expr)
            if body == expr or re.search(r"\bx\b", body):
                continue
            if part not in keys:
                keys.append(part)
            value = bodies.setdefault(body, f"_v{len(bodies)}")
            columns[name] = (keys.index(part), value)
            break
    # a value holding another one's whole (long) body reads it by name, in a later layer
    first: dict[str, str] = {}
    second: dict[str, str] = {}
    for body, value in bodies.items():
        inner = next((b for b in bodies if b != body and len(b) >= _REUSE_CHARS and b in body), None)
        if inner is None:
            first[value] = body
        else:
            second[value] = body.replace(inner, bodies[inner])
    # (a value read by name is in the first layer: a body holding two others stays whole)
    second = {v: e for v, e in second.items() if not any(re.search(rf"\b{n}\b", e) for n in second if n != v)}
    first.update({v: b for b, v in bodies.items() if v not in first and v not in second})
    return Lookups(columns, tuple(keys), tuple(layer for layer in (first, second) if layer))


def reused(texts: dict[str, str], typed: Collection[str] = ()) -> dict[str, str]:
    """Columns whose expression holds another column's whole (long) expression, rewritten to read
    that column by name; only where nothing else of the parsed line ``x`` is read.  Columns of
    ``typed`` (read by name before they are typed) and ``time_ns`` are left alone.

    >>> reused({"m": "f(x.a)" * 50, "t": "CAST(" + "f(x.a)" * 50 + " AS VARCHAR)", "u": "g(x.b)"})
    {'t': 'CAST("m" AS VARCHAR)'}
    """
    out: dict[str, tuple[str, str]] = {}
    for k, e in texts.items():
        if k in typed or k == "time_ns":
            continue
        for c, sub in texts.items():
            if c != k and c not in typed and len(sub) >= _REUSE_CHARS and sub in e:
                replaced = e.replace(sub, _q(c))
                if not re.search(r"\bx\b", replaced):
                    out[k] = (c, replaced)
                    break
    # a column read by name must itself be computed from the parsed line
    return {k: e for k, (c, e) in out.items() if c not in out}
