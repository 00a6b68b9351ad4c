"""Shared fixtures for the synthetic-data tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kernelsec_nb.synth import generate


@pytest.fixture(scope="session")
def capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A fresh ``generate(tmp, seed=7)`` and its TRUTH."""
    out = tmp_path_factory.mktemp("deathstar")
    truth = generate(out, seed=7)
    return out, truth
