"""Commit each block of a load in the background while the next block is parsed.

A load commits after every block (so memory stays bounded by the block, not the file) and
writes the case file (checkpoints) after every :data:`CHECKPOINT_BYTES` of input.  Both are
serial work in DuckDB (one core) that took a third of a load.  Here each block gets its own
connection (two, used in turn): while one commits, and checkpoints when due, in a background
thread, the next block's statements run on the other, so both cores stay busy.

What this asks of the caller: a block that checks its lines against the case for duplicates
must first call :meth:`BlockCommits.refresh` (its transaction began while the block before was
still committing, so it does not see that block), and a failed load must call
:meth:`BlockCommits.abandon` (and roll back the block it was loading) before it removes the
file's rows.
"""

from __future__ import annotations

import threading

import duckdb

from kernelsec_nb.store._connection import cursor

#: Blocks are committed one by one but written to the case file (checkpointed) only after this
#: much input, across files, and at the end of a load: DuckDB's automatic checkpoint after every
#: 16 MB of log rewrote the same half-filled row groups again and again (a quarter of the load).
CHECKPOINT_BYTES = 256 << 20


class BlockCommits:
    """Two connections to the case that take blocks in turn; commits run in the background.

    Examples
    --------
    >>> import duckdb
    >>> con = duckdb.connect()
    >>> con.execute("CREATE TABLE t (x INT)") and None
    >>> commits = BlockCommits(con)
    >>> for x in range(3):
    ...     block = commits.begin()
    ...     block.execute("INSERT INTO t VALUES (?)", [x]) and None
    ...     commits.commit(block, nbytes=1)
    >>> commits.wait(); commits.close()
    >>> con.execute("SELECT count(*) FROM t").fetchall()
    [(3,)]
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, checkpoint_bytes: int = CHECKPOINT_BYTES) -> None:
        self._cons = [cursor(con), cursor(con)]
        self._turn = 0
        # the background work: its thread, and an event set when it is over
        self._work: tuple[threading.Thread, threading.Event] | None = None
        self._error: BaseException | None = None
        self._checkpoint_bytes = checkpoint_bytes
        self._pending = 0

    def begin(self) -> duckdb.DuckDBPyConnection:
        """The connection for the next block, with its transaction open.  (Its previous block's
        commit is over: :meth:`commit` waits for the one before it.)"""
        con = self._cons[self._turn]
        self._turn ^= 1
        con.execute("BEGIN TRANSACTION")
        return con

    def commit(self, con: duckdb.DuckDBPyConnection, nbytes: int) -> None:
        """Commit ``con``'s block in the background, once the block before is committed, and
        checkpoint after it when :data:`CHECKPOINT_BYTES` of input are pending."""
        self.wait()
        self._pending += nbytes
        checkpoint = self._pending >= self._checkpoint_bytes
        if checkpoint:
            self._pending = 0

        done = threading.Event()

        def run() -> None:
            try:
                con.execute("COMMIT")
                if checkpoint:
                    con.execute("CHECKPOINT")
            except BaseException as exc:  # raised by the next wait(), in the loader's thread
                self._error = exc
            finally:
                done.set()

        thread = threading.Thread(target=run, name="kernelsec-nb-commit", daemon=True)
        self._work = (thread, done)
        thread.start()

    def refresh(self, con: duckdb.DuckDBPyConnection) -> None:
        """Let ``con``'s block see every block before it: wait for their commits, commit what
        ``con``'s block did so far and begin again (a transaction sees only what was committed
        when it began)."""
        self.wait()
        con.execute("COMMIT")
        con.execute("BEGIN TRANSACTION")

    def wait(self) -> None:
        """Until every block handed to :meth:`commit` is committed; raises a commit's error.

        (An event, not ``Thread.join``: a join interrupted by Ctrl-C leaves the thread marked as
        finished on Python 3.11 while its commit still runs.)"""
        if self._work is not None:
            self._work[1].wait()
            self._work = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def abandon(self) -> None:
        """After a failure: let the background commit finish, through further Ctrl-C (the
        loader removes the file's rows next, so they must have landed; a commit takes a second
        at most), and drop its error (the load failed already)."""
        while self._work is not None:
            thread, done = self._work
            try:
                while not done.wait(0.05):
                    if thread.ident is None:  # never started (Ctrl-C inside Thread.start)
                        break
                self._work = None
            except KeyboardInterrupt:
                continue
        self._error = None

    def close(self) -> None:
        self.abandon()
        for c in self._cons:
            c.close()
