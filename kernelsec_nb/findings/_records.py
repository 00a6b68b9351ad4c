"""The findings as typed, immutable records: :class:`Findings`, :class:`Incident`, :class:`Lead`.

An engine builds these; views render them in a separate pass.  ``to_dict()`` gives plain JSON
(the shape of ``findings.schema.json`` beside this module): an incident's ``evidence`` frame
becomes the list of its ``event_id`` values (each one readable again with ``case.raw``), and its
``techniques`` map stays a map of ATT&CK id → the rule ids behind it.

Examples
--------
>>> import polars as pl
>>> i = Incident(rank=1, confidence="high", why=["+ a shell exec'd into the pod"],
...              pod="web-1", namespace="shop", workload="web", node="n1",
...              entry=Entry("e1", "/bin/sh", "", trigger=None),
...              key_command=KeyCommand("/bin/kill", "-9 2", "e2", "sent SIGKILL"),
...              chain=["e1", "e2"], reached=[], endpoints=[],
...              techniques={"T1059": ["falco:Terminal shell in container"]},
...              evidence=pl.DataFrame({"event_id": ["a1", "b2"]}))
>>> Findings([i], [], []).to_dict()["incidents"][0]["evidence"]
['a1', 'b2']
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl

Confidence = Literal["high", "medium", "low"]
Role = Literal["c2", "callback", "download", "exfil", "unknown"]

#: Where the JSON schema of :meth:`Findings.to_dict` is kept.
SCHEMA_PATH = Path(__file__).with_name("findings.schema.json")
CONFIDENCES: tuple[Confidence, ...] = ("high", "medium", "low")
ROLES: tuple[Role, ...] = ("c2", "callback", "download", "exfil", "unknown")


def _plain(value: Any) -> Any:
    """``value`` with nested records turned into dicts (their own ``to_dict``)."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Entry:
    """The process the attacker came in through, and what started it when known.

    ``trigger`` says what set it off: an HTTP request into the pod (``"PUT /v1/x from 10.0.0.5"``),
    a login, an exec from outside the container (``kubectl exec``), an API call; ``None`` when
    the capture does not show it.
    """

    exec_id: str
    binary: str | None
    args: str | None
    trigger: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"exec_id": self.exec_id, "binary": self.binary, "args": self.args, "trigger": self.trigger}


@dataclass(frozen=True)
class KeyCommand:
    """The command that did the damage, and why the engine thinks so."""

    binary: str | None
    args: str | None
    exec_id: str
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"binary": self.binary, "args": self.args, "exec_id": self.exec_id, "why": self.why}


@dataclass(frozen=True)
class Reached:
    """Another pod (or a node's host, ``pod`` ``None``) the attacker acted in.

    ``how`` lists the graph's edge kinds that lead there (``"connect"``, ``"service"``,
    ``"file"`` …, see :mod:`kernelsec_nb.findings.graph`; ``"probe"`` for a pod only touched in a
    sweep of the pod network, :mod:`kernelsec_nb.findings._probes`); ``exec_ids`` the processes there
    that belong to the incident.
    """

    pod: str | None
    namespace: str | None
    node: str | None
    how: list[str] = field(default_factory=list)
    exec_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"pod": self.pod, "namespace": self.namespace, "node": self.node,
                "how": list(self.how), "exec_ids": list(self.exec_ids)}


@dataclass(frozen=True)
class Endpoint:
    """An address outside the cluster the incident talked to, with the part it played.

    ``role``: ``c2`` (a long-lived or repeated connection out that the incident's process kept),
    ``callback`` (a reverse shell or beacon: the outward connection of a shell), ``download``
    (fetched before something new ran), ``exfil`` (more sent than received), ``unknown``.
    """

    ip: str
    port: int | None
    fqdn: str | None = None
    role: Role = "unknown"

    def to_dict(self) -> dict[str, Any]:
        return {"ip": self.ip, "port": self.port, "fqdn": self.fqdn, "role": self.role}


@dataclass(frozen=True)
class Incident:
    """One connected suspicious part of the evidence graph.

    ``pod``/``namespace``/``workload``/``node`` are where it entered; ``why`` lists the evidence
    for (``"+ …"``) and against (``"- …"``) it; ``chain`` the exec ids from the entry down to the
    key command, root first; ``techniques`` maps ATT&CK ids to the rule ids that evidence them;
    ``evidence`` holds the supporting rows, with at least an ``event_id`` column.
    """

    rank: int
    confidence: Confidence
    why: list[str]
    pod: str | None
    namespace: str | None
    workload: str | None
    node: str | None
    entry: Entry | None
    key_command: KeyCommand | None
    chain: list[str]
    reached: list[Reached]
    endpoints: list[Endpoint]
    techniques: dict[str, list[str]]
    evidence: pl.DataFrame = field(default_factory=lambda: pl.DataFrame({"event_id": []}, schema={"event_id": pl.String}))

    def to_dict(self) -> dict[str, Any]:
        ids: list[str] = []
        if "event_id" in self.evidence.columns:
            ids = [str(x) for x in self.evidence["event_id"].drop_nulls().unique(maintain_order=True).to_list()]
        return {
            "rank": self.rank, "confidence": self.confidence, "why": list(self.why),
            "pod": self.pod, "namespace": self.namespace, "workload": self.workload, "node": self.node,
            "entry": _plain(self.entry), "key_command": _plain(self.key_command),
            "chain": list(self.chain), "reached": _plain(self.reached), "endpoints": _plain(self.endpoints),
            "techniques": {k: list(v) for k, v in self.techniques.items()}, "evidence": ids,
        }


@dataclass(frozen=True)
class Lead:
    """Something suspicious that did not cross the threshold, and why it was not raised.

    ``exec_ids`` are its processes; ``score`` the weight it reached (the threshold is in
    the engine's settings).
    """

    pod: str | None
    node: str | None
    why_not: str
    namespace: str | None = None
    workload: str | None = None
    exec_ids: list[str] = field(default_factory=list)
    score: float = 0.0
    why: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"pod": self.pod, "namespace": self.namespace, "workload": self.workload,
                "node": self.node, "why_not": self.why_not, "exec_ids": list(self.exec_ids),
                "score": float(self.score), "why": list(self.why)}


@dataclass(frozen=True)
class Findings:
    """What the engine found: ranked ``incidents`` (``[]`` when nothing crosses the threshold),
    ``leads`` below it, and ``notes`` about the data (a missing source, clock skew …)."""

    incidents: list[Incident]
    leads: list[Lead]
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"incidents": [i.to_dict() for i in self.incidents],
                "leads": [lead.to_dict() for lead in self.leads], "notes": [str(n) for n in self.notes]}

    def summary(self) -> list[str]:
        """Plain lines for a terminal: the first says whether there is an incident (print them
        through :func:`kernelsec_nb.shown`: pod names and commands are the exports' text)."""
        if not self.incidents:
            lines = [f"no incident; {len(self.leads)} lead(s)"]
        else:
            lines = [f"{len(self.incidents)} incident(s); {len(self.leads)} lead(s)"]
        for i in self.incidents:
            lines.append(f"#{i.rank} {i.confidence}: entered {_place(i.namespace, i.pod, i.node)}")
            if i.entry is not None:
                lines.append(f"  entry: {i.entry.binary} {i.entry.args or ''}".rstrip()
                             + (f" ({i.entry.trigger})" if i.entry.trigger else ""))
            if i.key_command is not None:
                lines.append(f"  key command: {i.key_command.binary} {i.key_command.args or ''}".rstrip()
                             + f" ({i.key_command.why})")
            lines += [f"  reached: {_place(r.namespace, r.pod, r.node)} via {', '.join(r.how)}" for r in i.reached]
            lines += [f"  endpoint: {e.ip}:{e.port} {e.role}" for e in i.endpoints]
        for lead in self.leads:
            lines.append(f"lead: {_place(lead.namespace, lead.pod, lead.node)}: {lead.why_not}")
        lines += [f"note: {n}" for n in self.notes]
        return lines

    def __str__(self) -> str:
        """:meth:`summary`'s lines, made safe to print (``print(case.findings())``)."""
        from kernelsec_nb._text import shown

        return shown("\n".join(self.summary()))

    def __repr__(self) -> str:
        return (f"<Findings: {len(self.incidents)} incident(s), {len(self.leads)} lead(s), {len(self.notes)} "
                "note(s); print() it for the summary, .to_dict() for everything>")

    def to_json(self, **kw: Any) -> str:
        """``to_dict()`` as JSON text (control characters escaped, the bytes kept)."""
        return json.dumps(self.to_dict(), **kw)


def _place(namespace: str | None, pod: str | None, node: str | None) -> str:
    """Where a part ran, in words: ``ns/pod on node n``, or ``the host of node n`` (no pod).

    >>> _place("default", "web-1", "kind-worker"), _place(None, None, "kind-worker"), _place(None, None, None)
    ('default/web-1 on node kind-worker', 'the host of node kind-worker', 'the host of an unknown node')
    """
    where = f"node {node}" if node else "an unknown node"
    return f"{namespace or ''}/{pod} on {where}" if pod else f"the host of {where}"


def schema() -> dict[str, Any]:
    """The JSON schema of :meth:`Findings.to_dict` (``findings.schema.json``)."""
    return json.loads(SCHEMA_PATH.read_text())  # type: ignore[no-any-return]
