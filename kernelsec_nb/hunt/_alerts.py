"""Falco alerts and Tetragon policy actions as hits, beside the Sigma hits (``include_alerts``).

* **Falco**: every alert, attributed to its exec like ``case.alerts()``.  ``rule_id`` is
  ``falco:<rule>``; ``level`` from the priority (Emergency/Alert/Critical → critical,
  Error → high, Warning → medium, Notice → low, Informational/Debug → informational);
  techniques and tactics from Falco's tags (``T1059``, ``mitre_execution``).
* **Tetragon**: hook events whose policy *acted* (``action`` other than the plain report
  ``KPROBE_ACTION_POST``/``NOPOST``…: ``SIGKILL``, ``OVERRIDE``, ``SIGNAL``, ``NOTIFY_ENFORCER`` →
  high; ``GETURL``, ``DNSLOOKUP`` → medium).  ``rule_id`` is ``tetragon:<policy>``; Tetragon
  policies carry no ATT&CK ids.
"""

from __future__ import annotations

import re
from typing import Any

import polars as pl

from kernelsec_nb.hunt._rules import TACTICS
from kernelsec_nb.hunt._runner import HIT_SCHEMA, empty_hits

FALCO_LEVELS = {"emergency": "critical", "alert": "critical", "critical": "critical", "error": "high",
                "warning": "medium", "notice": "low", "informational": "informational",
                "info": "informational", "debug": "informational"}
TETRAGON_LEVELS = {"SIGKILL": "high", "OVERRIDE": "high", "SIGNAL": "high", "NOTIFY_ENFORCER": "high",
                   "GETURL": "medium", "DNSLOOKUP": "medium"}
_TECH = re.compile(r"^T\d{4}(\.\d{3})?$", re.IGNORECASE)


def _falco_tags(tags: list[str] | None) -> tuple[list[str], list[str]]:
    techniques, tactics = [], []
    for t in tags or []:
        t = str(t).strip()
        if _TECH.match(t):
            techniques.append(t.upper())
        elif t.lower().startswith("mitre_"):
            name = t[len("mitre_"):].lower().replace("_", "-")
            if name in TACTICS:
                tactics.append(name)
    return techniques, tactics


def falco_hits(case: Any) -> pl.DataFrame:
    """Falco alerts as hits (attributed like ``case.alerts()``)."""
    alerts = case.alerts()
    if alerts.height == 0:
        return empty_hits()
    tags = [_falco_tags(t) for t in alerts["tags"].to_list()]
    return alerts.select(
        pl.lit("falco").alias("source"), (pl.lit("falco:") + pl.col("rule")).alias("rule_id"),
        pl.col("rule").alias("title"),
        pl.col("priority").str.to_lowercase().replace_strict(FALCO_LEVELS, default="medium").alias("level"),
        pl.Series("techniques", [t for t, _ in tags], dtype=pl.List(pl.String)),
        pl.Series("tactics", [a for _, a in tags], dtype=pl.List(pl.String)),
        pl.lit("alert").alias("entity"), "exec_id", "event_id", "time", "time_ns", "node",
        "namespace", "pod", "workload",
        pl.coalesce("binary", "proc_name").alias("binary"), pl.col("output").alias("detail"),
    ).cast(HIT_SCHEMA)  # type: ignore[arg-type]


_TETRAGON = """
SELECT 'tetragon' AS source, 'tetragon:' || coalesce(policy_name, function_name, kind) AS rule_id,
       coalesce(policy_name, '') || ': ' || coalesce(function_name, kind) || ' '
           || replace(action, 'KPROBE_ACTION_', '') AS title,
       replace(action, 'KPROBE_ACTION_', '') AS _action, 'process' AS entity, exec_id, event_id,
       time, time_ns, node, namespace, pod, workload, "binary",
       concat_ws(' ', "binary", args, file_path, daddr || ':' || dport) AS detail
FROM kprobes WHERE list_contains(?::VARCHAR[], replace(action, 'KPROBE_ACTION_', ''))"""


def tetragon_hits(case: Any) -> pl.DataFrame:
    """Tetragon hook events where a policy acted (killed, overrode, signalled…) as hits."""
    frame = pl.from_arrow(case.con.sql(_TETRAGON, params=[list(TETRAGON_LEVELS)]).to_arrow_table())
    assert isinstance(frame, pl.DataFrame)
    if frame.height == 0:
        return empty_hits()
    return frame.with_columns(
        pl.col("_action").replace_strict(TETRAGON_LEVELS, default="medium").alias("level"),
        pl.lit([], dtype=pl.List(pl.String)).alias("techniques"),
        pl.lit([], dtype=pl.List(pl.String)).alias("tactics"),
    ).select(list(HIT_SCHEMA)).cast(HIT_SCHEMA)  # type: ignore[arg-type]
