"""Expand what the analyst passed to ``Case.load`` into a sorted list of files."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

_SKIP_NAMES = {"TRUTH.json", "SOURCES.md", "README.md"}
#: Inside folders: documentation, notebooks and pictures (an export may be ``.txt``).
_SKIP_SUFFIXES = {".md", ".py", ".ipynb", ".html", ".png", ".svg"}
#: Case files (a case kept next to its exports): left out without a word.
_CASE_SUFFIXES = {".duckdb", ".wal", ".tmp"}


class LoadPathError(Exception):
    """A path given to ``load`` does not exist (one line, naming it)."""


@dataclass
class Found:
    """What :func:`discover` found: the files to read, paths it could not read (with a one-line
    message each), and files it left out of folders by their name."""

    files: list[Path] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)


def _skipped_by_name(p: Path) -> bool:
    return p.name in _SKIP_NAMES or p.suffix in _SKIP_SUFFIXES or p.name.startswith(".")


def _rotation_key(p: Path) -> tuple[str, int, str]:
    """Rotated siblings oldest first: ``x.log.2.gz``, ``x.log.1.gz``, ``x.log``."""
    parts = p.name.split(".")
    nums = [int(x) for x in parts if x.isdigit()]
    base = ".".join(x for x in parts if not x.isdigit() and x != "gz")
    return (str(p.parent / base), -(nums[-1] if nums else 0), p.name)


def _walk(folder: Path, out: Found) -> None:
    """The files under ``folder``; a folder that cannot be listed is an error, not a silent gap."""
    files = []

    def unreadable(err: OSError) -> None:
        out.errors.append((str(err.filename), f"cannot list {err.filename}: {err.strerror or err}"))

    for root, dirs, names in os.walk(folder, onerror=unreadable):
        dirs.sort()
        for name in names:
            f = Path(root) / name
            if not (f.is_file() or f.is_symlink()) or f.suffix in _CASE_SUFFIXES:
                continue
            (out.skipped if _skipped_by_name(f) else files).append(f)
    out.files.extend(sorted(files, key=_rotation_key))


def discover(paths: str | Path | Iterable[str | Path]) -> Found:
    """Files, folders (recursive) and glob patterns → files, rotated siblings oldest first.

    Inside folders, documentation, notebook and hidden files (``*.md``, ``TRUTH.json``, ``*.ipynb``,
    ``.name`` …) are left out and listed in ``skipped``, case files (``*.duckdb``, ``*.wal``)
    without a word; a file named explicitly is always read.  A path that cannot be looked at (no permission) is an error of
    its own; one that does not exist raises :class:`LoadPathError`.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out = Found()
    for item in paths:
        text = str(item)
        p = Path(text).expanduser()
        try:
            is_dir, exists = p.is_dir(), p.exists()
        except OSError as exc:  # e.g. a folder on the way that cannot be searched
            out.errors.append((text, f"cannot read {text}: {exc.strerror or exc}"))
            continue
        if is_dir:
            _walk(p, out)
        elif exists:
            out.files.append(p)
        elif any(ch in text for ch in "*?["):
            matches = [Path(m) for m in glob.glob(text, recursive=True)]
            files = [m for m in matches if m.is_file()]
            if not files:
                raise LoadPathError(f"no file matches {text!r}")
            out.files.extend(sorted(files, key=_rotation_key))
        else:
            raise LoadPathError(f"no such file or folder: {text}")
    seen: set[Path] = set()
    unique = []
    for f in out.files:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            unique.append(r)
    out.files = unique
    return out
