"""What a load did: per file and per source, every line accounted for."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from kernelsec_nb import _paths
from kernelsec_nb._text import shown


@dataclass
class FileResult:
    """One input file: ``lines == loaded + duplicates + quarantined + blank`` always holds."""

    path: str
    #: 'loaded', 'loaded with errors', 'already loaded', 'error', or 'skipped' (an entry of a
    #: folder not read for what it is: a link out of the folder, a loop, a FIFO, a device)
    status: str
    sources: tuple[str, ...] = ()
    format: str = "ndjson"
    lines: int = 0
    loaded: int = 0
    duplicates: int = 0
    quarantined: int = 0
    blank: int = 0
    message: str = ""
    #: What the load changed in events it stored, and in how many (an integer it could not keep
    #: stored as NULL, an unreadable time replaced): message -> count.  The exported line keeps
    #: the original (``case.raw(event_id)``).
    warnings: dict[str, int] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return self.lines == self.loaded + self.duplicates + self.quarantined + self.blank


_TOTALS = ("lines", "loaded", "quarantined", "duplicates", "blank")


@dataclass
class LoadReport:
    """The result of :meth:`kernelsec_nb.Case.load`.

    ``print(report)`` gives a table per file and per source; :meth:`to_dict` gives the totals
    ``files``, ``lines``, ``loaded``, ``quarantined``, ``duplicates``, ``blank``, ``errors``,
    ``skipped``, a ``per_source`` breakdown, ``per_file`` (each with its ``warnings`` counts) and
    ``warnings`` (values the load changed, clock skew, notes: what ``kernelsec-nb load --json``
    prints).  Entries of a folder that were not read (``skipped`` rows: a link out of the folder,
    a symlink loop, a FIFO, a device) have a row each with the reason, and count in no total.
    """

    files: list[FileResult] = field(default_factory=list)
    clock_skew: list[str] = field(default_factory=list)
    #: What the analyst should know about the load as a whole (files left out of folders, ...).
    notes: list[str] = field(default_factory=list)

    def value_warnings(self) -> list[str]:
        """One line per file and kind of value the load changed, e.g.
        ``t.json: 3 events: pid past the 64-bit range, stored as NULL (the line keeps it: case.raw)``."""
        return [f"{f.path}: {n} event{'s' if n != 1 else ''}: {message} (the line keeps it: case.raw)"
                for f in self.files for message, n in f.warnings.items()]

    def total(self, name: str) -> int:
        return sum(getattr(f, name) for f in self.files)

    @property
    def errors(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "error"]

    @property
    def skipped(self) -> list[FileResult]:
        """Entries of the folders that were not read, each with its reason."""
        return [f for f in self.files if f.status == "skipped"]

    def _counted(self) -> list[FileResult]:
        return [f for f in self.files if f.status != "skipped"]

    def per_source(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for f in self._counted():
            key = "+".join(f.sources) or "none"
            agg = out.setdefault(key, {"files": 0, **{k: 0 for k in _TOTALS}})
            agg["files"] += 1
            for k in _TOTALS:
                agg[k] += getattr(f, k)
        return out

    def to_dict(self) -> dict[str, object]:
        return {
            "files": len(self._counted()),
            **{k: self.total(k) for k in _TOTALS},
            "errors": [{"path": f.path, "message": f.message} for f in self.errors],
            "skipped": [{"path": f.path, "message": f.message} for f in self.skipped],
            "per_source": self.per_source(),
            "per_file": [asdict(f) for f in self.files],
            "warnings": [*self.value_warnings(), *self.clock_skew, *self.notes],
        }

    def __str__(self) -> str:
        return self.text()

    def text(self, *, relative: bool = False) -> str:
        """The table per file and per source (what ``print(report)`` shows).

        ``relative=True``: each file relative to the folder loaded (prefixed by that folder's
        name), and that folder's parents taken out of the messages: what a shared report prints,
        without the analyst's own paths.
        """
        base = _paths.common_base([f.path for f in self.files]) if relative else ""
        names = _paths.relative_names([f.path for f in self.files]) if relative else [f.path for f in self.files]
        head = f"{'file':<60} {'source':<16} {'lines':>9} {'loaded':>9} {'dup':>7} {'quar':>6} {'blank':>6}"
        rows = [head, "-" * len(head)]
        for f, path in zip(self.files, names, strict=True):
            name = path if len(path) <= 60 else "…" + path[-59:]
            src = "+".join(f.sources) or "-"
            if f.status == "skipped":
                rows.append(f"{name:<60} {'-':<16} {'not read':>9}")
                rows.append(f"    skipped: {f.message}")
                continue
            rows.append(
                f"{name:<60} {src:<16} {f.lines:>9} {f.loaded:>9} {f.duplicates:>7} "
                f"{f.quarantined:>6} {f.blank:>6}"
            )
            if f.status != "loaded" or f.message:
                rows.append(f"    {f.status}: {f.message}" if f.message else f"    {f.status}")
        rows.append("-" * len(head))
        for src, agg in self.per_source().items():
            rows.append(
                f"{'  per source':<60} {src:<16} {agg['lines']:>9} {agg['loaded']:>9} "
                f"{agg['duplicates']:>7} {agg['quarantined']:>6} {agg['blank']:>6}"
            )
        rows.append(
            f"{'total (' + str(len(self._counted())) + ' files)':<60} {'':<16} {self.total('lines'):>9} "
            f"{self.total('loaded'):>9} {self.total('duplicates'):>7} {self.total('quarantined'):>6} "
            f"{self.total('blank'):>6}"
        )
        rows.extend(f"warning: {w}" for w in [*self.value_warnings(), *self.clock_skew])
        rows.extend(f"note: {n}" for n in self.notes)
        text = "\n".join(rows)
        if base:
            text = "\n".join(rows[:2]) + "\n" + _paths.strip_base("\n".join(rows[2:]), base)
        return shown(text)  # file names, node names and JSON keys come from the exports

    def _repr_html_(self) -> str:  # escaped: file names come from the analyst's disk
        import html

        return "<pre>" + html.escape(str(self)) + "</pre>"


#: Each file the case holds, in the order it was loaded, with the reason of its damage if its
#: compressed stream was damaged (the load's "damaged" status; ``?``: that reason's start).
_HELD_FILES = """
SELECT f.path, f.sources, f.format, f.lines, f.loaded, f.duplicates, f.quarantined, f.blank,
       (SELECT q.reason FROM quarantine AS q WHERE q.file = f.path AND starts_with(q.reason, ?)
        ORDER BY q.line LIMIT 1) AS damage
FROM files AS f
ORDER BY f.loaded_at, f.path
"""


def held_report(con: Any) -> LoadReport:
    """The load report of what a case holds, from its tables: one :class:`FileResult` per row of
    ``files`` (its line accounting as its load counted it; ``damaged`` with the reason when the
    quarantine says its compressed stream was cut), and the clock skew warnings of its
    ``clock_offsets`` (what the last load estimated).

    What a load said and did not store is not in it: the files it found already loaded, its
    errors and skipped entries, its notes, the values it changed (``FileResult.warnings``).
    ``con``: the case's connection (a case file's, or a lake's views).

    Examples
    --------
    >>> import kernelsec_nb as kn
    >>> held_report(kn.open_case().con).to_dict()["files"]
    0
    """
    from kernelsec_nb.store import _lines, _skew

    report = LoadReport()
    for path, sources, fmt, lines, loaded, dup, quar, blank, damage in con.execute(
            _HELD_FILES, [_lines.DAMAGED]).fetchall():
        if damage is not None:
            message = damage
        elif lines == blank:  # the load's words for a file without an event
            message = "empty file: nothing to load" if not lines else "only blank lines: nothing to load"
        else:
            message = ""
        report.files.append(FileResult(path, "loaded" if damage is None else "damaged", tuple(sources or ()),
                                       fmt, lines, loaded, dup, quar, blank, message=message))
    report.clock_skew = _skew.noted_offsets(con)
    return report
