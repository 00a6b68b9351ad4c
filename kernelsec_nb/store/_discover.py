"""Expand what the analyst passed to ``Case.load`` into a sorted list of files.

Only regular files are ever read: a FIFO would block the load forever, a device such as
``/dev/urandom`` never ends.  Folders are walked with cycle detection (by the ``(st_dev, st_ino)``
of each folder), and a link that leads out of the folder being loaded is not followed unless
the analyst asks (``follow_links=True``): a link planted in an evidence folder must not make the
load read, and quote in its messages, a file of the analyst's machine.  Every entry left out
for such a reason is reported (:attr:`Found.refused`), never dropped without a word.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

_SKIP_NAMES = {"TRUTH.json", "SOURCES.md", "README.md"}
#: Inside folders: documentation, notebooks and pictures (an export may be ``.txt``).
_SKIP_SUFFIXES = {".md", ".py", ".ipynb", ".html", ".png", ".svg"}
#: Case files (a case kept next to its exports): left out without a word.
_CASE_SUFFIXES = {".duckdb", ".wal", ".tmp"}
_MAGIC = "*?["


class LoadPathError(Exception):
    """A path given to ``load`` does not exist (one line, naming it)."""


@dataclass
class Found:
    """What :func:`discover` found.

    ``files``: the files to read (real paths, each once); ``errors``: paths it could not look at
    (with a one-line message each); ``skipped``: files it left out of folders by their name;
    ``refused``: entries it did not read for what they are (a link out of the folder, a symlink
    loop, a FIFO, a device, a socket), each with its reason.
    """

    files: list[Path] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)


def _skipped_by_name(p: Path) -> bool:
    return p.name in _SKIP_NAMES or p.suffix in _SKIP_SUFFIXES or p.name.startswith(".")


def _rotation_key(p: Path) -> tuple[str, int, str]:
    """Rotated siblings oldest first: ``x.log.2.gz``, ``x.log.1.gz``, ``x.log``."""
    parts = p.name.split(".")
    nums = [int(x) for x in parts if x.isdigit()]
    base = ".".join(x for x in parts if not x.isdigit() and x != "gz")
    return (str(p.parent / base), -(nums[-1] if nums else 0), p.name)


def kind_of(mode: int) -> str:
    """What a file that is not a regular file is, in words (``a FIFO``, ``a character device`` …)."""
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a regular file"


def _inside(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


# -- glob patterns, matched while walking (no link followed out, no cycle) ---------------------
def _name_matches(pattern: str, name: str) -> bool:
    if name.startswith(".") and not pattern.startswith("."):  # as glob: `*` skips hidden names
        return False
    return fnmatch.fnmatchcase(name, pattern)


def _matches(pattern: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    """Does the relative path ``parts`` match ``pattern`` (``**`` any number of folders)?"""
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return _matches(rest, parts) or (bool(parts) and not parts[0].startswith(".")
                                         and _matches(pattern, parts[1:]))
    return bool(parts) and _name_matches(head, parts[0]) and _matches(rest, parts[1:])


def _may_hold(pattern: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    """Can a path below the folder ``parts`` match ``pattern``?"""
    if not parts:
        return bool(pattern)
    if not pattern:
        return False
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return _may_hold(rest, parts) or (not parts[0].startswith(".") and _may_hold(pattern, parts[1:]))
    return _name_matches(head, parts[0]) and _may_hold(rest, parts[1:])


class _Walk:
    """Walk one folder the analyst named (or a glob pattern's fixed folder).

    ``want_file(parts)`` says whether a file at the relative path ``parts`` is wanted:
    ``True`` (read it), ``False`` (left out without a word) or ``None`` (left out by its name,
    listed in ``skipped``); ``want_folder(parts)`` whether to look inside a folder.
    """

    def __init__(self, root: Path, follow_links: bool, out: Found,
                 want_file: Callable[[tuple[str, ...], Path], bool | None],
                 want_folder: Callable[[tuple[str, ...]], bool]) -> None:
        self.root = root
        self.real_root = os.path.realpath(root)
        self.follow = follow_links
        self.out = out
        self.want_file = want_file
        self.want_folder = want_folder
        self.seen: dict[tuple[int, int], Path] = {}  # folders listed, by (st_dev, st_ino)
        self.files: list[Path] = []

    def run(self) -> list[Path]:
        st = os.stat(self.root)
        self._folder(self.root, (), ((st.st_dev, st.st_ino),))
        return self.files

    def _refuse(self, path: Path, reason: str) -> None:
        self.out.refused.append((str(path), reason))

    def _folder(self, folder: Path, rel: tuple[str, ...], ancestors: tuple[tuple[int, int], ...]) -> None:
        self.seen[ancestors[-1]] = folder
        try:
            with os.scandir(folder) as it:
                names = sorted(entry.name for entry in it)
        except OSError as err:  # a folder that cannot be listed is an error, not a silent gap
            self.out.errors.append((str(folder), f"cannot list {folder}: {err.strerror or err}"))
            return
        for name in names:
            self._entry(folder / name, (*rel, name), ancestors)

    def _entry(self, path: Path, rel: tuple[str, ...], ancestors: tuple[tuple[int, int], ...]) -> None:
        wanted = self.want_file(rel, path) is not False or self.want_folder(rel)
        try:
            st = os.stat(path)  # follows links: what would be read
        except OSError as exc:
            if not wanted:
                return
            if exc.errno == errno.ELOOP:
                self._refuse(path, "a symlink loop: not read")
            elif exc.errno in (errno.ENOENT, errno.ENOTDIR) and os.path.islink(path):
                self.out.errors.append((str(path), f"cannot read {path}: a link to "
                                        f"{os.path.realpath(path)}, which does not exist"))
            else:
                self.out.errors.append((str(path), f"cannot read {path}: {exc.strerror or exc}"))
            return
        real = os.path.realpath(path)
        is_dir = stat.S_ISDIR(st.st_mode)
        if not self.follow and not _inside(real, self.real_root):
            if self.want_folder(rel) if is_dir else self.want_file(rel, path) is not False:
                what = "a folder" if is_dir else "a file"
                self._refuse(path, f"a link to {what} outside {self.root} ({real}): not followed "
                             "(follow_links=True, or --follow-links, reads it)")
            return
        if is_dir:
            if not self.want_folder(rel):
                return
            key = (st.st_dev, st.st_ino)
            if key in ancestors:
                self._refuse(path, f"a symlink loop: it leads back to {self.seen[key]}; not read again")
            elif key in self.seen:
                self._refuse(path, f"the same folder as {self.seen[key]}, read there")
            else:
                self._folder(path, rel, (*ancestors, key))
            return
        want = self.want_file(rel, path)
        if want is None:
            self.out.skipped.append(path)
        elif want:
            if stat.S_ISREG(st.st_mode):
                self.files.append(path)
            else:
                via = f"a link to {real}, " if os.path.islink(path) else ""
                self._refuse(path, f"{via}{kind_of(st.st_mode)}, not a regular file: never read")


def _folder_file(rel: tuple[str, ...], path: Path) -> bool | None:
    if path.suffix in _CASE_SUFFIXES:
        return False
    return None if _skipped_by_name(path) else True


def _split_pattern(text: str) -> tuple[Path, tuple[str, ...]]:
    """A glob pattern's fixed folder and the pattern below it."""
    parts = Path(text).parts
    i = next(i for i, part in enumerate(parts) if any(ch in part for ch in _MAGIC))
    return Path(*parts[:i]) if i else Path("."), tuple(parts[i:])


def discover(paths: str | Path | Iterable[str | Path], *, follow_links: bool = False) -> Found:
    """Files, folders (recursive) and glob patterns → files, rotated siblings oldest first.

    Inside folders, documentation, notebook and hidden files (``*.md``, ``TRUTH.json``, ``*.ipynb``,
    ``.name`` …) are left out and listed in ``skipped``, case files (``*.duckdb``, ``*.wal``)
    without a word; a file named explicitly is always read.  A path that cannot be looked at
    (no permission) is an error of its own; one that does not exist raises :class:`LoadPathError`.

    Only regular files are read: inside a folder (or among a pattern's matches) a FIFO, device,
    socket, symlink loop, or — unless ``follow_links`` — a link to a file or folder outside the
    folder is listed in ``refused`` with its reason; a FIFO or device named explicitly is an
    error.  Each folder is listed once (a link back to a folder above is a loop, reported).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "a.log").write_text("{}"); (d / "up").symlink_to(d.parent)
    >>> found = discover(d)
    >>> [p.name for p in found.files], [reason.split(" (")[0].replace(str(d), "<d>") for _, reason in found.refused]
    (['a.log'], ['a link to a folder outside <d>'])
    """
    if isinstance(paths, (str, Path, os.PathLike)):
        paths = [paths]
    elif not isinstance(paths, Iterable) or isinstance(paths, (bytes, dict)):
        raise LoadPathError(f"give a file, a folder or a glob pattern (or a list of them) to load, not {type(paths).__name__}")
    paths = list(paths)
    for item in paths:
        if not isinstance(item, (str, os.PathLike)):
            raise LoadPathError(f"a path to load must be a text or a Path, not {type(item).__name__}")
    out = Found()
    for item in paths:
        text = str(item)
        p = Path(text).expanduser()
        try:
            st = os.stat(p)
        except (FileNotFoundError, NotADirectoryError):
            if not any(ch in text for ch in _MAGIC):
                raise LoadPathError(f"no such file or folder: {text}") from None
            _glob(str(p), follow_links, out, text)
            continue
        except OSError as exc:  # a folder on the way that cannot be searched, a symlink loop
            why = "a symlink loop" if exc.errno == errno.ELOOP else exc.strerror or exc
            out.errors.append((text, f"cannot read {text}: {why}"))
            continue
        if stat.S_ISDIR(st.st_mode):
            found = _Walk(p, follow_links, out, _folder_file, lambda rel: True).run()
            out.files.extend(sorted(found, key=_rotation_key))
        elif stat.S_ISREG(st.st_mode):
            out.files.append(p)
        else:
            out.errors.append((text, f"{text} is {kind_of(st.st_mode)}, not a regular file: "
                               "refused (it is never read: it could block or never end)"))
    seen: set[str] = set()
    unique = []
    for f in out.files:
        r = os.path.realpath(f)
        if r not in seen:
            seen.add(r)
            unique.append(Path(r))
    out.files = unique
    return out


def _glob(pattern: str, follow_links: bool, out: Found, text: str) -> None:
    root, rest = _split_pattern(pattern)
    before = len(out.refused) + len(out.errors)
    found: list[Path] = []
    if root.is_dir():
        found = _Walk(root, follow_links, out, lambda rel, _p: _matches(rest, rel),
                      lambda rel: _may_hold(rest, rel)).run()
    if not found and len(out.refused) + len(out.errors) == before:
        raise LoadPathError(f"no file matches {text!r}")
    out.files.extend(sorted(found, key=_rotation_key))
