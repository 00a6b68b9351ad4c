"""``case.hunt`` and ``case.detect``: the Sigma hunting of :mod:`kernelsec_nb.hunt` on the case.

pySigma is imported on the first call, so that ``import kernelsec_nb`` stays light.
"""

from __future__ import annotations

from typing import Any

import polars as pl


class HuntMixin:
    """``hunt`` and ``detect`` on :class:`kernelsec_nb.Case`."""

    def hunt(self, rules: Any = None, *, include_alerts: bool = False,
             strict: bool = False) -> pl.DataFrame:
        """Run Sigma rules over the case (see :func:`kernelsec_nb.hunt.hunt`).

        Examples
        --------
        >>> case.hunt("my-rules/", include_alerts=True)  # doctest: +SKIP
        """
        from kernelsec_nb.hunt import hunt

        return hunt(self, rules, include_alerts=include_alerts, strict=strict)

    def detect(self, rules: Any = None) -> pl.DataFrame:
        """Every detection of the case: ``hunt(rules, include_alerts=True)``, the bundled pack by default.

        Examples
        --------
        >>> case.detect()  # doctest: +SKIP
        """
        from kernelsec_nb.hunt import hunt

        return hunt(self, rules, include_alerts=True)
