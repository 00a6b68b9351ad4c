"""The event ids already in a case, held as 64-bit keys, so a load tells new lines from repeats
without joining every block against the growing tables.

A key is the first 64 bits of an ``event_id`` (the first 16 of its 20 hex digits; the reader
computes them with the ids: :func:`kernelsec_nb.store._ids.event_ids`).  The set is a
superset test: a line whose key is known *may* be a duplicate and takes the general path, which
checks the full id in SQL; a line whose key is unknown is certainly new.  Keys live in a few
sorted numpy arrays, merged now and then: 8 bytes an event.
"""

from __future__ import annotations

import duckdb
import numpy as np

_KEYS_SQL = "SELECT DISTINCT ('0x' || left(event_id, 16))::UBIGINT AS k FROM events ORDER BY k"


class KnownIds:
    """Keys of every event id in the case, plus those added during a load."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        found = con.execute(_KEYS_SQL).fetchnumpy()["k"]
        self._parts: list[np.ndarray] = [np.asarray(found, dtype=np.uint64)]

    def contains(self, keys: np.ndarray) -> np.ndarray:
        """Mask of ``keys`` that are (perhaps) in the case."""
        order = np.argsort(keys)
        needles = keys[order]  # sorted needles: the searches walk each part in order (2x faster)
        found = np.zeros(len(keys), dtype=bool)
        for part in self._parts:
            if len(part):
                pos = np.searchsorted(part, needles).clip(max=len(part) - 1)
                found |= part[pos] == needles
        hit = np.empty_like(found)
        hit[order] = found
        return hit

    def add(self, keys: np.ndarray) -> None:
        # sorted, not made unique: a repeated key does no harm to a search, and numpy's unique
        # (hash-based) cost 16x more than a sort (6 s over the keys of a 4 GB file)
        self._parts.append(np.sort(keys))
        if len(self._parts) > 8:  # keep lookups cheap: one sorted array again
            self._parts = [np.sort(np.concatenate(self._parts))]
