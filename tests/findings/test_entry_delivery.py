"""The entry of a line whose key command ran a file another container of its pod wrote
(findings/_incident.py ``_entry_above``), on a few hand-made rows."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings import _evidence as E
from kernelsec_nb.findings import graph as G
from kernelsec_nb.findings._incident import _entry_above

S = 1_000_000_000


def evidence(*rows: tuple) -> pl.DataFrame:
    return pl.DataFrame([dict(zip(E.EVIDENCE_SCHEMA, r, strict=True)) for r in rows], schema=E.EVIDENCE_SCHEMA)


def edges(*rows: tuple) -> pl.DataFrame:
    return pl.DataFrame([dict(zip(G.EDGE_SCHEMA, r, strict=True)) for r in rows], schema=G.EDGE_SCHEMA)


def proc(parent: str | None, t: int) -> dict:
    return {"parent_exec_id": parent, "start_ns": t * S, "namespace": "app", "pod": "worker-0"}


# setup container: its script, the fetch of a tool into a shared volume; app container: its
# entrypoint runs the tool, which later starts a shell that reads a file (a service child)
INFO = {"setup-sh": proc("runtime", 1), "fetch": proc("setup-sh", 2), "app-sh": proc("runtime", 5),
        "tool": proc("app-sh", 6), "shell": proc("tool", 300), "reader": proc("shell", 301)}
IDS = set(INFO)
PEV = evidence(("shell", E.SERVICE_CHILD, 0.5, "started by the pod's service process tool", None, None, []),
               ("tool", E.PERSIST, 3.0, "drop and execute new binary", "d1", "r1", []))
EDGE = edges(("proc:fetch", "file:/shared/tool", G.WRITE, 3 * S, "wrote a file (used later)", "w1"),
             ("file:/shared/tool", "proc:tool", G.EXEC_FILE, 6 * S, "ran it", "x1"))


def test_a_key_run_from_a_file_another_container_wrote_enters_at_the_writer():
    assert _entry_above("tool", "shell", PEV, INFO, IDS, EDGE) == "fetch"
    # the writer's own line came in from outside: that is the entry
    exec_in = pl.concat([PEV, evidence(("setup-sh", E.EXEC_IN, 1.0, "exec'd in", None, None, []))])
    assert _entry_above("tool", "shell", exec_in, INFO, IDS, EDGE) == "setup-sh"
    # the line's top ran the file (the app container's own script is not in the line): the same
    assert _entry_above("tool", "shell", PEV, INFO, IDS - {"app-sh", "setup-sh"}, EDGE) == "fetch"


def test_a_writer_on_the_keys_own_line_leaves_the_entry_as_it_was():
    # the tool fetched by a sibling under the same shell: no new line, the entry given stays
    info = {**INFO, "fetch": proc("app-sh", 5)}
    assert _entry_above("tool", "shell", PEV, info, IDS, EDGE) == "shell"
    # no writer at all: as before
    assert _entry_above("tool", "shell", PEV, INFO, IDS, edges()) == "shell"
