"""The evidence rows' vocabulary: the kinds of evidence (typed tags), :data:`EVIDENCE_SCHEMA`, the
weights and windows (:class:`EvidenceSettings`).  The builders live in
:mod:`kernelsec_nb.findings._evidence` (which re-exports all of this) and
:mod:`kernelsec_nb.findings._dns_tunnel`.

Examples
--------
>>> empty_evidence().columns[:3]
['exec_id', 'kind', 'weight']
>>> DEFAULT.weights[CONNECT_OUT]
2.0
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

NS = 1_000_000_000

DETECTION = "detection"        # a rule (Sigma, Falco, Tetragon policy) marked it
EXEC_IN = "exec_in"            # exec'd into a pod from outside its container's own tree
SERVICE_CHILD = "service_child"  # started by a pod's long-running service process, not its routine
CONNECT_OUT = "connect_out"    # connected out of the cluster, not to the workload's usual destinations
BLOCKED = "blocked"            # a policy dropped its connection
REQUEST = "request"            # sent a state-changing request the workload does not send all day
SIGNAL = "signal"              # a process died by a signal while it ran (on its node)
HANDOFF = "file_handoff"       # wrote a file another process ran or read later
LATERAL = "lateral"            # its connection made another pod start a process or write a file
PERSIST = "persistence"        # a detection of the persistence tactic marked it (a cron entry written …)
AROUND = "around_policy"       # got through to a destination a policy had refused its pod on another port
DNS_TUNNEL = "dns_tunnel"      # looked up many distinct random-looking names under one domain (data in DNS)
METADATA = "instance_metadata"  # reached the cloud instance metadata service, which its workload does not
KINDS = (DETECTION, EXEC_IN, SERVICE_CHILD, CONNECT_OUT, BLOCKED, REQUEST, SIGNAL, HANDOFF, LATERAL, PERSIST, AROUND,
         DNS_TUNNEL, METADATA)
#: Kinds that are acts with an effect (a key command must have one of these, best first).
ACTS = (SIGNAL, LATERAL, PERSIST, HANDOFF, CONNECT_OUT, DNS_TUNNEL, AROUND, REQUEST, METADATA, BLOCKED)
STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")
#: ATT&CK techniques of the persistence tactic (TA0003) that apply to Linux and containers: a
#: detection tagged with one marks a process that made itself stay (tags such as Falco's often name
#: another of the technique's tactics, e.g. ``mitre_execution`` for T1053).
PERSISTENCE_TECHNIQUES = ("T1053", "T1543", "T1546", "T1547", "T1037", "T1098", "T1136", "T1505", "T1525",
                          "T1554", "T1556", "T1574", "T1133", "T1078")

EVIDENCE_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "exec_id": pl.String, "kind": pl.String, "weight": pl.Float64, "text": pl.String,
    "event_id": pl.String, "rule_id": pl.String, "techniques": pl.List(pl.String)}


@dataclass(frozen=True)
class EvidenceSettings:
    """Weights of the evidence kinds and the windows of the derived ones."""

    weights: dict[str, float] = field(default_factory=lambda: {
        EXEC_IN: 1.0, SERVICE_CHILD: 1.0, CONNECT_OUT: 2.0, BLOCKED: 1.0, REQUEST: 1.5, SIGNAL: 2.5,
        HANDOFF: 2.0, LATERAL: 2.0, PERSIST: 0.5, AROUND: 2.0, DNS_TUNNEL: 2.0, METADATA: 2.0})
    #: detection weight by level
    levels: dict[str, float] = field(default_factory=lambda: {
        "informational": 0.0, "low": 1.0, "medium": 2.0, "high": 3.0, "critical": 4.0})
    #: a process died by a signal at most this long after the sender started
    signal_window_ns: int = 5 * NS
    #: a child of a process that has run this long before it is a service's child
    service_age_ns: int = 60 * NS
    #: a connection got around a policy when it reached, this soon after, a destination the policy refused
    around_window_ns: int = 600 * NS
    #: DNS names under one domain whose first label looks random (:data:`RANDOM_LABEL`) that make
    #: a tunnel: data carried in the names (a CDN's few hashed names, asked again and again, do not)
    dns_tunnel_names: int = 20
    #: a pod's lookups no flow attributes go to the line of its process started last, at most this
    #: long before them (:func:`attribute_to_lineage`)
    attribute_window_ns: int = 600 * NS


DEFAULT = EvidenceSettings()


def empty_evidence() -> pl.DataFrame:
    return pl.DataFrame(schema=EVIDENCE_SCHEMA)


def _rows(frame: pl.DataFrame) -> pl.DataFrame:
    for c in EVIDENCE_SCHEMA:
        if c not in frame.columns:
            frame = frame.with_columns(pl.lit(None).alias(c))
    return frame.select(list(EVIDENCE_SCHEMA)).cast(EVIDENCE_SCHEMA)  # type: ignore[arg-type]


__all__ = ["ACTS", "AROUND", "BLOCKED", "CONNECT_OUT", "DEFAULT", "DETECTION", "DNS_TUNNEL", "EVIDENCE_SCHEMA", "EXEC_IN", "HANDOFF", "KINDS", "LATERAL", "METADATA", "NS", "PERSIST", "PERSISTENCE_TECHNIQUES", "REQUEST", "SERVICE_CHILD", "SIGNAL", "STATE_CHANGING", "EvidenceSettings", "empty_evidence"]
