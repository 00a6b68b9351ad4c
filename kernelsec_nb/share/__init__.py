"""Redacted share bundles: a smaller case holding only the selected rows and their raw lines.

``case.share(out_dir, pods=..., since=..., until=..., redact="default")`` or
``kernelsec-nb share CASE --out DIR``; see the README, "Sharing a redacted bundle".
"""

from __future__ import annotations

from kernelsec_nb.share._bundle import ShareError, ShareResult, share
from kernelsec_nb.share._redact import Replacement, redact_line
from kernelsec_nb.share._rules import DEFAULT_RULES, Rule, load_rules

__all__ = ["DEFAULT_RULES", "Replacement", "Rule", "ShareError", "ShareResult", "load_rules", "redact_line", "share"]
