"""SQL helpers shared by the source modules (pure string building: no values, only names)."""

from __future__ import annotations


def epoch_ns(expr: str) -> str:
    """SQL for nanoseconds since the epoch of an RFC 3339 time string ``expr`` (NULL when
    unparseable).

    The tools write UTC (``Z``), read at nanosecond precision.  A time with another offset
    (``+01:00``, ``-0530``: a log shipper re-serialised it) is taken at that offset, to the
    nanosecond; one without any offset is UTC.  (The connection's time zone is UTC: see
    :func:`kernelsec_nb.store._connection.cursor`.)

    >>> import duckdb
    >>> con = duckdb.connect(); con.execute("SET TimeZone = 'UTC'") and None
    >>> times = ["2026-03-04T14:20:00.123456789Z", "2026-03-04T15:20:00.123456789+01:00", "2026-03-04T14:20:00.123456789"]
    >>> {con.execute(f"SELECT {epoch_ns('t')} FROM (SELECT ? AS t)", [t]).fetchall()[0][0] for t in times}
    {1772634000123456789}
    """
    return (f"CASE WHEN ends_with({expr}, 'Z') THEN epoch_ns(TRY_CAST({expr} AS TIMESTAMP_NS)) "
            f"ELSE epoch_ns(TRY_CAST({expr} AS TIMESTAMPTZ)) + epoch_ns(TRY_CAST({expr} AS TIMESTAMP_NS)) % 1000 END")


def short_container_id(expr: str) -> str:
    """SQL normalising a container id to the 12-character short form Falco and Docker print.

    ``containerd://<64 hex>``, ``docker://…``, ``cri-o://…`` and bare ids all map to the first 12
    hex characters, so Tetragon's, Hubble's and Falco's ids join.  ``host`` and empty stay NULL.
    """
    stripped = f"regexp_replace({expr}, '^[a-z0-9-]+://', '')"
    return f"CASE WHEN regexp_full_match({stripped}, '[0-9a-f]{{12,64}}') THEN left({stripped}, 12) END"


#: The alphabet Kubernetes draws generated name suffixes from (no vowels, no 0/1/3).
_SAFE = "[bcdfghjklmnpqrstvwxz2456789]"
#: A pod name's generated tail, by the controller that made it: ReplicaSet (Deployment) hash and
#: pod suffix, CronJob schedule time and pod suffix, DaemonSet or Job pod suffix, StatefulSet
#: ordinal.  The shortest name in front of one of them is the workload.
_POD_TAIL = (f"^(.+?)(-{_SAFE}{{6,10}}-{_SAFE}{{5}}|-[0-9]{{8,10}}-{_SAFE}{{5}}|-{_SAFE}{{5}}|-[0-9]+)$")


def workload_from_pod(expr: str) -> str:
    """SQL guessing a workload name from a pod name when the export does not carry one.

    Generated tails are dropped: ``web-7d9f8b6c5-x2k4p`` (Deployment) → ``web``,
    ``node-exporter-x7k2p`` (DaemonSet) → ``node-exporter``, ``backup-28950120-x7k2p`` (CronJob)
    → ``backup``, ``jenkins-0`` (StatefulSet) → ``jenkins``; a name without such a tail is kept.
    Kubernetes draws generated suffixes from an alphabet without vowels, so a word of the name
    (``exporter``) is not taken for one.

    >>> import duckdb
    >>> names = ["web-7d9f8b6c5-x2k4p", "node-exporter-x7k2p", "backup-28950120-x7k2p", "jenkins-0", "nginx"]
    >>> [duckdb.sql(f"SELECT {workload_from_pod(repr(n))}").fetchall()[0][0] for n in names]
    ['web', 'node-exporter', 'backup', 'jenkins', 'nginx']
    """
    return f"regexp_replace({expr}, '{_POD_TAIL}', '\\1')"


def null_if_na(expr: str) -> str:
    """SQL turning Falco's ``<NA>`` and empty strings into NULL."""
    return f"nullif(nullif({expr}, '<NA>'), '')"


#: The structure type of an integer field that reaches a column: its JSON text, turned into a number
#: by :func:`integer` (``json_transform`` into BIGINT rounds ``80.5`` and drops ``2**63``
#: silently).
INT = "VARCHAR"

#: The range of a port (a value outside it is no port: stored as NULL and counted).
PORT = (0, 65535)

#: The integer columns of the case tables and the range each accepts (None: any 64-bit integer).
#: The sources read these fields as their JSON text (``VARCHAR`` in the structures); the loader
#: turns the text into a number with :func:`integer` and counts what it could not keep
#: (:func:`integer_problem`), so that nothing is rounded, cut or dropped without a word.
INTEGER_COLUMNS: dict[str, tuple[int, int] | None] = {
    **dict.fromkeys(("pid", "uid", "tid", "auid", "ppid", "exit_status", "parent_pid", "parent_uid",
                     "src_identity", "dst_identity", "icmp_type", "http_code", "dns_rcode")),
    **dict.fromkeys(("src_port", "dst_port", "sport", "dport"), PORT),
}


def integer(expr: str, bounds: tuple[int, int] | None = None) -> str:
    """SQL for the JSON text ``expr`` of an integer field as a BIGINT: NULL unless it is written
    as a whole number (a JSON integer, or a string of digits as protojson writes 64-bit fields)
    that fits 64 bits and ``bounds``.

    ``80.5``, ``1e3``, ``"abc"``, ``true`` and ``9223372036854775808`` are not kept (DuckDB would
    round the first two, read the last as NULL and the string as NULL, all without a word).

    >>> import duckdb
    >>> texts = ["80", "-5", "80.5", "1000.0", "1e3", "0x1F", "abc", "9223372036854775808", "70000"]
    >>> [duckdb.sql(f"SELECT {integer(repr(t))}, {integer(repr(t), PORT)}").fetchall()[0] for t in texts]
    [(80, 80), (-5, None), (None, None), (None, None), (None, None), (None, None), (None, None), (None, None), (70000, None)]
    """
    value = f"TRY_CAST({expr} AS BIGINT)"
    # the text read back from the number: DuckDB's cast alone rounds '80.5' and reads '1e3',
    # ' 12', '0x1F' and '1_000' (about 40 ns a value)
    exact = f"CAST({value} AS VARCHAR) = {expr}"
    if bounds is not None:
        exact += f" AND {value} BETWEEN {bounds[0]} AND {bounds[1]}"
    return f"CASE WHEN {exact} THEN {value} END"


def integer_problem(expr: str, bounds: tuple[int, int] | None = None) -> str:
    """SQL naming why :func:`integer` did not keep the text ``expr`` (NULL when it did, or when
    the field is absent).

    >>> import duckdb
    >>> texts = ["80", "80.5", "9223372036854775808", "70000", None]
    >>> [duckdb.sql(f"SELECT {integer_problem('t', PORT)} FROM (SELECT ? AS t)", params=[t]).fetchall()[0][0]
    ...  for t in texts]
    [None, 'not an integer', 'past the 64-bit range', 'outside 0-65535', None]
    """
    ranged = (f"WHEN CAST(TRY_CAST({expr} AS BIGINT) AS VARCHAR) = {expr} "
              f"THEN 'outside {bounds[0]}-{bounds[1]}' ") if bounds is not None else ""
    return (f"CASE WHEN {expr} IS NULL OR {integer(expr, bounds)} IS NOT NULL THEN NULL {ranged}"
            f"WHEN regexp_full_match({expr}, '-?[0-9]+') THEN 'past the 64-bit range' "
            "ELSE 'not an integer' END")
