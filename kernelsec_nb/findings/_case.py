"""``case.findings()``: the findings engine (:mod:`kernelsec_nb.findings.engine`) on a case."""

from __future__ import annotations

from typing import Any

from kernelsec_nb.findings._records import Findings


class FindingsMixin:
    """``findings`` on :class:`kernelsec_nb.Case`."""

    def findings(self, rules: Any = None) -> Findings:
        """Incidents (ranked, with confidence), leads and notes of the case.

        ``rules`` are passed to ``case.detect`` when the case has it (Sigma rules); Falco alerts
        are detections either way.

        Examples
        --------
        >>> f = case.findings()                  # doctest: +SKIP
        >>> f.incidents[0].key_command           # doctest: +SKIP
        """
        import dataclasses

        from kernelsec_nb.findings.engine import find

        found = find(self, rules)
        if not self.sql("SELECT 1 FROM events LIMIT 1").height:  # a typo in the path makes a new case
            empty = (f"the case {self.path} holds no event: nothing was loaded into it (a case opened at a new "
                     "path is new and empty; load exports with case.load)")
            found = dataclasses.replace(found, notes=[empty, *found.notes])
        return found
