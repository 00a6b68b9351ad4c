"""Inspektor Gadget: every record of the real samples accounted for, the tables' values checked
against the files (read here with Python's json), and processes/ancestry on a capture of IG alone."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

import kernelsec_nb as kn

#: Samples whose events carry no epoch time (SOURCES.md): quarantined, each with its reason.
NO_TIME = {"example_trace_dns_go.jsonpretty.json": ("dns", 3),  # boot-relative timestamp
           "golang-grpc-k8s_trace_open.ndjson": ("open", 4),  # the example's field set has none
           "v0.10.0_trace_mount.kubectl-gadget.ndjson": ("mount", 8)}  # v0.10 wrote none


@pytest.fixture(scope="module")
def folder(public_dir) -> Path:
    path = (public_dir.parent / "public-new-sources" / "inspektor-gadget").resolve()
    if not path.is_dir():
        pytest.skip("the Inspektor Gadget samples are not here")
    return path


@pytest.fixture(scope="module")
def loaded(folder):
    case = kn.open_case()
    return case, case.load(folder, progress=False)


def _records(path: Path) -> list[dict]:
    """The file's events: one a line, or pretty-printed documents one after another."""
    text, out, pos = path.read_text(), [], 0
    dec = json.JSONDecoder()
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        ev, pos = dec.raw_decode(text, pos)
        out.append(ev)
    return out


def _time_ns(ev: dict) -> int:
    ts = ev["timestamp"]
    if isinstance(ts, int):
        return ts
    t = dt.datetime.fromisoformat(ts[:26] + ts[29:])  # down to µs, with its offset
    return int(t.timestamp()) * 10**9 + int(ts[20:29])


def test_every_record_is_accounted_for(loaded, folder):
    case, report = loaded
    assert len(report.files) == len([p for p in folder.iterdir() if p.is_file()])
    for f in report.files:
        name = Path(f.path).name
        assert f.status == "loaded" and f.balanced, f
        assert f.lines == len(_records(Path(f.path))), f
        if name in NO_TIME:
            kind, n = NO_TIME[name]
            assert (f.loaded, f.quarantined, f.sources) == (0, n, ()), f
            reasons = case.con.execute("select distinct reason from quarantine where file = ?", [f.path]).fetchall()
            assert reasons == [(f"inspektor_gadget {kind} event without a valid time",)]
        else:
            assert (f.loaded, f.quarantined, f.sources) == (f.lines, 0, ("inspektor_gadget",)), f


def test_values_match_the_files(loaded, folder):
    case, _ = loaded
    checked = 0
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        if path.name in NO_TIME:
            continue
        rows = case.con.execute("SELECT * FROM kprobes WHERE file = ? ORDER BY line", [str(path)]).fetch_df()
        records = _records(path)
        assert len(rows) == len(records)
        for ev, row in zip(records, rows.to_dict("records"), strict=True):
            checked += 1
            proc = ev.get("proc") or {}
            k8s = ev.get("k8s") or {}
            assert row["source"] == "inspektor_gadget"
            assert row["time_ns"] == _time_ns(ev)
            assert row["pid"] == proc.get("pid", ev.get("pid"))
            assert row["binary"] == proc.get("comm", ev.get("comm"))
            assert row["node"] == (k8s.get("node") or None) and row["pod"] == (k8s.get("podName") or None)
            assert row["container_id"] == ev["runtime"]["containerId"][:12]
            node = k8s.get("node") or "-"
            assert row["exec_id"] == f"ig:{node}:{row['pid']}"
            parent = (proc.get("parent") or {}).get("pid")
            assert row["parent_exec_id"] == (f"ig:{node}:{parent}" if parent else None)
            if "fname" in ev or "path" in ev:
                assert (row["kind"], row["function_name"]) == ("open", "open")
                assert row["file_path"] == ev.get("fname", ev.get("path"))
            else:
                assert (row["kind"], row["function_name"]) == (ev["type"], ev["type"])
                assert (row["saddr"], row["sport"]) == (ev["src"]["addr"], ev["src"]["port"])
                assert (row["daddr"], row["dport"], row["protocol"]) == (ev["dst"]["addr"], ev["dst"]["port"], "TCP")
    assert checked == 4


def _exec(pid: int, ppid: int, args: list[str], t: int, parent: str = "sh", **over) -> str:
    """An image-based trace_exec event (``kubectl gadget run trace_exec -o json``)."""
    ev = {"args": " ".join(args), "comm": args[0].rsplit("/", 1)[-1], "error": "", "exepath": args[0],
          "k8s": {"containerName": "web", "hostnetwork": False, "namespace": "shop", "node": "node-b",
                  "owner": {"kind": "ReplicaSet", "name": "web-7d9f8b6c5"}, "podName": "web-7d9f8b6c5-x2k4p"},
          "proc": {"comm": args[0].rsplit("/", 1)[-1], "creds": {"gid": 0, "uid": 1000}, "mntns_id": 4026532000,
                   "parent": {"comm": parent, "pid": ppid}, "pid": pid, "tid": pid},
          "runtime": {"containerId": "cd" * 32, "containerImageName": "nginx:1.27", "containerName": "web",
                      "runtimeName": "containerd"},
          "timestamp": f"2024-07-31T18:38:{t:02d}.000000001Z", "timestamp_raw": 1722451080000000001 + t * 10**9}
    ev.update(over)
    return json.dumps(ev, sort_keys=True)


def test_processes_and_ancestry_on_an_ig_only_capture(tmp_path):
    lines = [
        _exec(10, 1, ["/bin/sh", "-c", "cat /etc/shadow"], 1, parent="runc:[2:INIT]"),
        _exec(11, 10, ["/bin/cat", "/etc/shadow"], 2),
        # the built-in gadget's schema (v0.2x): integer timestamp, mountnsid, args a list
        json.dumps({"node": "node-b", "namespace": "shop", "pod": "web-7d9f8b6c5-x2k4p", "container": "web",
                    "type": "normal", "mountnsid": 4026532000, "pid": 12, "ppid": 10, "uid": 0,
                    "retval": 0, "comm": "id", "args": ["/usr/bin/id", "-u"],
                    "timestamp": 1722451083000000000}),
        json.dumps({"comm": "cat", "error": "", "fd": 3, "fname": "/etc/shadow", "flags": "O_RDONLY",
                    "k8s": {"node": "node-b", "namespace": "shop", "podName": "web-7d9f8b6c5-x2k4p",
                            "containerName": "web"},
                    "proc": {"comm": "cat", "mntns_id": 4026532000, "parent": {"comm": "sh", "pid": 10},
                             "pid": 11, "tid": 11},
                    "runtime": {"containerId": "cd" * 32}, "timestamp": "2024-07-31T18:38:02.5Z"}),
    ]
    path = tmp_path / "ig.ndjson"
    path.write_text("\n".join(lines) + "\n")
    case = kn.open_case()
    f = case.load(path, progress=False).files[0]
    assert (f.loaded, f.quarantined, f.sources) == (4, 0, ("inspektor_gadget",))
    procs = case.processes().filter(kn_binary_known())
    assert sorted(procs["binary"].to_list()) == ["/bin/cat", "/bin/sh", "/usr/bin/id", "runc:[2:INIT]"]
    cat = procs.filter(procs["binary"] == "/bin/cat").row(0, named=True)
    assert (cat["exec_id"], cat["parent_exec_id"], cat["args"]) == ("ig:node-b:11", "ig:node-b:10", "/etc/shadow")
    assert (cat["workload"], cat["container_id"], cat["image"], cat["source"]) == (
        "web-7d9f8b6c5", "cd" * 6, "nginx:1.27", "inspektor_gadget")
    ident = procs.filter(procs["binary"] == "/usr/bin/id").row(0, named=True)
    assert (ident["parent_exec_id"], ident["args"], ident["workload"]) == ("ig:node-b:10", "-u", "web")
    chain = case.ancestry("ig:node-b:11")
    assert chain["binary"].to_list()[-2:] == ["/bin/sh", "/bin/cat"]
    assert chain["exec_id"].to_list()[0] == "ig:node-b:1"  # seen as the shell's parent only
    assert chain["binary"].to_list()[0] == "runc:[2:INIT]"
    k = case.sql("select * from kprobes")
    assert (k["file_path"][0], k["exec_id"][0], k["function_name"][0]) == ("/etc/shadow", "ig:node-b:11", "open")


def kn_binary_known():
    import polars as pl

    return pl.col("binary").is_not_null()
