"""Hunting with Sigma rules: ``case.hunt(rules)`` and ``case.detect()``.

Rules are compiled with pySigma through kernelsec_nb's own processing pipeline
(:mod:`~kernelsec_nb.hunt._pipeline`: Sigma's Linux field names → the case's columns, log source
categories → views of the tables, :mod:`~kernelsec_nb.hunt._sources`) and a small backend of our
own (:mod:`~kernelsec_nb.hunt._backend`: DuckDB SQL whose values are all parameters).  The rules of
a log source run as one query (:mod:`~kernelsec_nb.hunt._runner`).  Falco alerts and Tetragon
policy actions join the same table on request (:mod:`~kernelsec_nb.hunt._alerts`).

The hits table (:data:`HIT_SCHEMA`) is also the detections layer of the findings: one row per
(rule, record), with the rule's ATT&CK techniques and tactics, the entity it marks
(``process``, ``connection``, ``flow``, ``file``, ``alert``), its ``exec_id`` and ``event_id``
(for ``case.raw``), and where and when.

Examples
--------
>>> import kernelsec_nb as kn
>>> case = kn.open_case()
>>> case.hunt(kn.hunt.bundled_rules()).columns[:5]
['source', 'rule_id', 'title', 'level', 'techniques']
"""

from __future__ import annotations

import warnings
from typing import Any

import polars as pl

from kernelsec_nb.hunt._alerts import falco_hits, tetragon_hits
from kernelsec_nb.hunt._rules import (
    TACTICS,
    RuleInput,
    Unsupported,
    attack_tags,
    bundled_rules,
    read_rules,
)
from kernelsec_nb.hunt._runner import (
    HIT_SCHEMA,
    LEVELS,
    CompiledRule,
    RuleSet,
    compile_rules,
    empty_hits,
    run_rules,
)
from kernelsec_nb.hunt._sources import SOURCES

__all__ = [
    "HIT_SCHEMA", "LEVELS", "SOURCES", "TACTICS", "CompiledRule", "HuntWarning", "RuleInput",
    "RuleSet", "Unsupported", "attack_tags", "bundled_rules", "compile_rules", "empty_hits",
    "hunt", "read_rules", "run_rules",
]


class HuntWarning(UserWarning):
    """Some rules were not run (each with its reason in ``compile_rules(...).unsupported``)."""


def hunt(case: Any, rules: RuleInput | RuleSet | None = None, *, include_alerts: bool = False,
         strict: bool = False) -> pl.DataFrame:
    """Run Sigma ``rules`` over ``case``; one row per (rule, matched record).

    ``rules``: a YAML file, a folder, rule text, a ``SigmaCollection``, a compiled
    :class:`RuleSet`, or a list of these; ``None`` is the bundled pack.  Rules that cannot run
    are left out with one :class:`HuntWarning` naming them and why (``strict=True`` raises a
    ``ValueError`` instead).  ``include_alerts`` adds Falco alerts and Tetragon policy actions.
    """
    ruleset = compile_rules(bundled_rules() if rules is None else rules)
    hits = run_rules(case, ruleset)
    if ruleset.unsupported:
        shown = "; ".join(f"{u.title or u.origin}: {u.reason}" for u in ruleset.unsupported[:3])
        more = f" (and {len(ruleset.unsupported) - 3} more)" if len(ruleset.unsupported) > 3 else ""
        message = f"{len(ruleset.unsupported)} rule(s) not run: {shown}{more}"
        if strict:
            raise ValueError(message)
        warnings.warn(message, HuntWarning, stacklevel=3)
    if include_alerts:
        hits = pl.concat([hits, falco_hits(case), tetragon_hits(case)], how="vertical_relaxed")
        hits = hits.sort("time_ns", "rule_id", "event_id", nulls_last=True)
    return hits
