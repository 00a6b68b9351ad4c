"""A lake built by Spark (local[2]) equals a case built by ``case.load``: every table row for
row, and the load report (issue 23)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import kernelsec_nb as kn
from kernelsec_nb.lake import LakeError
from tests.conftest import REPO
from tests.spark import fuzzed
from tests.spark.parity import differences


def _both(spark, paths: list, tmp: Path):
    import kernelsec_nb.spark

    case = kn.open_case(tmp / "case.duckdb")
    want = case.load(paths, progress=False)
    got = kernelsec_nb.spark.load(spark, paths, tmp / "lake")
    return case, want, got


def _same(case, want, got, lake: Path) -> None:
    assert got.to_dict() == want.to_dict()
    assert str(got) == str(want)
    assert differences(case, lake) == {}
    for f in got.files:
        assert f.status == "skipped" or f.balanced, f


def _against(spark, loaded: tuple[Path, object], paths: list, tmp: Path) -> None:
    """A Spark build of ``paths`` against their case (``loaded``: the session's, path and report)."""
    import kernelsec_nb.spark

    path, want = loaded
    got = kernelsec_nb.spark.load(spark, paths, tmp / "lake")
    with kn.open_case(path, read_only=True) as case:
        _same(case, want, got, tmp / "lake")


def test_bundled_capture(spark, tmp_path, bundled_case_load):
    want = bundled_case_load[1]
    assert want.total("duplicates") and want.clock_skew  # the capture has both: they are compared
    _against(spark, bundled_case_load, [REPO / "data" / "deathstar"], tmp_path)


def test_public_samples(spark, tmp_path, public_dir, public_case_load):
    _against(spark, public_case_load, [public_dir], tmp_path)


def test_fuzzed_capture(spark, tmp_path):
    root = fuzzed.write(tmp_path / "capture")
    case, want, got = _both(spark, [root], tmp_path)
    statuses = {f.status for f in want.files}
    assert {"loaded", "already loaded", "error"} <= statuses, statuses
    assert want.total("duplicates") and want.total("quarantined") and want.total("blank")
    assert any(f.warnings for f in want.files)
    assert case.sql("SELECT count(*) AS n FROM alerts WHERE k8s_filled")["n"][0]
    _same(case, want, got, tmp_path / "lake")


def test_two_runs_equal_one(spark, tmp_path):
    """New exports appended to a lake: the same tables as one load of everything; each run's
    report is what ``case.load`` reports for the same two loads into one case."""
    import kernelsec_nb.spark

    capture = tmp_path / "capture"
    shutil.copytree(REPO / "data" / "deathstar", capture)
    first = [capture / "kind-control-plane", capture / "kind-worker"]
    # the second run: another node, a copy of a file of the first run, a file repeating some of its events
    extra = tmp_path / "later"
    extra.mkdir()
    shutil.copy(capture / "kind-worker" / "falco.json", extra / "falco-copy.json")
    lines = (capture / "kind-worker" / "tetragon.log").read_text().splitlines(keepends=True)
    (extra / "tetragon-overlap.log").write_text("".join(lines[:50]) + "{broken\n\n")
    second = [capture / "kind-worker2", extra]

    case = kn.open_case(tmp_path / "case.duckdb")
    wants = [case.load(first, progress=False), case.load(second, progress=False)]
    gots = [kernelsec_nb.spark.load(spark, run, tmp_path / "lake") for run in (first, second)]
    for want, got in zip(wants, gots, strict=True):
        assert got.to_dict() == want.to_dict()
    assert {f.status for f in wants[1].files} >= {"already loaded", "loaded"}
    assert wants[1].total("duplicates")
    assert differences(case, tmp_path / "lake") == {}
    one = kn.open_case(tmp_path / "one.duckdb")
    one.load(first + second, progress=False)
    assert differences(one, tmp_path / "lake") == {}
    # an export of the lake that grew since: refused in one line, the lake as it was
    with open(capture / "kind-worker" / "falco.json", "a") as fh:
        fh.write(lines[0])
    manifest = (tmp_path / "lake" / "_kernelsec_lake.json").read_text()
    with pytest.raises(LakeError, match="in the lake with other content"):
        kernelsec_nb.spark.load(spark, [capture / "kind-worker"], tmp_path / "lake")
    assert (tmp_path / "lake" / "_kernelsec_lake.json").read_text() == manifest


@pytest.mark.parametrize("name", ["__init__"])
def test_importing_the_package_does_not_import_pyspark(name):
    import subprocess
    import sys

    code = "import sys, kernelsec_nb, kernelsec_nb.spark; print('pyspark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "False"
