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

from typing import Any

import polars as pl

# The Falco mapping (levels, ATT&CK tags) is the findings engine's: one reading of an alert.
from kernelsec_nb.findings.detections import falco_detections
from kernelsec_nb.hunt._runner import HIT_SCHEMA, empty_hits

TETRAGON_LEVELS = {"SIGKILL": "high", "OVERRIDE": "high", "SIGNAL": "high", "NOTIFY_ENFORCER": "high",
                   "GETURL": "medium", "DNSLOOKUP": "medium"}


def falco_hits(case: Any) -> pl.DataFrame:
    """Falco alerts as hits (attributed like ``case.alerts()``)."""
    alerts = case.alerts()
    return falco_detections(alerts) if alerts.height else empty_hits()


_TETRAGON = """
SELECT source, source || ':' || coalesce(policy_name, function_name, kind) AS rule_id,
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
