"""The tables a load derives from the events, and the mark that says whether they are current.

``processes`` (one row per exec_id), the Kubernetes fields Falco's alerts take from them
(``alerts.k8s_filled``), ``pod_addresses`` (which pod held which IP when:
:mod:`kernelsec_nb.sources._pod_ips`), the sources' derived columns (``Source.derive``, which may
read ``pod_addresses``) and the ``clock_offsets`` are computed from the event rows after a load.
They are rebuilt together, in one transaction that also writes the *mark* of what they were built
from into ``case_state``: the files (path and sha256) that brought events.  A load commits its
files one by one; whatever stops it (an exception in a later file, Ctrl-C, ``kill -9``, a power
cut) leaves committed files whose events the derived tables do not know yet.  Their mark then
differs from the case's, and they are rebuilt: by the same load when it fails with an exception,
otherwise by the next load or the next open for writing.  A read-only open cannot rebuild: it
refuses such a case (:func:`check`), as it refuses rows a crash left without a ``files`` row.

A case made before ``pod_addresses`` existed gets it on its next open for writing (or load; the
other derived tables are current); opened read-only, it computes the table for the session on first use
(:func:`kernelsec_nb.sources._pod_ips.ensure`), as a lake does.

Examples
--------
>>> import kernelsec_nb as kn
>>> case = kn.open_case()
>>> stale(case.con)
False
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from kernelsec_nb import sources
from kernelsec_nb.sources import _pod_ips
from kernelsec_nb.store._ingest import TABLES as EVENT_TABLES
from kernelsec_nb.store._skew import clock_skew

_PROCESSES_SQL = (Path(__file__).with_name("processes.sql")).read_text()
# Falco alerts without Kubernetes fields (null or <NA>: its metadata client missed the pod) take
# them from Tetragon's processes of the same container, so every view filtered by namespace or pod
# shows them; `k8s_filled` says so.  Run after every load: the Tetragon events may come later.
_FILL_ALERTS_SQL = """
UPDATE alerts SET namespace = c.namespace, pod = c.pod, workload = c.workload, k8s_filled = true
FROM (SELECT container_id, any_value(namespace) AS namespace, any_value(pod) AS pod,
             any_value(workload) AS workload
      FROM processes WHERE container_id IS NOT NULL AND pod IS NOT NULL
      GROUP BY container_id HAVING count(DISTINCT pod) = 1) AS c
WHERE alerts.container_id = c.container_id AND alerts.pod IS NULL AND alerts.namespace IS NULL
"""

#: The sources' own derived columns (``Source.derive``), in registry order.
_SOURCE_DERIVE = [sql for s in sources.registry() for sql in s.derive]

#: What the derived tables are built from: the files that brought events (a file of blank,
#: refused or duplicate lines only changes none of them), by path and content.
_MARK = """
SELECT count(*) || ':' || coalesce(md5(string_agg(path || chr(10) || sha256, chr(10) ORDER BY path)), '')
FROM files WHERE loaded > 0
"""
_STORED = "SELECT derived_from FROM case_state"
_HAS_STATE = ("SELECT 1 FROM duckdb_tables() WHERE database_name = current_database() "
              "AND table_name = 'case_state'")
_HAS_POD_ADDRESSES = _HAS_STATE.replace("'case_state'", f"'{_pod_ips.TABLE}'")
_STAMP = ["DELETE FROM case_state", "INSERT INTO case_state VALUES (?, now())"]
#: Rows of an unfinished load: in an event table or the quarantine, of no file of ``files``.
_UNFINISHED = " UNION ALL ".join(
    f"(SELECT file FROM {t} WHERE file NOT IN (SELECT path FROM files) LIMIT 1)"  # noqa: S608 - our names
    for t in [*(t.name for t in EVENT_TABLES), "quarantine"])

#: How a read-only open that meets an unclean case says what to do (one line).
REPAIR = "open it once for writing to repair it: kn.open_case(path)"


def mark(con: duckdb.DuckDBPyConnection) -> str:
    """The mark of the case's loaded files (see :data:`_MARK`)."""
    return con.execute(_MARK).fetchall()[0][0]


def _stored(con: duckdb.DuckDBPyConnection) -> str | None:
    if not con.execute(_HAS_STATE).fetchall():  # a case made before the mark: rebuilt once
        return None
    rows = con.execute(_STORED).fetchall()
    return rows[0][0] if rows else None


def stale(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the derived tables were built from other files than the case now holds.

    A case without a mark is stale, unless it holds no event (a new case: nothing to derive)."""
    now = mark(con)
    stored = _stored(con)
    return stored != now and not (stored is None and now.startswith("0:"))


def derive_sources(con: duckdb.DuckDBPyConnection) -> None:
    """Build ``pod_addresses`` from ``flows`` and ``kprobes``, then run the sources' derived
    columns (``Source.derive``: the Istio requests' pods read it).  Part of :func:`rebuild`; the
    Spark ingest's driver runs it on the lake's files."""
    con.execute(_pod_ips.BUILD_SQL)
    for sql in _SOURCE_DERIVE:
        con.execute(sql)


def _missing(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the case has no ``pod_addresses`` table of its own (made before it existed)."""
    return not con.execute(_HAS_POD_ADDRESSES).fetchall()


def rebuild(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Rebuild ``processes``, the alerts' Kubernetes fields, ``pod_addresses``, the sources'
    derived columns and ``clock_offsets``, and stamp the mark, in one transaction (all or
    nothing: a crash in the middle leaves the case stale, and it is rebuilt again).  Returns the clock-skew warnings (:func:`~kernelsec_nb.store._skew.clock_skew`)."""
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(_PROCESSES_SQL)
        con.execute(_FILL_ALERTS_SQL)
        derive_sources(con)
        skew = clock_skew(con)
        con.execute(_STAMP[0])
        con.execute(_STAMP[1], [mark(con)])
        con.execute("COMMIT")
    except BaseException:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:  # the failure ended the transaction already
            pass
        raise
    return skew


def refresh(con: duckdb.DuckDBPyConnection) -> list[str] | None:
    """:func:`rebuild` when :func:`stale`, else stamp a new case; the clock-skew warnings of the
    rebuild, or None when the tables were current.  A current case without ``pod_addresses`` (a
    new case, or one made before it) gets it built from its flows and hooks."""
    if stale(con):
        return rebuild(con)
    if _missing(con):
        con.execute(_pod_ips.BUILD_SQL)
    if _stored(con) is None:  # a new case
        con.execute("BEGIN TRANSACTION")
        con.execute(_STAMP[0])
        con.execute(_STAMP[1], [mark(con)])
        con.execute("COMMIT")
    return None


def check(con: duckdb.DuckDBPyConnection, target: str) -> str | None:
    """Why a read-only open must refuse the case ``target`` (one line), or None when it is clean:
    rows of a load that did not finish, or derived tables older than the loaded files."""
    unfinished = con.execute(_UNFINISHED).fetchall()
    if unfinished:
        return (f"{target} holds rows of a load that did not finish ({unfinished[0][0]}); {REPAIR} "
                "(that removes them)")
    if stale(con):
        if _stored(con) is None:
            return f"{target} was made by an older kernelsec_nb: its processes table is rebuilt once; {REPAIR}"
        return f"{target} has tables not yet rebuilt after a load that did not finish; {REPAIR}"
    return None
