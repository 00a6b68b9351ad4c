"""Benign operator work that is no incident: a unix socket's clients, a ``kubectl debug`` session
(an ephemeral container, a node debugger pod), a bare pod running the command its spec declares.
Each mechanism on a few rows of plain polars data."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings.graph import file_accesses, file_edges

S = 1_000_000_000
SOCK = '[{"file_arg":{"path":"/run/containerd/containerd.sock","permission":"srwxrwxrwx"}},{"int_arg":2}]'
FILE = '[{"file_arg":{"path":"/tmp/k","permission":"-rwxr-xr-x"}},{"int_arg":2}]'


def test_a_unix_socket_its_clients_write_to_is_no_file_used_later():
    k = pl.DataFrame({"exec_id": ["ps", "logs", "w", "r"], "node": ["n"] * 4, "namespace": ["d"] * 4,
                      "pod": ["dbg"] * 4, "event_id": ["k1", "k2", "k3", "k4"],
                      "file_path": ["/run/containerd/containerd.sock"] * 2 + ["/tmp/k"] * 2, "time_ns": [1, 2, 3, 4],
                      "function_name": ["security_file_permission"] * 4,
                      "hook_args": [SOCK, SOCK, FILE, FILE.replace('"int_arg":2', '"int_arg":4')]})
    acc = file_accesses(k)
    assert acc["exec_id"].to_list() == ["w", "r"]       # the socket's two clients are no file accesses
    e = file_edges(acc, pl.DataFrame({"exec_id": ["x"], "node": ["n"], "namespace": ["d"], "pod": ["dbg"],
                                      "binary": ["/bin/cat"], "args": ["/tmp/k"], "start_ns": [9]}))
    assert ("proc:w", "file:d/dbg:/tmp/k", "write") in e.select("src", "dst", "kind").rows()
