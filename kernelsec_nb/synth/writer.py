"""Turns collected records into the on-disk capture: ordering noise, duplicates,
rotation with gzip, and the one truncated line."""

from __future__ import annotations

import gzip
import io
import random
from dataclasses import dataclass
from pathlib import Path

from .fmt import MS
from .sink import Record, Sink

TETRAGON_FILE = "tetragon.log"
HUBBLE_FILE = "hubble-flows.json"
FALCO_FILE = "falco.json"


@dataclass
class Layout:
    """Rotation thresholds (bytes of uncompressed text per file)."""

    tetragon_current_bytes: int = 700_000
    hubble_current_bytes: int = 500_000
    rotated_files: int = 2
    duplicates: int = 3


def write_lines(out: str | Path, rel: str, lines: list[str]) -> int:
    """Write ``lines`` (one NDJSON or log line each, no newline) to ``out/rel``, making its
    folders; returns the line count.

    >>> import tempfile
    >>> write_lines(tempfile.mkdtemp(), "n1/x.json", ['{"a":1}', '{"a":2}'])
    2
    """
    path = Path(out) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return len(lines)


def gzip_bytes(data: bytes) -> bytes:
    """Deterministic gzip: ``mtime=0`` and no file name in the header.

    Parameters
    ----------
    data : bytes
        Uncompressed payload.

    Returns
    -------
    bytes
        Gzip member.
    """
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=6) as gz:
        gz.write(data)
    return buf.getvalue()


def order(records: list[Record], rng: random.Random) -> list[Record]:
    """Sort by node-clock time with a few milliseconds of export jitter."""
    keyed = []
    for r in records:
        jitter = rng.randint(-4 * MS, 4 * MS) if rng.random() < 0.03 else 0
        keyed.append((r.written_ns + jitter, r.seq, r))
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [k[2] for k in keyed]


def rotation_size(records: list[Record], current_bytes: int, rotated: int) -> int:
    """Rotation threshold leaving about ``current_bytes`` in the live file.

    Parameters
    ----------
    records : list of Record
        Ordered records of one file family.
    current_bytes : int
        Desired size of the live (uncompressed) file.
    rotated : int
        Maximum number of rotated ``.N.gz`` files.

    Returns
    -------
    int
        Maximum bytes per file to use with :func:`chunk`.
    """
    total = sum(len(r.line) + 1 for r in records)
    if total <= current_bytes:
        return total + 1
    n = rotated if total > 3 * current_bytes else 1
    return -(-(total - current_bytes) // n) + 1


def chunk(records: list[Record], max_bytes: int) -> list[list[Record]]:
    """Split into rotation chunks of at most ``max_bytes`` (oldest first)."""
    chunks: list[list[Record]] = [[]]
    size = 0
    for r in records:
        n = len(r.line) + 1
        if size + n > max_bytes and chunks[-1]:
            chunks.append([])
            size = 0
        chunks[-1].append(r)
        size += n
    return chunks


def rotated_names(base: str, n: int) -> list[str]:
    """File names for ``n`` chunks, oldest first: ``base.{n-1}.gz`` ... ``base``."""
    return [f"{base}.{n - 1 - i}.gz" if i < n - 1 else base for i in range(n)]


def write_capture(out: Path, sink: Sink, nodes: list[str], rng: random.Random,
                  layout: Layout) -> dict[str, object]:
    """Write every node's files; return the file-related TRUTH entries.

    Parameters
    ----------
    out : Path
        Capture directory (created).
    sink : Sink
        Collected records.
    nodes : list of str
        Node names (directory names).
    rng : random.Random
        Seeded generator for jitter, duplicates and truncation.
    layout : Layout
        Rotation thresholds.

    Returns
    -------
    dict
        ``truncated_line``, ``duplicated_lines`` and ``files``.
    """
    out.mkdir(parents=True, exist_ok=True)
    ordered = {key: order(recs, rng) for key, recs in sorted(sink.records.items())}

    # byte-identical duplicate Hubble lines (an exporter retry)
    dup_done = 0
    while dup_done < layout.duplicates:
        node = rng.choice(nodes)
        recs = ordered.get((node, "hubble"), [])
        if len(recs) < 10:
            continue
        i = rng.randint(1, len(recs) - 2)
        recs.insert(i + rng.randint(1, 3), recs[i])
        dup_done += 1

    files: dict[str, dict[str, int]] = {}
    content: dict[str, tuple[list[Record], bool]] = {}
    for node in nodes:
        for source, base, current in (
            ("tetragon", TETRAGON_FILE, layout.tetragon_current_bytes),
            ("hubble", HUBBLE_FILE, layout.hubble_current_bytes),
            ("falco", FALCO_FILE, 1 << 60),
        ):
            recs = ordered.get((node, source), [])
            chunks = chunk(recs, rotation_size(recs, current, layout.rotated_files))
            for name, part in zip(rotated_names(base, len(chunks)), chunks, strict=True):
                content[f"{node}/{name}"] = (part, name.endswith(".gz"))

    # the truncated last line of a rotated Tetragon file
    candidates = sorted(k for k in content if k.endswith(f"{TETRAGON_FILE}.1.gz"))
    trunc_file = rng.choice(candidates) if candidates else ""
    trunc_line = 0
    if trunc_file:
        part = content[trunc_file][0]
        newer = content[trunc_file.replace(".1.gz", "")][0]
        while part[-1].critical:
            newer.insert(0, part.pop())
        trunc_line = len(part)

    for rel in sorted(content):
        part, gz = content[rel]
        text = "".join(r.line + "\n" for r in part)
        events = len(part)
        if rel == trunc_file:
            last = part[-1].line
            cut = int(len(last) * (0.35 + 0.4 * rng.random()))
            text = text[: len(text) - len(last) - 1] + last[:cut]
            events -= 1
        data = text.encode()
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip_bytes(data) if gz else data)
        files[rel] = {"lines": len(part), "events": events}
    return {
        "truncated_line": {"file": trunc_file, "line": trunc_line},
        "duplicated_lines": dup_done,
        "files": files,
    }
