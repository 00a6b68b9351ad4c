"""The findings engine: detections, the routine learned from the capture, an evidence
graph, and incidents as its suspicious connected parts.

Modules, one concept each, in the order the data flows:

* :mod:`~kernelsec_nb.findings._records` — the typed results (:class:`Findings`, :class:`Incident`,
  :class:`Lead`) and their JSON schema;
* :mod:`~kernelsec_nb.findings.detections` — detections as a hits frame (:data:`DETECTION_SCHEMA`);
* :mod:`~kernelsec_nb.findings.routine` — per process, how routine it is for its workload, and why;
* :mod:`~kernelsec_nb.findings.graph` — edge builders over plain polars frames;
* :mod:`~kernelsec_nb.findings.engine` — ``find(case)``; :mod:`~kernelsec_nb.findings._incident` — one incident's record.
"""

from __future__ import annotations

from kernelsec_nb.findings._records import (
    CONFIDENCES,
    ROLES,
    SCHEMA_PATH,
    Endpoint,
    Entry,
    Findings,
    Incident,
    KeyCommand,
    Lead,
    Reached,
    schema,
)

__all__ = ["CONFIDENCES", "ROLES", "SCHEMA_PATH", "Endpoint", "Entry", "Findings", "Incident",
           "KeyCommand", "Lead", "Reached", "schema"]
