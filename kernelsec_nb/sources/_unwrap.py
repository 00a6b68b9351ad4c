"""Container-log wrappers: the prefix the container runtime puts around what a container printed.

A file that kubelet keeps (``/var/log/pods/<ns>_<pod>_<uid>/<container>/0.log``) or that a log
shipper copied holds each line of the container's output wrapped:

* **CRI** (containerd, CRI-O): ``<RFC3339Nano time> <stdout|stderr> <F|P> <payload>``; ``P`` marks
  a partial line (the runtime cut a line longer than 16 KiB: its payload goes on in the next line);
* **Docker** ``json-file``: ``{"log":"<payload>\\n","stream":"stdout","time":"<RFC3339Nano>"}``.

:func:`layers` give the payload and what the wrapper said (time, stream); a line with no wrapper
is its own payload.  SQL only, over a raw line expression: the sources that read container logs
detect and parse the payload.

Examples
--------
>>> w = run("raw", ["2022-07-22T12:24:13.900328365Z stdout F [2022-07-22T12:24:12.945Z] GET"])[0]
>>> w["wrapper"], w["stream"], w["partial"], w["payload"]
('cri', 'stdout', False, '[2022-07-22T12:24:12.945Z] GET')
"""

from __future__ import annotations

import json

#: A CRI container-log line: time, stream, tag (``F`` full, ``P`` partial), payload (the space
#: before an empty payload is gone: the reader drops trailing whitespace).
CRI_PATTERN = (r"^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:?[0-9]{2})) "
               r"(stdout|stderr) ([FP])(?: (.*))?$")
_CRI_FIELDS = "['time', 'stream', 'tag', 'payload']"
#: Docker's json-file line (the runtime writes ``log`` first).
DOCKER_PREFIX = '{"log":'
DOCKER_STRUCTURE = json.dumps({"log": "VARCHAR", "stream": "VARCHAR", "time": "VARCHAR"})


def layers(raw: str) -> list[dict[str, str]]:
    """SQL computing the struct ``w`` ``(wrapper, time, stream, partial, payload)`` of the line
    ``raw``, as layers: each a dict of named columns over the previous layers' (one projection
    each, so that every regex runs once a line).

    ``wrapper`` is ``'cri'``, ``'docker'`` or NULL (no wrapper: ``payload`` is the line);
    ``time`` is the runtime's RFC 3339 text; ``partial`` is true for a CRI ``P`` line (Docker's
    cut lines end without ``\\n`` like a last line does, so they are not told apart).  The
    payload of a Docker line loses its final line end.

    >>> lines = ['{"log":"hi\\\\n","stream":"stderr","time":"2024-01-01T00:00:00.5Z"}', "plain",
    ...          "2024-01-01T00:00:00Z stdout P part"]
    >>> [run("raw", lines_=[x])[0] for x in lines]  # doctest: +NORMALIZE_WHITESPACE
    [{'wrapper': 'docker', 'time': '2024-01-01T00:00:00.5Z', 'stream': 'stderr', 'partial': False, 'payload': 'hi'},
     {'wrapper': None, 'time': None, 'stream': None, 'partial': False, 'payload': 'plain'},
     {'wrapper': 'cri', 'time': '2024-01-01T00:00:00Z', 'stream': 'stdout', 'partial': True, 'payload': 'part'}]
    """
    cri = f"regexp_extract({raw}, '{CRI_PATTERN}', {_CRI_FIELDS})"
    docker = (f"CASE WHEN starts_with({raw}, '{DOCKER_PREFIX}') "
              f"THEN TRY(json_transform({raw}, '{DOCKER_STRUCTURE}')) END")
    w = f"""CASE
        WHEN _cri.tag <> '' THEN struct_pack(wrapper := 'cri', time := _cri.time, stream := _cri.stream,
                                             partial := _cri.tag = 'P', payload := _cri.payload)
        WHEN _docker.log IS NOT NULL THEN struct_pack(wrapper := 'docker', time := _docker.time,
            stream := _docker.stream, partial := false, payload := regexp_replace(_docker.log, '\\r?\\n$', ''))
        ELSE struct_pack(wrapper := NULL::VARCHAR, time := NULL::VARCHAR, stream := NULL::VARCHAR,
                         partial := false, payload := {raw})
    END"""
    return [{"_cri": cri, "_docker": docker}, {"w": w}]


def select(steps: list[dict[str, str]], source: str) -> str:
    """A ``SELECT`` of ``source``'s columns plus the layered columns ``steps`` (the last layer's
    names are the outermost).

    >>> select([{"a": "x + 1"}, {"b": "a * 2"}], "t")
    'SELECT *, a * 2 AS b FROM (SELECT *, x + 1 AS a FROM (t))'
    """
    sql = source
    for step in steps:
        cols = ", ".join(f"{expr} AS {name}" for name, expr in step.items())
        sql = f"SELECT *, {cols} FROM ({sql})"  # noqa: S608 - our own constants
    return sql


def run(raw_column: str, lines_: list[str]) -> list[dict]:
    """The unwrapped ``w`` of each line (for tests and the docs)."""
    import duckdb

    con = duckdb.connect()
    con.execute("CREATE TEMP TABLE _l (raw VARCHAR)")
    con.executemany("INSERT INTO _l VALUES (?)", [[x] for x in lines_])
    sql = f"SELECT w FROM ({select(layers(raw_column), 'SELECT * FROM _l')})"  # noqa: S608 - our own constants
    return [r[0] for r in con.execute(sql).fetchall()]
