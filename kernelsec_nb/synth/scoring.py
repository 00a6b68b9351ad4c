"""Score a findings engine's answer against a scenario's :class:`~.scenarios.truth.Truth`.

:func:`score` reads the findings of ``case.findings()`` (or any engine of the same shape): a
dict with ``incidents`` — each with ``pod``, ``namespace``, ``node``, ``key_command``
(``binary``, ``args``, ``exec_id``), ``reached`` (pods: ``{"namespace", "pod", "node"}`` or plain
names), ``endpoints`` (``ip``, ``port``, ``fqdn``, ``role``) and ``techniques`` (ATT&CK ids) — and
``leads`` (hedged pointers that are not incidents).  A dataclass or an object with ``to_dict()``
works too; anything without ``incidents`` is refused (``ValueError``).

Scoring rules: the **top incident** (the first) is judged for entry pod, node and key command
(the same exec id, or the same binary and arguments); reached pods, endpoints and techniques are
looked for in **all** incidents.  An endpoint matches by address and port, and by role when the
engine gives one (``"unknown"`` is the engine saying it gives none: it matches any role); **C2 named** means every ``c2`` endpoint of the truth matched.  A benign
capture is passed when no incident is raised; leads are counted, not failed.

Example
-------
>>> from kernelsec_nb.synth.scenarios.truth import Truth, PodRef, Command, Endpoint
>>> t = Truth("x", "attack", "", 1, entry=PodRef("ns", "web-1", "n1"),
...           key_command=Command("e1", "/bin/nc", "1.2.3.4 443"),
...           endpoints=[Endpoint("1.2.3.4", 443, "c2")], techniques=["T1059"])
>>> f = {"incidents": [{"pod": "web-1", "namespace": "ns", "node": "n1",
...      "key_command": {"exec_id": "e1"}, "endpoints": [{"ip": "1.2.3.4", "port": 443}],
...      "techniques": ["T1059"]}], "leads": []}
>>> s = score(f, t)
>>> s["entry"], s["node"], s["key"], s["c2"], s["passed"]
(True, True, True, True, True)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any

from .scenarios.truth import Endpoint, Truth


@dataclass
class Incident:
    """One incident in the common shape the scorer reads."""

    pod: str | None
    namespace: str | None = None
    node: str | None = None
    key_command: dict[str, Any] | None = None
    reached: list[str] = field(default_factory=list)
    endpoints: list[dict[str, Any]] = field(default_factory=list)
    techniques: list[str] = field(default_factory=list)


def _plain(findings: Any) -> dict[str, Any]:
    if isinstance(findings, dict):
        return findings
    if hasattr(findings, "to_dict"):
        return findings.to_dict()
    if is_dataclass(findings) and not isinstance(findings, type):
        return asdict(findings)
    if hasattr(findings, "incidents"):  # a plain object with the attributes
        return {"incidents": [_plain(i) for i in findings.incidents],
                "leads": list(getattr(findings, "leads", None) or [])}
    if hasattr(findings, "pod"):  # an incident object
        return {k: getattr(findings, k, None) for k in
                ("pod", "namespace", "node", "key_command", "reached", "endpoints", "techniques")}
    raise TypeError(f"findings must be a dict, a dataclass or have to_dict(), not {type(findings).__name__}")


def _pod_name(r: Any) -> str | None:
    if isinstance(r, str):
        return r
    if isinstance(r, dict):
        return r.get("pod") or r.get("name")
    return getattr(r, "pod", None)


def incidents_of(findings: Any) -> tuple[list[Incident], int]:
    """The incidents and the number of leads (see the module docstring)."""
    f = _plain(findings)
    if "incidents" not in f:
        raise ValueError("findings must have incidents (the shape of case.findings()); got keys "
                         + ", ".join(sorted(map(str, f))[:8]))
    out = []
    for i in f["incidents"] or []:
        i = _plain(i) if not isinstance(i, dict) else i
        key = i.get("key_command")
        out.append(Incident(
            pod=i.get("pod"), namespace=i.get("namespace"), node=i.get("node"),
            key_command=_plain(key) if key is not None and not isinstance(key, dict) else key,
            reached=[p for p in (_pod_name(r) for r in i.get("reached") or []) if p],
            endpoints=[e if isinstance(e, dict) else _plain(e) for e in i.get("endpoints") or []],
            techniques=list(i.get("techniques") or [])))
    return out, len(f.get("leads") or [])


def _endpoint_found(want: Endpoint, got: list[dict[str, Any]]) -> bool:
    for e in got:
        if e.get("ip") != want.ip:
            continue
        if e.get("port") is not None and int(e["port"]) != want.port:
            continue
        if e.get("role") not in (None, "", "unknown") and e["role"] != want.role:
            continue
        return True
    return False


def _same_command(got: dict[str, Any] | None, want: Any) -> bool:
    if not got or want is None:
        return False
    if got.get("exec_id") and got["exec_id"] == want.exec_id:
        return True
    return got.get("binary") == want.binary and (got.get("args") or "") == want.args


def score(findings: Any, truth: Truth) -> dict[str, Any]:
    """Compare ``findings`` (either shape) with ``truth``.

    Returns
    -------
    dict
        ``scenario``, ``kind``, ``incidents``, ``leads``; for attacks also ``entry``, ``node``,
        ``key`` (bools), ``reached`` / ``reached_expected``, ``endpoints`` /
        ``endpoints_expected``, ``c2`` (bool, ``None`` when the truth has no C2),
        ``techniques`` / ``techniques_expected``; and ``passed`` (the issue's targets: an attack
        right on entry pod, node and key command with every reached pod and the C2 named; a
        benign capture without incident).
    """
    incs, leads = incidents_of(findings)
    row: dict[str, Any] = {"scenario": truth.scenario, "kind": truth.kind, "incidents": len(incs),
                           "leads": leads}
    if truth.kind == "benign":
        row["passed"] = len(incs) == 0
        return row
    top = incs[0] if incs else None
    entry = truth.entry
    row["entry"] = bool(top and entry and top.pod == entry.pod
                        and (top.namespace in (None, entry.namespace)))
    row["node"] = bool(top and entry and top.node == entry.node)
    row["key"] = bool(top and _same_command(top.key_command, truth.key_command))
    named = {p for i in incs for p in [i.pod, *i.reached] if p}
    row["reached"] = sum(r.pod in named for r in truth.reached)
    row["reached_expected"] = len(truth.reached)
    ends = [e for i in incs for e in i.endpoints]
    row["endpoints"] = sum(_endpoint_found(e, ends) for e in truth.endpoints)
    row["endpoints_expected"] = len(truth.endpoints)
    c2 = truth.c2
    row["c2"] = all(_endpoint_found(e, ends) for e in c2) if c2 else None
    tech = {t for i in incs for t in i.techniques}
    # a sub-technique found counts for its technique and the other way round
    row["techniques"] = sum(any(t == x or t.split(".")[0] == x or x.split(".")[0] == t
                                for x in tech) for t in truth.techniques)
    row["techniques_expected"] = len(truth.techniques)
    row["passed"] = (row["entry"] and row["node"] and row["key"]
                     and row["reached"] == row["reached_expected"] and row["c2"] is not False)
    return row


__all__ = ["Incident", "incidents_of", "score"]
