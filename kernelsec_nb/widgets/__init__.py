"""Interactive widgets for exploring a case in Jupyter (ipywidgets + altair ``JupyterChart``).

Examples
--------
>>> import kernelsec_nb as kn
>>> explorer = kn.widgets.Explorer(kn.open_case())
>>> sorted(explorer.pickers)
['namespace', 'node', 'source', 'workload']
"""

from __future__ import annotations

from kernelsec_nb.widgets._table import pre_html, table_html
from kernelsec_nb.widgets.explorer import Explorer

__all__ = ["Explorer", "pre_html", "table_html"]
