"""HTML for event tables and raw JSON: every value escaped, so attacker strings stay text."""

from __future__ import annotations

import html
from typing import Any

import polars as pl

TABLE_COLUMNS = ["time", "source", "kind", "node", "namespace", "pod", "binary", "args",
                 "verdict", "http_method", "http_path", "http_code", "dns_query", "rule",
                 "priority", "event_id"]
_STYLE = ("<style>.kn-t{border-collapse:collapse;font:12px monospace}"
          ".kn-t td,.kn-t th{border:1px solid #ddd;padding:2px 4px;text-align:left;"
          "max-width:360px;overflow:hidden;white-space:nowrap;text-overflow:ellipsis}"
          ".kn-t th{background:#f3f3f3}</style>")


def cell(value: Any, limit: int = 200) -> str:
    """One value as escaped HTML text (None → empty)."""
    if value is None:
        return ""
    text = str(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return html.escape(text, quote=True)


def table_html(df: pl.DataFrame, *, columns: list[str] | None = None, limit: int = 200,
               total: int | None = None) -> str:
    """An HTML table of ``df`` (first ``limit`` rows), every cell escaped.

    Examples
    --------
    >>> table_html(pl.DataFrame({"args": ["<img src=x onerror=alert(1)>"]})).split("<tr>")[-1]
    '<td title="&lt;img src=x onerror=alert(1)&gt;">&lt;img src=x onerror=alert(1)&gt;</td></tr></table>'
    """
    cols = [c for c in (columns or df.columns) if c in df.columns]
    total = df.height if total is None else total
    head = "".join(f"<th>{cell(c)}</th>" for c in cols)
    body = []
    for row in df.head(limit).select(cols).iter_rows():
        body.append("<tr>" + "".join(f'<td title="{cell(v, 2000)}">{cell(v)}</td>'
                                     for v in row) + "</tr>")
    note = ""
    if total > min(limit, df.height):
        note = f"<p>first {min(limit, df.height)} of {total} events</p>"
    return (_STYLE + note + f'<table class="kn-t"><tr>{head}</tr>' + "".join(body) + "</table>")


def pre_html(text: str, *, title: str = "") -> str:
    """Text in a ``<pre>``, escaped."""
    head = f"<b>{cell(title, 500)}</b>" if title else ""
    return f'{head}<pre style="white-space:pre-wrap;font-size:12px">{html.escape(text)}</pre>'
