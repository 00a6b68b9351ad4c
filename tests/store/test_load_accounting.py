"""Line accounting, duplicates, quarantine reasons and atomic loads."""

from __future__ import annotations

import gzip
import json
import os

import pytest

import kernelsec_nb as kn
from kernelsec_nb import sources
from kernelsec_nb.store import load as load_mod
from tests.store.lines import falco_alert, hubble_flow, sample_lines, tetragon_exec


def write(path, lines, end="\n"):
    path.write_text(end.join(lines) + end)
    return path


@pytest.fixture
def case(tmp_path):
    c = kn.open_case(tmp_path / "case.duckdb")
    yield c
    c.close()


def balanced(report):
    d = report.to_dict()
    assert all(f.balanced for f in report.files), report
    assert d["lines"] == d["loaded"] + d["duplicates"] + d["quarantined"] + d["blank"]
    return d


def test_mixed_file_loads_all_sources(case, tmp_path):
    d = balanced(case.load(write(tmp_path / "mixed.log", sample_lines()), progress=False))
    assert d["loaded"] == 5 and d["quarantined"] == 0
    assert case.sql("select count(*) n from flows")["n"][0] == 2
    assert case.sql("select count(*) n from alerts")["n"][0] == 1
    assert case.sql("select count(*) n from process_events")["n"][0] == 2


def test_same_file_twice_adds_nothing(case, tmp_path):
    f = write(tmp_path / "a.log", sample_lines())
    case.load(f, progress=False)
    again = case.load(f, progress=False)
    assert again.files[0].status == "already loaded"
    assert again.files[0].message == "this file, loaded before: nothing added"
    assert again.files[0].duplicates == 5 and again.files[0].loaded == 0
    assert case.sql("select count(*) n from events")["n"][0] == 5
    copy = write(tmp_path / "copy.log", sample_lines())
    assert case.load(copy, progress=False).files[0].message == f"same content as {f}: nothing added"


def test_same_file_twice_keeps_its_accounting(case, tmp_path):
    # a refused or blank line was never an event: the second time it is not a duplicate either
    f = write(tmp_path / "a.log", [*sample_lines(), "", '{"process_exec": {"process": '])
    first = case.load(f, progress=False).files[0]
    again = case.load(f, progress=False).files[0]
    assert (first.loaded, first.quarantined, first.blank) == (5, 1, 1)
    assert again.status == "already loaded" and again.balanced
    assert (again.loaded, again.duplicates, again.quarantined, again.blank) == (0, 5, 1, 1)
    assert again.sources == first.sources == ("falco", "hubble", "tetragon")
    assert case.sql("select count(*) n from quarantine")["n"][0] == 1


def test_rotated_overlap_and_same_flow_on_two_nodes(case, tmp_path):
    lines = sample_lines()
    write(tmp_path / "x.log.1", lines[:4])
    write(tmp_path / "x.log", lines[2:] + [hubble_flow(sport=40002)])
    d = balanced(case.load(tmp_path, progress=False))
    assert d["duplicates"] == 2  # lines 3 and 4 are in both files
    assert d["loaded"] == 6
    # the same flow observed on n1 and n2 differs in node: two observations, both kept
    assert case.sql("select count(*) n from flows where src_port in (40000, 40001)")["n"][0] == 2


def test_byte_identical_lines_in_one_file(case, tmp_path):
    line = hubble_flow()
    d = balanced(case.load(write(tmp_path / "dup.json", [line, line, line, ""]), progress=False))
    assert d["loaded"] == 1 and d["duplicates"] == 2 and d["blank"] == 1


def test_bad_lines_are_quarantined_with_reasons(case, tmp_path):
    good = sample_lines()
    bad = [
        good[0][: len(good[0]) // 2],                    # truncated
        "garbage \x01 not json",                         # garbage
        "[1, 2, 3]",                                     # not an object
        json.dumps({"hello": "world"}),                  # unknown event type
        json.dumps({"process_exec": {"process": {"pid": 1}}, "node_name": "n"}),  # no time
        "   ",                                           # blank
    ]
    f = write(tmp_path / "bad.log", good[:2] + bad + good[2:])
    d = balanced(case.load(f, progress=False))
    assert d["loaded"] == 5 and d["quarantined"] == 5 and d["blank"] == 1
    q = case.quarantine()
    reasons = dict(zip(q["line"], q["reason"], strict=True))
    assert "truncated" in reasons[3]
    assert reasons[4].startswith("malformed JSON")
    assert "instead of an object" in reasons[5]
    assert "unknown event type" in reasons[6] and "hello" in reasons[6]
    assert "without a valid time" in reasons[7]
    assert q["file"][0] == str(f.resolve())
    assert set(q["raw_bytes"]) and all(q["raw"].str.len_chars() <= 4096)


def test_unknown_tetragon_type_is_kept_with_its_key(case, tmp_path):
    line = json.dumps({"process_future": {"process": {"pid": 3}}, "node_name": "n1",
                       "time": "2026-11-20T10:00:00Z"})
    d = balanced(case.load(write(tmp_path / "t.log", [line]), progress=False))
    assert d["loaded"] == 1
    assert case.sql("select kind from events")["kind"][0] == "process_future"


def test_invalid_utf8_and_huge_line(case, tmp_path):
    f = tmp_path / "raw.log"
    big = '{"x": "' + "a" * (10 << 20) + '"}'
    f.write_bytes(b"\n".join([sample_lines()[0].encode(), b'{"a": "\xff\xfe"}', big.encode(),
                              sample_lines()[1].encode()]) + b"\n")
    d = balanced(case.load(f, progress=False))
    assert d["lines"] == 4 and d["loaded"] == 2 and d["quarantined"] == 2
    q = case.quarantine()
    assert any("UTF-8" in r for r in q["reason"])
    huge = q.filter(q["reason"].str.contains("longer than"))
    assert huge["raw_bytes"][0] > 10 << 20 and len(huge["raw"][0]) == 4096


def test_raw_bytes_is_the_line_without_its_end_and_a_lone_huge_line_is_kept(case, tmp_path):
    f = tmp_path / "a.log"
    f.write_bytes((sample_lines()[0] + '\n[1,2]\n{"x":1}\r\n{"cut": tr').encode())
    balanced(case.load(f, progress=False))
    assert case.sql("select raw_bytes from quarantine order by line")["raw_bytes"].to_list() == [5, 7, 10]
    # a file whose only line is too long to read may be an export: quarantined, not refused
    huge = tmp_path / "huge.log"
    huge.write_text(tetragon_exec(args="x" * (9 << 20)) + "\n")
    r = case.load(huge, progress=False)
    assert r.errors == [] and (r.files[0].lines, r.files[0].quarantined) == (1, 1)


def test_gzip_by_magic_and_cut_short(case, tmp_path):
    data = ("\n".join(sample_lines() * 200) + "\n").encode()
    whole = gzip.compress(data, mtime=0)
    (tmp_path / "ok.log").write_bytes(whole)          # gzip without a .gz name
    (tmp_path / "cut.gz").write_bytes(whole[: len(whole) // 2])
    report = case.load([tmp_path / "ok.log", tmp_path / "cut.gz"], progress=False)
    balanced(report)
    ok, cut = report.files
    assert ok.loaded == 5 and ok.duplicates == 995
    assert cut.status == "damaged" and "cut short" in cut.message
    assert cut.quarantined >= 1


def test_empty_file_and_missing_path(case, tmp_path):
    (tmp_path / "empty.log").write_text("")
    (tmp_path / "blank.log").write_text("\n \n\r\n")
    r = case.load([tmp_path / "empty.log", tmp_path / "blank.log"], progress=False)
    d = balanced(r)
    assert d["lines"] == 3 and d["blank"] == 3 and d["errors"] == []
    assert [f.message for f in r.files] == ["empty file: nothing to load", "only blank lines: nothing to load"]
    assert "loaded: empty file: nothing to load" in str(r)
    from kernelsec_nb.store._discover import LoadPathError

    with pytest.raises(LoadPathError, match="no such file"):
        case.load(tmp_path / "missing.log", progress=False)


def test_not_an_export_is_a_one_line_error(case, tmp_path):
    (tmp_path / "notes.csv").write_text("a,b\n1,2\n")
    r = case.load(tmp_path / "notes.csv", progress=False)
    assert r.files[0].status == "error"
    assert f"not a {sources.titles()} export" in r.files[0].message
    assert "\n" not in r.files[0].message


def test_unreadable_file_in_folder(case, tmp_path, monkeypatch):
    write(tmp_path / "good.log", sample_lines())
    write(tmp_path / "locked.log", [falco_alert()])
    real = load_mod._lines.open_binary

    def deny(path):  # as root every file is readable: refuse the one open all reads go through
        if path.name == "locked.log":
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(load_mod._lines, "open_binary", deny)
    r = case.load(tmp_path, progress=False)
    status = {f.path.rsplit("/", 1)[1]: f for f in r.files}
    assert status["good.log"].loaded == 5
    assert status["locked.log"].status == "error" and "Permission denied" in status["locked.log"].message


def test_unlistable_folder_is_an_error_and_skipped_files_are_named(case, tmp_path, monkeypatch):
    (tmp_path / "locked").mkdir()
    write(tmp_path / "locked" / "inner.log", sample_lines())
    write(tmp_path / "export.txt", sample_lines())  # an export may be .txt: it is read
    write(tmp_path / "README.md", ["# notes"])
    write(tmp_path / ".hidden.json", sample_lines())
    real = os.scandir

    def deny(path="."):  # as root every folder can be listed: refuse the one os.walk lists
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", deny)
    r = case.load(tmp_path, progress=False)
    status = {f.path.rsplit("/", 1)[1]: f for f in r.files}
    assert status["export.txt"].loaded == 5
    assert status["locked"].status == "error" and status["locked"].message.startswith("cannot list ")
    assert "Permission denied" in status["locked"].message and len(r.errors) == 1
    assert len(r.notes) == 1 and r.notes[0].startswith("2 files in the folders left out by their name")
    assert ".hidden.json" in r.notes[0] and "README.md" in r.notes[0]
    assert r.to_dict()["warnings"] == r.notes and "note: 2 files" in str(r)


def test_interrupted_load_leaves_nothing_half_loaded(case, tmp_path, monkeypatch):
    f = write(tmp_path / "big.log", [tetragon_exec(pid=i) for i in range(1, 400)])
    calls = {"n": 0}
    real = load_mod.ingest_block

    def boom(con, table, name, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(con, table, name, **kw)

    monkeypatch.setattr(load_mod, "ingest_block", boom)
    monkeypatch.setattr(load_mod._lines, "BLOCK_BYTES", 4096)
    with pytest.raises(KeyboardInterrupt):
        load_mod.load_files(case.con, f, progress=False, block_bytes=4096)
    assert case.sql("select count(*) n from events")["n"][0] == 0
    assert case.sql("select count(*) n from files")["n"][0] == 0
    monkeypatch.setattr(load_mod, "ingest_block", real)
    d = balanced(case.load(f, progress=False))
    assert d["loaded"] == 399


def test_a_crashed_load_is_cleaned_on_next_open(tmp_path):
    path = tmp_path / "crash.duckdb"
    f = write(tmp_path / "a.log", sample_lines())
    with kn.open_case(path) as c:
        c.load(f, progress=False)
        # what a killed process leaves: committed blocks of a file with no ``files`` row
        for table in ("process_events", "kprobes", "other_events", "flows", "alerts"):
            c.con.execute(f"INSERT INTO {table} SELECT * REPLACE "  # noqa: S608 - our table names
                          f"('/gone.log' AS file, event_id || 'x' AS event_id) FROM {table}")
        assert c.sql("select count(*) n from events")["n"][0] == 10
    with kn.open_case(path) as c:
        assert c.sql("select count(*) n from events")["n"][0] == 5
        assert c.sql("select count(*) n from flows")["n"][0] == 2


def test_pretty_printed_documents(case, tmp_path):
    docs = [json.dumps(json.loads(line), indent=3) for line in sample_lines()[:3]]
    f = write(tmp_path / "pretty.json", docs)
    r = case.load(f, progress=False)
    d = balanced(r)
    assert r.files[0].format == "json-documents" and d["loaded"] == 3
    eid = case.sql("select event_id from events where source = 'falco'")["event_id"][0]
    assert json.loads(case.raw(eid))["rule"] == "Terminal shell in container"


def test_raw_reads_back_gzip_lines(case, tmp_path):
    (tmp_path / "a.gz").write_bytes(gzip.compress(("\n".join(sample_lines()) + "\n").encode()))
    case.load(tmp_path / "a.gz", progress=False)
    ev = case.sql("select event_id, line from events order by line")
    assert case.raw(ev["event_id"][3]) == sample_lines()[3]


def test_read_only_second_process(tmp_path):
    path = tmp_path / "ro.duckdb"
    with kn.open_case(path) as c:
        c.load(write(tmp_path / "a.log", sample_lines()), progress=False)
    ro = kn.open_case(path, read_only=True)
    assert ro.sql("select count(*) n from events")["n"][0] == 5
    with pytest.raises(kn.CaseError):
        ro.load(tmp_path / "a.log")
    ro.close()


def test_attacker_strings_are_data_not_sql(case, tmp_path):
    evil = "x'); DROP TABLE events; --"
    case.load(write(tmp_path / "e.log", [tetragon_exec(args=evil)]), progress=False)
    got = case.events(args=r"DROP TABLE")
    assert got["args"][0] == evil
    assert case.events(pod=evil).height == 0  # not a valid regex: a literal prefix
    with pytest.raises(ValueError, match="regular expression"):
        case.events(args=evil)
    assert case.sql("select count(*) n from events")["n"][0] == 1


def test_attacker_text_cannot_change_the_source_of_a_line(case, tmp_path):
    """Text inside a value (a URL, a command line, a summary: attacker-controlled) that reads like a
    key ("process_exec": ..., "flow": ..., "rule": ...) must not change what a line is taken for
    (such flows and alerts were quarantined as unknown)."""
    bait = '"process_exec":{"process":{}}'
    lines = [hubble_flow(path="/v1/?q=" + bait), falco_alert(cmd="sh -c '" + bait + "'"),
             json.dumps({"time": "2026-11-20T10:00:03Z", "verdict": "DROPPED",  # a bare flow
                         "IP": {"source": "10.0.0.9", "destination": "10.0.0.2"},
                         "Summary": bait + ',"flow":{},"rule":"r"'})]
    odd_key = json.loads(hubble_flow(path="/v1/?q=" + bait, sport=7))
    odd_key["processor"] = "x"  # a top-level key that LIKE 'process_%' matched (_ is a wildcard)
    lines.append(json.dumps(odd_key))
    d = balanced(case.load(write(tmp_path / "bait.log", lines), progress=False))
    assert d["loaded"] == 4 and d["quarantined"] == 0, case.sql("select reason from quarantine")
    assert case.sql("select distinct http_path from flows where http_path is not null")["http_path"].to_list() == ["/v1/"]
    assert case.sql("select cmdline from alerts")["cmdline"][0] == "sh -c '" + bait + "'"
    assert case.sql("select count(*) n from events where source = 'tetragon'")["n"][0] == 0


def test_odd_hubble_labels_do_not_fail_the_load(case, tmp_path):
    """A label key twice (after k8s: is dropped) or a null label made map_from_entries raise,
    which failed the whole file; the first value wins, nulls are skipped."""
    odd = json.loads(hubble_flow())
    odd["flow"]["source"]["labels"] = ["k8s:app=web", "app=evil", None, "reserved:host"]
    many = json.loads(hubble_flow(sport=2))
    many["flow"]["source"]["labels"] = [f"k8s:l{i}=v{i}" for i in range(20_000)] + ["l5=again"]
    lines = [json.dumps(odd), hubble_flow(sport=1), json.dumps(many)]
    d = balanced(case.load(write(tmp_path / "odd.log", lines), progress=False))
    assert d["loaded"] == 3 and d["quarantined"] == 0
    big = case.sql("select src_labels['l5'] as l5, cardinality(src_labels) as n from flows where src_port = 2")
    assert big.row(0) == ("v5", 20_000)  # a crafted list: first value kept, and quickly (not O(n^2))
    labels = case.sql("select src_labels from flows where src_port <> 2 order by src_port desc")["src_labels"].to_list()
    assert labels[0] == {"app": "web", "reserved:host": ""}
    assert labels[1] == {"app": "web"}


def test_json_array_items_are_records(case, tmp_path):
    lines = sample_lines()
    f = tmp_path / "array.json"
    f.write_text("[\n" + ",\n".join([lines[0], lines[1], lines[1]]) + "\n]\n")
    d = balanced(case.load(f, progress=False))
    assert d["lines"] == 3 and d["loaded"] == 2 and d["duplicates"] == 1


def test_falco_alerts_have_a_workload(case, tmp_path):
    # Falco names no workload: it is read off the pod name (the deployment field when present),
    # so that filtering events by workload keeps the alerts
    alerts = [falco_alert(**{"k8s.ns.name": "payments", "k8s.pod.name": "checkout-7d9f8b6c5-x2k4p"}),
              falco_alert("id", **{"k8s.ns.name": "payments", "k8s.pod.name": "cart-1",
                                   "k8s.deployment.name": "cart"}),
              falco_alert("ls", **{"k8s.pod.name": "<NA>"})]
    balanced(case.load(write(tmp_path / "falco.log", alerts), progress=False))
    assert case.sql("select workload from alerts order by line")["workload"].to_list() == ["checkout", "cart", None]
    got = case.events(workload="checkout")
    assert got["source"].to_list() == ["falco"] and got["args"].to_list() == ["sh"]
    assert case.sql("select count(*) n from alerts where workload = ?", ["cart"])["n"][0] == 1


def test_workloads_read_off_pod_names_agree_with_tetragon(case, tmp_path):
    # a StatefulSet and a hyphenated DaemonSet, as Falco names their pods (Tetragon: jenkins, node-exporter)
    alerts = [falco_alert(**{"k8s.pod.name": "jenkins-0"}), falco_alert(**{"k8s.pod.name": "node-exporter-x7k2p"}),
              falco_alert(**{"k8s.pod.name": "backup-28950120-x7k2p"})]
    case.load(write(tmp_path / "falco.log", alerts), progress=False)
    got = case.sql("select workload from alerts order by line")["workload"].to_list()
    assert got == ["jenkins", "node-exporter", "backup"]


def test_clean_exit_is_status_zero_and_nodes_in_cluster_form(case, tmp_path):
    # Tetragon leaves a zero exit status out; Hubble's exporter names nodes "cluster/node"
    ex = json.loads(tetragon_exec())
    body = ex.pop("process_exec")
    clean = {"process_exit": {**body, "time": ex["time"]}, **ex}
    killed = {"process_exit": {**body, "signal": "SIGKILL", "time": ex["time"]}, **ex}
    case.load(write(tmp_path / "t.log", [tetragon_exec(), json.dumps(clean)]), progress=False)
    case.load(write(tmp_path / "k.log", [json.dumps(killed)]), progress=False)
    got = case.sql("select exit_status, signal from process_events where kind = 'process_exit' order by file")
    assert got.rows() == [(None, "SIGKILL"), (0, None)]
    assert case.events(node="prod/n1").height == case.events(node="n1").height == 3


def test_times_with_an_offset_are_read_at_that_offset(case, tmp_path):
    # a log shipper may re-serialise the tools' UTC times with a local offset
    utc = "2026-11-20T10:00:00.123456789Z"
    lines = [tetragon_exec(time="2026-11-20T11:00:00.123456789+01:00"),
             hubble_flow(time="2026-11-20T04:30:00.123456789-05:30"),
             falco_alert(time="2026-11-20T10:00:00.123456789"),  # no offset: UTC
             json.loads(falco_alert(time="x"))]
    del lines[3]["time"]  # no top-level time: Falco's evt.time, here as ISO text
    lines[3]["output_fields"]["evt.time"] = "2026-11-20T12:00:00.123456789+02:00"
    lines[3]["output_fields"]["proc.pid"] = 101
    lines[3] = json.dumps(lines[3])
    balanced(case.load(write(tmp_path / "t.log", lines), progress=False))
    want = case.sql("SELECT epoch_ns(?::TIMESTAMP_NS)", [utc.rstrip("Z")]).item()
    assert case.sql("SELECT source, time_ns FROM events ORDER BY source").rows() == [
        ("falco", want), ("falco", want), ("hubble", want), ("tetragon", want)]


def test_empty_exports_of_two_nodes_are_both_in_the_manifest(case, tmp_path):
    # "Falco ran there and raised nothing" needs a files row for each node's empty export
    for node in ("a", "b"):
        (tmp_path / node).mkdir()
        (tmp_path / node / "falco.json").write_text("")
    r = case.load(tmp_path, progress=False)
    assert [f.message for f in r.files] == ["empty file: nothing to load"] * 2
    assert case.sql("SELECT count(*) FROM files").item() == 2


def test_a_node_in_cluster_form_keeps_two_clusters_apart(case, tmp_path):
    flows = []
    for cluster, sport in (("prod-eu", 40000), ("prod-us", 40001)):
        line = json.loads(hubble_flow(sport=sport, node="worker-3"))
        line["node_name"] = line["flow"]["node_name"] = f"{cluster}/worker-3"
        flows.append(json.dumps(line))
    case.load(write(tmp_path / "f.log", flows), progress=False)
    assert case.flows(node="prod-eu/worker-3")["src_port"].to_list() == [40000]
    assert case.events(node="other/worker-3").height == 0
    assert case.events(node="worker-3").height == 2


def test_alerts_without_kubernetes_fields_take_them_from_the_container(case, tmp_path):
    # Falco's <NA> namespace and pod; Tetragon's exec of the same container comes in a later load
    alert = falco_alert(**{"container.id": "ab" * 6})  # Tetragon's containerd://abab... in short
    case.load(write(tmp_path / "falco.json", [alert]), progress=False)
    assert case.events(namespace="default", source="falco").height == 0
    case.load(write(tmp_path / "tetragon.json", [tetragon_exec()]), progress=False)
    assert case.events(namespace="default", source="falco")["pod"].to_list() == ["web-7d9f8b6c5d-abcde"]
    assert case.sql("SELECT workload, k8s_filled FROM alerts").rows() == [("web", True)]
    assert case.alerts()["k8s_filled"].to_list() == [True]


def test_lsm_socket_and_program_arguments_are_flattened(case, tmp_path):
    proc = {"exec_id": "eA==", "pid": 7, "binary": "/x"}
    lines = [json.dumps({"process_lsm": {"process": proc, "function_name": fn, "args": [arg]},
                         "node_name": "n1", "time": "2026-11-20T10:00:00Z"})
             for fn, arg in (("security_socket_connect", {"sockaddr_arg": {"family": "AF_INET", "addr": "10.0.0.5", "port": 443}}),
                             ("security_socket_bind", {"sockaddr_arg": {"family": "AF_INET", "addr": "0.0.0.0", "port": 8080}}),
                             ("bprm_check_security", {"linux_binprm_arg": {"path": "/tmp/x", "permission": "r-x"}}))]
    balanced(case.load(write(tmp_path / "lsm.json", lines), progress=False))
    assert case.sql("SELECT function_name, saddr, sport, daddr, dport, file_path FROM kprobes ORDER BY line").rows() == [
        ("security_socket_connect", None, None, "10.0.0.5", 443, None),
        ("security_socket_bind", "0.0.0.0", 8080, None, None, None),
        ("bprm_check_security", None, None, None, None, "/tmp/x")]


def test_tcp_flags_are_kept(case, tmp_path):
    syn = json.loads(hubble_flow())
    syn["flow"]["l4"]["TCP"]["flags"] = {"SYN": True}
    rst = json.loads(hubble_flow(sport=40001))
    rst["flow"]["l4"]["TCP"]["flags"] = {"RST": True, "ACK": True}
    case.load(write(tmp_path / "f.json", [json.dumps(syn), json.dumps(rst), hubble_flow(sport=40002)]), progress=False)
    assert case.sql("SELECT tcp_flags FROM flows ORDER BY src_port").rows() == [("SYN",), ("ACK,RST",), (None,)]


def test_the_same_flows_in_two_export_shapes_are_told(case, tmp_path):
    # the exporter's {"flow": ...} lines and `hubble observe -o json`'s bare flows of the same hour
    wrapped = [hubble_flow(sport=40000 + i) for i in range(3)]
    bare = [json.dumps(json.loads(x)["flow"]) for x in wrapped]
    case.load(write(tmp_path / "exporter.json", wrapped), progress=False)
    r = case.load(write(tmp_path / "observe.json", bare), progress=False)
    assert r.total("loaded") == 3  # other bytes: not duplicates, kept
    assert [w.split(" (")[0] for w in r.to_dict()["warnings"]] == [
        f"3 flows of {tmp_path / 'observe.json'} are the same observations as flows of {tmp_path / 'exporter.json'}"]


def test_a_dangling_link_in_a_folder_is_an_error_row(case, tmp_path):
    write(tmp_path / "a.log", sample_lines())
    (tmp_path / "b.log").symlink_to(tmp_path / "gone.log")
    r = case.load(tmp_path, progress=False)
    assert [f.loaded for f in r.files if f.path.endswith("a.log")] == [5]
    assert [f.status for f in r.files if "gone.log" in f.message] == ["error"]  # the link's target, named


def test_a_byte_order_mark_does_not_quarantine_the_first_event(case, tmp_path):
    lines = sample_lines()
    data = b"\xef\xbb\xbf" + ("\n".join(lines) + "\n").encode()
    (tmp_path / "bom.log").write_bytes(data)
    (tmp_path / "bom.gz").write_bytes(gzip.compress(data[:-1] + b"\n\n"))  # same lines, other bytes
    for name in ("bom.log", "bom.gz"):
        d = balanced(case.load(tmp_path / name, progress=False))
        assert d["quarantined"] == 0 and d["loaded"] + d["duplicates"] == 5, case.quarantine()
    eid = case.sql("select event_id from events where line = 1")["event_id"][0]
    assert case.raw(eid) == lines[0]


def test_runs_of_junk_are_one_row_and_every_line_is_listed(case, tmp_path):
    good = sample_lines()
    f = tmp_path / "junk.log"
    data = "\n".join([good[0]] + ["x"] * 3000 + [""] * 500 + [good[1]] * 4 + ["x"] * 2 + [good[2]]) + "\n"
    f.write_text(data)
    d = balanced(case.load(f, progress=False))
    assert (d["lines"], d["loaded"], d["duplicates"], d["quarantined"], d["blank"]) == (3508, 3, 3, 3002, 500)
    q = case.quarantine()
    assert q.select("line", "line_end", "repeat_count").rows() == [(2, 3001, 3000), (3506, 3507, 2)]
    every = case.quarantine(expand=True)
    assert every.columns == ["file", "line", "byte_offset", "reason", "raw", "raw_bytes"]
    assert every["line"].to_list() == [*range(2, 3002), 3506, 3507]
    raw = f.read_bytes()
    assert all(raw[o : o + 2] == b"x\n" for o in every["byte_offset"])
