"""Blocks committed in the background: every block lands, and duplicate checks wait for them."""

from __future__ import annotations

import signal
import threading
import time
from types import SimpleNamespace

import duckdb
import pytest

import kernelsec_nb as kn
from kernelsec_nb.store import _commits
from kernelsec_nb.store import load as load_mod
from tests.store.lines import tetragon_exec


class _SlowThread(threading.Thread):
    """A background commit that takes its time (as a big block's does)."""

    def run(self) -> None:
        time.sleep(0.2)
        super().run()


def test_every_block_is_committed_in_turn(tmp_path):
    con = duckdb.connect(str(tmp_path / "c.duckdb"))
    con.execute("CREATE TABLE t (x INT)")
    commits = _commits.BlockCommits(con, checkpoint_bytes=2)
    for x in range(5):
        block = commits.begin()
        block.execute("INSERT INTO t VALUES (?)", [x])
        commits.commit(block, nbytes=1)  # a checkpoint after every second block
    commits.wait()
    commits.close()
    assert con.execute("SELECT list(x ORDER BY x) FROM t").fetchall() == [([0, 1, 2, 3, 4],)]


def test_a_repeat_in_a_later_block_is_a_duplicate_while_the_earlier_block_commits(tmp_path, monkeypatch):
    # The repeat's id is known, so it takes the general path, which checks the case for it: the
    # block before, still committing in the background, must be in the case by then.
    monkeypatch.setattr(_commits, "threading", SimpleNamespace(Thread=_SlowThread, Event=threading.Event))
    first = "".join(tetragon_exec(pid=i) + "\n" for i in range(1, 20))
    second = "".join(tetragon_exec(pid=i) + "\n" for i in (1, *range(20, 40)))  # pid 1 again
    path = tmp_path / "x.log"
    path.write_text(first + second)
    case = kn.open_case(tmp_path / "case.duckdb")
    # the first read holds exactly the first 19 lines: the repeat opens the next block
    report = load_mod.load_files(case.con, path, progress=False, block_bytes=len(first) + 1)
    f = report.files[0]
    assert (f.loaded, f.duplicates) == (39, 1), report
    assert case.sql("select count(*) n from events")["n"][0] == 39


def test_ctrl_c_while_waiting_for_a_commit_still_lets_it_land_before_the_cleanup(tmp_path, monkeypatch):
    # A Ctrl-C during the wait must not leave the commit running unseen: the loader removes the
    # file's rows right after abandon(), so the block's rows must have landed by then.
    monkeypatch.setattr(_commits, "threading", SimpleNamespace(Thread=_SlowThread, Event=threading.Event))
    con = duckdb.connect(str(tmp_path / "c.duckdb"))
    con.execute("CREATE TABLE t (x INT)")
    commits = _commits.BlockCommits(con)
    block = commits.begin()
    block.execute("INSERT INTO t VALUES (1)")
    commits.commit(block, nbytes=1)  # committed 0.2 s from now
    old = signal.signal(signal.SIGALRM, signal.default_int_handler)  # as ipykernel raises Ctrl-C
    signal.setitimer(signal.ITIMER_REAL, 0.05)
    try:
        with pytest.raises(KeyboardInterrupt):
            commits.wait()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    commits.abandon()
    assert con.execute("SELECT count(*) FROM t").fetchall() == [(1,)]
    commits.close()  # nothing in flight: closing does not fail
