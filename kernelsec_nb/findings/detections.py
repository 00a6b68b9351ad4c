"""Detections as data: the hits frame the engine reads (:data:`DETECTION_SCHEMA`).

One row per (rule, record): the rule's id, title, level and ATT&CK techniques and tactics, the
entity it marks (``process``, ``connection``, ``flow``, ``file``, ``alert``), its ``exec_id`` and
``event_id`` (for ``case.raw``), and where and when.  The columns are those of
``case.detect()`` (Sigma rules, Falco alerts and Tetragon policy actions); on a case without
``detect`` :func:`detections` builds the same frame from the Falco alerts alone
(:func:`falco_detections`), so the engine works either way.

Examples
--------
>>> import kernelsec_nb as kn
>>> detections(kn.open_case()).columns == list(DETECTION_SCHEMA)
True
"""

from __future__ import annotations

import re
from typing import Any

import polars as pl

#: The columns of a detections (hits) frame, in order: the same as ``kernelsec_nb.hunt.HIT_SCHEMA``.
DETECTION_SCHEMA: dict[str, Any] = {
    "source": pl.String, "rule_id": pl.String, "title": pl.String, "level": pl.String,
    "techniques": pl.List(pl.String), "tactics": pl.List(pl.String), "entity": pl.String,
    "exec_id": pl.String, "event_id": pl.String, "time": pl.Datetime("us", "UTC"),
    "time_ns": pl.Int64, "node": pl.String, "namespace": pl.String, "pod": pl.String,
    "workload": pl.String, "binary": pl.String, "detail": pl.String,
}
#: Detection levels, weakest first (Sigma's words).
LEVELS = ("informational", "low", "medium", "high", "critical")
#: Falco priority → level.
FALCO_LEVELS = {"emergency": "critical", "alert": "critical", "critical": "critical", "error": "high",
                "warning": "medium", "notice": "low", "informational": "informational",
                "info": "informational", "debug": "informational"}
#: ATT&CK tactics, as Sigma tags and Falco's ``mitre_*`` tags name them.
TACTICS = ("reconnaissance", "resource-development", "initial-access", "execution", "persistence",
           "privilege-escalation", "defense-evasion", "credential-access", "discovery",
           "lateral-movement", "collection", "command-and-control", "exfiltration", "impact")
_TECHNIQUE = re.compile(r"^T\d{4}(\.\d{3})?$", re.IGNORECASE)


def empty_detections() -> pl.DataFrame:
    """A detections frame without rows."""
    return pl.DataFrame(schema=DETECTION_SCHEMA)


def attack_ids(tags: list[str] | None) -> tuple[list[str], list[str]]:
    """The ATT&CK technique ids and tactics among ``tags`` (Falco's ``T1059``, ``mitre_execution``).

    >>> attack_ids(["T1059", "container", "mitre_credential_access", "t1552.001"])
    (['T1059', 'T1552.001'], ['credential-access'])
    """
    techniques: list[str] = []
    tactics: list[str] = []
    for tag in tags or []:
        t = str(tag).strip()
        if _TECHNIQUE.match(t):
            if t.upper() not in techniques:
                techniques.append(t.upper())
        elif t.lower().startswith("mitre_"):
            name = t[len("mitre_"):].lower().replace("_", "-")
            if name in TACTICS and name not in tactics:
                tactics.append(name)
    return techniques, tactics


#: ATT&CK persistence techniques whose persistence is a thing *placed* where something runs it
#: later: a server's component (T1505, a web shell), an image (T1525), a host binary (T1554), a
#: library or path that hijacks a program (T1574).  Seeing a program start is not seeing one placed.
PLACED = ("T1505", "T1525", "T1554", "T1574")
#: The system calls of a process start, as Falco's ``evt.type`` names them.
PROCESS_START = ("execve", "execveat")


def event_claims(techniques: list[str], event: str | None) -> list[str]:
    """The techniques of ``techniques`` a rule that fired on ``event`` (a system call) can claim:
    one that fired on a process start saw a program run, not one of the placements of :data:`PLACED`
    (Falco tags "Launch Package Management Process in Container" T1505 and ``mitre_persistence``
    on the package manager's ``execve``: installing a package is tooling, no server component was
    seen placed).  The same technique on a file write (a web shell written) stays.

    >>> event_claims(["T1505", "T1059"], "execve"), event_claims(["T1505.003"], "openat")
    (['T1059'], ['T1505.003'])
    >>> event_claims(["T1053.003"], "execve"), event_claims(["T1505"], None)
    (['T1053.003'], ['T1505'])
    """
    if event not in PROCESS_START:
        return techniques
    return [t for t in techniques if t.split(".")[0] not in PLACED]


#: The keys of an alert's ``fields`` that name the system call it fired on: Falco's
#: ``output_fields['evt.type']``, Tracee's top-level ``syscall`` (its source puts it in ``fields``).
EVENT_KEYS = ("evt.type", "syscall")


def _event(fields: Any) -> str | None:
    """An alert's system call (a key of :data:`EVENT_KEYS`) from a map or a list of key/value pairs."""
    if isinstance(fields, list):
        fields = {kv.get("key"): kv.get("value") for kv in fields if isinstance(kv, dict)}
    if isinstance(fields, dict):
        return next((fields[k] for k in EVENT_KEYS if fields.get(k)), None)
    return None


def falco_detections(alerts: pl.DataFrame) -> pl.DataFrame:
    """Attributed alerts (``case.alerts()``: Falco's, Tracee's) as detections: ``rule_id``
    ``<source>:<rule>``,
    level from the priority, techniques and tactics from the tags (the techniques the alert's
    system call can show: :func:`event_claims`)."""
    if alerts.height == 0:
        return empty_detections()
    tags = [attack_ids(t) for t in alerts["tags"].to_list()] if "tags" in alerts.columns else [([], [])] * alerts.height
    if "fields" in alerts.columns:
        tags = [(event_claims(t, _event(f)), a) for (t, a), f in zip(tags, alerts["fields"].to_list(), strict=True)]
    binary = pl.coalesce(*(c for c in ("binary", "proc_name") if c in alerts.columns)) \
        if {"binary", "proc_name"} & set(alerts.columns) else pl.lit(None, pl.String)
    col = lambda name: pl.col(name) if name in alerts.columns else pl.lit(None, pl.String)  # noqa: E731
    src = pl.col("source").fill_null("falco") if "source" in alerts.columns else pl.lit("falco")
    return alerts.select(
        # the engine's own name (alerts of Falco, Tracee ...); Falco's where a frame lacks it
        src.alias("source"), (src + pl.lit(":") + pl.col("rule")).alias("rule_id"),
        pl.col("rule").alias("title"),
        pl.col("priority").str.to_lowercase().replace_strict(FALCO_LEVELS, default="medium").alias("level"),
        pl.Series("techniques", [t for t, _ in tags], dtype=pl.List(pl.String)),
        pl.Series("tactics", [a for _, a in tags], dtype=pl.List(pl.String)),
        pl.lit("alert").alias("entity"), col("exec_id").alias("exec_id"), pl.col("event_id"),
        col("time").alias("time"), pl.col("time_ns"), col("node").alias("node"),
        col("namespace").alias("namespace"), col("pod").alias("pod"), col("workload").alias("workload"),
        binary.alias("binary"), col("output").alias("detail"),
    ).cast(DETECTION_SCHEMA)  # type: ignore[arg-type]


#: ATT&CK's Impact techniques (TA0040): damage done (data destroyed, encrypted or manipulated,
#: resources hijacked, service stopped).
IMPACT = ("T1485", "T1486", "T1489", "T1490", "T1491", "T1495", "T1496", "T1498", "T1499", "T1529", "T1531",
          "T1561", "T1565", "T1657")


def claimed_techniques(hits: pl.DataFrame) -> pl.DataFrame:
    """``hits`` without the Impact techniques (:data:`IMPACT`) of a rule whose own tactic tags
    name other tactics and not impact: Falco tags "Contact K8S API Server From Container" T1565
    (data manipulation) and ``mitre_discovery`` — it saw a connection, no data was manipulated.
    A tag says what a rule is about; the damage must be the rule's own claim.

    >>> h = pl.DataFrame({"techniques": [["T1565"], ["T1496"], ["T1565"]],
    ...                   "tactics": [["discovery"], ["impact"], []]})
    >>> claimed_techniques(h)["techniques"].to_list()
    [[], ['T1496'], ['T1565']]
    """
    if hits.height == 0 or not {"techniques", "tactics"} <= set(hits.columns):
        return hits
    other = pl.col("tactics").list.len().fill_null(0) > 0
    other = other & ~pl.col("tactics").list.contains("impact").fill_null(False)
    kept = pl.col("techniques").list.eval(
        pl.element().filter(~pl.element().str.extract(r"^(T\d{4})", 1).is_in(list(IMPACT))))
    return hits.with_columns(pl.when(other).then(kept).otherwise(pl.col("techniques")).alias("techniques"))


def detections(case: Any, rules: Any = None) -> pl.DataFrame:
    """Every detection of ``case``: ``case.detect(rules)`` when the case has it, else its Falco
    alerts (:func:`falco_detections`); always with the columns of :data:`DETECTION_SCHEMA`,
    the techniques the rules claim (:func:`claimed_techniques`)."""
    if hasattr(case, "detect"):
        hits = case.detect(rules) if rules is not None else case.detect()
        missing = [c for c in DETECTION_SCHEMA if c not in hits.columns]
        hits = hits.with_columns(pl.lit(None).alias(c) for c in missing)
        return claimed_techniques(hits.select(list(DETECTION_SCHEMA)).cast(DETECTION_SCHEMA))  # type: ignore[arg-type]
    return claimed_techniques(falco_detections(case.alerts()))


__all__ = ["DETECTION_SCHEMA", "FALCO_LEVELS", "IMPACT", "LEVELS", "PLACED", "PROCESS_START", "TACTICS", "attack_ids",
           "claimed_techniques", "detections", "empty_detections", "event_claims", "EVENT_KEYS", "falco_detections"]
