"""Attacker text in the postmortem is shown, not obeyed (issue 19 item 7).

A pod, node, binary, command line, HTTP path, label or Falco output holding bidi overrides, a
carriage return, ANSI/OSC sequences, NUL or zero-width joiners must come out of the template
notebook (text/plain, text/html, JSON, streams, SVG) and out of the report's HTML with those
characters visible (``kn.shown``), while the case's tables keep the exported bytes.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import nbformat
import polars as pl
import pytest

import kernelsec_nb as kn
from kernelsec_nb.report import render_module
from tests.test_text import HOSTILE, hidden

REPO = Path(__file__).resolve().parents[2]
H = HOSTILE
NODE = "worker-1" + H
POD = "web-7d9f" + H
PAYLOAD = "/tmp/x" + H
ARGS = "-c " + H
PATH = "/v1/x" + H
LABEL = "web" + H
FALCO = "Critical Executing binary not part of base image " + H


def _raw_hidden(text: str) -> list[str]:
    return sorted({f"U+{ord(c):04X}" for c in text if hidden(c)})


# -- a hostile capture: a few events of each source -------------------------------------------
def _t(s: float) -> str:
    whole = int(s)
    return f"2026-11-20T10:00:{whole:02d}.{round((s - whole) * 1e9):09d}Z"


def _eid(pid: int) -> str:
    import base64

    return base64.b64encode(f"{NODE}:{pid}:{pid}".encode()).decode()


def _proc(pid: int, binary: str, args: str, start: float, parent: int, init: bool) -> dict:
    return {"exec_id": _eid(pid), "pid": pid, "uid": 0, "cwd": "/", "binary": binary, "arguments": args,
            "flags": "execve clone", "start_time": _t(start), "auid": 4294967295,
            "pod": {"namespace": "default", "name": POD,
                    "container": {"id": "containerd://" + "ab" * 32, "name": "c" + H,
                                  "image": {"id": "img@sha256:1", "name": "img" + H},
                                  "start_time": _t(0), "pid": 1},
                    "pod_labels": {"app": LABEL, "team" + H: LABEL}, "workload": LABEL},
            "docker": "ab" * 15, "parent_exec_id": _eid(parent), "tid": pid, "in_init_tree": init}


def _tetragon(kind: str, pid: int, binary: str, arguments: str, start: float, parent: int, init: bool,
              time: float, **extra: object) -> dict:
    return {kind: {"process": _proc(pid, binary, arguments, start, parent, init),
                   "parent": {"exec_id": _eid(parent), "pid": parent, "binary": "/bin/sh",
                              "arguments": "", "start_time": _t(start), "flags": "execve"}, **extra},
            "node_name": NODE, "time": _t(time)}


def _flow(time: float, sport: int, dst: str, dport: int, verdict: str, **extra: object) -> dict:
    flow = {"time": _t(time), "verdict": verdict,
            "IP": {"source": "10.0.0.1", "destination": dst, "ipVersion": "IPv4"},
            "l4": {"TCP": {"source_port": sport, "destination_port": dport}},
            "source": {"identity": 1, "namespace": "default", "labels": ["k8s:app=" + LABEL], "pod_name": POD},
            "destination": {"identity": 2, "namespace": "default", "labels": ["k8s:app=api" + H],
                            "pod_name": "api-0" + H},
            "Type": "L3_L4", "node_name": "kind/" + NODE, "traffic_direction": "EGRESS", "is_reply": False,
            **extra}
    return {"flow": flow, "node_name": "kind/" + NODE, "time": _t(time)}


def write_capture(folder: Path, sources: tuple[str, ...] = ("tetragon", "hubble", "falco")) -> Path:
    """A session exec'd into a pod that runs a payload from /tmp, its request, a drop and an alert."""
    (folder / "node").mkdir(parents=True)
    sock = {"sock_arg": {"family": "AF_INET", "type": "SOCK_STREAM", "protocol": "IPPROTO_TCP",
                         "saddr": "10.0.0.1", "daddr": "10.0.0.2", "sport": 40000, "dport": 80,
                         "state": "TCP_SYN_SENT"}}
    tetragon = [
        _tetragon("process_exec", 10, "/app/server" + H, "--port 80", 0, 1, True, 0),
        _tetragon("process_exec", 100, "/bin/sh", "", 10, 2, False, 10),
        _tetragon("process_exec", 101, PAYLOAD, ARGS, 11, 100, False, 11),
        _tetragon("process_kprobe", 101, PAYLOAD, ARGS, 11, 100, False, 12, function_name="tcp_connect",
                  args=[sock], action="KPROBE_ACTION_POST", policy_name="connect"),
        _tetragon("process_exit", 101, PAYLOAD, ARGS, 11, 100, False, 14),
    ]
    hubble = [
        _flow(12.005, 40000, "10.0.0.2", 80, "FORWARDED", Type="L7",
              l7={"type": "REQUEST", "http": {"method": "PUT", "url": "http://api" + PATH}}),
        _flow(15, 40001, "10.0.0.3", 5432, "DROPPED", drop_reason_desc="POLICY_DENIED" + H),
    ]
    falco = [{"hostname": NODE, "output": FALCO, "priority": "Critical",
              # the rule name and tags are the export's too: a detection's title reaches the findings
              "rule": RULE, "source": "syscall",
              "tags": ["container", "T1059" + H],
              "time": _t(11.001), "output_fields": {
                  "container.id": "abababababab", "proc.pid": 101, "proc.cmdline": "x " + ARGS,
                  "proc.exepath": PAYLOAD, "k8s.pod.name": POD, "k8s.ns.name": "default"}}]
    files = {"tetragon": ("tetragon.log", tetragon), "hubble": ("hubble-flows.json", hubble),
             "falco": ("falco.json", falco)}
    for name, rows in (files[s] for s in sources):
        (folder / "node" / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


# -- the template prints and displays only through show ----------------------------------------
def _template_code() -> list[str]:
    nb = nbformat.read(REPO / "notebooks" / "postmortem-template.ipynb", as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code"]


def test_every_text_the_template_prints_or_displays_goes_through_show():
    for src in _template_code():
        tree = ast.parse(src)
        calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert not calls & {"print", "display"}, src  # show(...): kn.shown, then print or display
        last = tree.body[-1] if tree.body else None
        if isinstance(last, ast.Expr):  # a cell's value is displayed too
            assert isinstance(last.value, ast.Call) and getattr(last.value.func, "id", "") in {"show", "_display"}, src


def test_show_prints_text_and_displays_tables_shown(capsys):
    from kernelsec_nb.report import show

    show("pod: " + POD)
    show(pl.DataFrame({"pod": [POD]}))
    out = capsys.readouterr().out
    assert _raw_hidden(out) == [] and kn.shown(POD) in out


# -- the report's HTML: any notebook's outputs are shown and escaped ---------------------------
def test_report_html_shows_every_kind_of_output():
    df = pl.DataFrame({"pod": [POD]})
    outputs = [
        {"output_type": "stream", "name": "stdout", "text": "attacker pod : " + POD},
        {"output_type": "display_data", "data": {"text/html": df._repr_html_(), "text/plain": repr(df)}},
        {"output_type": "display_data", "data": {"text/html": "<b>&#x202e;&#8238;&rlm;&zwj;&#x1b;&shy &amp; é</b>"}},
        {"output_type": "display_data", "data": {"text/plain": repr(df)}},
        {"output_type": "display_data", "data": {"text/markdown": "**" + POD + "** &#x202e;"}},
        {"output_type": "display_data", "data": {"application/json": {"pod": POD}}},
        {"output_type": "error", "ename": "E", "evalue": POD, "traceback": ["\x1b[31mE\x1b[0m: " + POD]},
    ]
    for o in outputs:
        out = render_module._output_html(o)
        assert _raw_hidden(out) == [], (o, out)
        assert not any(ref in out for ref in ("&#x202e;", "&#8238;", "&rlm;", "&zwj;", "&#x1b;", "&shy")), out
    assert kn.shown(POD) in render_module._output_html(outputs[0])
    assert "&amp; é" in render_module._output_html(outputs[2])
    summary = render_module._summary_html({"incidents": [{"pod": POD, "node": NODE}], "leads": [{"pod": POD, "node": NODE}],
                                           "notes": [FALCO]})
    manifest = render_module._manifest_html({"case": POD, "notebook": "n", "notebook_sha256": "x", "rendered_at": "t",
                                             "inputs": [{"path": "/x/" + POD}], "versions": {"v": H}})
    assert _raw_hidden(summary + manifest) == []


def test_report_reads_the_findings_as_exported_from_the_escaped_json():
    findings = {"incidents": [{"pod": POD, "node": NODE}]}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("")])
    nb.cells[0].metadata["tags"] = ["findings"]
    nb.cells[0].outputs = [nbformat.v4.new_output("display_data", data={
        "application/json": kn.shown(findings), "text/plain": json.dumps(findings)})]
    assert render_module._findings(nb) == findings


# -- end to end: the template on the hostile capture -----------------------------------------
RULE = "Drop and execute new binary in container" + H  # a Falco rule name is the export's text too


@pytest.mark.slow
@pytest.mark.parametrize("sources", [("tetragon", "hubble", "falco"), ("hubble", "falco")], ids=["all", "no-tetragon"])
def test_postmortem_of_a_hostile_capture_shows_attacker_text_and_the_case_keeps_it(tmp_path, sources):
    cap = write_capture(tmp_path / "capture", sources)
    executed = tmp_path / "executed.ipynb"
    res = render_module.render(tmp_path / "case.duckdb", "postmortem", tmp_path / "r.html", exports=cap,
                               keep_notebook=executed)
    assert res["errors"] == []
    f = res["findings"]
    # the planted strings reached the findings, as exported
    if "tetragon" in sources:
        i = f["incidents"][0]
        assert (i["pod"], i["node"]) == (POD, NODE)
        assert i["key_command"]["binary"] == PAYLOAD
    else:  # no process: no incident; the pod Falco names is a lead that quotes its alert
        assert f["incidents"] == []
        assert {(x["pod"], x["node"]) for x in f["leads"]} == {(POD, NODE)}
        assert any(FALCO in w for x in f["leads"] for w in x["why"])

    nb = nbformat.read(executed, as_version=4)
    seen = []
    for c in nb.cells:
        for o in c.get("outputs", []):
            texts = [o.get("text", ""), o.get("evalue", ""), *o.get("traceback", [])]
            for mime, v in o.get("data", {}).items():
                texts.append(v if isinstance(v, str) else "".join(v) if isinstance(v, list) else json.dumps(v, ensure_ascii=False))
                seen.append(mime)
            for text in texts:
                assert _raw_hidden(text) == [], (c.source[:200], o.get("output_type"), text[:500])
    assert {"text/plain", "text/html", "application/json", "image/svg+xml"} <= set(seen)
    plain = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    for planted in (POD, NODE, PAYLOAD) if "tetragon" in sources else (POD, NODE):  # shown, in the printed lines
        assert kn.shown(planted) in plain
    tables = "".join(o["data"].get("text/html", "") for c in nb.cells for o in c.get("outputs", []) if "data" in o)
    for planted in (POD, PAYLOAD, ARGS, PATH, NODE) if "tetragon" in sources else (POD, ARGS, NODE):  # and in the tables
        assert kn.shown(planted) in tables, planted

    # the detection's title (Falco's rule name) reached the findings as exported, and is shown
    def strings(x):
        if isinstance(x, str):
            yield x
        elif isinstance(x, dict | list):
            for v in x.values() if isinstance(x, dict) else x:
                yield from strings(v)

    assert any(RULE in s for s in strings(f))

    html_text = Path(res["html"]).read_text(encoding="utf-8")
    assert _raw_hidden(html_text) == []
    assert "&#x202e;" not in html_text.lower() and "&#8238;" not in html_text
    assert kn.shown(RULE) in html_text  # the detection's title, shown in the report
    for planted in (POD, NODE, PAYLOAD, PATH) if "tetragon" in sources else (POD, NODE, ARGS):
        assert kn.shown(planted) in html_text, planted

    # the case keeps the bytes
    with kn.open_case(tmp_path / "case.duckdb", read_only=True) as case:
        assert case.processes(pod=POD)["binary"].to_list().count(PAYLOAD) == ("tetragon" in sources)
        assert case.sql("SELECT count(*) AS n FROM flows WHERE http_path = ? AND src_pod = ?", [PATH, POD])["n"][0] == 1
        assert case.alerts()["output"].to_list() == [FALCO]
        assert case.sql("SELECT DISTINCT node FROM events")["node"].to_list() == [NODE]
