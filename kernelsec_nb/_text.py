"""Text from the exports made safe to *show*: control, format and bidi characters become visible.

Process arguments, paths, pod and node names come from the attacker. Shown raw they can drive a
terminal (``ESC [2J`` clears it, ``ESC ]8`` makes a link, ``\\r`` hides what came before), reorder
what is read (U+202E, the right-to-left override), hide text between two letters (zero-width
spaces and joiners, Unicode tag characters), or abort the chart renderer (vl-convert's SVG parser
dies on a character XML does not allow, taking the Python process with it). What is *stored*
stays byte for byte as exported; what is *shown* — chart data and labels, the load report in a
terminal, the postmortem's text and tables — goes through :func:`shown`:

* C0 controls other than tab and newline become Unicode's control pictures (ESC → ``␛``,
  CR → ``␍``, NUL → ``␀``), DEL becomes ``␡``;
* every other control or format character becomes U+FFFD ``�``: the C1 controls, the bidi
  marks, embeddings, overrides and isolates (U+200E/F, U+061C, U+202A–U+202E, U+2066–U+2069),
  the zero-width space, joiners and word joiner (U+200B–U+200D, U+2060, U+FEFF), the soft
  hyphen, the tag characters (U+E0000–U+E007F), the line and paragraph separators
  (U+2028/U+2029), lone surrogates and the non-characters U+FFFE/U+FFFF (Unicode categories
  Cc, Cf, Zl, Zp and Cs, as of Unicode 16).

One character becomes one character, so columns stay aligned; tab and newline are kept.
:func:`shown` takes a string, a polars DataFrame or Series (every string column, also inside
lists and structs, and the column names) or nested dicts, lists and tuples; anything else is
returned as it is.

Examples
--------
>>> shown("kill -9 1 \\x1b[2J\\r\\u202eevil\\u200d")
'kill -9 1 ␛[2J␍�evil�'
"""

from __future__ import annotations

from typing import Any, TypeVar, overload

import polars as pl

#: Control and format characters (Unicode categories Cc, Cf, Zl, Zp, as of Unicode 16),
#: tab and newline aside, plus the non-characters U+FFFE/U+FFFF, as inclusive ranges.
#: ``tests/test_text.py`` checks this against :mod:`unicodedata`.
HIDDEN_RANGES: tuple[tuple[int, int], ...] = (
    (0x00, 0x08), (0x0B, 0x1F), (0x7F, 0x9F), (0xAD, 0xAD), (0x600, 0x605), (0x61C, 0x61C),
    (0x6DD, 0x6DD), (0x70F, 0x70F), (0x890, 0x891), (0x8E2, 0x8E2), (0x180E, 0x180E),
    (0x200B, 0x200F), (0x2028, 0x202E), (0x2060, 0x2064), (0x2066, 0x206F), (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB), (0xFFFE, 0xFFFF), (0x110BD, 0x110BD), (0x110CD, 0x110CD),
    (0x13430, 0x1343F), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
)
_FROM = [chr(i) for lo, hi in HIDDEN_RANGES for i in range(lo, hi + 1)]
_TO = [chr(0x2400 + ord(ch)) if ord(ch) < 0x20 else "\u2421" if ch == "\x7f" else "\ufffd" for ch in _FROM]
_TABLE: dict[int, str] = dict(zip(map(ord, _FROM), _TO, strict=True))
_TABLE.update({i: "\ufffd" for i in range(0xD800, 0xE000)})  # lone surrogates (json.loads makes them)

T = TypeVar("T")


@overload
def shown(value: str) -> str: ...
@overload
def shown(value: pl.DataFrame) -> pl.DataFrame: ...
@overload
def shown(value: pl.Series) -> pl.Series: ...
@overload
def shown(value: T) -> T: ...
def shown(value: Any) -> Any:
    """``value`` with control, format and bidi characters replaced by visible stand-ins.

    A string, a polars DataFrame or Series (:func:`shown_frame`), or dicts, lists and tuples of
    them (:func:`shown_spec`); anything else unchanged.

    >>> shown(pl.DataFrame({"pod\\u202e": ["web\\r"], "n": [1]})).row(0, named=True)
    {'pod�': 'web␍', 'n': 1}
    """
    if isinstance(value, str):
        return value.translate(_TABLE)
    if isinstance(value, pl.DataFrame):
        return shown_frame(value)
    if isinstance(value, pl.Series):
        return shown_frame(value.to_frame()).to_series()
    if isinstance(value, dict | list | tuple):
        return shown_spec(value)
    return value


def _shown_expr(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr | None:
    """``expr`` with its text through :func:`shown` (None: no text in ``dtype``)."""
    if dtype == pl.String:
        return expr.str.replace_many(_FROM, _TO)
    if isinstance(dtype, pl.Categorical | pl.Enum):
        return expr.cast(pl.String).str.replace_many(_FROM, _TO)
    if isinstance(dtype, pl.List | pl.Array):
        inner = _shown_expr(pl.element(), dtype.inner)
        if inner is None:
            return None
        return (expr if isinstance(dtype, pl.List) else expr.arr.to_list()).list.eval(inner)
    if isinstance(dtype, pl.Struct):
        fields = [(f, _shown_expr(expr.struct.field(f.name), f.dtype)) for f in dtype.fields]
        if all(e is None and shown(f.name) == f.name for f, e in fields):
            return None
        return pl.when(expr.is_null()).then(None).otherwise(pl.struct(
            (expr.struct.field(f.name) if e is None else e).alias(shown(f.name)) for f, e in fields))
    return None


def shown_frame(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with every string, and every string inside a list, array or struct, through
    :func:`shown`, and its column names too (a pivot on pod names makes them attacker text).

    >>> shown_frame(pl.DataFrame({"a": ["x\\x1b"], "n": [1]})).row(0)
    ('x␛', 1)
    """
    exprs = []
    for name, dtype in df.schema.items():
        e = _shown_expr(pl.col(name), dtype)
        if e is not None:
            exprs.append(e.alias(name))
    out = df.with_columns(exprs) if exprs else df
    names = [shown(c) for c in out.columns]
    if names != out.columns:
        taken: set[str] = set()
        for i, n in enumerate(names):  # two names told apart only by hidden characters stay apart
            base, k = n, 2
            while n in taken:
                n, k = f"{base}#{k}", k + 1
            names[i] = n
            taken.add(n)
        out = out.rename(dict(zip(out.columns, names, strict=True)))
    return out


def shown_spec(spec: Any) -> Any:
    """A chart spec (nested dicts, lists and tuples) with every string through :func:`shown`:
    what goes to vl-convert, whatever built it.

    >>> shown_spec({"data": {"values": [{"args": "a\\x00"}]}})
    {'data': {'values': [{'args': 'a␀'}]}}
    """
    if isinstance(spec, str):
        return spec.translate(_TABLE)
    if isinstance(spec, dict):
        return {shown_spec(k): shown_spec(v) for k, v in spec.items()}
    if isinstance(spec, list | tuple):
        return type(spec)(shown_spec(v) for v in spec) if type(spec) in (list, tuple) else [shown_spec(v) for v in spec]
    if isinstance(spec, pl.DataFrame | pl.Series):
        return shown(spec)
    return spec
