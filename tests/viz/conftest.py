"""Fixtures for the view tests: the tiny hand-made incident of ``fixture_case.py``.

Goldens: ``KERNELSEC_UPDATE_GOLDENS=1 pytest tests/viz`` rewrites ``tests/viz/golden/*.json``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import fixture_case  # noqa: E402


@pytest.fixture(scope="session")
def fx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("viz_fixture")


@pytest.fixture(scope="session")
def case(fx_dir: Path):
    c = fixture_case.build(fx_dir)
    yield c
    c.close()


@pytest.fixture(scope="session")
def update_goldens() -> bool:
    return os.environ.get("KERNELSEC_UPDATE_GOLDENS") == "1"
