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


#: The two stores a case can be: a DuckDB file, or a Parquet lake (kernelsec_nb.lake), read-only.
#: Fixtures of the tests that read a case are parametrised with them.
CASE_KINDS = ("duckdb", "lake")
BUNDLED = REPO / "data" / "deathstar"


def build_store(kind: str, exports: Path, folder: Path) -> Path:
    """Load ``exports`` into a new case file (``kind="duckdb"``) or lake in ``folder``; its path."""
    import kernelsec_nb as kn

    if kind == "lake":
        kn.load_lake(folder / "lake", exports, progress=False)
        return folder / "lake"
    with kn.open_case(folder / "case.duckdb") as case:
        case.load(exports, progress=False)
    return folder / "case.duckdb"


@pytest.fixture(scope="session")
def bundled_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled incident as a lake, built once per session (a lake is read-only: shared)."""
    return build_store("lake", BUNDLED, tmp_path_factory.mktemp("bundled-lake"))


def _loaded(exports: Path, folder: Path):
    """``exports`` loaded into a new case file in ``folder``, closed: (its path, the load report)."""
    import kernelsec_nb as kn

    with kn.open_case(folder / "case.duckdb") as case:
        report = case.load(exports, progress=False)
    return folder / "case.duckdb", report


@pytest.fixture(scope="session")
def bundled_case_load(tmp_path_factory: pytest.TempPathFactory):
    """The bundled incident loaded once per session into a case file, closed: (path, report).
    Tests (and the processes they start) open it read-only; never open it for writing."""
    return _loaded(BUNDLED, tmp_path_factory.mktemp("bundled-case-file"))


@pytest.fixture(scope="session")
def bundled_case_file(bundled_case_load) -> Path:
    """The case file of ``bundled_case_load``: open it read-only only."""
    return bundled_case_load[0]


@pytest.fixture(scope="session")
def public_case_load(public_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The public exports (``public_dir``) loaded once per session into a case file, closed:
    (path, report).  Open it read-only only."""
    return _loaded(public_dir, tmp_path_factory.mktemp("public-case-file"))


@pytest.fixture(scope="session")
def bundled_case(bundled_case_file: Path, tmp_path_factory: pytest.TempPathFactory):
    """The bundled incident in a case file (a copy of ``bundled_case_file``), open once per
    session (tests only read it)."""
    import shutil

    import kernelsec_nb as kn

    path = tmp_path_factory.mktemp("bundled-case") / bundled_case_file.name
    shutil.copy(bundled_case_file, path)
    case = kn.open_case(path)
    yield case
    case.close()
