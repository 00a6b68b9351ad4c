"""Charts fit a notebook's output area: about 850 px at a 1280 px window with the file browser
open (measured by ``tests/notebooks/test_jupyterlab_browser.py``), legends included."""

from __future__ import annotations

import re

import pytest
import vl_convert as vlc

import kernelsec_nb as kn
from kernelsec_nb.viz.html import _spec, _vl_version
from tests.viz.test_viz_golden import VIEWS

#: the output area's width at 1280 px with the file browser open, less a margin
FITS = 800


def _svg_width(chart) -> float:
    spec = _spec(chart)
    ver = _vl_version(spec)
    svg = vlc.vegalite_to_svg(spec, **({"vl_version": ver} if ver else {}))
    return float(re.search(r'<svg[^>]*\bwidth="([\d.]+)"', svg).group(1))


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_default_width_fits_the_output_area(case, name: str) -> None:
    assert _svg_width(VIEWS[name](case)) <= FITS


def test_legends_sit_below_the_chart(case) -> None:
    for name in ("timeline", "flow_chart", "process_tree", "activity_heatmap"):
        text = str(VIEWS[name](case).to_dict())
        assert "'orient': 'bottom'" in text, name


def test_the_explorer_snapshot_fits(case) -> None:
    ex = kn.widgets.Explorer(case)
    widths = [float(w) for w in re.findall(r'<svg[^>]*\bwidth="([\d.]+)"', ex.snapshot())]
    assert widths and max(widths) <= FITS
