"""Builders for Tetragon export events (``tetra getevents -o json`` shape)."""

from __future__ import annotations

from typing import Any

from .fmt import proto_time
from .process import Proc
from .sink import Sink

ACTION_POST = "KPROBE_ACTION_POST"


def _parent_json(proc: Proc) -> dict[str, Any] | None:
    if proc.parent is None:
        return None
    return proc.parent.to_json(refcnt=proc.parent.children + 1)


def emit_exec(sink: Sink, proc: Proc, *, critical: bool = False) -> str:
    """Emit a ``process_exec`` event for ``proc`` at its start time.

    Parameters
    ----------
    sink : Sink
        Destination.
    proc : Proc
        The new process.
    critical : bool
        Protect this line from truncation.

    Returns
    -------
    str
        The JSON line.
    """
    body: dict[str, Any] = {"process": proc.to_json(refcnt=1)}
    parent = _parent_json(proc)
    if parent is not None:
        body["parent"] = parent
    t = proc.node.clock(proc.start_ns + 900)
    ev = {"process_exec": body, "node_name": proc.node.name, "time": proto_time(t)}
    return sink.add(proc.node.name, "tetragon", t, ev, critical)


def emit_exit(sink: Sink, proc: Proc, t: int, *, signal: str = "", status: int = 0,
              critical: bool = False) -> str:
    """Emit a ``process_exit`` event.

    Parameters
    ----------
    sink : Sink
        Destination.
    proc : Proc
        The exiting process.
    t : int
        True exit time.
    signal : str
        Killing signal name (e.g. ``SIGKILL``), empty for a normal exit.
    status : int
        Exit status; omitted when zero.
    critical : bool
        Protect this line from truncation.

    Returns
    -------
    str
        The JSON line.
    """
    wt = proc.node.clock(t)
    body: dict[str, Any] = {"process": proc.to_json()}
    parent = _parent_json(proc)
    if parent is not None:
        body["parent"] = parent
    if signal:
        body["signal"] = signal
    if status:
        body["status"] = status
    body["time"] = proto_time(wt)
    ev = {"process_exit": body, "node_name": proc.node.name, "time": proto_time(wt)}
    return sink.add(proc.node.name, "tetragon", wt, ev, critical)


def emit_kprobe(sink: Sink, proc: Proc, t: int, function_name: str, args: list[dict[str, Any]],
                policy_name: str, *, ret: dict[str, Any] | None = None,
                critical: bool = False) -> str:
    """Emit a ``process_kprobe`` event.

    Parameters
    ----------
    sink : Sink
        Destination.
    proc : Proc
        Process in whose context the hook fired.
    t : int
        True time.
    function_name : str
        Hooked kernel symbol.
    args : list of dict
        ``KprobeArgument`` objects, each with a single key.
    policy_name : str
        TracingPolicy name.
    ret : dict or None
        Return ``KprobeArgument``.
    critical : bool
        Protect this line from truncation.

    Returns
    -------
    str
        The JSON line.
    """
    wt = proc.node.clock(t)
    body: dict[str, Any] = {"process": proc.to_json(refcnt=1)}
    parent = _parent_json(proc)
    if parent is not None:
        body["parent"] = parent
    body["function_name"] = function_name
    body["args"] = args
    if ret is not None:
        body["return"] = ret
    body["action"] = ACTION_POST
    body["policy_name"] = policy_name
    ev = {"process_kprobe": body, "node_name": proc.node.name, "time": proto_time(wt)}
    return sink.add(proc.node.name, "tetragon", wt, ev, critical)


def sock_arg(saddr: str, daddr: str, sport: int, dport: int, cookie: int,
             state: str) -> dict[str, Any]:
    """A ``sock_arg`` kprobe argument for an IPv4 TCP socket.

    Parameters
    ----------
    saddr, daddr : str
        Local and remote IPv4 addresses.
    sport, dport : int
        Local and remote ports.
    cookie : int
        Socket cookie (serialised as a string, being a uint64).
    state : str
        TCP state name, e.g. ``TCP_SYN_SENT``.

    Returns
    -------
    dict
        ``{"sock_arg": {...}}``.
    """
    return {"sock_arg": {"family": "AF_INET", "type": "SOCK_STREAM", "protocol": "IPPROTO_TCP",
                         "saddr": saddr, "daddr": daddr, "sport": sport, "dport": dport,
                         "cookie": str(cookie), "state": state}}


def file_arg(path: str, permission: str = "") -> dict[str, Any]:
    """A ``file_arg`` kprobe argument."""
    inner: dict[str, Any] = {"path": path}
    if permission:
        inner["permission"] = permission
    return {"file_arg": inner}


def int_arg(value: int) -> dict[str, Any]:
    """An ``int_arg`` kprobe argument."""
    return {"int_arg": value}


def capability_arg(value: int, name: str) -> dict[str, Any]:
    """A ``capability_arg`` kprobe argument."""
    return {"capability_arg": {"value": value, "name": name}}


def creds_arg(uid: int, gid: int) -> dict[str, Any]:
    """A ``process_credentials_arg`` kprobe argument (``commit_creds``)."""
    return {"process_credentials_arg": {"uid": uid, "gid": gid, "euid": uid, "egid": gid,
                                        "suid": uid, "sgid": gid, "fsuid": uid, "fsgid": gid}}
