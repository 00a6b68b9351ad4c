"""The source interface: the registry, the container-log unwrap, and a source added as one module."""

from __future__ import annotations

import glob
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import kernelsec_nb as kn
from kernelsec_nb import sources
from kernelsec_nb.sources import Capability

REPO = Path(__file__).resolve().parents[2]
TABLES = ("process_events", "kprobes", "other_events", "flows", "alerts")


def test_registry_holds_every_module_with_capabilities():
    names = [s.name for s in sources.registry()]
    assert {"tetragon", "hubble", "falco", "tracee", "inspektor_gadget"} <= set(names)
    assert sources.titles().startswith("Tetragon, ")  # the order of the modules
    assert sources.names_with(Capability.FLOWS) >= {"hubble"}
    assert sources.names_with(Capability.ALERTS) >= {"falco"}
    assert "tetragon" in sources.names_with(Capability.PROCESS_EVENTS)
    for s in sources.registry():
        assert s.capabilities, s.name
        assert s.event.get("time_ns"), s.name
        assert all(m.table for m in s.maps), s.name


def test_every_source_names_real_samples(public_dir):
    shared = public_dir.parent
    for s in sources.registry():
        assert s.samples, s.name
        for pattern in s.samples:
            assert glob.glob(str(shared / pattern), recursive=True), (s.name, pattern)


def _dump(case: kn.Case, table: str, drop: tuple[str, ...]) -> list[tuple]:
    cols = [c for (c,) in case.con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
        [table]).fetchall() if c not in drop]
    sel = ", ".join(f'CAST("{c}" AS VARCHAR)' for c in cols)
    return sorted(case.con.execute(f'SELECT {sel} FROM "{table}"').fetchall(), key=repr)  # noqa: S608


def _some_lines() -> list[str]:
    tetragon = REPO / "data" / "deathstar" / "kind-worker" / "tetragon.log"
    lines = tetragon.read_text().splitlines()[:40]
    hubble = json.dumps({"flow": {"time": "2026-03-04T14:20:00.5Z", "verdict": "FORWARDED",
                                  "IP": {"source": "10.0.0.1", "destination": "10.0.0.2"},
                                  "l4": {"TCP": {"source_port": 4000, "destination_port": 80}}},
                         "node_name": "n1", "time": "2026-03-04T14:20:00.5Z"})
    falco = json.dumps({"time": "2026-03-04T14:20:01Z", "rule": "Terminal shell", "priority": "Notice",
                        "output": "a shell", "output_fields": {"proc.pid": "7", "k8s.pod.name": "p"}})
    return [*lines, hubble, falco]


def test_container_log_wrappers_are_taken_off(tmp_path):
    """CRI and Docker json-file lines load as the lines inside them; the event id is the hash of
    the written line, and case.raw returns it."""
    lines = _some_lines()
    plain = tmp_path / "plain" / "x.log"
    cri = tmp_path / "cri" / "x.log"
    docker = tmp_path / "docker" / "x.log"
    for p in (plain, cri, docker):
        p.parent.mkdir()
    plain.write_text("\n".join(lines) + "\n")
    cri.write_text("".join(f"2024-05-01T10:00:00.{i:09d}Z {'stdout' if i % 2 else 'stderr'} F {line}\n"
                           for i, line in enumerate(lines)))
    docker.write_text("".join(json.dumps({"log": line + "\n", "stream": "stdout",
                                          "time": "2024-05-01T10:00:00Z"}, separators=(",", ":")) + "\n"
                              for line in lines))
    drop = ("event_id", "file", "time", "byte_offset")  # where the line sits and its hash differ
    want = None
    for p in (plain, cri, docker):
        case = kn.open_case()
        report = case.load(p, progress=False)
        f = report.files[0]
        assert (f.loaded, f.quarantined) == (len(lines), 0), (p, f)
        assert set(f.sources) == {"tetragon", "hubble", "falco"}
        got = {t: _dump(case, t, drop) for t in TABLES}
        assert sum(map(len, got.values())) == len(lines)
        want = want or got
        assert got == want, p
        written = p.read_text().splitlines()
        for event_id, line in case.con.execute("SELECT event_id, line FROM events").fetchall():
            assert case.raw(event_id) == written[line - 1]


_TOY = '''
"""A toy source: its JSON lines claimed by a key, its text lines parsed by a regex, a table of its own."""

from kernelsec_nb.sources._source import Capability, Mapping, Source, TableSpec
from kernelsec_nb.sources._sql import epoch_ns

_LINE = r"^\\[([^\\]]+)\\] TOY ([A-Z]+) (.*)$"
_VIEW = """SELECT event_id, 'toy', 'toy_event', time, time_ns, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, summary, file, line, byte_offset FROM toy_events"""

SOURCE = Source(
    name="toy", title="Toy",
    claim=(("toy_version",),),
    text=f"CASE WHEN regexp_matches(raw, '{_LINE}') THEN CAST(json_object("
         f"'time', regexp_extract(raw, '{_LINE}', 1), 'action', regexp_extract(raw, '{_LINE}', 2), "
         f"'kind', 42, 'timestamp', regexp_extract(raw, '{_LINE}', 3)) AS VARCHAR) END",
    detect='j."toy".action IS NOT NULL', kind="'toy_event'",
    # "kind" and "timestamp" clash with other tools' types: parsed apart, no conflict
    structure={"time": "VARCHAR", "action": "VARCHAR", "kind": "BIGINT", "timestamp": "VARCHAR",
               "toy_version": "VARCHAR"},
    event={"time_ns": epoch_ns('j."toy".time'), "summary": 'j."toy".action || \\' \\' || j."toy".timestamp'},
    maps=(Mapping("toy_events", columns={"action": 'j."toy".action', "number": 'j."toy".kind'}),),
    tables=(TableSpec("toy_events",
                      "CREATE TABLE IF NOT EXISTS toy_events (event_id VARCHAR, time TIMESTAMPTZ, "
                      "time_ns BIGINT, action VARCHAR, number BIGINT, summary VARCHAR, file VARCHAR, "
                      "line BIGINT, byte_offset BIGINT)",
                      event=("time_ns", "summary"), view=_VIEW),),
    capabilities=frozenset({Capability.API_CALLS}),
)
'''

_CHECK = '''
import json, sys
import kernelsec_nb as kn
from kernelsec_nb import sources
case = kn.open_case()
r = case.load(sys.argv[1], progress=False).files[0]
print(json.dumps({
    "names": [s.name for s in sources.registry()],
    "api": sorted(sources.names_with(sources.Capability.API_CALLS)),
    "counts": [r.loaded, r.quarantined, r.blank, sorted(r.sources)],
    "toy": case.con.execute("SELECT line, action, number, summary FROM toy_events ORDER BY line").fetchall(),
    "events": case.con.execute("SELECT line, source, kind FROM events ORDER BY line").fetchall(),
    "reasons": case.con.execute("SELECT line, reason FROM quarantine ORDER BY line").fetchall(),
    "tables": case.tables()["table"].to_list(),
    # a case made before the source: a read-only look sees its table empty, a write open adds it
    "old_ro": kn.open_case(sys.argv[2], read_only=True).con.execute("SELECT count(*) FROM toy_events").fetchall(),
    "old_rw": kn.open_case(sys.argv[2]).con.execute("SELECT count(*) FROM toy_events").fetchall(),
}))
'''


@pytest.mark.slow
def test_a_source_is_one_module(tmp_path):
    """A copy of the package with one more module in sources/: its JSON lines (a claim), its text
    lines (even wrapped by CRI), its table and its rows in the events view all work, beside the
    other tools' lines; nothing else was edited."""
    pkg = tmp_path / "pkg"
    shutil.copytree(REPO / "kernelsec_nb", pkg / "kernelsec_nb", ignore=shutil.ignore_patterns("__pycache__"))
    (pkg / "kernelsec_nb" / "sources" / "toy.py").write_text(textwrap.dedent(_TOY))
    tetragon = _some_lines()[0]
    lines = [
        json.dumps({"toy_version": "1", "time": "2026-03-04T14:20:00Z", "action": "GET", "kind": 7,
                    "timestamp": "x"}),
        "[2026-03-04T14:20:01Z] TOY PUT /v1/exhaust-port",
        "2024-05-01T10:00:00.1Z stdout F [2026-03-04T14:20:02Z] TOY DELETE /x",
        "not a toy line",
        tetragon,
    ]
    capture = tmp_path / "mixed.log"
    capture.write_text("\n".join(lines) + "\n")
    old = tmp_path / "old.duckdb"
    with kn.open_case(old) as made_before:
        made_before.load(capture, progress=False)
    out = subprocess.run([sys.executable, "-c", _CHECK, str(capture), str(old)], capture_output=True, text=True,
                         env={"PYTHONPATH": str(pkg), "PATH": "/usr/bin:/bin"}, cwd=tmp_path, timeout=300,
                         check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout)
    # the toy brings API calls beside the package's own sources that do
    assert got["names"][-1] == "toy" and got["api"] == sorted({"toy", *sources.names_with(Capability.API_CALLS)})
    assert got["counts"] == [4, 1, 0, ["tetragon", "toy"]]
    assert got["toy"] == [[1, "GET", 7, "GET x"], [2, "PUT", 42, "PUT /v1/exhaust-port"],
                          [3, "DELETE", 42, "DELETE /x"]]
    assert [e[1:] for e in got["events"]] == [["toy", "toy_event"]] * 3 + [["tetragon", json.loads(tetragon)
                                                                            and next(iter(json.loads(tetragon)))]]
    assert got["reasons"] == [[4, "malformed JSON"]]  # neither JSON nor a text format of a source
    assert "toy_events" in got["tables"]
    assert got["old_ro"] == got["old_rw"] == [[0]]
