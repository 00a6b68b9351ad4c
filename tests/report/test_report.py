"""render(): one standalone, safe HTML report from the postmortem template, on any capture."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from kernelsec_nb import report
from tests.conftest import CASE_KINDS

REPO = Path(__file__).resolve().parents[2]
CAPTURE = REPO / "data" / "deathstar"

pytestmark = pytest.mark.slow


def _no_active_content(text: str) -> None:
    assert not re.search(r"<script", text, re.I), "the report must carry no script at all"
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I), "nothing loaded from the network"
    assert not re.search(r"<(iframe|object|embed)\b", text, re.I)
    assert not re.search(r"<[a-z][^>]*\son[a-z]+\s*=", text, re.I), "no event handler attributes"


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return report.main_job(out)


def test_bundled_report_is_standalone_with_findings_and_manifest(bundled):
    html = Path(bundled["html"]).read_text(encoding="utf-8")
    assert bundled["errors"] == []
    _no_active_content(html)
    truth = json.loads((CAPTURE / "TRUTH.json").read_text())
    assert len(bundled["findings"]["incidents"]) == 1
    f = bundled["findings"]["incidents"][0]
    assert (f["namespace"], f["pod"]) == (truth["attacker"]["namespace"], truth["attacker"]["pod"])
    assert f["node"] == truth["attacker"]["node"]
    assert f["chain"] == [c["exec_id"] for c in truth["chain"]]
    key = f["key_command"]
    assert (key["binary"], key["args"], key["exec_id"]) == (
        truth["flag"]["binary"], truth["flag"]["args"], truth["flag"]["exec_id"])
    assert [(r["node"], r["src_port"], r["verdict"]) for r in f["requests"] if r["verdict"] != "DROPPED"] == [
        (r["node"], r["src_port"], r["verdict"]) for r in truth["attack_flows"]]
    assert [(r["node"], r["src_port"], r["verdict"]) for r in f["requests"] if r["verdict"] == "DROPPED"] == [
        (r["node"], r["src_port"], r["verdict"]) for r in truth["dropped_flows"]]
    # findings and manifest are in the HTML: inputs with sha256 and lines, and versions
    assert truth["flag"]["exec_id"] in html and "Manifest" in html
    files = bundled["manifest"]["inputs"]
    # every file of the capture: the agents' (TRUTH.json lists them) and those written beside them
    on_disk = {str(p.relative_to(CAPTURE)) for p in CAPTURE.rglob("*") if p.is_file() and p.name != "TRUTH.json"}
    assert {str(Path(entry["path"]).relative_to(CAPTURE)) for entry in files} == on_disk
    assert set(truth["files"]) <= on_disk
    for entry in files:
        assert re.fullmatch(r"[0-9a-f]{64}", entry["sha256"]) and entry["sha256"] in html
        rel = str(Path(entry["path"]).relative_to(CAPTURE))
        assert entry["lines"] == (truth["files"][rel]["lines"] if rel in truth["files"]
                                  else (CAPTURE / rel).read_bytes().count(b"\n"))
        assert entry["lines"] == entry["loaded"] + entry["duplicates"] + entry["quarantined"] + entry["blank"]
    assert "<th>duplicates</th>" in html and "<th>blank</th>" in html
    for pkg in ("kernelsec_nb", "duckdb", "polars", "altair", "python"):
        assert pkg in bundled["manifest"]["versions"] and f"<td>{pkg}</td>" in html
    # charts are baked in as static SVG images
    assert html.count('src="data:image/svg+xml;base64,') >= 3


def test_demo_prints_three_line_answer(bundled, capsys, monkeypatch):
    monkeypatch.setattr(report.render_module, "main_job", lambda out: bundled)
    report.demo("ignored")
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("report: ") and out[0].endswith("postmortem.html")
    truth = json.loads((CAPTURE / "TRUTH.json").read_text())
    assert out[1] == f"pod: default/{truth['attacker']['pod']}" and out[2] == "node: kind-worker"
    assert out[3] == "key command: /bin/kill -9 2"
    assert not any("attacker" in line or "flag" in line for line in out)


def test_hubble_only_capture_still_renders(tmp_path):
    cap = tmp_path / "capture"
    for src in CAPTURE.glob("*/hubble-flows.json*"):
        dst = cap / src.parent.name / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)
    res = report.render(tmp_path / "case.duckdb", "postmortem", tmp_path / "r.html", exports=cap)
    html = Path(res["html"]).read_text(encoding="utf-8")
    assert res["errors"] == []
    _no_active_content(html)
    f = res["findings"]
    assert f["sources"] == ["hubble"]
    assert f["incidents"] == []  # no process: no key command, no incident
    assert "No incident" in html and "attacker pod" not in html.lower()
    truth = json.loads((CAPTURE / "TRUTH.json").read_text())
    # the dropped and unusual requests still point at the attacker's pod, as a lead
    assert (truth["attacker"]["namespace"], truth["attacker"]["pod"]) in {(x["namespace"], x["pod"]) for x in f["leads"]}


@pytest.mark.parametrize("kind", CASE_KINDS)
def test_a_report_runs_while_another_process_explores_the_case(bundled, tmp_path, kind, request):
    # the template loads nothing here, so it opens the case read-only, as the explorer has it
    import kernelsec_nb as kn

    case_file = tmp_path / "case.duckdb"
    if kind == "lake":  # the report of the capture's lake is the report of its case file
        case_file = request.getfixturevalue("bundled_lake")
    else:
        shutil.copy(Path(bundled["html"]).parent / "deathstar.duckdb", case_file)
    with kn.open_case(case_file, read_only=True):
        res = report.render(case_file, "postmortem", tmp_path / "r.html")
    assert res["errors"] == [] and res["findings"] == bundled["findings"]
    # the files the case was loaded from: every file of the capture but TRUTH.json
    assert len(res["manifest"]["inputs"]) == sum(1 for p in CAPTURE.rglob("*") if p.is_file()) - 1 == 22


PAYLOAD = "<script>alert(1)</script></script><img src=x onerror=alert(2)>"


def _exec(exec_id: str, parent: str, binary: str, args: str, t: str) -> dict:
    return {"process_exec": {"process": {
        "exec_id": exec_id, "pid": 4242, "uid": 0, "cwd": "/", "binary": binary, "arguments": args,
        "flags": "execve clone", "start_time": t, "parent_exec_id": parent, "in_init_tree": False,
        "pod": {"namespace": "default", "name": "evil-<script>alert(3)</script>",
                "container": {"id": "containerd://abc", "name": "c", "image": {"name": "img"}},
                "pod_labels": {"app": "<b>x</b>"}, "workload": "evil"},
        "docker": "abc"}, "parent": {"exec_id": parent, "binary": "/usr/bin/containerd-shim"}},
        "node_name": "node-<script>alert(4)</script>", "time": t}


def test_attacker_strings_are_escaped(tmp_path):
    cap = tmp_path / "capture"
    cap.mkdir()
    lines = [_exec("eHNzOjE6MQ==", "eHNzOjE6MA==", "/bin/sh", "", "2024-05-14T08:00:00.000000000Z"),
             # a payload run from /tmp: a detection, so the session is named (as a lead) with its strings
             _exec("eHNzOjE6Mg==", "eHNzOjE6MQ==", "/tmp/x", PAYLOAD, "2024-05-14T08:00:01.000000000Z")]
    (cap / "tetragon.log").write_text("".join(json.dumps(x) + "\n" for x in lines))
    res = report.render(tmp_path / "case.duckdb", "postmortem", tmp_path / "x.html", exports=cap)
    html = Path(res["html"]).read_text(encoding="utf-8")
    assert res["errors"] == []
    # an exec'd shell ran a payload from /tmp (a high rule) and did nothing with an effect: a lead,
    # whose planted pod and node names reached the findings as exported
    f = res["findings"]
    assert f["incidents"] == []
    assert [(x["pod"], x["node"]) for x in f["leads"]] == [("evil-<script>alert(3)</script>", "node-<script>alert(4)</script>")]
    assert "eHNzOjE6Mg==" in f["leads"][0]["exec_ids"]
    _no_active_content(html)
    assert "<script>alert(" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)" in html  # the payload is shown, as text


def test_find_notebook_and_bundled_capture():
    assert report.find_notebook("postmortem").name == "postmortem-template.ipynb"
    assert report.bundled_capture() == CAPTURE.resolve()
    with pytest.raises(FileNotFoundError, match="02-deathstar-postmortem"):  # the names it takes
        report.find_notebook("no-such-notebook")


def test_a_clone_relative_notebook_path_works_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert report.find_notebook("notebooks/postmortem-template.ipynb").name == "postmortem-template.ipynb"


def test_cli_demo_without_a_clone_is_a_one_line_error(monkeypatch, capsys):
    from kernelsec_nb import cli

    def missing(out):
        raise FileNotFoundError("data/deathstar not found (run from a checkout of kernelsec_nb)")

    monkeypatch.setattr(report, "main_job", missing)
    assert cli.main(["demo", "--out", "ignored"]) == 2
    assert capsys.readouterr().err.strip() == "kernelsec-nb: data/deathstar not found (run from a checkout of kernelsec_nb)"


def test_the_summary_shows_bidi_and_control_characters_instead_of_obeying_them():
    from kernelsec_nb.report.render import _summary_html

    html_text = _summary_html({"incidents": [{"key_command": {"binary": "cat", "args": "/etc/shadow \u202e\x1b[2J"},
                                              "entry": {"binary": "/bin/cat", "args": "\u202e"}}],
                               "notes": ["node kw\r\x1b]8;;x\x07"]})
    assert "\u202e" not in html_text and "\x1b" not in html_text and "\r" not in html_text
    assert "cat /etc/shadow �␛[2J" in html_text


def test_cli_demo_prints_pod_node_and_key_command_or_says_there_is_no_incident(monkeypatch, capsys):
    from kernelsec_nb import cli

    inc = {"incidents": [{"namespace": "default", "pod": "p\x1b[2J", "node": "n1",
                          "key_command": {"binary": "/bin/kill", "args": "-9 2"}}], "leads": []}
    monkeypatch.setattr(report, "main_job", lambda out: {"html": "/x/postmortem.html", "findings": inc})
    assert cli.main(["demo", "--out", "ignored"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1:4] == ["pod: default/p␛[2J", "node: n1", "key command: /bin/kill -9 2"]
    quiet = {"incidents": [], "leads": [{"namespace": "shop", "pod": "db-0", "node": "n2", "why_not": "w"}]}
    monkeypatch.setattr(report, "main_job", lambda out: {"html": "/x/postmortem.html", "findings": quiet})
    assert cli.main(["demo", "--out", "ignored"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1:3] == ["no incident; 1 lead(s)", "lead: shop/db-0 on n2: w"]
    assert not any("attacker" in line or "flag" in line for line in out)


def test_a_report_without_findings_says_why_not_that_there_are_none():
    """A notebook whose cell failed before the findings cell read "No findings were produced"."""
    from kernelsec_nb.report.render import _summary_html

    assert "a cell failed before it could" in _summary_html({}, failed=True)
    assert "no cell tagged" in _summary_html({}) and "No findings were produced" not in _summary_html({})


def test_the_summary_shows_the_exec_chain_as_binaries_not_ids():
    from kernelsec_nb.report.render import _summary_html

    inc = {"incidents": [{"rank": 1, "confidence": "high", "pod": "p", "namespace": "ns", "node": "n",
                          "chain": ["aWQx", "aWQy", "aWQz"]}], "leads": []}
    html = _summary_html(inc, names={"aWQx": "/usr/bin/kubectl", "aWQy": "/bin/bash"})
    assert "kubectl → bash → aWQz" in html  # an id with no process known stays an id
