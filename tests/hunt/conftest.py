"""A case of the bundled incident, loaded once for the hunt tests."""

from __future__ import annotations

from pathlib import Path

import pytest

import kernelsec_nb as kn
from tests.conftest import REPO

SIGMAHQ = Path(__file__).parent / "data" / "sigmahq"


@pytest.fixture(scope="session")
def deathstar(tmp_path_factory: pytest.TempPathFactory):
    case = kn.open_case(str(tmp_path_factory.mktemp("hunt") / "ds.duckdb"))
    case.load(REPO / "data" / "deathstar", progress=False)
    yield case
    case.close()
