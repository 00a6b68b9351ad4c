"""SQL helpers shared by the source modules (pure string building: no values, only names)."""

from __future__ import annotations


#: Parse an RFC 3339 time string (ns precision, ``Z`` or ``+0000``) to nanoseconds since epoch.
def epoch_ns(expr: str) -> str:
    """SQL for nanoseconds since the epoch of a text timestamp ``expr`` (NULL when unparseable)."""
    return f"epoch_ns(TRY_CAST({expr} AS TIMESTAMP_NS))"


def short_container_id(expr: str) -> str:
    """SQL normalising a container id to the 12-character short form Falco and Docker print.

    ``containerd://<64 hex>``, ``docker://…``, ``cri-o://…`` and bare ids all map to the first 12
    hex characters, so Tetragon's, Hubble's and Falco's ids join.  ``host`` and empty stay NULL.
    """
    stripped = f"regexp_replace({expr}, '^[a-z0-9-]+://', '')"
    return f"CASE WHEN regexp_full_match({stripped}, '[0-9a-f]{{12,64}}') THEN left({stripped}, 12) END"


def workload_from_pod(expr: str) -> str:
    """SQL guessing a workload name from a pod name when the export does not carry one.

    Deployment pods (``name-<replicaset hash>-<5 chars>``) and DaemonSet/Job pods
    (``name-<5 chars>``) lose their generated suffixes; other names are kept as they are.
    """
    return (
        f"regexp_replace(regexp_replace({expr}, '-[a-z0-9]{{8,10}}-[a-z0-9]{{5}}$', ''),"
        f" '-[bcdfghjklmnpqrstvwxz2456789]{{5}}$', '')"
    )


def null_if_na(expr: str) -> str:
    """SQL turning Falco's ``<NA>`` and empty strings into NULL."""
    return f"nullif(nullif({expr}, '<NA>'), '')"
