"""Container-log wrappers taken off every line before detection, whatever the source.

A tool's output collected from a pod's log (``kubectl logs`` keeps the line; the node's files under
``/var/log/pods`` do not) is wrapped by the container runtime:

* CRI (containerd, CRI-O): ``2024-05-01T10:00:00.123456789Z stdout F <line>`` (``F`` a full
  line, ``P`` a part of a longer one: each part is read as a line of its own);
* Docker's ``json-file`` driver: ``{"log":"<line>\\n","stream":"stdout","time":"..."}``.

:data:`UNWRAP_SQL` gives the line inside (the line itself when it is not wrapped).  The event id
stays the hash of the line as written, and ``case.raw()`` returns the written line: the wrapper's
time is not used (the event's own time is).
"""

from __future__ import annotations

#: A CRI log line's prefix: RFC 3339 time, stream, the full/partial tag, one space each.
CRI_PREFIX = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9:]+) (stdout|stderr) [FP] "

#: Docker's json-file line: the ``log`` key first, as the driver writes it, with ``stream``.
_DOCKER = "starts_with(raw, '{\"log\":') AND contains(raw, '\"stream\":')"
_DOCKER_LINE = "rtrim(TRY(json_extract_string(raw, '$.log')), chr(10) || chr(13))"

#: SQL over the written line ``raw``: the line inside a container-log wrapper, else ``raw``.
#: (A JSON line pays one ``starts_with``; any other one regular expression.)
UNWRAP_SQL: str = (
    f"CASE WHEN left(raw, 1) = '{{' THEN CASE WHEN {_DOCKER} THEN coalesce({_DOCKER_LINE}, raw) ELSE raw END "
    f"WHEN regexp_matches(raw, '{CRI_PREFIX}') THEN regexp_replace(raw, '{CRI_PREFIX}', '') "
    "ELSE raw END"
)
