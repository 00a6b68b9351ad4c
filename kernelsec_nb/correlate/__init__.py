"""Correlation across sources with polars: process trees, flow and alert attribution, activity.

Every function here works on plain polars DataFrames (so it can be used on data from
elsewhere); :class:`kernelsec_nb.Case` exposes the same work as methods (``processes``,
``ancestry``, ``descendants``, ``process_tree``, ``flows``, ``alerts``, ``activity``,
``first_seen``, ``coverage``, ``explain``).

Examples
--------
>>> import polars as pl
>>> from kernelsec_nb.correlate import ancestry
>>> p = pl.DataFrame({"exec_id": ["a", "b"], "parent_exec_id": [None, "a"]})
>>> ancestry(p, "b")["exec_id"].to_list()
['a', 'b']
"""

from __future__ import annotations

from kernelsec_nb.correlate._alerts import attribute_alerts, fill_k8s
from kernelsec_nb.correlate._flows import attribute_flows, socket_kprobes
from kernelsec_nb.correlate._tree import ParentIndex, add_counts, ancestry, build_tree, descendants

__all__ = ["ParentIndex", "add_counts", "ancestry", "attribute_alerts", "attribute_flows", "build_tree",
           "descendants", "fill_k8s", "socket_kprobes"]
