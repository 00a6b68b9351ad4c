"""What the loader does to values: an integer it cannot keep is NULL and counted, never rounded or
dropped without a word; an unreadable time replaced by a fallback is counted; the line keeps the
original (``case.raw``).  Both ways in (fast routes and the general path) agree."""

from __future__ import annotations

import json

from tests.store.lines import falco_alert, hubble_flow, tetragon_exec

T = "2026-11-20T10:00:00.123456789Z"


def _with(line: str, old: str, new: str) -> str:
    assert old in line
    return line.replace(old, new, 1)


def kprobe(sport: str = "40000", dport: str = "443", time: str = T) -> str:
    return ('{"process_kprobe":{"process":{"exec_id":"ZTE=","pid":100,"uid":0,"binary":"/usr/bin/curl",'
            '"start_time":"' + T + '"},"parent":{"exec_id":"cDE="},"function_name":"tcp_connect",'
            '"args":[{"sock_arg":{"family":"AF_INET","type":"SOCK_STREAM","protocol":"IPPROTO_TCP",'
            '"saddr":"10.0.0.1","daddr":"10.0.0.2","sport":' + sport + ',"dport":' + dport + '}}]},'
            '"node_name":"n1","time":"' + time + '"}')


def load(case, tmp_path, lines):
    path = tmp_path / "x.json"
    path.write_text("\n".join(lines) + "\n")
    report = case.load(path, progress=False)
    assert report.files[0].balanced and report.total("quarantined") == 0, report
    return report


def test_integers_that_do_not_fit_are_null_and_counted(case, tmp_path):
    lines = [
        tetragon_exec(pid=101),
        _with(tetragon_exec(pid=102), '"pid": 102', '"pid": 9223372036854775808'),  # 2**63
        _with(tetragon_exec(pid=103), '"pid": 103', '"pid": 80.5'),
        _with(tetragon_exec(pid=104), '"pid": 104', '"pid": "abc"'),
        _with(tetragon_exec(pid=105), '"pid": 105', '"pid": "105"'),  # protojson's 64-bit form: kept
        kprobe(sport="70000", dport="80.5"),
        _with(hubble_flow(sport=40000), '"source_port": 40000', '"source_port": 70000'),
        falco_alert(**{"proc.pid": 9223372036854775808, "proc.ppid": "1.5"}),
    ]
    report = load(case, tmp_path, lines)
    assert report.files[0].warnings == {
        "dport not an integer, stored as NULL": 1,
        "pid not an integer, stored as NULL": 2,
        "pid past the 64-bit range, stored as NULL": 2,
        "ppid not an integer, stored as NULL": 1,
        "sport outside 0-65535, stored as NULL": 1,
        "src_port outside 0-65535, stored as NULL": 1,
    }
    pids = dict(case.sql("select line, pid from events where kind = 'process_exec'").iter_rows())
    assert pids == {1: 101, 2: None, 3: None, 4: None, 5: 105}  # 80.5 is neither 80 nor 81
    assert case.sql("select sport, dport from kprobes").rows() == [(None, None)]
    assert case.sql("select src_port, dst_port from flows").rows() == [(None, 80)]
    assert case.sql("select pid, ppid from alerts").rows() == [(None, None)]
    d = report.to_dict()
    assert d["per_file"][0]["warnings"]["sport outside 0-65535, stored as NULL"] == 1
    assert any(w.endswith("2 events: pid past the 64-bit range, stored as NULL (the line keeps it: case.raw)")
               for w in d["warnings"])
    assert "warning: " in str(report) and "sport outside 0-65535" in str(report)
    # the original text is one call away
    eid = case.sql("select event_id from events where line = 2")["event_id"][0]
    assert json.loads(case.raw(eid))["process_exec"]["process"]["pid"] == 2**63
    assert case.raw(eid) == lines[1]


def test_unreadable_time_replaced_by_the_start_time_is_counted(case, tmp_path):
    bad = _with(tetragon_exec(pid=101, time=T), f'"time": "{T}"}}', '"time": "2026-13-45T99:00:00Z"}')
    report = load(case, tmp_path, [bad, kprobe(), tetragon_exec(pid=102)])
    assert report.files[0].warnings == {"time unreadable, the exit or process start time used": 1}
    row = case.sql("select time_ns from events where line = 1").rows()
    assert row == [(1795168800123456789,)]  # the process's start_time
    assert "2026-13-45T99" in case.raw(case.sql("select event_id from events where line = 1")["event_id"][0])


def test_unreadable_alert_time_replaced_by_evt_time_is_counted(case, tmp_path):
    line = falco_alert(time="yesterday", **{"evt.time": 1795168800123456789})
    report = load(case, tmp_path, [line])
    assert report.files[0].warnings == {"time unreadable, output_fields evt.time used": 1}


def test_good_lines_have_no_warnings(case, tmp_path):
    report = load(case, tmp_path, [tetragon_exec(), kprobe(), hubble_flow(), falco_alert()])
    assert report.files[0].warnings == {}
    assert not any("stored as NULL" in w for w in report.to_dict()["warnings"])


def test_cli_load_json_lists_the_changed_values(tmp_path, capsys):
    from kernelsec_nb import cli

    path = tmp_path / "x.json"
    path.write_text(_with(tetragon_exec(pid=102), '"pid": 102', '"pid": 9223372036854775808') + "\n")
    assert cli.main(["load", str(tmp_path / "c.duckdb"), str(path), "--json", "--per-file"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["per_file"][0]["warnings"] == {"pid past the 64-bit range, stored as NULL": 1}
    assert out["warnings"] == [f"{path}: 1 event: pid past the 64-bit range, stored as NULL "
                               "(the line keeps it: case.raw)"]
