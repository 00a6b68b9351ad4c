"""The correlation methods of :class:`kernelsec_nb.Case` (processes, ancestry, flows, alerts …)."""

from __future__ import annotations


class CorrelateMixin:
    """Mixed into :class:`kernelsec_nb.Case`; methods use ``self.sql`` and ``self.con``."""
