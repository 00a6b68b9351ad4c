"""Tables and text as a report shows them: one time format, no quotes, no ``null``, rounded numbers.

A polars DataFrame displayed as it is reads like raw Python: strings in quotes, ``null`` for a
missing value, ``199.652362`` for a millisecond offset and three time formats (``…Z``,
``… UTC``, ``+00:00``).  :func:`tidy` turns every column into the text a reader expects, and
:class:`Table` draws it (HTML, escaped, and aligned plain text); :func:`fold` keeps a long text
to its first lines with the rest a click away.

* times (``Datetime`` and ``Date`` columns, and strings that are a whole ISO-8601 or
  ``… UTC`` time) → ISO-8601 UTC with milliseconds: ``2024-05-14T08:20:01.123Z``
  (:func:`time_text`);
* floats → at most :data:`DECIMALS` decimals, trailing zeros dropped (``199.652362`` → ``199.65``);
* lists → their items joined by ``, ``; structs → ``key=value`` pairs; booleans → ``true``/``false``;
* a missing value → an empty cell.

Text is shown (:func:`kernelsec_nb.shown`) before it is escaped: attacker text stays visible.

Examples
--------
>>> import polars as pl, datetime as dt
>>> df = pl.DataFrame({"t": [dt.datetime(2024, 5, 14, 8, 20, 1, 123456)], "pod": ["web"],
...                    "ms": [199.652362], "gaps": [None]}, schema_overrides={"gaps": pl.Int64})
>>> tidy(df).row(0)
('2024-05-14T08:20:01.123Z', 'web', '199.65', '')
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from typing import Any

import polars as pl

from kernelsec_nb._text import shown

#: Decimals a float keeps in a rendered table.
DECIMALS = 2
#: Lines of text shown before the rest is folded away (:func:`fold`).
FOLD_LINES = 15
#: What a table with no rows says.
NONE_FOUND = "none found"

_TIME = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d{1,9})?)?(Z|[+-]\d\d:?\d\d| UTC)?$")


def time_text(value: Any) -> str:
    """A time as ISO-8601 UTC with milliseconds; other values as ``str``, ``None`` as ``""``.

    Takes a ``datetime`` (naive ones are UTC), ns since the epoch, or a time string
    (``2024-05-14 08:20:01.123456+00:00``, ``… UTC``, ``…Z``, nanoseconds too).

    >>> time_text("2024-05-14 08:24:41.835033+00:00")
    '2024-05-14T08:24:41.835Z'
    >>> time_text(1715674801123456789)
    '2024-05-14T08:20:01.123Z'
    >>> time_text("not a time")
    'not a time'
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        value = dt.datetime.fromtimestamp(value // 1000 / 1e6, tz=dt.UTC)
    if isinstance(value, str):
        text = value.strip()
        if not _TIME.match(text):
            return value
        text = text.replace(" UTC", "+00:00").replace("Z", "+00:00")
        text = re.sub(r"(\.\d{6})\d+", r"\1", text)  # Python reads microseconds at most
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        t = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _number(x: float) -> str:
    if x != x or x in (float("inf"), float("-inf")):  # NaN, infinities as Python writes them
        return str(x)
    text = f"{round(x, DECIMALS):.{DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def cell_text(value: Any) -> str:
    """One value as a table cell: see the module's rules.

    >>> [cell_text(v) for v in (None, 1.0, -0.004, ["a", None, 2.5], {"k": "v"}, True)]
    ['', '1', '0', 'a, 2.5', 'k=v', 'true']
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, dt.date | dt.datetime | str):
        return time_text(value)
    if isinstance(value, list | tuple):
        return ", ".join(t for t in (cell_text(v) for v in value) if t)
    if isinstance(value, dict):
        return ", ".join(f"{k}={cell_text(v)}" for k, v in value.items() if v is not None)
    if isinstance(value, dt.timedelta):
        return str(value)
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - a cell never breaks a report
        return json.dumps(value, default=str)


def _column(s: pl.Series) -> pl.Series:
    dtype = s.dtype
    if isinstance(dtype, pl.Datetime):
        utc = s.dt.replace_time_zone(None) if dtype.time_zone is None else s.dt.convert_time_zone("UTC")
        return utc.dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").fill_null("")
    if dtype == pl.String:
        if s.drop_nulls().head(50).str.contains(_TIME.pattern).any():
            return s.map_elements(time_text, return_dtype=pl.String, skip_nulls=True).fill_null("")
        return s.fill_null("")
    if dtype.is_integer():
        return s.cast(pl.String).fill_null("")
    return pl.Series(s.name, [cell_text(v) for v in s.to_list()], dtype=pl.String)


def tidy(df: pl.DataFrame) -> pl.DataFrame:
    """Every column of ``df`` as the text a report shows (module docstring), attacker text shown."""
    return shown(pl.DataFrame([_column(df[c]).alias(c) for c in df.columns]) if df.width else df)


class Table:
    """A DataFrame drawn for a report: :func:`tidy` text in an escaped HTML table (numbers right
    aligned) and as aligned plain text.  ``Table(df)`` displays as such in Jupyter.

    >>> print(repr(Table(pl.DataFrame({"pod": ["web", None], "n": [1, 22]}))))
    pod   n
    ---  --
    web   1
         22
    """

    def __init__(self, df: pl.DataFrame, *, max_rows: int = 200) -> None:
        self.rows = df.height
        self.numeric = {c for c, t in df.schema.items() if t.is_numeric()}
        self.frame = tidy(df.head(max_rows))
        self.more = max(0, df.height - max_rows)

    def _repr_html_(self) -> str:
        e = html.escape
        if not self.rows:
            return f"<p><i>{NONE_FOUND}</i></p>"
        right = [c in self.numeric for c in self.frame.columns]
        head = "".join(f"<th>{e(shown(c))}</th>" for c in self.frame.columns)
        body = "".join(
            "<tr>" + "".join(f'<td class="num" style="text-align:right">{e(v)}</td>' if r else f"<td>{e(v)}</td>"
                             for v, r in zip(row, right, strict=True)) + "</tr>"
            for row in self.frame.iter_rows())
        more = f"<p><small>… {self.more} more rows</small></p>" if self.more else ""
        return (f'<div style="overflow-x:auto"><table class="kn-table"><thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table></div>{more}")

    def __repr__(self) -> str:
        if not self.rows:
            return NONE_FOUND
        cols = [shown(c) for c in self.frame.columns]
        data = [[v.replace("\n", " ") for v in row] for row in self.frame.iter_rows()]
        widths = [max([len(h), *(len(r[i]) for r in data)]) for i, h in enumerate(cols)]
        right = [c in self.numeric for c in self.frame.columns]

        def line(vals: list[str]) -> str:
            return "  ".join(v.rjust(w) if r else v.ljust(w)
                             for v, w, r in zip(vals, widths, right, strict=True)).rstrip()

        out = [line(cols), line(["-" * w for w in widths]), *(line(r) for r in data)]
        if self.more:
            out.append(f"… {self.more} more rows")
        return "\n".join(out)


class Folded:
    """A long text kept to its first :data:`FOLD_LINES` lines: plain text ends with ``… N more
    lines``; HTML puts the whole text in a collapsed ``<details>``.  Text shown and escaped.

    >>> print(repr(Folded("\\n".join(map(str, range(20))), lines=3)))
    0
    1
    2
    … 17 more lines
    """

    def __init__(self, text: str, *, lines: int = FOLD_LINES, title: str | None = None) -> None:
        self.text = shown(text)
        self.lines = self.text.splitlines()
        self.keep = lines
        self.title = shown(title) if title else None

    def _repr_html_(self) -> str:
        e = html.escape
        if len(self.lines) <= self.keep:
            return f"<pre>{e(self.text)}</pre>"
        first = e("\n".join(self.lines[: self.keep]))
        rest = len(self.lines) - self.keep
        summary = e(self.title) + f" ({len(self.lines)} lines)" if self.title else f"… {rest} more lines"
        if self.title:
            return f"<details><summary>{summary}</summary><pre>{e(self.text)}</pre></details>"
        return f"<pre>{first}</pre><details><summary>{summary}</summary><pre>{e(self.text)}</pre></details>"

    def __repr__(self) -> str:
        if len(self.lines) <= self.keep:
            return self.text
        return "\n".join([*self.lines[: self.keep], f"… {len(self.lines) - self.keep} more lines"])


def fold(value: Any, *, lines: int = FOLD_LINES, title: str | None = None) -> Folded:
    """A text, or a JSON-able value (indented JSON), folded after ``lines`` lines."""
    text = value if isinstance(value, str) else json.dumps(value, indent=1, default=str, ensure_ascii=False)
    return Folded(text, lines=lines, title=title)


def use_tables(*, max_rows: int = 25) -> bool:
    """Display every polars DataFrame of this IPython session (a notebook) as a :class:`Table`:
    one time format, no quotes, no ``null``, rounded numbers, "none found" when empty, a wide
    table scrolling in its own box.  Returns False (and changes nothing) outside IPython.

    ``df.head()`` or ``print(df)`` still show polars' own view when its dtypes matter.

    >>> use_tables()  # not in a notebook here
    False
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    if ip is None:
        return False
    formatters = ip.display_formatter.formatters
    formatters["text/html"].for_type(pl.DataFrame, lambda df: Table(df, max_rows=max_rows)._repr_html_())
    formatters["text/plain"].for_type(
        pl.DataFrame, lambda df, p, cycle: p.text(repr(Table(df, max_rows=max_rows))))
    return True
