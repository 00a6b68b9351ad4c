"""The stable id of a record (a line, or a JSON document) and its 64-bit key.

An ``event_id`` is 20 hex digits of the XXH3-128 hash of the record's bytes (without trailing
whitespace): the same input line gives the same id on every load.  Its first 64 bits, as a
number, are the key :class:`kernelsec_nb.store._known.KnownIds` holds during a load.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import xxhash

from kernelsec_nb.store import _arrow


def event_id(record: bytes | bytearray | memoryview) -> str:
    """The stable id of a record: 20 hex digits (80 bits) of the XXH3-128 hash of its bytes.

    ``record`` is the line without its trailing whitespace (``_lines.TRAILING_WS``).  The same bytes
    give the same id in every load and every case; XXH3 hashes a gigabyte in a small fraction of a
    second, where md5 took longer than parsing the JSON.

    >>> event_id(b'{"node_name":"n1"}')
    'b1e5d6c708fa52b3b76d'
    """
    return xxhash.xxh3_128_hexdigest(record)[:20]


_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_ID_BYTES = 10  # 20 hex digits


def event_ids(data: bytes | bytearray, starts: np.ndarray | list[int],
              ends: np.ndarray | list[int]) -> tuple[pa.Array, np.ndarray]:
    """The :func:`event_id` of each record ``data[starts[i]:ends[i]]`` as an Arrow string array,
    and its 64-bit key (the id's first 16 hex digits as a number).

    One digest per record, then hex digits and keys for the whole batch with numpy: no Python
    string per record (a third of the reader's time went to them).

    >>> ids, keys = event_ids(b'{"node_name":"n1"}', [0], [18])
    >>> ids.to_pylist(), keys.tolist()
    (['b1e5d6c708fa52b3b76d'], [12818888064717443763])
    """
    view = memoryview(data)
    digest = xxhash.xxh3_128_digest
    spans = zip(np.asarray(starts).tolist(), np.asarray(ends).tolist(), strict=True)
    digests = b"".join([digest(view[a:b]) for a, b in spans])
    n = len(digests) // 16
    head = np.frombuffer(digests, dtype=np.uint8).reshape(n, 16)[:, :_ID_BYTES]
    digits = np.empty((n, 2 * _ID_BYTES), dtype=np.uint8)
    digits[:, 0::2] = _HEX_DIGITS[head >> 4]
    digits[:, 1::2] = _HEX_DIGITS[head & 15]
    offsets = np.arange(0, 2 * _ID_BYTES * (n + 1), 2 * _ID_BYTES, dtype=np.int32)
    ids = pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(digits)])
    keys = np.frombuffer(digests, dtype=">u8")[0::2].astype(np.uint64)
    return ids, keys


def repeats(keys: np.ndarray) -> pa.Array:
    """Mask of the records whose key appeared earlier in ``keys`` (a superset of repeated ids:
    the general path, which such records take, compares whole ids)."""
    mask = np.ones(len(keys), dtype=bool)
    mask[np.unique(keys, return_index=True)[1]] = False
    return _arrow.array(mask)
