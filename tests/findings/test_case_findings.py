"""``case.findings()`` and ``kernelsec-nb findings`` on the bundled incident, checked against TRUTH.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import kernelsec_nb as kn
from tests.conftest import CASE_KINDS

DATA = Path(__file__).resolve().parents[2] / "data" / "deathstar"
pytestmark = pytest.mark.skipif(not (DATA / "TRUTH.json").exists(), reason="no bundled incident")


@pytest.fixture(scope="module", params=CASE_KINDS)
def case_path(request, tmp_path_factory) -> Path:
    if request.param == "lake":  # the same findings from the lake of the capture
        return request.getfixturevalue("bundled_lake")
    return request.getfixturevalue("bundled_case_file")  # DATA loaded once per session


def test_findings_name_the_entry_and_the_key_command(case_path: Path) -> None:
    truth = json.loads((DATA / "TRUTH.json").read_text())
    with kn.open_case(str(case_path), read_only=True) as case:
        f = case.findings()
    assert isinstance(f, kn.Findings)
    assert len(f.incidents) == 1
    i = f.incidents[0]
    who = truth["attacker"]
    assert (i.pod, i.namespace, i.workload, i.node) == (who["pod"], who["namespace"], who["workload"], who["node"])
    assert i.entry is not None and i.entry.exec_id == truth["entry"]["exec_id"]
    assert i.key_command is not None and i.key_command.exec_id == truth["flag"]["exec_id"]
    assert i.chain == [c["exec_id"] for c in truth["chain"]]
    assert i.confidence == "high"
    assert {a["rule"] for a in truth["alerts"]} <= {r.split(":", 1)[1] for rs in i.techniques.values() for r in rs if r.startswith("falco:")}


def test_cli_findings_json(case_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "kernelsec_nb", "findings", str(case_path), "--json"],
                         capture_output=True, text=True, check=True)
    d = json.loads(out.stdout)
    assert d["incidents"][0]["key_command"]["binary"] == "/bin/kill"
    text = subprocess.run([sys.executable, "-m", "kernelsec_nb", "findings", str(case_path)],
                          capture_output=True, text=True, check=True).stdout
    assert text.splitlines()[0] == "1 incident(s); 0 lead(s)"
    bad = subprocess.run([sys.executable, "-m", "kernelsec_nb", "findings", str(case_path) + ".missing"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_findings_of_an_empty_case_say_nothing_was_loaded(tmp_path: Path) -> None:
    """A typo in a case path opens a new, empty case: its findings said only "no incident"."""
    import kernelsec_nb as kn

    with kn.open_case(tmp_path / "typo" / "x.duckdb") as case:
        found = case.findings()
    assert not found.incidents and found.notes[0].startswith(f"the case {tmp_path / 'typo' / 'x.duckdb'} holds no event")
