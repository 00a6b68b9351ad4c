"""Low-level formatting helpers shared by every synthetic source.

Times are carried as integer nanoseconds since the Unix epoch and rendered the
way each exporter renders them (protobuf JSON for Tetragon and Hubble, fixed
nine fractional digits for Falco).
"""

from __future__ import annotations

import base64
import json
import time
from functools import lru_cache

NS = 1_000_000_000
MS = 1_000_000
US = 1_000

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(obj: object) -> str:
    """Serialise ``obj`` compactly, as the Go exporters do.

    Parameters
    ----------
    obj : object
        JSON-serialisable value.

    Returns
    -------
    str
        Compact JSON text without a trailing newline.
    """
    return _ENCODER.encode(obj)


@lru_cache(maxsize=65536)
def _second_prefix(sec: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))


def proto_time(ns: int) -> str:
    """Render a protobuf ``Timestamp`` the way ``protojson`` does.

    Parameters
    ----------
    ns : int
        Nanoseconds since the epoch.

    Returns
    -------
    str
        RFC 3339 UTC string with 0, 3, 6 or 9 fractional digits and ``Z``.
    """
    sec, frac = divmod(ns, NS)
    head = _second_prefix(sec)
    if frac == 0:
        return head + "Z"
    if frac % MS == 0:
        return f"{head}.{frac // MS:03d}Z"
    if frac % US == 0:
        return f"{head}.{frac // US:06d}Z"
    return f"{head}.{frac:09d}Z"


def nano_time(ns: int) -> str:
    """Render a time with exactly nine fractional digits (Falco style).

    Parameters
    ----------
    ns : int
        Nanoseconds since the epoch.

    Returns
    -------
    str
        ``YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ``.
    """
    sec, frac = divmod(ns, NS)
    return f"{_second_prefix(sec)}.{frac:09d}Z"


def falco_output_time(ns: int) -> str:
    """Render the timestamp that prefixes a Falco ``output`` message.

    Parameters
    ----------
    ns : int
        Nanoseconds since the epoch.

    Returns
    -------
    str
        ``YYYY-MM-DDTHH:MM:SS.nnnnnnnnn+0000``.
    """
    sec, frac = divmod(ns, NS)
    return f"{_second_prefix(sec)}.{frac:09d}+0000"


def second_time(ns: int) -> str:
    """Render a time truncated to whole seconds (container start times).

    Parameters
    ----------
    ns : int
        Nanoseconds since the epoch.

    Returns
    -------
    str
        ``YYYY-MM-DDTHH:MM:SSZ``.
    """
    return _second_prefix(ns // NS) + "Z"


def exec_id(node: str, ktime_ns: int, pid: int) -> str:
    """Build a Tetragon exec id: base64 of ``node:ktime:pid``.

    Parameters
    ----------
    node : str
        Node name as known to the Tetragon agent.
    ktime_ns : int
        Monotonic kernel time of the exec, in nanoseconds since boot.
    pid : int
        Host PID.

    Returns
    -------
    str
        Standard base64 (with padding) of the ASCII triple.
    """
    return base64.b64encode(f"{node}:{ktime_ns}:{pid}".encode()).decode()


def parse_proto_time(text: str) -> int:
    """Parse an RFC 3339 UTC string back to epoch nanoseconds.

    Parameters
    ----------
    text : str
        ``YYYY-MM-DDTHH:MM:SS[.fraction]Z``.

    Returns
    -------
    int
        Nanoseconds since the epoch.
    """
    import calendar

    body = text.rstrip("Z")
    if "." in body:
        head, frac = body.split(".", 1)
        frac_ns = int(frac.ljust(9, "0")[:9])
    else:
        head, frac_ns = body, 0
    sec = calendar.timegm(time.strptime(head, "%Y-%m-%dT%H:%M:%S"))
    return sec * NS + frac_ns
