"""Widget tests reuse the view tests' hand-made incident (``tests/viz/fixture_case.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "viz"))

import fixture_case  # noqa: E402


@pytest.fixture()
def case(tmp_path: Path):
    c = fixture_case.build(tmp_path)
    yield c
    c.close()
