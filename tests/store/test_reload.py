"""An export loaded again after it grew (a node still writing it): read again, nothing stale."""

from __future__ import annotations

import pytest

import kernelsec_nb as kn
from kernelsec_nb.store import load as load_mod
from tests.store.lines import tetragon_exec

LINES = [tetragon_exec(pid=i) for i in range(1, 7)]


@pytest.fixture
def case(tmp_path):
    c = kn.open_case(tmp_path / "case.duckdb")
    yield c
    c.close()


def counts(case) -> tuple:
    return case.sql("SELECT (SELECT count(*) FROM events) AS events, (SELECT count(*) FROM quarantine) AS q, "
                    "(SELECT sum(quarantined) FROM files) AS fq").row(0)


def test_a_file_that_grew_keeps_no_stale_truncated_row(case, tmp_path):
    export = tmp_path / "tetragon.log"
    export.write_text("\n".join(LINES[:3]) + "\n" + LINES[3][:60])  # the node is writing line 4
    r = case.load(export, progress=False)
    assert r.files[0].quarantined == 1 and "truncated" in case.quarantine()["reason"][0]
    export.write_text("\n".join(LINES) + "\n")
    r = case.load(export, progress=False)
    assert (r.files[0].loaded, r.files[0].duplicates, r.files[0].quarantined) == (3, 3, 0)
    assert case.quarantine().height == 0
    assert counts(case) == (6, 0, 0)


def test_a_bad_line_of_a_file_that_grew_is_quarantined_once(case, tmp_path):
    export = tmp_path / "tetragon.log"
    export.write_text("\n".join([LINES[0], "{not json", LINES[1]]) + "\n")
    case.load(export, progress=False)
    export.write_text("\n".join([LINES[0], "{not json", *LINES[1:]]) + "\n")
    r = case.load(export, progress=False)
    assert r.files[0].quarantined == 1
    assert case.quarantine().select("line").rows() == [(2,)]
    assert counts(case) == (6, 1, 1)


def test_a_failed_reload_of_a_file_that_grew_keeps_the_earlier_load(case, tmp_path, monkeypatch):
    export = tmp_path / "tetragon.log"
    export.write_text("\n".join([LINES[0], "{not json", LINES[1]]) + "\n")
    case.load(export, progress=False)
    before = (counts(case), case.files().select("lines", "loaded", "sha256").rows())
    export.write_text("\n".join([LINES[0], "{not json", *LINES[1:]]) + "\n")
    real = load_mod.ingest_block

    def interrupted(con, table, name, **kw):
        real(con, table, name, **kw)  # this load's rows are in, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(load_mod, "ingest_block", interrupted)
    with pytest.raises(KeyboardInterrupt):
        case.load(export, progress=False)
    assert (counts(case), case.files().select("lines", "loaded", "sha256").rows()) == before
    monkeypatch.setattr(load_mod, "ingest_block", real)
    case.load(export, progress=False)
    assert counts(case) == (6, 1, 1)
