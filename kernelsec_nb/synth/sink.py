"""In-memory collection of rendered lines per node and source."""

from __future__ import annotations

from dataclasses import dataclass, field

from .fmt import dumps

SOURCES = ("tetragon", "hubble", "falco")


@dataclass
class Record:
    """One rendered event line with its node-clock time."""

    written_ns: int
    seq: int
    line: str
    critical: bool = False


@dataclass
class Sink:
    """Collects event lines keyed by ``(node, source)``."""

    records: dict[tuple[str, str], list[Record]] = field(default_factory=dict)
    seq: int = 0

    def add(self, node: str, source: str, written_ns: int, obj: object,
            critical: bool = False) -> str:
        """Serialise ``obj`` and store it; return the JSON line.

        Parameters
        ----------
        node : str
            Plain node name (directory name).
        source : str
            One of ``tetragon``, ``hubble``, ``falco``.
        written_ns : int
            Event time as written (node clock), used for ordering.
        obj : object
            The event.
        critical : bool
            Protect the line from being the deliberately truncated one.

        Returns
        -------
        str
            The serialised line (no newline).
        """
        line = dumps(obj)
        self.seq += 1
        self.records.setdefault((node, source), []).append(
            Record(written_ns, self.seq, line, critical))
        return line
