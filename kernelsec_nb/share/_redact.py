"""Redact one exported line: rules applied inside its JSON string values, JSON kept valid.

The line is parsed, every string value is checked against the rules (with its JSON path), and
the changed strings are written back into the line's own text as correctly escaped JSON strings,
so the rest of the line keeps its bytes.  A line with nothing to redact is returned unchanged
(its ``event_id`` stays the same).

Examples
--------
>>> from kernelsec_nb.share._rules import DEFAULT_RULES
>>> out = redact_line('{"args":"-uroot --password=hunter2 db"}', DEFAULT_RULES)
>>> out.text
'{"args":"-uroot --password=[REDACTED:password] db"}'
>>> [(r.path, r.kind, r.rule) for r in out.replacements]
[('$.args', 'password', 'password-flag')]
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kernelsec_nb.share._rules import REDACTED_PREFIX, Rule

_STRING_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_PAIR_KEYS = ("key", "name")
#: Members whose string is base64 of the data (Tetragon's buffer arguments): the rules run on the
#: decoded text, and a changed text is encoded again (the member stays base64).
BASE64_MEMBERS = frozenset({"bytes_arg"})


@dataclass(frozen=True)
class Replacement:
    """One replaced secret: where (JSON path) and what kind; never the secret itself."""

    path: str
    kind: str
    rule: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "kind": self.kind, "rule": self.rule}


@dataclass
class Redacted:
    """A redacted line: its text, what was replaced, and the secrets found (kept in memory only,
    to redact them wherever else they appear in the bundle)."""

    text: str
    replacements: list[Replacement] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)
    reformatted: bool = False


def _sub(value: str, rule: Rule, found: set[str]) -> str:
    def repl(m: re.Match) -> str:
        if "secret" in rule.regex.groupindex and m.group("secret") is not None:
            secret = m.group("secret")
            if not secret or secret.strip("\"'").startswith(REDACTED_PREFIX):
                return m.group(0)
            if REDACTED_PREFIX not in secret:  # (a header whose token another rule replaced)
                found.add(secret)
                found.add(secret.strip("\"'"))
            s, e = m.span("secret")
            s, e = s - m.start(), e - m.start()
            return m.group(0)[:s] + rule.replacement + m.group(0)[e:]
        if m.group(0).startswith(REDACTED_PREFIX) or not m.group(0):
            return m.group(0)
        found.add(m.group(0))
        return rule.replacement
    return rule.regex.sub(repl, value)


class _Walker:
    def __init__(self, rules: Sequence[Rule], line: str, known: re.Pattern | None) -> None:
        ok = [r for r in rules if r.when_regex is None or r.when_regex.search(line)]
        self.text_rules = [r for r in ok if r.applies_to == "text"]
        self.header_rules = [r for r in ok if r.applies_to == "header"]
        self.field_rules = [r for r in ok if r.applies_to == "field"]
        self.known = known
        self.replacements: list[Replacement] = []
        self.secrets: set[str] = set()
        self.changed: dict[str, str] = {}

    def whole(self, value: str, path: str, rule: Rule) -> str:
        if not value or value.startswith(REDACTED_PREFIX):
            return value
        self.secrets.add(value)
        self.replacements.append(Replacement(path, rule.kind, rule.name))
        return rule.replacement

    def string(self, value: str, path: str) -> str:
        out = value
        for rule in self.text_rules:
            found: set[str] = set()
            new = _sub(out, rule, found)
            if new != out:
                self.replacements.append(Replacement(path, rule.kind, rule.name))
                self.secrets |= found
                out = new
        if self.known is not None:
            new = self.known.sub(lambda m: "[REDACTED:seen-elsewhere]", out)
            if new != out:
                self.replacements.append(Replacement(path, "seen-elsewhere", "seen-elsewhere"))
                out = new
        return out

    def encoded(self, value: str, path: str) -> str:
        try:
            data = base64.b64decode(value, validate=True)
        except ValueError:
            return self.string(value, path)
        text = data.decode("utf-8", errors="surrogateescape")
        new = self.string(text, path)
        return value if new == text else base64.b64encode(new.encode("utf-8", errors="surrogateescape")).decode()

    def walk(self, obj: Any, path: str) -> Any:
        if isinstance(obj, str):
            new = self.string(obj, path)
            if new != obj:
                self.changed[obj] = new
            return new
        if isinstance(obj, list):
            return [self.walk(v, f"{path}[{i}]") for i, v in enumerate(obj)]
        if not isinstance(obj, dict):
            return obj
        out = {}
        pair_name = next((obj[k] for k in _PAIR_KEYS if isinstance(obj.get(k), str)), None)
        for k, v in obj.items():
            sub = f"{path}.{k}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k) else f"{path}[{json.dumps(k)}]"
            rule = None
            if isinstance(v, str):
                if k == "value" and pair_name is not None:
                    rule = next((r for r in self.header_rules if r.regex.search(pair_name)), None)
                if rule is None:
                    rule = next((r for r in self.field_rules if r.regex.search(k)), None)
            if rule is None and k in BASE64_MEMBERS and isinstance(v, str):
                new = self.encoded(v, sub)
                if new != v:
                    self.changed[v] = new
                out[k] = new
            elif rule is not None:
                new = self.whole(v, sub, rule)
                if new != v:
                    self.changed[v] = new
                out[k] = new
            else:
                out[k] = self.walk(v, sub)
        return out


def _strings_and_keys(obj: Any, strings: list[str], keys: set[str], pairs: list[str]) -> None:
    stack = [obj]
    while stack:
        o = stack.pop()
        if isinstance(o, str):
            strings.append(o)
        elif isinstance(o, dict):
            keys.update(o)
            if "value" in o:
                pairs += [o[k] for k in _PAIR_KEYS if isinstance(o.get(k), str)]
            stack.extend(o.values())
        elif isinstance(o, list):
            stack.extend(o)


@functools.lru_cache(maxsize=1 << 16)
def _names_secret(patterns: tuple[re.Pattern, ...], name: str) -> bool:
    return any(p.search(name) for p in patterns)


def _may_match(obj: Any, w: _Walker) -> bool:
    """Whether any rule can apply to the record: the rules run once over all its strings joined by
    newlines (a match in one string is a match in the joined text), names once each."""
    strings: list[str] = []
    keys: set[str] = set()
    pairs: list[str] = []
    _strings_and_keys(obj, strings, keys, pairs)
    if not keys.isdisjoint(BASE64_MEMBERS):
        return True
    joined = "\n".join(strings)
    lower = joined.lower()
    if any((not r.hint or any(h in lower for h in r.hint)) and r.regex.search(joined) for r in w.text_rules):
        return True
    if w.known is not None and w.known.search(joined):
        return True
    if w.field_rules:
        patterns = tuple(r.regex for r in w.field_rules)
        if any(_names_secret(patterns, k) for k in keys):
            return True
    return any(r.regex.search(name) for name in pairs for r in w.header_rules)


def known_pattern(secrets: Iterable[str], min_length: int = 6) -> re.Pattern | None:
    """A regex matching any of ``secrets`` (those of ``min_length`` characters or more)."""
    keep = sorted({s for s in secrets if len(s) >= min_length and not s.startswith(REDACTED_PREFIX)},
                  key=len, reverse=True)
    return re.compile("|".join(re.escape(s) for s in keep)) if keep else None


def redact_line(text: str, rules: Sequence[Rule], known: re.Pattern | None = None) -> Redacted:
    """Redact one line (a JSON record; a line that is not JSON is redacted as one string).

    ``known`` also replaces secrets found elsewhere in the bundle (see :func:`known_pattern`).
    A pretty-printed record (several lines) is written back compact, on one line.
    """
    try:
        obj = json.loads(text)
    except ValueError:
        w = _Walker(rules, text, known)
        new = w.string(text, "$")
        return Redacted(new, w.replacements, w.secrets)
    multi = "\n" in text or "\r" in text
    if not rules and known is None:
        return Redacted(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) if multi else text,
                        reformatted=multi)
    w = _Walker(rules, text, known)
    new_obj = w.walk(obj, "$") if _may_match(obj, w) else obj
    if not w.replacements:
        return Redacted(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) if multi else text,
                        reformatted=multi)
    if not multi:
        def token(m: re.Match) -> str:
            try:
                value = json.loads(m.group(0))
            except ValueError:
                return m.group(0)
            return json.dumps(w.changed[value], ensure_ascii=False) if value in w.changed else m.group(0)

        out = _STRING_TOKEN.sub(token, text)
        try:
            if json.loads(out) == new_obj:
                return Redacted(out, w.replacements, w.secrets)
        except ValueError:
            pass
    # a pretty-printed record, or a value that also appears where it was not redacted (a key)
    return Redacted(json.dumps(new_obj, ensure_ascii=False, separators=(",", ":")), w.replacements,
                    w.secrets, reformatted=True)
