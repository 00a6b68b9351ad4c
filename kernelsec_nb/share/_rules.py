"""Redaction rules as data: what a share bundle replaces, and the user's own rules file.

A rule is a record (name, kind, pattern, replacement, applies_to, when).  ``applies_to`` says
what the pattern is matched on:

``text``
    every JSON string value of a line; the match (or only its ``secret`` group) is replaced.
``header``
    the ``value`` of a ``{"key": NAME, "value": …}`` pair (Hubble's HTTP headers, Kubernetes
    env lists) whose NAME the pattern matches; the whole value is replaced.
``field``
    the string value of a JSON member whose name the pattern matches; the whole value is replaced.

``when`` (optional) is a regex the whole raw line must match for the rule to apply (``mysql -p…``
needs a MySQL client on the line: ``-p8080`` elsewhere is a port).

Examples
--------
>>> r = Rule("jwt", "token", r"\\beyJ[A-Za-z0-9_-]{5,}\\.[A-Za-z0-9_-]{5,}\\.[A-Za-z0-9_-]*")
>>> r.kind, r.replacement
('token', '[REDACTED:token]')
>>> [x.name for x in DEFAULT_RULES][:3]
['private-key', 'jwt', 'authorization-header']
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

APPLIES_TO = ("text", "header", "field")
REDACTED_PREFIX = "[REDACTED"


@dataclass(frozen=True)
class Rule:
    """One redaction rule (see the module docstring)."""

    name: str
    kind: str
    pattern: str
    replacement: str = ""
    applies_to: str = "text"
    when: str | None = None
    #: lower-case words of which one is in every text the pattern matches (lower-cased): a fast
    #: test that skips the regex on most records (empty: the regex always runs)
    hint: tuple[str, ...] = ()
    regex: re.Pattern = field(init=False, repr=False, compare=False)
    when_regex: re.Pattern | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.applies_to not in APPLIES_TO:
            raise ValueError(f"rule {self.name!r}: applies_to must be one of {', '.join(APPLIES_TO)}")
        if not self.replacement:
            object.__setattr__(self, "replacement", f"[REDACTED:{self.kind}]")
        try:
            object.__setattr__(self, "regex", re.compile(self.pattern))
            object.__setattr__(self, "when_regex", re.compile(self.when) if self.when else None)
        except re.error as exc:
            raise ValueError(f"rule {self.name!r}: not a regular expression: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("regex", None)
        d.pop("when_regex", None)
        d["hint"] = list(self.hint)
        return d


# Names of settings whose value is a secret (an env-like ``KEY=value`` argument, a URL query
# parameter, a JSON member).  PWD is the working directory, not a password.
_SECRET_NAME = (r"(?:PASSWORD|PASSWD|PASSPHRASE|_PASS|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY"
                r"|CREDENTIAL|AUTH_?KEY|SESSION_?KEY|CLIENT_?SECRET)")
_SECRET_HINT = ("passw", "passphrase", "_pass", "secret", "token", "api", "access", "private", "credential",
                "auth", "session")
_VALUE = r"(?P<secret>\"[^\"]*\"|'[^']*'|[^\s&;,\"'<>]+)"

#: The default rules (``redact="default"``): tokens, headers, passwords, cloud keys, private keys.
DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("private-key", "private-key",
         r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)",
         hint=("private key-----",)),
    # service-account tokens are JWTs
    Rule("jwt", "token", r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*", hint=("eyj",)),
    Rule("authorization-header", "header",
         r"(?i)\b(?:proxy-)?authorization\"?\s*[:=]\s*\"?(?P<secret>[^\r\n\"]+)", hint=("authorization",)),
    Rule("cookie-header", "header", r"(?i)(?<![\w-])(?:set-)?cookie\"?\s*:\s*\"?(?P<secret>[^\r\n\"]+)",
         hint=("cookie",)),
    Rule("bearer", "token", r"(?i)\b(?:bearer|basic)\s+(?P<secret>[A-Za-z0-9._~+/=-]{8,})",
         hint=("bearer", "basic")),
    Rule("http-header", "header",
         r"(?i)^(?:proxy-authorization|authorization|cookie|set-cookie|x-api-key|x-auth-token"
         r"|x-amz-security-token|x-goog-api-key)$", applies_to="header"),
    Rule("aws-access-key", "cloud-key", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b",
         hint=("akia", "asia", "agpa", "aida", "aroa", "anpa", "anva", "aipa")),
    Rule("gcp-api-key", "cloud-key", r"\bAIza[0-9A-Za-z_-]{35}\b", hint=("aiza",)),
    Rule("password-flag", "password",
         r"(?i)(?:^|\s)--?(?:password|passwd|pass|pwd)(?:=|\s+)(?P<secret>\S+)", hint=("-pass", "-pwd")),
    # a flag named after a secret (``--db-password x``, ``-psk x``, ``--api-token=x``, ``--client-secret
    # x``): its value; a flag naming a file of one (``--token-file``, ``--password-stdin``) is left
    Rule("secret-flag", "secret-setting",
         r"(?i)(?:^|\s)--?[a-z0-9]*[-_]?(?:password|passwd|passphrase|secret|token|psk|api[-_]?key|access[-_]?key"
         r"|credentials?)(?:=|\s+)(?P<secret>[^\s-]\S*)",
         hint=("passw", "passphrase", "secret", "token", "psk", "key", "credential")),
    Rule("mysql-p", "password", r"(?:^|\s)-p(?P<secret>[^\s-]\S{2,})",
         when=r"(?i)\b(?:mysql|mysqldump|mysqladmin|mariadb|mariadb-dump)\b", hint=("-p",)),
    Rule("secret-setting", "secret-setting",
         r"(?i)" + _SECRET_NAME + r"[A-Za-z0-9_.-]*\"?\s*[=:]\s*" + _VALUE, hint=_SECRET_HINT),
    # (string members only: Tetragon's process_credentials_arg is an object of ids)
    Rule("secret-field", "secret-setting", r"(?i)" + _SECRET_NAME.replace("|_PASS", "|^PASS$"),
         applies_to="field"),
    Rule("secret-header-pair", "secret-setting", r"(?i)" + _SECRET_NAME, applies_to="header"),
)


def load_rules(path: str | Path) -> tuple[Rule, ...]:
    """Rules from a YAML or JSON file.

    The file holds a list of rules (``name``, ``kind``, ``pattern``, optional ``replacement``,
    ``applies_to``, ``when``), used instead of the defaults, or a mapping
    ``{"default": true, "rules": [...]}`` that adds them to the defaults.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no rules file at {p}")
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix.lower() in (".yml", ".yaml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # noqa: BLE001 - one line naming the file
        raise ValueError(f"{p}: cannot read the rules ({type(exc).__name__}: {exc})") from None
    base: tuple[Rule, ...] = ()
    if isinstance(data, dict):
        base = DEFAULT_RULES if data.get("default") else ()
        data = data.get("rules") or []
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ValueError(f"{p}: expected a list of rules (name, kind, pattern, …)")
    allowed = {"name", "kind", "pattern", "replacement", "applies_to", "when"}
    rules = []
    for i, r in enumerate(data):
        extra = set(r) - allowed
        if extra or not {"name", "kind", "pattern"} <= set(r):
            raise ValueError(f"{p}: rule {i + 1} needs name, kind and pattern"
                             + (f" (unknown: {', '.join(sorted(map(str, extra)))})" if extra else ""))
        rules.append(Rule(**{k: str(v) for k, v in r.items() if v is not None}))
    return base + tuple(rules)


def resolve(redact: str | Path | None) -> tuple[Rule, ...]:
    """``"default"``, ``"none"`` (or None) or a rules file → the rules to apply."""
    if redact is None or str(redact) == "none":
        return ()
    if str(redact) == "default":
        return DEFAULT_RULES
    return load_rules(redact)
