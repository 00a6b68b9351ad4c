"""Correlation across sources with polars: process trees, flow and alert attribution, activity.

Every function here works on plain polars DataFrames (so it can be used on data from
elsewhere); :class:`kernelsec_nb.Case` exposes the same work as methods.
"""

from __future__ import annotations

__all__: list[str] = []
