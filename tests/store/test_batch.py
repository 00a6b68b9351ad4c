"""Small files loaded together as one block give what loading them one by one gives."""

from __future__ import annotations

import gzip
import json
import signal
from pathlib import Path

import pytest

import kernelsec_nb as kn
from kernelsec_nb.store import _ingest
from kernelsec_nb.store import load as load_mod
from tests.store.lines import falco_alert, hubble_flow, sample_lines, tetragon_exec
from tests.store.test_crash import UNFINISHED, _child, consistent_or_refused, dump


def _folder(root: Path) -> Path:
    """Small files of every kind the batch meets, in the order the loader reads them."""
    root.mkdir()
    lines = sample_lines()
    (root / "a.log").write_text("\n".join(lines) + "\n")
    # a line of a.log again (a duplicate across two files of one batch: a.log keeps the event),
    # a new one, a line a route cannot load and a run of identical lines
    (root / "b.log").write_text("\n".join([lines[1], tetragon_exec(pid=4242), '{"flow": {"time": "x"}}',
                                          hubble_flow(sport=5), hubble_flow(sport=5), falco_alert("id")]) + "\n")
    (root / "c.log").write_text((root / "a.log").read_text())  # same content: "already loaded"
    (root / "d.json").write_text("\n".join(json.dumps(json.loads(line), indent=2)
                                           for line in [lines[0], tetragon_exec(pid=77)]) + "\n")
    data = gzip.compress(("\n".join([tetragon_exec(pid=9), hubble_flow(sport=9)] * 50) + "\n").encode())
    (root / "e.log.gz").write_bytes(data[: len(data) - 30])  # cut short: damaged
    (root / "f.log").write_text("hello\nworld\n")  # no export
    (root / "g.log").write_text("\n  \n\n")  # blank lines only
    (root / "h.log").write_text("")
    (root / "i.log").write_text(hubble_flow(sport=1) + "\n" + lines[0])  # no line end at the end
    return root


BATCH_BYTES = load_mod.BATCH_BYTES


def _load(path: Path, folder: Path, monkeypatch, batch: bool) -> tuple[list[str], dict[str, list[str]]]:
    monkeypatch.setattr(load_mod, "BATCH_BYTES", BATCH_BYTES if batch else -1)
    with kn.open_case(path) as case:
        report = case.load(folder, progress=False)
        return [repr(f) for f in report.files], dump(case.con)


@pytest.mark.parametrize("routes", [True, False], ids=["routes", "general"])
def test_a_batch_gives_what_loading_the_files_one_by_one_gives(tmp_path, monkeypatch, routes):
    monkeypatch.setattr(_ingest, "USE_ROUTES", routes)
    folder = _folder(tmp_path / "in")
    sizes = []
    real = load_mod.ingest_files

    def counted(con, table, files, **kw):
        sizes.append(len(files))
        return real(con, table, files, **kw)

    monkeypatch.setattr(load_mod, "ingest_files", counted)
    one_by_one = _load(tmp_path / "one.duckdb", folder, monkeypatch, batch=False)
    assert sizes == []
    batched = _load(tmp_path / "batch.duckdb", folder, monkeypatch, batch=True)
    assert max(sizes) >= 3, sizes  # the files did load together
    assert batched[0] == one_by_one[0]
    assert batched[1] == one_by_one[1]
    report = {Path(eval_path(r)).name: r for r in batched[0]}  # noqa: S307 - our own reprs
    assert "status='damaged'" in report["e.log.gz"]
    assert "is not a" in report["f.log"] and "status='error'" in report["f.log"]
    assert "same content as" in report["c.log"]
    assert "duplicates=2," in report["b.log"]  # a.log's line, the run's second line
    assert "only blank lines" in report["g.log"] and "empty file" in report["h.log"]


def eval_path(text: str) -> str:
    """The path of a ``FileResult`` repr."""
    return text.split("path='", 1)[1].split("'", 1)[0]


def test_a_crash_between_the_batch_and_its_files_rows_leaves_nothing(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.log").write_text("\n".join(sample_lines()) + "\n")
    (folder / "b.log").write_text("\n".join([tetragon_exec(pid=5), "not json"]) + "\n")
    path = tmp_path / "c.duckdb"
    proc = _child(path, folder, kill="INSERT OR REPLACE INTO files|1|0")  # the block committed
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL, err[-2000:]
    assert consistent_or_refused(path) == "refused"  # rows without their files rows
    with kn.open_case(path) as case:
        assert not case.con.execute(UNFINISHED).fetchall()
        assert case.sql("select count(*) n from files")["n"][0] == 0
        assert case.sql("select count(*) n from events")["n"][0] == 0
        assert case.sql("select count(*) n from quarantine")["n"][0] == 0
        report = case.load(folder, progress=False)
        assert [f.status for f in report.files] == ["loaded", "loaded"]
        assert case.sql("select count(*) n from events")["n"][0] == 6
