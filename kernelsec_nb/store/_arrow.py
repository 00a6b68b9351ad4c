"""numpy arrays as Arrow arrays, without a copy and without importing pandas.

``pyarrow.array`` asks pandas whether its input is a pandas object, and so imports pandas on
its first call (~0.35 s and ~50 MB, in the middle of a load's first block) when it is installed.
The loader's columns are plain numpy arrays: their memory is handed to Arrow as it is.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

_TYPES = {
    np.dtype(np.int64): pa.int64(),
    np.dtype(np.uint64): pa.uint64(),
    np.dtype(np.int32): pa.int32(),
    np.dtype(np.float64): pa.float64(),
}


def array(values: np.ndarray) -> pa.Array:
    """``values`` (1-dimensional; bool or 64/32-bit numbers) as an Arrow array.

    >>> array(np.arange(3)).to_pylist(), array(np.array([True, False, True])).to_pylist()
    ([0, 1, 2], [True, False, True])
    """
    values = np.ascontiguousarray(values)
    if values.dtype == np.bool_:  # Arrow packs booleans into bits, least significant first
        bits = np.packbits(values, bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])
    values = values.astype(values.dtype.newbyteorder("="), copy=False)
    return pa.Array.from_buffers(_TYPES[values.dtype], len(values), [None, pa.py_buffer(values)])


def to_numpy(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A bool or number column without nulls as one numpy array, read off its buffers
    (``to_numpy`` imports pandas too).

    >>> to_numpy(pa.chunked_array([[1, 2], [3]])).tolist(), to_numpy(pa.array([True, False])).tolist()
    ([1, 2, 3], [True, False])
    """
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    parts = [_chunk(chunk) for chunk in chunks]
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else _chunk(pa.nulls(0, column.type))


def _chunk(chunk: pa.Array) -> np.ndarray:
    if chunk.null_count:
        raise ValueError("a column with nulls has no plain numpy form")
    data = chunk.buffers()[1]
    if pa.types.is_boolean(chunk.type):
        if data is None:  # an empty array
            return np.zeros(0, dtype=bool)
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
        return bits[chunk.offset : chunk.offset + len(chunk)].astype(bool)
    dtype = np.dtype(chunk.type.to_pandas_dtype())
    if data is None:
        return np.zeros(0, dtype=dtype)
    return np.frombuffer(data, dtype=dtype, count=len(chunk), offset=chunk.offset * dtype.itemsize)


def repeated_text(values: list[str], counts: np.ndarray | list[int]) -> pa.Array:
    """A ``string_view`` array of ``values[i]`` ``counts[i]`` times: one copy of each text, the
    rows views of it (16 bytes a row, whatever the text's length; a block's ``file`` column).

    >>> repeated_text(["a", "/a/path/longer/than/twelve"], [2, 1]).to_pylist()
    ['a', 'a', '/a/path/longer/than/twelve']
    """
    encoded = [v.encode("utf-8") for v in values]
    lens = np.array([len(e) for e in encoded], dtype=np.int32)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int32) if len(encoded) else lens
    heads = np.zeros((len(encoded), 12), dtype=np.uint8)
    for i, e in enumerate(encoded):
        heads[i, : min(len(e), 12)] = np.frombuffer(e[:12], dtype=np.uint8)
    which = np.repeat(np.arange(len(encoded)), np.asarray(counts, dtype=np.int64))
    views = np.zeros((len(which), 16), dtype=np.uint8)
    words = views.view(np.int32)
    words[:, 0] = lens[which]
    short = lens[which] <= 12
    views[short, 4:16] = heads[which[short]]
    long = ~short
    views[long, 4:8] = heads[which[long], :4]
    words[long, 3] = starts[which[long]]
    data = pa.py_buffer(b"".join(encoded))
    return pa.Array.from_buffers(pa.string_view(), len(which), [None, pa.py_buffer(views), data])
