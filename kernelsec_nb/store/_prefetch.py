"""Read the next block of a file in a background thread while DuckDB parses the one before."""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator

_END = object()


def prefetch(blocks: Iterator) -> Generator:
    """Iterate ``blocks`` with the next one read in a background thread.

    Reading and splitting lines (Python, numpy) then overlaps with DuckDB parsing the previous
    block (DuckDB releases the GIL).  The reader starts a block only once the consumer took the
    one before, by which time the consumer has released the block before that: two read buffers
    are in use, not three (the reader is several times faster than DuckDB, so nothing is lost).
    An error of the reader is raised here, in order; stopping early (an error in the consumer)
    stops the reader.
    """
    out: queue.Queue = queue.Queue(maxsize=1)
    taken = threading.Semaphore(0)
    stop = threading.Event()

    def hand_over(item: tuple) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for block in blocks:
                if not hand_over((block, None)):
                    return
                while not taken.acquire(timeout=0.1):  # until the consumer has it
                    if stop.is_set():
                        return
            hand_over((_END, None))
        except BaseException as exc:  # handed to the consumer, raised there
            hand_over((_END, exc))

    thread = threading.Thread(target=run, name="kernelsec-nb-reader", daemon=True)
    thread.start()
    try:
        while True:
            block, exc = out.get()
            if exc is not None:
                raise exc
            if block is _END:
                return
            taken.release()
            yield block
    finally:
        stop.set()
        while thread.is_alive():
            try:
                out.get_nowait()
            except queue.Empty:
                thread.join(0.05)
