"""Text from the exports made safe to *show*: control characters and bidi overrides become visible.

Process arguments, paths, pod and node names come from the attacker. Shown raw they can drive a
terminal (``ESC [2J`` clears it, ``ESC ]8`` makes a link, ``\\r`` hides what came before), reorder
what is read (U+202E, the right-to-left override), or abort the chart renderer (vl-convert's
SVG parser dies on a character XML does not allow, taking the Python process with it). What is
*stored* stays byte for byte as exported; what is *shown* — chart data and labels, the load
report in a terminal, the postmortem's summary — goes through :func:`shown`:

* C0 controls other than tab and newline become Unicode's control pictures (ESC → ``␛``,
  CR → ``␍``, NUL → ``␀``), DEL becomes ``␡``;
* C1 controls, the bidi embedding/override/isolate marks and the non-characters U+FFFE/U+FFFF
  become U+FFFD ``�``.

Examples
--------
>>> shown("kill -9 1 \\x1b[2J\\r\\u202eevil")
'kill -9 1 ␛[2J␍�evil'
"""

from __future__ import annotations

from typing import Any

import polars as pl

_C0 = [chr(i) for i in range(0x20) if chr(i) not in "\t\n"]
_OTHER = [chr(0x7F), *(chr(i) for i in range(0x80, 0xA0)), *(chr(i) for i in range(0x202A, 0x202F)),
          *(chr(i) for i in range(0x2066, 0x206A)), "\u200e", "\u200f", "\ufffe", "\uffff"]
_FROM = _C0 + _OTHER
_TO = [chr(0x2400 + ord(ch)) for ch in _C0] + ["\u2421"] + ["\ufffd"] * (len(_OTHER) - 1)
_TABLE = str.maketrans(dict(zip(_FROM, _TO, strict=True)))


def shown(text: str) -> str:
    """``text`` with control characters and bidi marks replaced by visible stand-ins."""
    return text.translate(_TABLE)


def shown_frame(df: pl.DataFrame) -> pl.DataFrame:
    """Every string column (and list-of-string column) of ``df`` through :func:`shown`.

    >>> shown_frame(pl.DataFrame({"a": ["x\\x1b"], "n": [1]})).row(0)
    ('x␛', 1)
    """
    exprs = []
    for name, dtype in df.schema.items():
        if dtype == pl.String:
            exprs.append(pl.col(name).str.replace_many(_FROM, _TO))
        elif dtype == pl.List(pl.String):
            exprs.append(pl.col(name).list.eval(pl.element().str.replace_many(_FROM, _TO)))
    return df.with_columns(exprs) if exprs else df


def shown_spec(spec: Any) -> Any:
    """A chart spec (nested dicts and lists) with every string through :func:`shown`: what goes to
    vl-convert, whatever built it.

    >>> shown_spec({"data": {"values": [{"args": "a\\x00"}]}})
    {'data': {'values': [{'args': 'a␀'}]}}
    """
    if isinstance(spec, str):
        return shown(spec)
    if isinstance(spec, dict):
        return {shown(k) if isinstance(k, str) else k: shown_spec(v) for k, v in spec.items()}
    if isinstance(spec, list):
        return [shown_spec(v) for v in spec]
    return spec
