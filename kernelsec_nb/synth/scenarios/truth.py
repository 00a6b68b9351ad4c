"""The answer a scenario writes beside its capture (``TRUTH.json``), as typed records.

A :class:`Truth` says what an analyst should conclude from the capture: for an attack, the pod
the attacker got in through (entry), its node, the key command, every other pod the attacker
reached (each with its node), the endpoints outside the cluster by role and the ATT&CK
techniques; for a benign capture, that no incident should be raised.  Only generator code
(``kernelsec_nb.synth``) writes these; the findings engine never reads them.

Example
-------
>>> t = Truth("demo", "benign", "quiet cluster", seed=1)
>>> Truth.from_dict(t.to_dict()) == t
True
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROLES = ("c2", "callback", "download", "exfil")


@dataclass(frozen=True)
class PodRef:
    """A pod and the node it ran on."""

    namespace: str
    pod: str
    node: str


@dataclass(frozen=True)
class Command:
    """One process of the capture (its Tetragon exec id, binary and arguments)."""

    exec_id: str
    binary: str
    args: str = ""
    pod: str = ""


@dataclass(frozen=True)
class Endpoint:
    """A destination outside the cluster and what the attacker used it for (:data:`ROLES`)."""

    ip: str
    port: int
    role: str
    fqdn: str = ""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"endpoint role must be one of {ROLES}, not {self.role!r}")


@dataclass
class Truth:
    """What the capture of a scenario shows.

    Parameters
    ----------
    scenario : str
        Registry name of the scenario.
    kind : str
        ``attack`` or ``benign``.
    description : str
        What happened, in a few sentences.
    seed : int
        Seed the capture was built with.
    entry : PodRef or None
        Where the attacker got in (attacks only).
    key_command : Command or None
        The process that did what the incident is about (attacks only).
    reached : list of PodRef
        Other pods the attacker ran code in or acted on.
    endpoints : list of Endpoint
        Destinations outside the cluster, by role.
    techniques : list of str
        ATT&CK technique ids (``T1059.004``).
    expected_incidents : int
        Incidents an engine should raise (0 for a benign capture).
    attacker_exec_ids : list of str
        Every process the attacker ran (any pod), for tests and scoring of steps.
    decoys : list of str
        The benign look-alikes the capture holds on purpose (what could be mistaken).
    events : int
        Distinct events written: what a load reports as loaded (the capture also holds a few
        byte-identical duplicate lines and one cut line, as real exports do).
    """

    scenario: str
    kind: str
    description: str
    seed: int
    entry: PodRef | None = None
    key_command: Command | None = None
    reached: list[PodRef] = field(default_factory=list)
    endpoints: list[Endpoint] = field(default_factory=list)
    techniques: list[str] = field(default_factory=list)
    expected_incidents: int = 0
    attacker_exec_ids: list[str] = field(default_factory=list)
    decoys: list[str] = field(default_factory=list)
    events: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("attack", "benign"):
            raise ValueError(f"kind must be 'attack' or 'benign', not {self.kind!r}")

    @property
    def c2(self) -> list[Endpoint]:
        """The command-and-control endpoints."""
        return [e for e in self.endpoints if e.role == "c2"]

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form (``TRUTH.json``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Truth:
        """Read back :meth:`to_dict`'s output."""
        d = dict(d)
        d["entry"] = PodRef(**d["entry"]) if d.get("entry") else None
        d["key_command"] = Command(**d["key_command"]) if d.get("key_command") else None
        d["reached"] = [PodRef(**r) for r in d.get("reached", [])]
        d["endpoints"] = [Endpoint(**e) for e in d.get("endpoints", [])]
        return cls(**d)

    def write(self, out_dir: str | Path) -> Path:
        """Write ``TRUTH.json`` into ``out_dir``; return its path."""
        path = Path(out_dir) / "TRUTH.json"
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def read(cls, out_dir: str | Path) -> Truth:
        """Read ``TRUTH.json`` from ``out_dir``."""
        return cls.from_dict(json.loads((Path(out_dir) / "TRUTH.json").read_text()))
