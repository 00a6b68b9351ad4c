"""Fixtures shared by the store's tests."""

from __future__ import annotations

import pytest

import kernelsec_nb as kn
from kernelsec_nb.store import _ingest


@pytest.fixture(params=[True, False], ids=["routes", "general"])
def case(request, tmp_path, monkeypatch):
    """A new case file, once with the per-source fast routes and once with the general path only.

    A test module that needs a plain case defines its own ``case`` fixture, which takes precedence.
    """
    monkeypatch.setattr(_ingest, "USE_ROUTES", request.param)
    c = kn.open_case(tmp_path / "case.duckdb")
    yield c
    c.close()
