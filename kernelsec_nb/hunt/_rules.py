"""Reading Sigma rules: files, folders, text, lists of those, pySigma collections.

A rule that cannot be read (bad YAML, an invalid Sigma rule) is not dropped: it comes back as an
:class:`Unsupported` record naming its file and the reason, like a rule that cannot be compiled.

Examples
--------
>>> from kernelsec_nb.hunt._rules import read_rules, bundled_rules
>>> rules, bad = read_rules(bundled_rules())
>>> len(rules) >= 8, bad
(True, [])
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigma.collection import SigmaCollection
from sigma.rule import SigmaRule

#: What ``case.hunt`` accepts as rules.
RuleInput = str | Path | SigmaCollection | SigmaRule | Iterable[Any]

#: ATT&CK tactics in the order of the Enterprise matrix (Sigma writes them as tags ``attack.<name>``).
TACTICS = (
    "reconnaissance", "resource-development", "initial-access", "execution", "persistence",
    "privilege-escalation", "defense-evasion", "credential-access", "discovery",
    "lateral-movement", "collection", "command-and-control", "exfiltration", "impact",
)
_TECHNIQUE = re.compile(r"^t(\d{4})(?:\.(\d{3}))?$", re.IGNORECASE)
_RULE_SUFFIXES = (".yml", ".yaml")


def bundled_rules() -> Path:
    """The folder of the rule pack shipped with kernelsec_nb (``kernelsec_nb/hunt/rules``)."""
    return Path(__file__).with_name("rules")


@dataclass(frozen=True)
class Unsupported:
    """A rule that was not run, and why (``origin``: its file, or ``<text>``)."""

    rule_id: str
    title: str
    origin: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"rule_id": self.rule_id, "title": self.title, "origin": self.origin, "reason": self.reason}


def attack_tags(tags: Iterable[Any]) -> tuple[list[str], list[str]]:
    """ATT&CK technique ids (``T1059.004``) and tactic names (``execution``) from Sigma tags.

    >>> attack_tags(["attack.execution", "attack.t1059.004", "attack.T1611", "cve.2024-1"])
    (['T1059.004', 'T1611'], ['execution'])
    """
    techniques: list[str] = []
    tactics: list[str] = []
    for tag in tags:
        text = str(tag).strip().lower()
        if not text.startswith("attack."):
            continue
        name = text[len("attack."):].replace("_", "-")
        m = _TECHNIQUE.match(name)
        if m:
            tid = f"T{m.group(1)}" + (f".{m.group(2)}" if m.group(2) else "")
            if tid not in techniques:
                techniques.append(tid)
        elif name in TACTICS and name not in tactics:
            tactics.append(name)
    return techniques, tactics


@contextlib.contextmanager
def _native_stderr_quiet() -> Iterator[None]:
    """Silence what native code writes to file descriptor 2 meanwhile: pySigma checks a rule's
    ``|re`` with google-re2, whose C++ logger prints two lines of its own for a pattern it refuses
    (the refusal itself is reported as one line, with the rule)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _error_text(error: object) -> str:
    """One line for a pySigma error (RE2's messages arrive as ``b'...'`` reprs)."""
    return re.sub(r"""\bb'((?:[^'\\]|\\.)*)'""", r"\1", str(error)).splitlines()[0] if str(error) else ""


def _from_text(text: str, origin: str) -> tuple[list[tuple[SigmaRule, str]], list[Unsupported]]:
    try:
        with _native_stderr_quiet():
            collection = SigmaCollection.from_yaml(text, collect_errors=True)
    except Exception as e:  # noqa: BLE001 - YAML syntax errors and the like: reported, not raised
        return [], [Unsupported("", "", origin, f"cannot read: {str(e).splitlines()[0]}")]
    return _from_collection(collection, origin)


def _from_collection(collection: SigmaCollection,
                     origin: str) -> tuple[list[tuple[SigmaRule, str]], list[Unsupported]]:
    rules: list[tuple[SigmaRule, str]] = []
    bad: list[Unsupported] = []
    for rule in collection.rules:
        where = origin or str(getattr(rule.source, "path", None) or "<collection>")
        if not isinstance(rule, SigmaRule):
            bad.append(Unsupported(str(rule.id or rule.name or ""), str(rule.title or ""), where,
                                   "correlation rules are not supported"))
            continue
        errors = rule.errors
        if errors:
            bad.append(Unsupported(str(rule.id or ""), str(rule.title or ""), where,
                                   f"invalid rule: {_error_text(errors[0])}"))
            continue
        rules.append((copy.deepcopy(rule), where))  # the pipeline changes the rule it maps
    reported = {u.reason for u in bad}
    for error in getattr(collection, "errors", []) or []:  # errors outside any rule
        if f"invalid rule: {_error_text(error)}" not in reported:
            bad.append(Unsupported("", "", origin, f"invalid rule: {_error_text(error)}"))
    return rules, bad


def _is_rule_text(value: str) -> bool:
    return "\n" in value and ("detection" in value or "title" in value)


def read_rules(rules: RuleInput) -> tuple[list[tuple[SigmaRule, str]], list[Unsupported]]:
    """Every rule of ``rules`` (with where it came from) and the ones that could not be read.

    ``rules`` is a YAML file, a folder (its ``*.yml``/``*.yaml`` files, recursively, in name
    order), rule text (a string holding a newline), a pySigma ``SigmaCollection`` or
    ``SigmaRule``, or a list of any of these.  A path that does not exist is a
    :class:`FileNotFoundError`, as for ``case.load``: a typo should not hunt with half the rules.
    """
    if isinstance(rules, SigmaCollection):
        return _from_collection(rules, "")
    if isinstance(rules, SigmaRule):
        return _from_collection(SigmaCollection([rules]), "")
    if isinstance(rules, str) and _is_rule_text(rules):
        return _from_text(rules, "<text>")
    if isinstance(rules, (str, Path)):
        path = Path(rules)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in _RULE_SUFFIXES and p.is_file())
        elif path.is_file():
            files = [path]
        else:
            raise FileNotFoundError(f"no rule file or folder {str(path)!r}")
        out: list[tuple[SigmaRule, str]] = []
        bad: list[Unsupported] = []
        for f in files:
            try:
                text = f.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                bad.append(Unsupported("", "", str(f), f"cannot read: {e}"))
                continue
            r, b = _from_text(text, str(f))
            out += r
            bad += b
        return out, bad
    if isinstance(rules, Iterable):
        out, bad = [], []
        for item in rules:
            r, b = read_rules(item)
            out += r
            bad += b
        return out, bad
    raise TypeError(f"rules must be a path, rule text, a SigmaCollection or a list, not {type(rules).__name__}")
