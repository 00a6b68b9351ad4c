"""A case of the bundled incident, loaded once for the hunt tests."""

from __future__ import annotations

from pathlib import Path

import pytest

import kernelsec_nb as kn
from tests.conftest import CASE_KINDS, REPO

SIGMAHQ = Path(__file__).parent / "data" / "sigmahq"


@pytest.fixture(scope="session", params=CASE_KINDS)
def deathstar(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    if request.param == "lake":  # the same hits from the lake of the capture
        yield kn.open_case(request.getfixturevalue("bundled_lake"))
        return
    case = kn.open_case(str(tmp_path_factory.mktemp("hunt") / "ds.duckdb"))
    case.load(REPO / "data" / "deathstar", progress=False)
    yield case
    case.close()
