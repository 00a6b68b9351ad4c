"""Redacted share bundles: a smaller case holding only the selected rows and their raw lines."""

from __future__ import annotations

from kernelsec_nb.share._rules import DEFAULT_RULES, Rule, load_rules

__all__ = ["DEFAULT_RULES", "Rule", "load_rules"]
