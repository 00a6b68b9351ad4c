"""The HTML report keeps wide tables inside the page: they scroll sideways (cell styles are
stripped by the report's sanitiser, so the rule is in the report's own CSS)."""

from __future__ import annotations

import re

from kernelsec_nb.report.render import _CSS


def test_wide_tables_scroll_inside_the_page() -> None:
    rule = re.search(r"(?:^|[}\s])table\{([^}]*)\}", _CSS)
    assert rule is not None
    body = rule.group(1)
    assert "overflow-x:auto" in body and "max-width:100%" in body and "display:block" in body


def test_charts_shrink_to_the_page() -> None:
    assert re.search(r"img\.chart\{[^}]*max-width:100%", _CSS)
