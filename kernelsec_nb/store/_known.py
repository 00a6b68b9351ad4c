"""The event ids already in a case, held as 64-bit keys, so a load tells new lines from repeats
without joining every block against the growing tables.

A key is the first 64 bits of an ``event_id`` (the first 16 of its 20 hex digits).  The set is a
superset test: a line whose key is known *may* be a duplicate and takes the general path, which
checks the full id in SQL; a line whose key is unknown is certainly new.  Keys live in a few
sorted numpy arrays, merged now and then: 8 bytes an event.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

_HEX = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX[_c] = _i
_SHIFTS = np.arange(60, -1, -4, dtype=np.uint64)
_KEYS_SQL = "SELECT DISTINCT ('0x' || left(event_id, 16))::UBIGINT AS k FROM events ORDER BY k"


def keys_of(ids: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """The 64-bit keys of an Arrow column of event ids.

    >>> keys_of(pa.array(["b1e5d6c708fa52b3b76d"])).tolist()
    [12818888064717443763]
    """
    text = "".join(v if v and len(v) == 20 else "0" * 20 for v in ids.to_pylist()).encode()
    digits = _HEX[np.frombuffer(text, dtype=np.uint8).reshape(-1, 20)[:, :16]].astype(np.uint64)
    return (digits << _SHIFTS).sum(axis=1, dtype=np.uint64)


class KnownIds:
    """Keys of every event id in the case, plus those added during a load."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        found = con.execute(_KEYS_SQL).fetchnumpy()["k"]
        self._parts: list[np.ndarray] = [np.asarray(found, dtype=np.uint64)]

    def contains(self, keys: np.ndarray) -> np.ndarray:
        """Mask of ``keys`` that are (perhaps) in the case."""
        hit = np.zeros(len(keys), dtype=bool)
        for part in self._parts:
            if len(part):
                pos = np.searchsorted(part, keys).clip(max=len(part) - 1)
                hit |= part[pos] == keys
        return hit

    def add(self, keys: np.ndarray) -> None:
        self._parts.append(np.unique(keys))
        if len(self._parts) > 8:  # keep lookups cheap: one sorted array again
            self._parts = [np.unique(np.concatenate(self._parts))]
