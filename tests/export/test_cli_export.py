"""``kernelsec-nb queries`` and ``kernelsec-nb export``: printed text is shown, exports keep the bytes."""

from __future__ import annotations

import json

import polars as pl
import pytest

import kernelsec_nb as kn
from kernelsec_nb import cli
from tests.correlate.conftest import scenario, write

HOSTILE = "q\x1b[2J\r\u202eevil"


@pytest.fixture(scope="module")
def case_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = write(tmp_path_factory.mktemp("cli"), scenario())
    path = str(tmp_path_factory.mktemp("case") / "c.duckdb")
    with kn.open_case(path) as case:
        case.load(root, progress=False)
        case.tag(case.flows()["event_id"][0], "c2")
        case.save_query("drops", "flows", verdict="DROPPED")
        case.save_query(HOSTILE, "events", pod=HOSTILE)
    return path


def test_queries_lists_them_shown(case_path, capsys):
    assert cli.main(["queries", case_path]) == 0
    out = capsys.readouterr().out
    assert "drops\tflows\t" in out and '"verdict": "DROPPED"' in out
    assert "\x1b" not in out and "\r" not in out and "\u202e" not in out
    assert "q␛[2J␍" in out


def test_queries_json(case_path, capsys):
    assert cli.main(["queries", case_path, "--json"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out  # escaped in the JSON text
    rows = json.loads(out)
    assert [r["name"] for r in rows] == sorted(["drops", HOSTILE])  # the bytes, once decoded
    assert rows[0]["filters"] == {"verdict": "DROPPED"} and rows[0]["method"] == "flows"


def test_export_with_filters(case_path, tmp_path, capsys):
    out = tmp_path / "t.jsonl"
    code = cli.main(["export", case_path, "--format", "timesketch", "--out", str(out),
                     "--filter", "tag=c2", "--filter", "kind=flow"])
    assert code == 0
    assert "1 rows written as timesketch" in capsys.readouterr().out
    (doc,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert doc["tag"] == ["c2"]


def test_export_a_method_and_a_saved_query(case_path, tmp_path, capsys):
    assert cli.main(["export", case_path, "--format", "csv", "--out", str(tmp_path / "f.csv"),
                     "--method", "flows", "--filter", "port=80", "--filter", "port=8080"]) == 0
    with kn.open_case(case_path, read_only=True) as case:
        expected = case.flows(port=[80, 8080]).height
        drops = case.query("drops").height
    assert pl.read_csv(tmp_path / "f.csv", infer_schema_length=0).height == expected
    assert cli.main(["export", case_path, "--format", "parquet", "--out", str(tmp_path / "pq"),
                     "--query", "drops"]) == 0
    assert pl.read_parquet(tmp_path / "pq" / "drops.parquet").height == drops
    capsys.readouterr()


def test_export_mistakes_are_one_line(case_path, tmp_path, capsys):
    for argv, message in (
        (["--filter", "colour=red"], "unknown filter 'colour'"),
        (["--filter", "nokey"], "write KEY=VALUE"),
        (["--query", "nope"], "no saved query 'nope'"),
        (["--method", "close"], "not a query method"),
    ):
        code = cli.main(["export", case_path, "--format", "ecs", "--out", str(tmp_path / "x"), *argv])
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert cli.main(["export", str(tmp_path / "typo.duckdb"), "--format", "csv", "--out", str(tmp_path / "y")]) == 2
    assert "no case file at" in capsys.readouterr().err
