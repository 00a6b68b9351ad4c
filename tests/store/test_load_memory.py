"""Peak memory of a load grows with the bytes of a block, not with the number of lines.

52 million one-byte lines took over 12 GB; a gigabyte of newlines 5 GB.  Each load here runs in
its own process, whose peak RSS is compared for N and 4N lines: it must not grow with them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_CHILD = """
import json, resource, sys
import kernelsec_nb as kn
case = kn.open_case(sys.argv[2])
f = case.load(sys.argv[1], progress=False).files[0]
print(json.dumps({"rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "counts": [f.lines, f.loaded, f.quarantined, f.blank]}))
"""

_EVENT = json.dumps({"process_exec": {"process": {"pid": 1, "binary": "/bin/sh"}}, "node_name": "n1",
                     "time": "2026-11-20T10:00:00Z"})


def _peak(tmp_path, name: str, body: bytes, repeat: int) -> tuple[int, list[int]]:
    path = tmp_path / name
    with path.open("wb") as f:
        f.write(_EVENT.encode() + b"\n")
        for _ in range(repeat):
            f.write(body)
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(tmp_path / (name + ".duckdb"))],
                         capture_output=True, text=True, check=True, timeout=600)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    return got["rss"], got["counts"]


@pytest.mark.parametrize(("body", "kind"), [(b"x\n" * 250_000, "junk"), (b"\n" * 1_000_000, "blank")])
def test_peak_memory_does_not_grow_with_the_number_of_lines(tmp_path, body, kind):
    small, counts = _peak(tmp_path, "small", body, 1)
    large, counts4 = _peak(tmp_path, "large", body, 4)
    n = body.count(b"\n")
    if kind == "junk":
        assert counts == [n + 1, 1, n, 0] and counts4 == [4 * n + 1, 1, 4 * n, 0]
    else:
        assert counts == [n + 1, 1, 0, n] and counts4 == [4 * n + 1, 1, 0, 4 * n]
    # 3N more lines: at even 40 bytes a line that would be far more than 32 MB
    assert large - small < 32 << 20, (small >> 20, large >> 20)
