"""Shared fixtures: where the real public exports are (``../shared/data/public`` beside the repo)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def public_data() -> Path | None:
    env = os.environ.get("KERNELSEC_PUBLIC_DATA")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data" / "public"]:
        if cand.is_dir():
            return cand
    return None


@pytest.fixture(scope="session")
def public_dir() -> Path:
    found = public_data()
    if found is None:
        pytest.skip("../shared/data/public is not here")
    return found
