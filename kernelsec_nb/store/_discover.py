"""Expand what the analyst passed to ``Case.load`` into a sorted list of files."""

from __future__ import annotations

import glob
from collections.abc import Iterable
from pathlib import Path

_SKIP_NAMES = {"TRUTH.json", "SOURCES.md", "README.md"}
_SKIP_SUFFIXES = {".md", ".txt", ".py", ".ipynb", ".duckdb", ".wal", ".html", ".png", ".svg"}


class LoadPathError(Exception):
    """A path given to ``load`` does not exist (one line, naming it)."""


def _wanted(p: Path) -> bool:
    return p.is_file() and p.name not in _SKIP_NAMES and p.suffix not in _SKIP_SUFFIXES \
        and not p.name.startswith(".")


def _rotation_key(p: Path) -> tuple[str, int, str]:
    """Rotated siblings oldest first: ``x.log.2.gz``, ``x.log.1.gz``, ``x.log``."""
    parts = p.name.split(".")
    nums = [int(x) for x in parts if x.isdigit()]
    base = ".".join(x for x in parts if not x.isdigit() and x != "gz")
    return (str(p.parent / base), -(nums[-1] if nums else 0), p.name)


def discover(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    """Files, folders (recursive) and glob patterns → files, rotated siblings oldest first.

    Inside folders, documentation and notebook files (``*.md``, ``TRUTH.json``, ``*.ipynb`` …)
    are skipped; a file named explicitly is always read.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    found: list[Path] = []
    for item in paths:
        text = str(item)
        p = Path(text).expanduser()
        if p.is_dir():
            found.extend(sorted((x for x in p.rglob("*") if _wanted(x)), key=_rotation_key))
        elif p.exists():
            found.append(p)
        elif any(ch in text for ch in "*?["):
            matches = [Path(m) for m in glob.glob(text, recursive=True)]
            files = [m for m in matches if m.is_file()]
            if not files:
                raise LoadPathError(f"no file matches {text!r}")
            found.extend(sorted(files, key=_rotation_key))
        else:
            raise LoadPathError(f"no such file or folder: {text}")
    seen: set[Path] = set()
    unique = []
    for f in found:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            unique.append(r)
    return unique
