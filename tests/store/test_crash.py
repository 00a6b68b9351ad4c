"""A load stopped at any moment (kill -9, an exception, Ctrl-C) leaves a case that opens consistent.

A real load runs in a child process that is killed with SIGKILL: before its k-th SQL statement
(every kind of point: between blocks of a file, between a file's rows and its ``files`` row,
after a file's commit and before the derived tables, inside their rebuild, during a checkpoint)
and at random times.  After each kill a read-only open either refuses the case with the repair
hint or sees it consistent; an open for writing and the same load again must then give, table by
table, the rows of a clean load.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import kernelsec_nb as kn
from kernelsec_nb.store import load as load_mod

REPO = Path(__file__).resolve().parents[2]
DEATHSTAR = REPO / "data" / "deathstar"
#: Blocks of this size make several blocks per file, so kills land between blocks of one file too.
BLOCK = 256 << 10
#: Where the random kill points and times come from (another seed tries other points).
SEED = int(os.environ.get("KERNELSEC_CRASH_SEED", "3"))
#: Columns that say when, not what (compared as present, not by value).
WHEN = {"loaded_at", "built_at"}
PROCESSES = (REPO / "kernelsec_nb" / "store" / "processes.sql").read_text().split(" AS\n", 1)[1].rstrip().rstrip(";")
#: A row of a file with no ``files`` row: what a killed load left.
UNFINISHED = " UNION ALL ".join(
    f"(SELECT file FROM {t} WHERE file NOT IN (SELECT path FROM files) LIMIT 1)"  # noqa: S608 - our table names
    for t in ("process_events", "kprobes", "other_events", "flows", "alerts", "quarantine"))

_CHILD = r'''
import os, signal, sys, threading, time
from kernelsec_nb.store import _commits, _connection
case_path, capture, block, kill = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
# kill: "" none, "log" print each statement, "<k>" before the k-th statement, or
# "<prefix>|<m>|<d>" before the d-th statement (0: itself) of the m-th one starting with prefix's thread
prefix, m, d = kill.split("|") if "|" in kill else (None, 0, 0)
m, d = int(m), int(d)
state, lock = {"n": 0, "matched": 0, "armed": None}, threading.Lock()


def step(sql):
    text = " ".join(str(sql).split())
    with lock:
        state["n"] += 1
        if kill == "log":
            sys.stdout.write(f"statement {state['n']} {text[:100]}\n")
            sys.stdout.flush()
        if kill.isdigit() and state["n"] == int(kill):
            os.kill(os.getpid(), signal.SIGKILL)
        if prefix is not None and text.startswith(prefix):
            state["matched"] += 1
            if state["matched"] == m:
                state["armed"] = [threading.get_ident(), d]
        armed = state["armed"]
        if armed is not None and armed[0] == threading.get_ident():
            if armed[1] == 0:
                os.kill(os.getpid(), signal.SIGKILL)
            armed[1] -= 1


class Counted:
    """A connection to the case that runs step() before each statement."""

    def __init__(self, con):
        self._con = con

    def __getattr__(self, name):
        return getattr(self._con, name)

    def execute(self, sql, *args, **kw):
        step(sql)
        return self._con.execute(sql, *args, **kw)


connect, cursor = _connection.connect, _connection.cursor
_connection.connect = lambda *a, **kw: Counted(connect(*a, **kw))
_connection.cursor = _commits.cursor = lambda con: Counted(cursor(getattr(con, "_con", con)))
import kernelsec_nb as kn
from kernelsec_nb.store.load import load_files
print("start", flush=True)
case = kn.open_case(case_path)
t = time.perf_counter()
load_files(case.con, capture, progress=False, block_bytes=block)
print("loaded", time.perf_counter() - t, flush=True)
'''


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


def _child(case_path: Path, capture: Path, kill: str = "") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _CHILD, str(case_path), str(capture), str(BLOCK), kill],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> Path:
    """Files of two nodes of the bundled incident (~1.7 MB): Tetragon's processes, flows both
    nodes saw (clock skew), a rotated gzip file, and Falco alerts without Kubernetes fields
    (filled from the processes of a later file)."""
    root = tmp_path_factory.mktemp("capture")
    for node, names in (("kind-worker", ("falco.json", "hubble-flows.json", "tetragon.log")),
                        ("kind-worker2", ("falco.json", "hubble-flows.json"))):
        (root / node).mkdir()
        for name in names:
            shutil.copy(DEATHSTAR / node / name, root / node / name)
    shutil.copy(DEATHSTAR / "kind-control-plane" / "hubble-flows.json.1.gz", root / "kind-worker")
    # the same alerts as Falco writes them when its metadata client missed the pod
    alerts = [json.loads(line) for line in (DEATHSTAR / "kind-worker" / "falco.json").read_text().splitlines()]
    for alert in alerts:
        alert["output_fields"].update({"k8s.ns.name": None, "k8s.pod.name": None})
    (root / "kind-worker" / "falco-no-k8s.json").write_text("".join(json.dumps(a) + "\n" for a in alerts))
    return root


def dump(con) -> dict[str, list[str]]:
    """Every table of the case, as sorted rows (times of loading left out)."""
    tables = [t for (t,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() ORDER BY 1").fetchall()]
    out = {}
    for table in tables:
        cols = [c for (c,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND table_name = ? ORDER BY column_index", [table]).fetchall()]
        sel = ", ".join(f'"{c}" IS NOT NULL' if c in WHEN else f'"{c}"' for c in cols)
        out[table] = sorted(map(repr, con.execute(f'SELECT {sel} FROM "{table}"').fetchall()))  # noqa: S608
    return out


@pytest.fixture(scope="module")
def clean(capture, tmp_path_factory) -> dict[str, list[str]]:
    with kn.open_case(tmp_path_factory.mktemp("clean") / "clean.duckdb") as case:
        load_mod.load_files(case.con, capture, progress=False, block_bytes=BLOCK)
        got = dump(case.con)
        filled = case.con.execute("SELECT count(*) FROM alerts WHERE k8s_filled").fetchone()[0]
    assert len(got["processes"]) > 50 and len(got["clock_offsets"]) >= 2
    assert filled > 0  # alerts whose Kubernetes fields came from the processes' later file
    return got


def differences(got: dict[str, list[str]], want: dict[str, list[str]]) -> list[str]:
    out = []
    for table in sorted(set(got) | set(want)):
        a, b = got.get(table, []), want.get(table, [])
        if a != b:
            out.append(f"{table}: {len(a)} rows, clean load {len(b)}")
    return out


def consistent_or_refused(path: Path) -> str:
    """A read-only open of a killed load's case: refused with the repair hint, or consistent
    (no row of an unfinished load, the derived tables those of its files).  A kill before the
    case file was made leaves no file: nothing half-made to open (the next load makes it)."""
    if not path.exists():
        with pytest.raises(kn.CaseError, match="no case file at"):
            kn.open_case(path, read_only=True)
        return "not made"
    try:
        case = kn.open_case(path, read_only=True)
    except kn.CaseError as exc:
        assert "open it once for writing" in str(exc) and "\n" not in str(exc), exc
        return "refused"
    with case:
        con = case.con
        assert not con.execute(UNFINISHED).fetchall()
        bad = con.execute("WITH r AS (SELECT file, count(*) AS n FROM events GROUP BY file) "
                          "SELECT f.path, f.loaded, r.n FROM files f LEFT JOIN r ON r.file = f.path "
                          "WHERE f.loaded <> coalesce(r.n, 0)").fetchall()
        assert not bad, f"files whose rows are not what they loaded: {bad}"
        assert processes_current(con), "read-only open shows processes of other files than it holds"
    return "consistent"


def processes_current(con) -> bool:
    """Whether ``processes`` is what the case's events give."""
    stored = sorted(map(repr, con.execute("SELECT * FROM processes").fetchall()))
    return stored == sorted(map(repr, con.execute(PROCESSES).fetchall()))


def recovered(path: Path, capture: Path) -> dict[str, list[str]]:
    """Open for writing (the repair), load the capture again, and every table."""
    with kn.open_case(path) as case:
        load_mod.load_files(case.con, capture, progress=False, block_bytes=BLOCK)
        return dump(case.con)


def statements(capture: Path, tmp_path: Path) -> list[str]:
    """What the child runs, in order (threads interleave: the order of a block's commit and the
    next block's statements varies): one load of the capture into a new case."""
    proc = _child(tmp_path / "count.duckdb", capture, kill="log")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    return [line.split(" ", 2)[2] for line in out.splitlines() if line.startswith("statement ")]


FILES_ROW = "INSERT OR REPLACE INTO files"


#: The statements of the derived tables' rebuild, in order (the stamp in ``case_state`` ends it).
REBUILD = ("-- processes", "UPDATE alerts", "DELETE FROM clock_offsets", "INSERT INTO clock_offsets")


def rebuild_points(sql: list[str]) -> list[str]:
    """Kill points for the rebuild: before its first statement, and before each one that follows a
    COMMIT since the last point.  A kill before any statement of one open transaction leaves what
    a kill before its first one leaves (nothing of it committed, nothing in the WAL): one point
    per transaction covers every state the rebuild can leave on disk; the stamp and its commit
    (in :func:`kill_points`) bound the last one.  A rebuild split into several transactions
    gets a point in each."""
    stamp = [i for i, s in enumerate(sql) if s.startswith("INSERT INTO case_state")][1]
    points, last = [], None
    for prefix in REBUILD:
        at = next(i for i, s in enumerate(sql) if s.startswith(prefix))
        assert at < stamp, f"{prefix} after the case_state stamp: {at} > {stamp}"
        if last is None or "COMMIT" in sql[last:at]:
            points.append(f"{prefix}|1|0")
            last = at
    return points


def kill_points(sql: list[str], files: int, rng: random.Random) -> list[str]:
    """Where to kill (see _CHILD): while the case is made, around the files' commits (before a file's ``files`` row, its
    rows committed; after its commit), in each transaction of the derived tables' rebuild, at
    the checkpoint after it, and at some statements at random (between and inside blocks).

    After the first file's commit and after the last's are the two states a committed file can
    leave (files to come, none to come): a file in between leaves the first again."""
    points = ["-- events:|1|0"]  # making the case: its tables made, not its events view
    points += [f"{FILES_ROW}|1|0", f"{FILES_ROW}|{files}|0"]
    points += [f"{FILES_ROW}|{m}|2" for m in (1, files)]  # its commit done
    points += rebuild_points(sql) + ["CHECKPOINT|1|0"]
    points += ["INSERT INTO case_state|2|0", "INSERT INTO case_state|2|1"]  # the stamp; the commit
    last = max(i for i, s in enumerate(sql) if s.startswith(FILES_ROW))
    points += [str(k) for k in sorted(rng.sample(range(1, last), 3))]
    return points


@pytest.mark.slow
def test_a_load_killed_before_any_statement_leaves_a_case_that_recovers(capture, clean, tmp_path):
    rng = random.Random(SEED + 16)
    sql = statements(capture, tmp_path)
    files = len([f for f in capture.rglob("*") if f.is_file()])
    seen = {"refused": 0, "consistent": 0}
    failures = []
    for i, point in enumerate(kill_points(sql, files, rng)):
        path = tmp_path / f"kill-{i}.duckdb"
        proc = _child(path, capture, kill=point)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == -signal.SIGKILL, f"{point}: not killed: {err[-2000:]}"
        outcome = consistent_or_refused(path)
        seen[outcome] = seen.get(outcome, 0) + 1
        diff = differences(recovered(path, capture), clean)
        if diff:
            failures.append(f"killed at {point}: {diff}")
    assert not failures, "\n".join(failures)
    assert seen["refused"] and seen["consistent"], seen


@pytest.mark.slow
def test_loads_killed_at_random_times_leave_a_case_that_recovers(capture, clean, tmp_path):
    rng = random.Random(SEED)
    full = None
    delays, outcomes = [], []
    path = tmp_path / "random-0.duckdb"
    for i in range(8):  # one case, killed again and again: some kills land in the repair at open
        proc = _child(path, capture)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "start", proc.stderr.read() if proc.stderr else ""
        started = time.perf_counter()
        delay = rng.uniform(0, full or 3.0)
        delays.append(round(delay, 3))
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=300)
        if proc.returncode == 0:  # it finished (after the kills before): the next one starts a new case
            full = time.perf_counter() - started
            outcomes.append("finished")
            diff = differences(recovered(path, capture), clean)
            assert not diff, f"after kills at {delays} s: {diff}"
            path = tmp_path / f"random-{i + 1}.duckdb"
            continue
        assert proc.returncode == -signal.SIGKILL, err[-2000:]
        outcomes.append(consistent_or_refused(path))
    diff = differences(recovered(path, capture), clean)
    assert not diff, f"after kills at {delays} s ({outcomes}): {diff}"


def test_an_exception_in_a_later_file_leaves_every_table_consistent(capture, clean, tmp_path, monkeypatch):
    # the first files commit; the load then fails: their processes are built all the same, and
    # loading again gives what a clean load gives
    real, calls = load_mod._load_one, []

    def failing(con, path, *args):
        calls.append(path)
        if path.parent.name == "kind-worker2":  # the second node's first file
            raise OSError("the disk went away")
        return real(con, path, *args)

    monkeypatch.setattr(load_mod, "_load_one", failing)
    path = tmp_path / "c.duckdb"
    with kn.open_case(path) as case:
        with pytest.raises(OSError, match="disk went away"):
            load_mod.load_files(case.con, capture, progress=False, block_bytes=BLOCK)
        assert case.sql("select count(*) n from files")["n"][0] == len(list((capture / "kind-worker").iterdir()))
        assert case.sql("select count(*) n from processes")["n"][0] > 0
        assert processes_current(case.con)
    assert consistent_or_refused(path) == "consistent"
    monkeypatch.setattr(load_mod, "_load_one", real)
    assert not differences(recovered(path, capture), clean)


def test_a_reload_rebuilds_what_a_crash_left_stale(capture, tmp_path):
    # what a kill between a file's commit and the processes table leaves: the stamp of before
    path = tmp_path / "c.duckdb"
    with kn.open_case(path) as case:
        case.load(capture / "kind-worker" / "tetragon.log", progress=False)
        n = case.sql("select count(*) n from processes")["n"][0]
        case.con.execute("DELETE FROM processes")
        case.con.execute("UPDATE case_state SET derived_from = 'before'")
        r = case.load(capture / "kind-worker" / "tetragon.log", progress=False)  # every line a duplicate
        assert r.files[0].status == "already loaded"
        assert case.sql("select count(*) n from processes")["n"][0] == n
        case.con.execute("DELETE FROM processes")
        case.con.execute("UPDATE case_state SET derived_from = 'before'")
    with kn.open_case(path) as case:  # or the next open for writing
        assert case.sql("select count(*) n from processes")["n"][0] == n


def test_a_read_only_open_refuses_an_unclean_case_in_one_line(capture, tmp_path):
    path = tmp_path / "c.duckdb"
    with kn.open_case(path) as case:  # rows of a file without its ``files`` row (a killed load)
        case.load(capture / "kind-worker" / "falco.json", progress=False)
        case.con.execute("INSERT INTO alerts SELECT * REPLACE ('/gone.json' AS file) FROM alerts")
    with pytest.raises(kn.CaseError) as exc:
        kn.open_case(path, read_only=True)
    assert "did not finish (/gone.json)" in str(exc.value) and "\n" not in str(exc.value)
    assert "open it once for writing" in str(exc.value)
    with kn.open_case(path) as case:  # the repair
        assert case.sql("select count(*) n from alerts where file = '/gone.json'")["n"][0] == 0
    kn.open_case(path, read_only=True).close()
    with kn.open_case(path) as case:
        case.con.execute("UPDATE case_state SET derived_from = 'before'")  # stale
    with pytest.raises(kn.CaseError, match=r"not yet rebuilt .*open it once for writing"):
        kn.open_case(path, read_only=True)
    kn.open_case(path).close()
    kn.open_case(path, read_only=True).close()


def test_the_report_without_exports_names_the_repair(capture, tmp_path, capsys):
    from kernelsec_nb import cli

    path = tmp_path / "c.duckdb"
    with kn.open_case(path) as case:
        case.load(capture / "kind-worker" / "falco.json", progress=False)
        case.con.execute("INSERT INTO alerts SELECT * REPLACE ('/gone.json' AS file) FROM alerts")
    assert cli.main(["report", str(path), "--notebook", "postmortem", "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "open it once for writing" in err and err.count("\n") == 1
    assert not (tmp_path / "r.html").exists()


def test_a_case_made_before_the_mark_is_rebuilt_once(capture, tmp_path):
    import duckdb

    path = tmp_path / "old.duckdb"
    with kn.open_case(path) as case:
        case.load(capture / "kind-worker" / "tetragon.log", progress=False)
        n = case.sql("select count(*) n from processes")["n"][0]
    con = duckdb.connect(str(path))
    con.execute("DROP TABLE case_state")
    con.execute("DELETE FROM processes")  # as a crash before this version could leave it
    con.close()
    with pytest.raises(kn.CaseError, match="older kernelsec_nb.*open it once for writing"):
        kn.open_case(path, read_only=True)
    with kn.open_case(path) as case:
        assert case.sql("select count(*) n from processes")["n"][0] == n
    kn.open_case(path, read_only=True).close()


def test_a_read_only_open_of_an_empty_database_says_it_holds_no_case(tmp_path):
    import duckdb

    path = tmp_path / "c.duckdb"
    duckdb.connect(str(path)).close()  # what a kill while the case was being made leaves
    with pytest.raises(kn.CaseError, match="holds no case yet.*open it once for writing"):
        kn.open_case(path, read_only=True)
    kn.open_case(path).close()
    with kn.open_case(path, read_only=True) as case:
        assert case.sql("select count(*) n from events")["n"][0] == 0


def test_a_failed_load_whose_cleanup_was_interrupted_derives_nothing_from_its_rows(capture, tmp_path, monkeypatch):
    # Ctrl-C, then Ctrl-C again while the failed file's rows are being removed: the derived tables
    # rebuilt after the failure must not hold processes of rows that are not loaded
    real_ingest, real_discard = load_mod.ingest_block, load_mod.discard
    state = {"discards": 0, "blocks": 0}

    def interrupted(con, table, name, **kw):
        state["blocks"] += 1
        if state["blocks"] == 3:  # two blocks of the file committed
            raise KeyboardInterrupt
        return real_ingest(con, table, name, **kw)

    def discard_interrupted(con, name=None):
        state["discards"] += 1
        if state["discards"] == 1:
            raise KeyboardInterrupt  # the second Ctrl-C
        real_discard(con, name)

    monkeypatch.setattr(load_mod, "discard", discard_interrupted)
    path = tmp_path / "c.duckdb"
    with kn.open_case(path) as case:
        case.load(capture / "kind-worker" / "falco.json", progress=False)
        monkeypatch.setattr(load_mod, "ingest_block", interrupted)
        with pytest.raises(KeyboardInterrupt):
            load_mod.load_files(case.con, capture / "kind-worker" / "tetragon.log", progress=False,
                                block_bytes=64 << 10)
        assert state["blocks"] == 3
        assert case.sql("select count(*) n from processes")["n"][0] == 0
        assert processes_current(case.con)
    monkeypatch.setattr(load_mod, "discard", real_discard)
    with kn.open_case(path) as case:
        assert processes_current(case.con)
