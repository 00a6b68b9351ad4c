"""``kernelsec-nb spark-load``: its arguments, and one line (no traceback) when Spark cannot run."""

from __future__ import annotations

import importlib.util

from kernelsec_nb.cli import build_parser, main
from kernelsec_nb.spark import cli


def test_arguments():
    args = build_parser().parse_args(["spark-load", "--master", "yarn", "a/", "b.log", "--lake", "lake/"])
    assert (args.master, args.paths, args.lake) == ("yarn", ["a/", "b.log"], "lake/")
    assert build_parser().parse_args(["spark-load", "x", "--lake", "l"]).master == "local[*]"


def test_without_pyspark_one_line(monkeypatch, capsys, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyspark" else real(name, *a))
    assert main(["spark-load", "--master", "local[1]", str(tmp_path), "--lake", str(tmp_path / "lake")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install -e ".[spark]"' in err and "Traceback" not in err
    assert not (tmp_path / "lake").exists()


def test_without_java_one_line(monkeypatch):
    monkeypatch.setattr(cli.shutil, "which", lambda name: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    if importlib.util.find_spec("pyspark") is not None:
        assert "Java" in cli.missing()
