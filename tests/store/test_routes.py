"""The fast routes load exactly what the general path loads: same rows, same accounting."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest

import kernelsec_nb as kn
from kernelsec_nb.store import _ingest
from kernelsec_nb.synth import write_bulk

REPO = Path(__file__).resolve().parents[2]
BASE_TABLES = ("process_events", "kprobes", "other_events", "flows", "alerts", "quarantine", "processes")


def _mutated_capture(tmp: Path) -> Path:
    """A Tetragon capture with what a route must hand on: bad JSON, no time, repeats, bad UTF-8,
    old flat socket events, a kprobe with many args, an event key that is not first."""
    src = tmp / "bulk.log"
    write_bulk(src, target_bytes=400_000, mix="tetragon")
    lines = src.read_bytes().splitlines()
    rnd = random.Random(5)
    out: list[bytes] = []
    for i, line in enumerate(lines):
        r = rnd.random()
        if r < 0.02:
            out.append(line[: len(line) // 2])  # truncated
        elif r < 0.04:
            ev = json.loads(line)
            ev.pop("time", None)
            for body in ev.values():
                if isinstance(body, dict) and isinstance(body.get("process"), dict):
                    body["process"].pop("start_time", None)
            out.append(json.dumps(ev, separators=(",", ":")).encode())  # no valid time
        elif r < 0.06:
            out.append(line)
            out.append(line)  # repeated in the block
        elif r < 0.07:
            out.append(line.replace(b'"node_name"', b'"node_name\xff"', 1))  # invalid UTF-8
        elif r < 0.08:
            ev = json.loads(line)
            key = next(iter(ev))
            reordered = {"node_name": ev.get("node_name"), key: ev[key], "time": ev.get("time")}
            out.append(json.dumps(reordered).encode())  # event key not first
        else:
            out.append(line)
        if i == 10:
            out.append(json.dumps({"process_kprobe": {
                "process": {"exec_id": "eA==", "pid": 7, "binary": "/x", "pod": {"namespace": "n", "name": "p"}},
                "function_name": "security_file_open", "policy_name": "p",
                "args": [{"int_arg": i} for i in range(6)] + [{"file_arg": {"path": "/etc/shadow"}},
                                                                  {"capability_arg": {"name": "CAP_SYS_ADMIN"}},
                                                                  {"sock_arg": {"saddr": "10.0.0.1", "sport": 1,
                                                                                "daddr": "10.0.0.2", "dport": 2,
                                                                                "protocol": "IPPROTO_TCP"}}]},
                "node_name": "n1", "time": "2024-05-14T05:00:00.000000001Z"}).encode())
            out.append(json.dumps({"process_connect": {
                "process": {"exec_id": "eQ==", "pid": 8, "binary": "/y"}, "source_ip": "10.0.0.3",
                "source_port": 5, "destination_ip": "10.0.0.4", "destination_port": 6,
                "protocol": "TCP"}, "node_name": "n1", "time": "2024-05-14T05:00:00.000000002Z"}).encode())
            for fn, arg in (("security_socket_connect", {"sockaddr_arg": {"family": "AF_INET", "addr": "10.0.0.5", "port": 443}}),
                            ("security_socket_bind", {"sockaddr_arg": {"family": "AF_INET", "addr": "0.0.0.0", "port": 8080}}),
                            ("security_bprm_check", {"linux_binprm_arg": {"path": "/tmp/x"}})):
                out.append(json.dumps({"process_lsm": {
                    "process": {"exec_id": "eA==", "pid": 7, "binary": "/x"}, "function_name": fn,
                    "policy_name": "lsm", "args": [arg]}, "node_name": "n1",
                    "time": "2024-05-14T05:00:00.000000002Z"}).encode())
    t = "2024-05-14T05:00:00.000000003Z"
    out += [json.dumps(odd).encode() for odd in (  # two tools' keys in one line: both paths agree
        {"flow": {"time": t, "verdict": "FORWARDED"}, "node_name": "n1", "time": t, "process_exec": None},
        {"flow": {"time": t, "verdict": "DROPPED", "l7": {"http": {"url": 'http://x/?"process_'}}},
         "processor": "x"},
        {"process_exec": {"process": {"pid": 1}}, "time": t, "flow": {"time": t}},
        {"process_exec": {"process": {"pid": 2}}, "time": t, "rule": "r", "output": "o"},
    )]
    path = tmp / "mutated.log"
    path.write_bytes(b"\n".join(out) + b"\n")
    gz = tmp / "mutated.log.1.gz"
    gz.write_bytes(gzip.compress(b"\n".join(out[: len(out) // 2]) + b"\n"))  # overlaps: duplicates
    return tmp


def _mixed_capture(tmp: Path) -> Path:
    """Tetragon and Hubble lines in one file, thousands per block (several record batches), with
    lines no route takes in between: bare flows, an event key that is not first, bad lines."""
    src = tmp / "network.src"
    write_bulk(src, target_bytes=4_000_000, mix="network")
    rnd = random.Random(9)
    out: list[bytes] = []
    for line in src.read_bytes().splitlines():
        r = rnd.random()
        if r < 0.03 and line.startswith(b'{"flow":'):
            out.append(json.dumps(json.loads(line)["flow"]).encode())  # bare flow (-o json)
        elif r < 0.05:
            ev = json.loads(line)
            out.append(json.dumps(dict(reversed(list(ev.items())))).encode())  # key not first
        elif r < 0.06:
            out.append(line[:-3])  # cut short
        else:
            out.append(line)
    path = tmp / "network.log"
    path.write_bytes(b"\n".join(out) + b"\n")
    src.unlink()
    return path


def _falco_capture(tmp: Path) -> Path:
    """Falco alerts (the bundled scenario's, as Falco writes them) with what its route must hand
    on or take alike, each case several times: bad JSON, no or an unreadable time (the evt.time
    fallback), a pid that is no integer, a key twice (in output_fields, at the top, in an object of
    another tool's structure), repeats, bad UTF-8, another tool's or a claim's keys, the tag "k8s",
    ``output`` first (older Falco), a null rule."""
    lines = [x for f in sorted((REPO / "data" / "deathstar").rglob("falco.json")) for x in f.read_bytes().splitlines()]

    def no_time(ev: dict, i: int) -> list[bytes]:
        ev.pop("time")
        ev["output_fields"]["evt.time"] = 1715667787335073885 + i
        return [json.dumps(ev).encode()]

    def bad_time(ev: dict, i: int) -> list[bytes]:
        ev["time"] = "yesterday"
        ev["output_fields"]["evt.time"] = 1715667787335073885 + i
        return [json.dumps(ev).encode()]

    def bad_pid(ev: dict, i: int) -> list[bytes]:
        ev["output_fields"]["proc.pid"] = "12x"
        return [json.dumps(ev).encode()]

    def older(ev: dict, i: int) -> list[bytes]:
        return [json.dumps({"output": ev["output"], **{k: v for k, v in ev.items() if k != "output"}}).encode()]

    text = json.dumps
    cases = [
        lambda ev, i: [text(ev).encode()[:-30]],  # cut short
        no_time, bad_time, bad_pid, older,
        lambda ev, i: [text(ev).replace('"output_fields": {', '"output_fields": {"proc.name": "a", ', 1).encode()],
        lambda ev, i: [text(ev).replace('{"hostname"', '{"hostname": "h", "hostname"', 1).encode()],
        lambda ev, i: [text({**ev, "ev": {"a": 1}}).replace('"a": 1', '"a": 1, "a": 2').encode()],
        lambda ev, i: [text(ev).encode()] * 2,  # repeated
        lambda ev, i: [text(ev).encode().replace(b'"priority"', b'"priority\xff"', 1)],
        lambda ev, i: [text({**ev, "flow": {"time": ev.get("time"), "verdict": "FORWARDED"}}).encode()],
        lambda ev, i: [text({**ev, "auditID": "a", "verb": "get"}).encode()],  # the audit log's claim
        lambda ev, i: [text({**ev, "k8s": {"pod": "p"}, "proc": {"pid": 1}}).encode()],  # a gadget's claim
        lambda ev, i: [text({**ev, "rule": None}).encode()],
        lambda ev, i: [text({**ev, "tags": [*ev.get("tags", []), "k8s"]}, separators=(",", ":")).encode()],
        lambda ev, i: [text(ev, separators=(",", ":")).encode()],
    ]
    out: list[bytes] = []
    for i in range(3 * len(cases)):
        ev = json.loads(lines[i % len(lines)])
        ev["output"] += f" #{i}"  # a new event each time
        out += cases[i % len(cases)](ev, i)
    path = tmp / "falco.json"
    path.write_bytes(b"\n".join(out) + b"\n")
    return path


def _audit_capture(tmp: Path) -> Path:
    """The bundled scenario's API server audit log with what its route must hand on or take alike,
    each case several times: bad JSON, no valid time, a code that is no integer, a key twice,
    repeats, a claim tested before the audit log's (Tracee's keys), a key the shared sources
    rewrite or take first, an event without its auditID (no claim), another API version, a
    webhook batch, a ``kind`` other than Event, the keys' text only inside a value."""
    lines = (REPO / "data" / "deathstar" / "kind-control-plane" / "kube-apiserver-audit.log").read_bytes().splitlines()
    text = json.dumps

    def no_time(ev: dict, i: int) -> list[bytes]:
        for k in ("requestReceivedTimestamp", "stageTimestamp", "timestamp"):
            ev.pop(k, None)
        return [text(ev).encode()]

    cases = [
        lambda ev, i: [text(ev).encode()[:-20]],  # cut short
        no_time,
        lambda ev, i: [text({**ev, "responseStatus": {"code": "2x0"}}).encode()],
        lambda ev, i: [text(ev).replace('"verb": ', '"verb": "list", "verb": ', 1).encode()],
        lambda ev, i: [text({**ev, "ev": {"a": 1}}).replace('"a": 1', '"a": 1, "a": 2').encode()],
        lambda ev, i: [text(ev).encode()] * 2,  # repeated
        lambda ev, i: [text({**ev, "eventName": "x", "hostProcessId": 1}).encode()],
        lambda ev, i: [text({**ev, "process_exec": {"process": {"pid": 1}}}).encode()],
        lambda ev, i: [text({**ev, "verdict": "FORWARDED", "IP": {"source": "10.0.0.1"}}).encode()],
        lambda ev, i: [text({k: v for k, v in ev.items() if k != "auditID"}).encode()],
        lambda ev, i: [text({**ev, "apiVersion": "other/v1"}).encode()],
        lambda ev, i: [text({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [ev, {**ev, "verb": "x"}]},
                            separators=(",", ":")).encode()],
        lambda ev, i: [text({**ev, "kind": "Other"}).encode()],
        lambda ev, i: [text({**ev, "userAgent": 'curl "flow" "eventName" "hostProcessId"'}).encode()],
        lambda ev, i: [text(ev, separators=(",", ":")).encode()],
    ]
    out: list[bytes] = []
    for i in range(3 * len(cases)):
        ev = json.loads(lines[i % len(lines)])
        ev["auditID"] = f"{ev.get('auditID')}-{i}"  # a new event each time
        out += cases[i % len(cases)](ev, i)
    path = tmp / "audit.log"
    path.write_bytes(b"\n".join(out) + b"\n")
    return path


def _load(paths: list[Path], db: Path, routes: bool, monkeypatch) -> tuple[kn.Case, dict]:
    monkeypatch.setattr(_ingest, "USE_ROUTES", routes)
    case = kn.open_case(db)
    report = case.load(paths, progress=False)
    return case, report


def _rows(case: kn.Case, table: str) -> list[tuple]:
    cols = [r[0] for r in case.con.execute(f"DESCRIBE {table}").fetchall()]  # noqa: S608
    first = ["file", "line"] if table == "quarantine" else ["exec_id"] if table == "processes" else ["event_id"]
    keep = ", ".join(f'"{c}"' for c in first + [c for c in cols if c not in first])
    return case.con.execute(f"SELECT {keep} FROM {table} ORDER BY ALL").fetchall()  # noqa: S608


def _ndjson(folder: Path) -> list[Path]:
    """The files of ``folder`` that are NDJSON (a whole JSON value on the first line).

    Pretty-printed JSON documents are read whole and never take the routes (``routes=not
    documents`` in the loader): both loads take them through the general path, so they compare
    nothing here (they cost 40 file loads a pass: more than the rest of the test)."""
    out = []
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            with open(p, "rb") as fh:
                first = fh.readline()
            try:
                json.loads(first)
            except ValueError:
                continue
            out.append(p)
    return out


def _inputs(tmp: Path, public: Path | None) -> list[Path]:
    (tmp / "tetragon").mkdir()
    (tmp / "network").mkdir()
    paths = [_mutated_capture(tmp / "tetragon"), _mixed_capture(tmp / "network"), _falco_capture(tmp),
             _audit_capture(tmp), REPO / "data" / "deathstar"]
    if public is not None and (public / "tetragon").is_dir():
        paths += _ndjson(public / "tetragon")
    if public is not None and (public / "falco").is_dir():
        paths += _ndjson(public / "falco")
    if public is not None and (public.parent / "public-new-sources" / "k8s-audit").is_dir():
        paths += _ndjson(public.parent / "public-new-sources" / "k8s-audit")
    return paths


@pytest.fixture
def inputs(tmp_path_factory):
    from tests.conftest import public_data

    return _inputs(tmp_path_factory.mktemp("routes"), public_data())


def test_routes_load_what_the_general_path_loads(inputs, tmp_path, monkeypatch):
    fast, fast_report = _load(inputs, tmp_path / "fast.duckdb", True, monkeypatch)
    slow, slow_report = _load(inputs, tmp_path / "slow.duckdb", False, monkeypatch)
    assert fast_report.to_dict() == slow_report.to_dict()
    totals = fast_report.to_dict()
    assert totals["quarantined"] > 0 and totals["duplicates"] > 0 and totals["loaded"] > 1000
    for table in BASE_TABLES:
        assert _rows(fast, table) == _rows(slow, table), table
    # the kprobe with nine arguments: the flattened ones come from past the fourth
    k = fast.sql("select file_path, capability, saddr, dport, protocol from kprobes "
                 "where function_name = 'security_file_open' and exec_id = 'eA=='")
    assert k.row(0) == ("/etc/shadow", "CAP_SYS_ADMIN", "10.0.0.1", 2, "TCP")
    # the old flat socket event keeps its 5-tuple in events
    e = fast.sql("select src_ip, src_port, dst_ip, dst_port, protocol from events where kind = 'process_connect'")
    assert e.row(0) == ("10.0.0.3", 5, "10.0.0.4", 6, "TCP")


def _not_taken(con) -> int:
    """The records of the registered block that the routes did not take (the general path's)."""
    return con.execute("SELECT count(*) FROM _block WHERE NOT taken").fetchall()[0][0]


def _load_counting_general(tmp_path, monkeypatch, src):
    """Load ``src`` into a new case, counting the lines that went on to the general path: the
    case, the load report (a dict) and ``{"general": lines}``."""
    calls = {"general": 0}
    real = _ingest._general

    def counting(con, batch):
        calls["general"] += _not_taken(con)
        return real(con, batch)

    monkeypatch.setattr(_ingest, "_general", counting)
    case = kn.open_case(tmp_path / "c.duckdb")
    return case, case.load(src, progress=False).to_dict(), calls


def test_routes_take_most_tetragon_lines(tmp_path, monkeypatch):
    """The routes are what runs on a plain export (the general path is not silently doing it)."""
    src = tmp_path / "t.log"
    write_bulk(src, target_bytes=200_000, mix="tetragon")
    _, report, calls = _load_counting_general(tmp_path, monkeypatch, src)
    assert report["loaded"] > 50
    assert calls["general"] == 0


def test_routes_take_falco_alerts(tmp_path, monkeypatch):
    """Falco's alerts as Falco writes them take its fast routes (``hostname`` or ``output`` first),
    the tag "k8s" included; only the lines with another tool's keys go on to the general path."""
    lines = [json.loads(x) for f in sorted((REPO / "data" / "deathstar").rglob("falco.json"))
             for x in f.read_bytes().splitlines()]
    assert len(lines) > 5
    src = tmp_path / "falco.json"
    older = [{"output": ev["output"], **{k: v for k, v in ev.items() if k != "output"}} for ev in lines]
    tagged = [{**ev, "tags": [*ev.get("tags", []), "k8s"], "output": ev["output"] + " #k8s"} for ev in lines]
    other = {**lines[0], "process_exec": None, "output": "other"}  # Tetragon's key: the general path
    src.write_text("".join(json.dumps(ev) + "\n" for ev in [*lines, *older, *tagged, other]))
    case, report, calls = _load_counting_general(tmp_path, monkeypatch, src)
    assert report["loaded"] == 3 * len(lines) + 1 and report["quarantined"] == 0
    assert calls["general"] == 1  # the line with another tool's key
    assert case.sql("select count(*) as n from alerts")["n"][0] == 3 * len(lines)


def test_routes_take_audit_events(tmp_path, monkeypatch):
    """The API server's audit log as its log backend writes it takes the audit log's fast route;
    only the line that a claim tested before the audit log's takes (Tracee's keys) goes on to the
    general path."""
    lines = (REPO / "data" / "deathstar" / "kind-control-plane" / "kube-apiserver-audit.log").read_bytes().splitlines()
    src = tmp_path / "audit.log"
    other = {**json.loads(lines[0]), "eventName": "x", "hostProcessId": 1}
    src.write_bytes(b"\n".join([*lines, json.dumps(other).encode()]) + b"\n")
    case, report, calls = _load_counting_general(tmp_path, monkeypatch, src)
    assert report["loaded"] == len(lines) and report["quarantined"] == 1  # Tracee's, without a time
    assert calls["general"] == 1
    assert case.sql("select count(*) as n from audit_events")["n"][0] == len(lines)


def test_a_malformed_line_retries_its_block_leniently(tmp_path, monkeypatch):
    """Routes parse strictly; a cut line fails their statement, the block is rolled back and
    taken again with TRY: the other lines still take the routes, the cut one is quarantined."""
    src = tmp_path / "t.log"
    write_bulk(src, target_bytes=200_000, mix="tetragon")
    lines = src.read_bytes().splitlines()
    cut = next(i for i, line in enumerate(lines) if line.startswith(b'{"process_kprobe":'))
    lines[cut] = lines[cut][:-40]
    src.write_bytes(b"\n".join(lines) + b"\n")
    tries: list[bool] = []
    real_routes, real_general = _ingest._fast_routes, _ingest._general
    general: list[int] = []

    def routes(con, batch, table, strict):
        tries.append(strict)
        return real_routes(con, batch, table, strict)

    def counting(con, batch):
        general.append(_not_taken(con))
        return real_general(con, batch)

    monkeypatch.setattr(_ingest, "_fast_routes", routes)
    monkeypatch.setattr(_ingest, "_general", counting)
    case = kn.open_case(tmp_path / "c.duckdb")
    report = case.load(src, progress=False).to_dict()
    assert tries == [True, False]
    assert general == [1]  # only the cut line went on to the general path
    assert report["quarantined"] == 1 and report["loaded"] == len(lines) - 1
    q = case.sql("select line, reason from quarantine")
    assert q.row(0) == (cut + 1, "malformed JSON: the line is cut short (truncated)")
    assert case.sql("select count(*) as n from events")["n"][0] == len(lines) - 1


def test_odd_lines_through_a_file_are_taken_leniently_after_the_first(tmp_path, monkeypatch):
    """A block after one with a line the routes could not load is taken leniently at once: a file
    with odd lines in every block pays the strict try once, not once per block; the next clean
    block is tried strictly again."""
    from kernelsec_nb.store.load import load_files

    src = tmp_path / "t.log"
    write_bulk(src, target_bytes=600_000, mix="tetragon")
    lines = src.read_bytes().splitlines()
    kprobes = [i for i, line in enumerate(lines) if line.startswith(b'{"process_kprobe":')]
    cut = kprobes[: len(kprobes) * 2 // 3 : 2]  # through the first two thirds of the file
    for i in cut:
        lines[i] = lines[i][:-40]
    src.write_bytes(b"\n".join(lines) + b"\n")
    tries: list[bool] = []
    real = _ingest._fast_routes

    def routes(con, batch, table, strict):
        tries.append(strict)
        return real(con, batch, table, strict)

    monkeypatch.setattr(_ingest, "_fast_routes", routes)
    case = kn.open_case(tmp_path / "c.duckdb")
    report = load_files(case.con, [src], progress=False, block_bytes=40_000).to_dict()
    assert tries[:2] == [True, False]  # the first block: strict, failed, taken again
    # the blocks with cut lines after it: leniently at once (not strict, failed, lenient each);
    # the clean last third: strictly again, each once
    lenient = tries[2:].index(True)
    assert lenient >= 8 and all(tries[2 + lenient:]) and len(tries) - 2 - lenient >= 2
    assert report["quarantined"] == len(cut) and report["loaded"] == len(lines) - len(cut)
    assert case.sql("select count(*) as n from events")["n"][0] == len(lines) - len(cut)


def test_the_claims_are_tested_once_per_block():
    """The general path tells each line's group once for the block (the claims' test parses a line
    that holds their keys' text); the staging statements read it as a column, not test again."""
    from kernelsec_nb import sources

    claims = sources.group_sql(_ingest._WS)
    assert claims is not None and claims in _ingest._GROUP_OF
    for number, group in enumerate(_ingest.GROUPS):
        assert claims not in group.stage and f"grp = {number}" in group.stage
