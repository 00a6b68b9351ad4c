"""A fuzzed capture for the parity tests: mutated lines of every source, nodes with hostile names
(and none), duplicates across files and nodes, runs of identical lines, blank and junk lines,
gzip, an identical copy of a file, an empty file and a file that is no export."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

from tests.store.lines import falco_alert, hubble_flow, tetragon_exec

NODES = ["n1", "node/with slash", "a=b%c d", "ümlaut:node", 'q"uote', None]


def _line(rng: random.Random) -> str:
    node = rng.choice(NODES)
    second = f"{rng.randrange(60):02d}"
    pick = rng.randrange(3)
    if pick == 0:
        text = tetragon_exec(pid=rng.randrange(100, 110), parent_pid=rng.choice([50, 100, 101]),
                             node=node or "n1", time=f"2026-11-20T10:00:{second}.123456789Z")
    elif pick == 1:
        text = hubble_flow(sport=rng.randrange(40000, 40010), node=node or "n1",
                           time=f"2026-11-2{rng.randrange(2)}T23:59:{second}.000000001Z")
    else:
        text = falco_alert(cmd=rng.choice(["sh", "bash"]), time=f"2026-11-20T10:00:{second}.5Z",
                           **{"container.id": rng.choice(["abababababab", "ababababab12"])})
    if node is None:  # no node at all
        data = json.loads(text)
        data.pop("node_name", None)
        text = json.dumps(data)
    return text


def _mutate(rng: random.Random, line: str) -> str:
    op = rng.choice(["cut", "insert", "flip_type", "overflow", "keep", "keep", "keep", "keep"])
    i = rng.randrange(len(line) + 1)
    if op == "cut":
        return line[:i]
    if op == "insert":
        return line[:i] + rng.choice(["\x00", "}", "{", '"', "é", "  "]) + line[i:]
    if op == "flip_type":
        return line.replace('"pid": 10', '"pid": "ten').replace("40000", '"x"')
    if op == "overflow":
        return line.replace('"pid": 10', '"pid": 99999999999999999999999').replace('"proc.pid": 100', '"proc.pid": -1e400')
    return line


def write(root: Path, seed: int = 23, files: int = 6, lines: int = 40) -> Path:
    """Write the capture under ``root``; returns ``root``."""
    rng = random.Random(seed)
    written: list[list[str]] = []
    for f in range(files):
        out: list[str] = []
        for _ in range(lines):
            r = rng.random()
            if r < 0.1 and written:  # a line another file has (another node's export, a re-export)
                out.append(rng.choice(rng.choice(written)))
            elif r < 0.15:
                out.append(rng.choice(["", "   ", "not json", "[1, 2]", '{"foo": 1}', "42"]))
            elif r < 0.2 and out:
                out.extend([out[-1]] * rng.randrange(1, 4))  # a run of identical lines
            else:
                out.append(_mutate(rng, _line(rng)))
        written.append(out)
        data = ("\n".join(out) + ("\n" if f % 2 else "")).encode()
        node_dir = root / f"node-{f % 3}"
        node_dir.mkdir(parents=True, exist_ok=True)
        if f == 2:
            (node_dir / f"export-{f}.json.gz").write_bytes(gzip.compress(data))
        else:
            (node_dir / f"export-{f}.json").write_bytes(data)
    (root / "node-1" / "copy-of-0.json").write_bytes((root / "node-0" / "export-0.json").read_bytes())
    (root / "node-2" / "empty.json").write_bytes(b"")
    (root / "node-2" / "notes.log").write_bytes(b"not an export\nat all\n")
    return root
