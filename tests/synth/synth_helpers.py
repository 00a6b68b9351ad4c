"""Helpers shared by the synthetic-data tests (module name kept unique)."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "data" / "deathstar"


def public_data_dir() -> Path:
    """Folder of real public samples (``shared/`` beside the repo, or env var)."""
    env = os.environ.get("KERNELSEC_PUBLIC_DATA")
    if env:
        return Path(env)
    return (REPO / ".." / "shared" / "data" / "public").resolve()


def read_lines(path: Path) -> list[str]:
    """Text lines of a plain or gzip file (without newlines)."""
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        raw = gzip.decompress(raw)
    if not raw:
        return []
    text = raw.decode()
    return text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")


def iter_events(root: Path, source: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(relative file, event)`` for every parseable line of a source."""
    names = {"tetragon": "tetragon.log", "hubble": "hubble-flows.json", "falco": "falco.json"}
    for path in sorted(root.glob(f"*/{names[source]}*")):
        for line in read_lines(path):
            try:
                yield str(path.relative_to(root)), json.loads(line)
            except json.JSONDecodeError:
                continue
