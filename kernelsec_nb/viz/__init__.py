"""Views of a case: plain altair charts, and safe files to share them.

Every view is a function of the case returning an ordinary altair chart, so it can be
layered, faceted or saved like any other.  Times are UTC; colours are colour-blind safe
(Okabe-Ito) and doubled by shapes.  :func:`save` writes ``.svg``/``.png`` (vl-convert) or a
standalone ``.html`` that needs no network and cannot be broken out of by event data.

Examples
--------
>>> import kernelsec_nb as kn
>>> case = kn.open_case()
>>> chart = kn.viz.timeline(case)
>>> type(chart).__name__
'LayerChart'
"""

from __future__ import annotations

from kernelsec_nb.viz.attack import attack_flow
from kernelsec_nb.viz.flows import flow_chart
from kernelsec_nb.viz.heatmap import activity_heatmap
from kernelsec_nb.viz.html import save, to_html
from kernelsec_nb.viz.matrix import attack_matrix
from kernelsec_nb.viz.timeline import timeline
from kernelsec_nb.viz.tree import process_tree

__all__ = ["activity_heatmap", "attack_flow", "attack_matrix", "flow_chart", "process_tree", "save", "timeline",
           "to_html"]
