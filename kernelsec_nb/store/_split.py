"""Records that hold several events, split into one record per event before they are parsed.

A source may write several events on one line (the Kubernetes audit webhook's ``EventList``
batch).  A source that does says so with a *splitter* (:attr:`kernelsec_nb.sources.Source.split`):
a cheap substring a line must hold to be looked at, and a function from the line's text to its
events' texts (None: not such a line).  Each event becomes a record of its own:

* its text is the event's exact text, its id the hash of those bytes (as for a line), so the same
  event in two batches, or the same batch twice, is a duplicate;
* it keeps the line's number, offset and ``repeat_count`` (``case.raw`` shows the whole line);
* the load counts records: a line split into ``n`` events counts as ``n`` lines of the file's
  accounting (as the items of a pretty-printed JSON array do), so ``lines == loaded + duplicates
  + quarantined + blank`` still holds; a batch without events is one blank record.

Examples
--------
>>> import pyarrow as pa
>>> from kernelsec_nb.store import _lines
>>> block = _lines.concat([_lines.single(1, 0, '[1, 2]', None, 6, byte_end=7),
...                        _lines.single(2, 7, 'x', None, 1, byte_end=9)])
>>> def items(text):
...     return [t.strip() for t in text.strip("[]").split(",")] if text.startswith("[") else None
>>> table, added = split_records(block, [("[", items)])
>>> table.column("raw").to_pylist(), table.column("line").to_pylist(), added
(['1', '2', 'x'], [1, 1, 2], 1)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kernelsec_nb.store import _arrow, _lines
from kernelsec_nb.store._ids import event_ids, repeats

#: (a substring the line must hold, the function giving its events' texts or None)
Splitter = tuple[str, Callable[[str], "list[str] | None"]]


def split_records(table: pa.Table, splitters: Sequence[Splitter]) -> tuple[pa.Table, int]:
    """``table`` with each record a splitter splits replaced by its events' records, and the
    number of lines that adds to the file's accounting (see the module)."""
    if not splitters or table.num_rows == 0:
        return table, 0
    splitters = [(hint, split) for hint, split in splitters if _may_hold(table.column("raw"), hint)]
    if not splitters:
        return table, 0
    raw = table.column("raw").cast(pa.large_string())
    mask = None
    for hint, _ in splitters:
        hit = pc.match_substring(raw, hint)
        mask = hit if mask is None else pc.or_(mask, hit)
    mask = pc.and_(mask, pc.is_null(table.column("note")))
    # a null (no text) is no match; and_kleene(null, false) is false (pc.fill_null with a Python
    # value would make pyarrow import pandas: see tests/store/test_arrow.py)
    rows = np.flatnonzero(_arrow.to_numpy(pc.and_kleene(mask, pc.is_valid(mask))))
    if len(rows) == 0:
        return table, 0
    pieces: list[pa.Table] = []
    added = 0
    start = 0
    for i in rows.tolist():
        row = table.slice(i, 1).to_pylist()[0]
        items = None
        for hint, split in splitters:
            if hint in row["raw"]:
                items = split(row["raw"])
                if items is not None:
                    break
        if items is None:
            continue
        pieces.append(table.slice(start, i - start))
        pieces.append(_records(row, items, table.schema))
        added += (max(len(items), 1) - 1) * row["repeat_count"]
        start = i + 1
    if not pieces:
        return table, 0
    pieces.append(table.slice(start))
    out = pa.concat_tables([p.cast(table.schema) for p in pieces])
    out = out.set_column(_lines.SCHEMA.get_field_index("repeat"), "repeat",
                         repeats(_arrow.to_numpy(out.column("key"))))
    return out, added


def _may_hold(column: pa.ChunkedArray, hint: str) -> bool:
    """False when no text of ``column`` holds ``hint`` (True: perhaps one does).

    A block of lines is a view column over the read buffer: the bytes its lines span are searched
    (a regular expression scans a buffer without copying it, ~2 GB/s; pyarrow's
    ``match_substring`` over the block cost ~10 % of the flows route), and the views themselves,
    which hold the short texts inline.

    >>> _may_hold(pa.chunked_array([pa.array(["a" * 20, "b"], pa.string_view())]), "b")
    True
    >>> _may_hold(pa.chunked_array([pa.array(["a" * 20 + "EventList", "b"], pa.string_view())]), "EventList")
    True
    >>> _may_hold(pa.chunked_array([pa.array(["a" * 20, "b"], pa.string_view())]), "EventList")
    False
    """
    # (a quote first makes the search ~40 % slower: JSON is full of them; the rest of the hint is
    # in every text that holds the hint)
    pattern = re.compile(re.escape(hint.encode("utf-8").lstrip(b'"') or b'"'))
    for chunk in column.chunks:
        if not pa.types.is_string_view(chunk.type) or chunk.offset:
            return True  # (not a block's own column: the careful search decides)
        buffers = chunk.buffers()
        if buffers[1] is None or len(chunk) == 0:
            continue
        views = np.frombuffer(buffers[1], dtype=np.int32, count=4 * len(chunk)).reshape(-1, 4)
        if pattern.search(memoryview(buffers[1])[: 16 * len(chunk)]):  # the inline texts
            return True
        out = views[:, 0] > 12  # (length, prefix, buffer, offset); up to 12 bytes are inline
        for b in np.unique(views[out, 2]).tolist():
            mine = views[out][views[out, 2] == b]
            lo, hi = int(mine[:, 3].min()), int((mine[:, 3].astype(np.int64) + mine[:, 0]).max())
            if pattern.search(memoryview(buffers[2 + b])[lo:hi]):
                return True
    return False


def _records(row: dict, items: list[str], schema: pa.Schema = _lines.SCHEMA) -> pa.Table:
    """The records of one split line's events (one blank record when it has none); a column of
    ``schema`` beyond the reader's (the block's ``file``) keeps the line's value."""
    texts = items or [""]
    data = [t.encode("utf-8") for t in texts]
    ends = np.cumsum([len(d) for d in data])
    ids, keys = event_ids(b"".join(data), ends - [len(d) for d in data], ends)
    n = len(texts)
    return pa.table({
        "line": [row["line"]] * n, "byte_offset": [row["byte_offset"]] * n, "raw": texts,
        "note": pa.nulls(n, pa.string()), "raw_bytes": [len(d) for d in data], "event_id": ids,
        "key": keys, "repeat": [False] * n, "line_end": [row["line_end"]] * n,
        "byte_end": [row["byte_end"]] * n, "repeat_count": [row["repeat_count"]] * n,
        **{name: [row[name]] * n for name in schema.names if name not in _lines.SCHEMA.names},
    }, schema=schema)


def find_item(text: str, event_id: str, splitters: Sequence[Splitter]) -> str | None:
    """The event of the line ``text`` whose id is ``event_id`` (``case.raw`` of a batch's event),
    None when no splitter finds it there."""
    from kernelsec_nb.store._ids import event_id as id_of

    for hint, split in splitters:
        if hint in text:
            for item in split(text) or ():
                if id_of(item.encode("utf-8")) == event_id:
                    return item
    return None
