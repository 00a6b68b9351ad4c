"""kernelsec_nb.report (work in progress)."""

from __future__ import annotations

__all__: list[str] = []
