"""Falco alerts and Tetragon policy actions in the hits table; a hook rule of the bundled pack."""

from __future__ import annotations

import json
from pathlib import Path

import kernelsec_nb as kn
from kernelsec_nb.hunt import HIT_SCHEMA
from tests.store import lines

TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def _kprobe(exec_line: str, action: str, path: str) -> str:
    ev = json.loads(exec_line)["process_exec"]
    return json.dumps({"process_kprobe": {
        "process": ev["process"], "parent": ev["parent"], "function_name": "security_file_permission",
        "args": [{"file_arg": {"path": path}}, {"int_arg": 4}], "action": action,
        "policy_name": "token-guard"}, "node_name": "n1", "time": "2026-11-20T10:00:01Z"})


def _case(tmp_path: Path) -> kn.Case:
    main = lines.tetragon_exec(pid=50, parent_pid=1, binary="/app/server", args="--serve")
    child = lines.tetragon_exec(pid=100, parent_pid=50, binary="/bin/cat", args=TOKEN)
    capture = tmp_path / "c.json"
    capture.write_text("\n".join([main, child, _kprobe(child, "KPROBE_ACTION_SIGKILL", TOKEN),
                                  _kprobe(main, "KPROBE_ACTION_POST", TOKEN),
                                  lines.falco_alert(cmd="cat " + TOKEN)]) + "\n")
    case = kn.open_case()
    case.load(capture, progress=False)
    return case


def test_detect_joins_falco_tetragon_and_sigma(tmp_path: Path) -> None:
    hits = _case(tmp_path).detect()
    assert dict(hits.schema) == HIT_SCHEMA
    tetragon = hits.filter(hits["source"] == "tetragon")
    assert tetragon.height == 1  # the SIGKILL; the plain POST report is an event, not a detection
    assert tetragon["rule_id"][0] == "tetragon:token-guard" and tetragon["level"][0] == "high"
    assert tetragon["binary"][0] == "/bin/cat"
    falco = hits.filter(hits["source"] == "falco")
    assert falco.height == 1 and falco["entity"][0] == "alert"
    token = hits.filter(hits["title"].str.starts_with("Service-account token"))
    # the child read it (a hit), the container's main process read it too (not one)
    assert token["binary"].to_list() == ["/bin/cat"]
    assert token["techniques"][0].to_list() == ["T1528", "T1552.001"]
    assert token["entity"][0] == "file" and token["event_id"][0] is not None
