"""The command line: a mistake is one line and leaves nothing behind."""

from kernelsec_nb import cli


def test_a_load_of_a_missing_path_leaves_no_empty_case_behind(tmp_path, capsys):
    case = tmp_path / "new.duckdb"
    assert cli.main(["load", str(case), str(tmp_path / "typo"), "--no-progress"]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert not case.exists() and not (tmp_path / "new.duckdb.wal").exists()


def test_a_report_on_a_case_that_does_not_exist_is_refused(tmp_path, capsys):
    case = tmp_path / "typo-case.duckdb"
    code = cli.main(["report", str(case), "--notebook", "postmortem", "--out", str(tmp_path / "r.html")])
    assert code == 2 and "no case file at" in capsys.readouterr().err
    assert not case.exists() and not (tmp_path / "r.html").exists()


def test_a_report_with_a_notebook_that_does_not_exist_is_one_line(tmp_path, capsys):
    import kernelsec_nb as kn

    case = tmp_path / "c.duckdb"
    kn.open_case(case).close()
    code = cli.main(["report", str(case), "--notebook", str(tmp_path / "nosuch.ipynb"), "--out", str(tmp_path / "r.html")])
    err = capsys.readouterr().err
    assert code == 2 and "no notebook" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
