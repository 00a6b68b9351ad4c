"""Runs of byte-identical consecutive records, found with numpy (no Python work per record).

A file of millions of copies of one junk line (``yes x``) must not cost a row, a hash or a
quarantine entry per line: the reader keeps the first line of each run and the number of lines it
stands for (see :mod:`kernelsec_nb.store._lines`).
"""

from __future__ import annotations

import numpy as np

#: Bytes compared at once (the index arrays of a batch take about 20 bytes per compared byte).
COMPARE_BYTES = 1 << 20
#: Bytes of each pair looked at before the whole pair is compared.
_SAMPLES = 16
#: Longer pairs are compared one by one (a pair costs about a microsecond): few fit in a block.
_LONG = 256


def same_as_previous(arr: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                     data: bytes | bytearray | None = None, skip: np.ndarray | None = None) -> np.ndarray:
    """Mask of the records ``arr[starts[k]:ends[k]]`` that are byte-identical to record ``k - 1``.

    ``data`` is the buffer ``arr`` views (when given, long pairs are compared on it without a
    copy of ``arr``); records where ``skip`` is true are not compared (their mask stays false).  Only neighbours of the same length are compared, in batches of at most :data:`COMPARE_BYTES`
    (a longer pair alone), so time and memory are linear in the bytes compared.

    >>> arr = np.frombuffer(b"x\\nx\\ny\\ny\\ny\\nx\\n", dtype=np.uint8)
    >>> starts = np.arange(0, 12, 2); same_as_previous(arr, starts, starts + 2).tolist()
    [False, True, False, True, True, False]
    """
    n = len(starts)
    same = np.zeros(n, dtype=bool)
    if n < 2:
        return same
    length = (ends - starts).astype(np.int64)
    cand = np.flatnonzero((length[1:] == length[:-1]) & (length[1:] > 0)) + 1
    if skip is not None:
        cand = cand[~skip[cand]]
    # long pairs one by one (a slice compare is a memcmp), after a cheap look: neighbours of one
    # length mostly differ at one of a few sampled bytes; short pairs all at once below
    long = cand[length[cand] > _LONG]
    if len(long):
        at = (length[long, None] * np.arange(_SAMPLES)) // _SAMPLES
        prev = starts[long - 1].astype(np.int64)[:, None] + at
        long = long[(arr[prev] == arr[prev + (starts[long] - starts[long - 1])[:, None]]).all(axis=1)]
    if len(long) and data is None:
        data = arr.tobytes()
    for k, a, b, m in zip(long.tolist(), starts[long - 1].tolist(), starts[long].tolist(),
                          length[long].tolist(), strict=True):
        same[k] = data[a : a + m] == data[b : b + m]  # type: ignore[index]
    cand = cand[length[cand] <= _LONG]
    if not len(cand):
        return same
    lens = length[cand]
    total = np.cumsum(lens)
    # batch boundaries: each batch compares at most COMPARE_BYTES (or one longer pair)
    cuts = np.unique(np.searchsorted(total, np.arange(COMPARE_BYTES, int(total[-1]), COMPARE_BYTES),
                                     side="right"))
    bounds = [0, *[int(c) for c in cuts if 0 < c < len(cand)], len(cand)]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        if a == b:
            continue
        k = cand[a:b]
        size = lens[a:b]
        if b - a == 1:
            s0, s1, m = int(starts[k[0] - 1]), int(starts[k[0]]), int(size[0])
            same[k[0]] = np.array_equal(arr[s0 : s0 + m], arr[s1 : s1 + m])
            continue
        first = np.zeros(len(k), dtype=np.int64)
        np.cumsum(size[:-1], out=first[1:])
        within = np.arange(int(size.sum()), dtype=np.int64) - np.repeat(first, size)
        pos = np.repeat(starts[k - 1].astype(np.int64), size) + within
        shift = np.repeat((starts[k] - starts[k - 1]).astype(np.int64), size)
        differ = arr[pos] != arr[pos + shift]
        same[k] = np.add.reduceat(differ, first) == 0
    return same
