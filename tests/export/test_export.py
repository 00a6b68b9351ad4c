"""Exports read back with the reader each target uses (kernelsec_nb.export)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

import kernelsec_nb as kn
from kernelsec_nb import export as kx
from kernelsec_nb.export import _jsonl
from tests.correlate.conftest import scenario, write


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> kn.Case:
    root = write(tmp_path_factory.mktemp("exp"), scenario())
    c = kn.open_case(tmp_path_factory.mktemp("case") / "c.duckdb")
    c.load(root, progress=False)
    flows = c.flows().filter(pl.col("exec_id").is_not_null())
    c.tag(flows["event_id"][0], ["c2", "exfil"], note="the PUT")
    c.tag(flows["exec_id"][0], "attacker")
    c.star(c.alerts()["event_id"][0])
    return c


def _lines(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def _iso(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    assert value.tzinfo is not None and value.utcoffset() == dt.timedelta(0), text
    return value


# -- Timesketch ----------------------------------------------------------------------------------
def _check_timesketch(doc: dict) -> None:
    """Timesketch's importer: message, datetime (ISO-8601), timestamp_desc; timestamp in µs."""
    assert isinstance(doc["message"], str) and doc["message"]
    assert isinstance(doc["timestamp_desc"], str) and doc["timestamp_desc"]
    when = _iso(doc["datetime"])
    assert isinstance(doc["timestamp"], int)
    assert doc["timestamp"] == int(when.timestamp()) * 10**6 + when.microsecond
    assert isinstance(doc["tag"], list) and all(isinstance(t, str) for t in doc["tag"])


def test_timesketch_jsonl(case, tmp_path):
    out = case.export(tmp_path / "t.jsonl", "timesketch")
    docs = _lines(tmp_path / "t.jsonl")
    events = case.events()
    assert out["rows"] == len(docs) == events.height and out["without_time"] == 0
    for doc in docs:
        _check_timesketch(doc)
    assert sorted(d["event_id"] for d in docs) == sorted(events["event_id"].to_list())
    assert {d["timestamp_desc"] for d in docs} >= {"Process Exec", "Flow Observed", "Alert Raised"}
    by_id = {d["event_id"]: d for d in docs}
    flow = case.notes(tag="c2")["target"][0]
    assert by_id[flow]["tag"] == sorted({"c2", "exfil"} | (
        {"attacker"} if by_id[flow].get("exec_id") in set(case.notes(tag="attacker")["target"]) else set()))
    star = case.notes(tag="star")["target"][0]
    assert by_id[star]["tag"] == ["star"]
    # the process's tag reaches its events
    attacker = case.notes(tag="attacker")["target"][0]
    assert all("attacker" in d["tag"] for d in docs if d.get("exec_id") == attacker)
    assert by_id[flow]["time_ns"] == events.filter(pl.col("event_id") == flow)["time_ns"][0]


def test_timesketch_of_processes_uses_their_start(case, tmp_path):
    out = case.export(tmp_path / "p.jsonl", "timesketch", table="processes")
    docs = _lines(tmp_path / "p.jsonl")
    with_start = case.processes().filter(pl.col("start_ns").is_not_null()).height
    assert out["rows"] == len(docs) == with_start
    assert out["without_time"] == case.processes().height - with_start
    assert {d["timestamp_desc"] for d in docs} == {"Process Start"}
    for doc in docs:
        _check_timesketch(doc)


def test_a_table_without_time_is_refused_for_jsonl(case, tmp_path):
    with pytest.raises(ValueError, match="files has no time column"):
        case.export(tmp_path / "f.jsonl", "timesketch", table="files")


def test_jsonl_is_written_in_batches(case, tmp_path, monkeypatch):
    case.export(tmp_path / "one.jsonl", "ecs")
    monkeypatch.setattr(_jsonl, "BATCH_ROWS", 3)
    sizes = []
    batches = _jsonl.batches

    def counted(con, src):
        for batch in batches(con, src):
            sizes.append(batch.num_rows)
            yield batch
    monkeypatch.setattr(_jsonl, "batches", counted)
    case.export(tmp_path / "many.jsonl", "ecs")
    assert max(sizes) <= 3 and sum(sizes) == case.events().height  # never more than a batch in Python
    assert (tmp_path / "many.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()


# -- ECS -----------------------------------------------------------------------------------------
ECS_KINDS = {"alert", "asset", "enrichment", "event", "metric", "state", "pipeline_error", "signal"}
ECS_CATEGORIES = {"api", "authentication", "configuration", "database", "driver", "email", "file", "host", "iam",
                  "intrusion_detection", "library", "malware", "network", "package", "process", "registry",
                  "session", "threat", "vulnerability", "web"}
ECS_TYPES = {"access", "admin", "allowed", "change", "connection", "creation", "deletion", "denied", "end",
             "error", "group", "indicator", "info", "installation", "protocol", "start", "user"}
# ECS field → type (keyword: str, long: int, ip: str, date: ISO str, array of keyword: list[str])
ECS_TYPED = {
    "message": str, "event.kind": str, "event.action": str, "event.id": str, "event.module": str,
    "event.dataset": str, "process.entity_id": str, "process.parent.entity_id": str,
    "process.executable": str, "process.name": str, "process.command_line": str, "process.pid": int,
    "process.parent.pid": int, "process.args_count": int, "process.working_directory": str,
    "user.id": str, "user.name": str, "container.id": str, "container.name": str, "container.image.name": str,
    "orchestrator.type": str, "orchestrator.resource.type": str, "orchestrator.resource.name": str,
    "orchestrator.namespace": str, "orchestrator.cluster.name": str, "host.name": str,
    "source.ip": str, "source.port": int, "destination.ip": str, "destination.port": int,
    "network.transport": str, "network.protocol": str, "url.path": str, "url.original": str,
    "http.request.method": str, "http.response.status_code": int, "dns.question.name": str,
    "file.path": str, "rule.name": str, "log.level": str,
}
ECS_LISTS = {"event.category", "event.type", "process.args", "tags"}
ECS_TOP = {"@timestamp", "message", "event", "process", "user", "container", "orchestrator", "host", "source",
           "destination", "network", "url", "http", "dns", "file", "rule", "log", "tags", "kernelsec"}


def _flat(doc: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in doc.items():
        assert "." not in k or k == "@timestamp", f"dotted key {k!r}: ECS documents nest objects"
        if isinstance(v, dict) and not prefix + k == "kernelsec":
            out.update(_flat(v, prefix + k + "."))
        else:
            out[prefix + k] = v
    return out


def _check_ecs(doc: dict) -> dict:
    assert set(doc) <= ECS_TOP, set(doc) - ECS_TOP
    _iso(doc["@timestamp"])
    flat = _flat(doc)
    for name, value in flat.items():
        if name in ("@timestamp", "kernelsec"):
            continue
        if name in ECS_LISTS:
            assert isinstance(value, list) and all(isinstance(x, str) for x in value), name
        else:
            assert name in ECS_TYPED, f"{name} is not an ECS field this export knows"
            assert isinstance(value, ECS_TYPED[name]) and not isinstance(value, bool), (name, value)
    assert flat["event.kind"] in ECS_KINDS
    assert flat["event.category"] and set(flat["event.category"]) <= ECS_CATEGORIES
    assert flat["event.type"] and set(flat["event.type"]) <= ECS_TYPES
    if "network.transport" in flat:
        assert flat["network.transport"] == flat["network.transport"].lower()
    return flat


def test_ecs_ndjson(case, tmp_path):
    out = case.export(tmp_path / "e.ndjson", "ecs")
    docs = _lines(tmp_path / "e.ndjson")
    assert out["rows"] == len(docs) == case.events().height
    flats = [_check_ecs(d) for d in docs]
    execs = [f for f in flats if f["event.action"] == "process_exec"]
    assert execs and all(f["process.entity_id"] and f["process.executable"] and f["process.args"][0] ==
                         f["process.executable"] for f in execs)
    assert any("process.parent.entity_id" in f for f in execs)
    assert all(f["orchestrator.resource.name"] and f["orchestrator.namespace"] and f["container.id"]
               for f in execs if f.get("orchestrator.resource.name"))
    flows = [f for f in flats if f["event.action"] == "flow"]
    assert flows and all(f["event.category"][0] == "network" and f["host.name"] for f in flows)
    assert any(f.get("http.request.method") and f.get("url.path") for f in flows)
    assert all(isinstance(f["destination.port"], int) for f in flows if "destination.port" in f)
    alerts = [f for f in flats if f["event.kind"] == "alert"]
    assert alerts and all(f["rule.name"] and f["event.category"] == ["intrusion_detection"] for f in alerts)
    starred = [f for f in flats if "star" in f.get("tags", [])]
    assert [f["event.id"] for f in starred] == case.notes(tag="star")["target"].to_list()
    # our own fields stay, under kernelsec.*
    assert all(f["kernelsec"]["file"] and isinstance(f["kernelsec"]["line"], int) for f in flats)


def test_ecs_of_attributed_flows_and_alerts(case, tmp_path):
    case.export(tmp_path / "f.ndjson", "ecs", method="flows", tag="attacker")
    docs = _lines(tmp_path / "f.ndjson")
    assert len(docs) == case.flows(tag="attacker").height > 0
    for doc in docs:
        flat = _check_ecs(doc)
        assert "attacker" in flat["tags"] and flat["process.entity_id"]
        assert flat["source.ip"] and isinstance(flat["source.port"], int)
    case.export(tmp_path / "a.ndjson", "ecs", method="alerts")
    for doc in _lines(tmp_path / "a.ndjson"):
        flat = _check_ecs(doc)
        assert flat["event.kind"] == "alert" and flat["event.module"] == "falco"
    case.export(tmp_path / "raw.ndjson", "ecs", table="alerts")
    raw = case.sql("SELECT proc_name FROM alerts")["proc_name"].to_list()
    docs = [_check_ecs(d) for d in _lines(tmp_path / "raw.ndjson")]
    assert sorted(str(f.get("process.name")) for f in docs) == sorted(str(n) for n in raw)
    assert not any("process.executable" in f for f in docs)  # Falco's name is not a path
    case.export(tmp_path / "k.ndjson", "ecs", table="kprobes")
    hooks = [_check_ecs(d) for d in _lines(tmp_path / "k.ndjson")]
    assert any(f.get("destination.ip") and "network" in f["event.category"] for f in hooks)


def test_attacker_bytes_are_exported_as_they_are(tmp_path):
    # exports are data files: the text is the exported bytes (JSON-escaped, never made "safe")
    hostile = "sh -c 'curl x\r\x1b[2J\u202eevil'"
    export = tmp_path / "x.json"
    doc = next(r for records in scenario().values() for r in records if "process_exec" in r)
    doc["process_exec"]["process"]["arguments"] = hostile
    export.write_text(json.dumps(doc) + "\n")
    with kn.open_case() as c:
        c.load(export, progress=False)
        c.export(tmp_path / "t.jsonl", "timesketch")
        c.export(tmp_path / "e.ndjson", "ecs")
        c.export(tmp_path / "c.csv", "csv")
    assert _lines(tmp_path / "t.jsonl")[0]["args"] == hostile
    assert _lines(tmp_path / "e.ndjson")[0]["process"]["command_line"].endswith(hostile)
    assert pl.read_csv(tmp_path / "c.csv")["args"][0] == hostile


# -- CSV and Parquet -----------------------------------------------------------------------------
def test_csv_reads_back_with_polars_and_pyarrow(case, tmp_path):
    out = case.export(tmp_path / "e.csv", "csv")
    events = case.events()
    back = pl.read_csv(tmp_path / "e.csv", infer_schema_length=0)
    assert out["rows"] == back.height == events.height
    assert sorted(back["event_id"].to_list()) == sorted(events["event_id"].to_list())
    assert back.columns == [*events.columns, "team_tags"]
    tags = dict(zip(back["event_id"], back["team_tags"], strict=True))
    assert json.loads(tags[case.notes(tag="star")["target"][0]]) == ["star"]
    table = pacsv.read_csv(tmp_path / "e.csv")
    assert table.num_rows == events.height
    assert sorted(table.column("time_ns").to_pylist()) == sorted(events["time_ns"].to_list())


def test_csv_of_a_method_with_filters(case, tmp_path):
    case.export(tmp_path / "f.csv", "csv", method="flows", verdict="FORWARDED")
    back = pl.read_csv(tmp_path / "f.csv", infer_schema_length=0)
    expected = case.flows(verdict="FORWARDED")
    assert back["event_id"].to_list() == expected["event_id"].to_list()  # a method's rows: in its order
    assert "exec_id" in back.columns and "match" in back.columns


def test_parquet_folder_has_every_table(case, tmp_path):
    out = case.export(tmp_path / "pq", "parquet")
    files = sorted(p.name for p in (tmp_path / "pq").iterdir())
    assert files == sorted(f"{t}.parquet" for t in kx._source.STORED_TABLES)
    for table in kx._source.STORED_TABLES:
        n = case.sql(f"SELECT count(*) AS n FROM {table}")["n"][0]  # noqa: S608 - our table names
        assert pq.read_table(tmp_path / "pq" / f"{table}.parquet").num_rows == n == out["tables"][table]
    flows = pl.read_parquet(tmp_path / "pq" / "flows.parquet")
    assert flows.schema == case.sql("SELECT * FROM flows").schema  # as stored, lists and maps kept
    notes = pl.read_parquet(tmp_path / "pq" / "annotations.parquet")
    assert sorted(notes["tag"].to_list()) == sorted(case.notes()["tag"].to_list())


def test_parquet_of_one_saved_query(case, tmp_path):
    case.save_query("attacker's flows / all", "flows", tag="attacker", replace=True)
    out = case.export(tmp_path / "pq", "parquet", query="attacker's flows / all")
    (path,) = out["files"]
    assert Path(path).name == "attacker_s_flows_all.parquet"
    back = pl.read_parquet(path)
    assert back["event_id"].to_list() == case.query("attacker's flows / all")["event_id"].to_list()
    assert all("attacker" in t for t in back["team_tags"].to_list())


# -- the registry --------------------------------------------------------------------------------
def test_formats_come_from_the_registry(case, tmp_path):
    assert sorted(kx.EXPORTERS) == ["csv", "ecs", "parquet", "timesketch"]
    seen = {}

    def fake(c, path, **source):
        seen.update(source)
        path.write_text("x")
        return {"format": "x", "path": str(path), "rows": 0, "files": [str(path)]}

    kx.register(kx.Exporter("fake", "for a test", fake))
    try:
        case.export(tmp_path / "f.x", "fake", namespace="shop")
    finally:
        del kx.EXPORTERS["fake"]
    assert seen == {"namespace": "shop"}
    with pytest.raises(ValueError, match="no export format 'xml'"):
        case.export(tmp_path / "f.xml", "xml")
    with pytest.raises(ValueError, match="not a query method"):
        case.export(tmp_path / "f.csv", "csv", method="close")
    with pytest.raises(TypeError, match="files table takes no filters"):
        case.export(tmp_path / "f.csv", "csv", table="files", namespace="x")
