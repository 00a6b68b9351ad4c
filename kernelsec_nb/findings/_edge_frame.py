"""The evidence graph's vocabulary: the edges frame (:data:`EDGE_SCHEMA`), the edge kinds, the
typed node ids and the windows of the derived edges (:class:`GraphSettings`).  The builders live in
:mod:`kernelsec_nb.findings.graph` (which re-exports all of this) and
:mod:`kernelsec_nb.findings._file_edges`.

Examples
--------
>>> pl.DataFrame({"exec_id": ["a"]}).select(proc_id()).item()
'proc:a'
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

NS = 1_000_000_000

#: The columns of an edges frame.
EDGE_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "src": pl.String, "dst": pl.String, "kind": pl.String, "time_ns": pl.Int64, "why": pl.String,
    "event_id": pl.String}

SPAWN = "spawn"                  # parent → child
CONNECT = "connect"              # process → destination pod or address (let through)
BLOCKED = "blocked"              # process → destination a policy dropped
SERVICE = "service"              # process → a process its connection's destination pod started next
SERVICE_WRITE = "service_write"  # process → a file its connection's destination pod wrote next
SERVICE_CONNECT = "service_connect"  # process → an outside address its connection's destination pod connected to next
WRITE = "write"                  # process → file it wrote (that something used later)
EXEC_FILE = "exec_file"          # file → process that ran it (binary or script argument)
READ_FILE = "read_file"          # file → process that read it later
READ_SPAWN = "read_spawn"        # file → a child its reader started right after reading it (a web shell)
SERVED = "served"                # file dropped into a server's directory → an unusual child the server started later
HTTP = "http"                    # request's source → the process in the pod that handled it (Hubble L7, sidecar logs)
API = "api"                      # a call to the Kubernetes API → the first process of a pod started next
ESCAPE = "escape"                # a pod's process that escaped to its node → a suspicious host process after it
DNS = "dns"                      # process → ``dns:<domain>``: a lookup that carried data out (a DNS tunnel)
#: ATT&CK "Escape to Host": a detection tagged with it marks the process that left its container.
ESCAPE_TECHNIQUE = "T1611"
KINDS = (SPAWN, CONNECT, BLOCKED, SERVICE, SERVICE_WRITE, SERVICE_CONNECT, WRITE, EXEC_FILE, READ_FILE, READ_SPAWN, SERVED, HTTP, API, ESCAPE, DNS)
#: The Kubernetes API server's port (behind the ``kubernetes.default`` service), and Cilium's label
#: for it: a connection there is an API call.
API_PORT = 6443
API_LABEL = "reserved:kube-apiserver"

#: Hook function names that change a file (the first ``file_arg``/``path_arg`` is the target).
WRITE_FUNCTIONS = r"(?i)(write|creat|rename|truncate|link|mknod|chmod|chown|mkdir|setattr)"
#: Permission-check hooks whose mask argument says read (4) or write (2) / append (8).
PERMISSION_FUNCTIONS = r"(?i)permission"
MAY_WRITE = 2 | 8
MAY_READ = 4


@dataclass(frozen=True)
class GraphSettings:
    """Windows of the derived edges (one place, not inline)."""

    #: a process or file write in a destination pod this soon after a connection into it
    service_window_ns: int = 5 * NS
    #: a child started by a pod's process this soon after an HTTP request into the pod
    http_window_ns: int = 2 * NS
    #: a pod's first process this soon after a call to the Kubernetes API (scheduling, image pull)
    api_window_ns: int = 180 * NS
    #: a child started by a process this soon after it read a file another process wrote
    read_spawn_window_ns: int = 2 * NS
    #: an unusual child of a server this long at most after a session exec'd into its pod dropped a
    #: file under the server's working directory (a web shell used later, no read hook to show it)
    served_window_ns: int = 3600 * NS
    #: a suspicious process on the node's host this soon after a pod's process escaped to it
    escape_window_ns: int = 3600 * NS


DEFAULT = GraphSettings()


def empty_edges() -> pl.DataFrame:
    """An edges frame without rows."""
    return pl.DataFrame(schema=EDGE_SCHEMA)


def _edges(frame: pl.DataFrame) -> pl.DataFrame:
    for c in EDGE_SCHEMA:
        if c not in frame.columns:
            frame = frame.with_columns(pl.lit(None).alias(c))
    return frame.select(list(EDGE_SCHEMA)).cast(EDGE_SCHEMA)  # type: ignore[arg-type]


def proc_id(col: str = "exec_id") -> pl.Expr:
    """``proc:<exec_id>``."""
    return pl.lit("proc:") + pl.col(col)


def pod_id(ns: str, pod: str) -> pl.Expr:
    """``pod:<namespace>/<pod>`` from two columns (``""`` for a missing namespace)."""
    return pl.concat_str([pl.lit("pod:"), pl.col(ns).fill_null(""), pl.lit("/"), pl.col(pod)])


def ext_id(ip: str, port: str) -> pl.Expr:
    """``ext:<ip>:<port>``."""
    return pl.concat_str([pl.lit("ext:"), pl.col(ip), pl.lit(":"), pl.col(port).cast(pl.String).fill_null("")])


def file_id(path: str = "path") -> pl.Expr:
    """``file:<ns>/<pod>:<path>`` for a container's file, ``file:node:<node>:<path>`` for the host's."""
    scope = pl.when(pl.col("pod").is_not_null()).then(
        pl.concat_str([pl.col("namespace").fill_null(""), pl.lit("/"), pl.col("pod")])
    ).otherwise(pl.lit("node:") + pl.col("node").fill_null(""))
    return pl.concat_str([pl.lit("file:"), scope, pl.lit(":"), pl.col(path)])


def _col(frame: pl.DataFrame, name: str, dtype: pl.DataType | type[pl.DataType] = pl.String) -> pl.Expr:
    return pl.col(name) if name in frame.columns else pl.lit(None, dtype).alias(name)


__all__ = ["API", "API_LABEL", "API_PORT", "BLOCKED", "CONNECT", "DEFAULT", "DNS", "EDGE_SCHEMA", "ESCAPE",
           "ESCAPE_TECHNIQUE", "EXEC_FILE", "GraphSettings", "HTTP", "KINDS", "MAY_READ", "MAY_WRITE", "NS",
           "PERMISSION_FUNCTIONS", "READ_FILE", "READ_SPAWN", "SERVED", "SERVICE", "SERVICE_CONNECT", "SERVICE_WRITE", "SPAWN",
           "WRITE", "WRITE_FUNCTIONS", "empty_edges", "ext_id", "file_id", "pod_id", "proc_id"]
