"""case.hunt / case.detect over the bundled incident, rule inputs, SigmaHQ's rules, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest
from sigma.collection import SigmaCollection

import kernelsec_nb as kn
from kernelsec_nb.hunt import HIT_SCHEMA, HuntWarning, bundled_rules, compile_rules
from tests.conftest import REPO
from tests.hunt.conftest import SIGMAHQ

TRUTH = json.loads((REPO / "data" / "deathstar" / "TRUTH.json").read_text())
RULE = """
title: {title}
logsource: {{category: process_creation, product: linux}}
tags: [attack.execution, attack.t1059.004]
detection:
  sel: {{Image|endswith: '/sh'}}
  condition: sel
"""


def test_bundled_pack_finds_the_attackers_shell_and_shadow_read(deathstar) -> None:
    hits = deathstar.hunt()
    assert dict(hits.schema) == HIT_SCHEMA
    entry = TRUTH["entry"]["exec_id"]
    shell = hits.filter(hits["exec_id"] == entry)
    assert shell.height >= 1 and shell["entity"][0] == "process"
    assert "T1609" in shell["techniques"][0] and "execution" in shell["tactics"][0]
    assert shell["pod"][0] == TRUTH["attacker"]["pod"] and shell["node"][0] == TRUTH["attacker"]["node"]
    assert deathstar.raw(shell["event_id"][0])  # the hit leads back to its export line
    shadow = hits.filter((hits["entity"] == "file") & hits["detail"].str.contains("/etc/shadow"))
    assert shadow.height == 1 and shadow["pod"][0] == TRUTH["attacker"]["pod"]
    assert shadow["techniques"][0].to_list() == ["T1003.008"]
    assert shadow["binary"][0] == "/bin/cat"


def test_detect_adds_falco_alerts_with_their_techniques(deathstar) -> None:
    hits = deathstar.detect()
    assert set(hits["source"]) == {"sigma", "falco"}
    falco = hits.filter(hits["source"] == "falco")
    assert falco.height == deathstar.sql("select count(*) n from alerts")["n"][0]
    assert all(t for t in falco["techniques"].to_list())
    assert hits.height == deathstar.hunt().height + falco.height


def test_rule_inputs(tmp_path, deathstar) -> None:
    one = tmp_path / "a.yml"
    one.write_text(RULE.format(title="shells"))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yaml").write_text(RULE.format(title="again"))
    as_text = deathstar.hunt(RULE.format(title="text"))
    assert as_text.height > 0 and set(as_text["title"]) == {"text"}
    assert set(deathstar.hunt(tmp_path)["title"]) == {"shells", "again"}
    assert set(deathstar.hunt([one, RULE.format(title="t2")])["title"]) == {"shells", "t2"}
    assert deathstar.hunt(SigmaCollection.from_yaml(RULE.format(title="c"))).height == as_text.height
    with pytest.raises(FileNotFoundError, match="nope"):
        deathstar.hunt(tmp_path / "nope.yml")


def test_hostile_rule_text_is_a_value(deathstar) -> None:
    rule = RULE.format(title="\"x'; DROP TABLE processes; --\"").replace(
        "Image|endswith: '/sh'", "Image|endswith: \"/sh'; DROP TABLE processes; --\"")
    assert deathstar.hunt(rule).height == 0
    assert deathstar.sql("select count(*) n from processes")["n"][0] > 0


def test_unsupported_rules_warn_with_the_reason(deathstar) -> None:
    bad = RULE.format(title="bad").replace("Image|endswith", "Hashes|contains")
    with pytest.warns(HuntWarning, match="Hashes"):
        assert deathstar.hunt([bad, RULE.format(title="ok")]).height > 0
    with pytest.raises(ValueError, match="Hashes"):
        deathstar.hunt(bad, strict=True)
    broken = "title: x\ndetection: [\n"
    ruleset = compile_rules(broken)
    assert not ruleset.rules and "cannot read" in ruleset.unsupported[0].reason


def test_regex_re2_refuses_is_reported_not_raised(deathstar) -> None:
    lookahead = RULE.format(title="la").replace("Image|endswith: '/sh'", "CommandLine|re: '(?=sh)'")
    ruleset = compile_rules([lookahead, RULE.format(title="ok")])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HuntWarning)
        hits = deathstar.hunt(ruleset)
    assert set(hits["title"]) == {"ok"}
    assert len(ruleset.unsupported) == 1 and "(?=" in ruleset.unsupported[0].reason
    assert ruleset.unsupported[0].title == "la"


def test_a_rule_duckdb_refuses_is_reported_and_the_others_run(deathstar, monkeypatch) -> None:
    from kernelsec_nb.hunt import _runner

    ruleset = compile_rules([RULE.format(title="boom"), RULE.format(title="ok")])
    boom = ruleset.rules[0]
    ruleset.rules[0] = _runner.CompiledRule(**{**boom.__dict__, "sql": "error('no') IS NULL"})
    hits = _runner.run_rules(deathstar, ruleset)
    assert set(hits["title"]) == {"ok"}
    assert [u.title for u in ruleset.unsupported] == ["boom"]
    assert ruleset.unsupported[0].reason.startswith("fails in DuckDB")


def test_sigmahq_rules_each_run_or_are_reported(deathstar) -> None:
    files = sorted(SIGMAHQ.glob("*.yml"))
    assert len(files) >= 40
    ruleset = compile_rules(SIGMAHQ)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HuntWarning)
        hits = deathstar.hunt(ruleset)
    assert len(ruleset.rules) + len(ruleset.unsupported) == len(files)
    assert len(ruleset.rules) >= 40
    assert all(u.reason for u in ruleset.unsupported)
    assert {u.reason for u in ruleset.unsupported} == {
        "log source service 'auditd' (e.g. auditd, syslog) is not in a case"}
    assert hits["rule_id"].n_unique() >= 1


def test_bundled_rules_all_compile_with_attack_tags() -> None:
    ruleset = compile_rules(bundled_rules())
    assert not ruleset.unsupported and len(ruleset.rules) >= 10
    assert all(r.techniques and r.tactics for r in ruleset.rules)


def test_cli_hunt_json(tmp_path) -> None:
    path = str(tmp_path / "ds.duckdb")  # its own case: the session's is locked by this process
    subprocess.run([sys.executable, "-m", "kernelsec_nb", "load", path, str(REPO / "data" / "deathstar"),
                    "--no-progress"], capture_output=True, timeout=300, cwd=REPO, check=True)
    out = subprocess.run([sys.executable, "-m", "kernelsec_nb", "hunt", path, "--alerts", "--json"],
                         capture_output=True, text=True, timeout=300, cwd=REPO)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["rules"] >= 10 and not data["unsupported"]
    assert {h["source"] for h in data["hits"]} == {"sigma", "falco"}
    missing = subprocess.run([sys.executable, "-m", "kernelsec_nb", "hunt", str(tmp_path / "x.duckdb")],
                             capture_output=True, text=True, timeout=300, cwd=REPO)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def test_empty_case() -> None:
    assert kn.open_case().detect().height == 0


def test_public_samples(public_case_load) -> None:
    case = kn.open_case(str(public_case_load[0]), read_only=True)  # public_dir, loaded once per session
    ruleset = compile_rules([SIGMAHQ, bundled_rules()])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HuntWarning)
        hits = case.hunt(ruleset, include_alerts=True)
    assert len(ruleset.unsupported) == 3  # the auditd rules
    escape = hits.filter(hits["title"] == "Container escape tool")
    assert escape.height == 1 and escape["binary"][0].endswith("/nsenter")
    assert "T1611" in escape["techniques"][0]
    # the shell nsenter started on the host is not a service's shell
    assert hits.filter((hits["title"] == "Shell started by a service process")
                       & (hits["pod"] == escape["pod"][0])).height == 0
    assert {"sigma", "falco"} <= set(hits["source"])
    case.close()


def test_batched_run_equals_each_rule_alone_over_the_whole_view(deathstar) -> None:
    """The runner's one-query-per-source (distinct combinations, joined back) finds exactly the
    rows a plain ``SELECT … FROM view WHERE rule`` finds, rule by rule."""
    from kernelsec_nb.hunt._runner import run_rules

    extra = RULE.format(title="nulls").replace("Image|endswith: '/sh'", "ContainerId: null")
    # a column only one part of a view has (the connect hooks have no hostname: their rows are
    # one combination), a column of the hook's process row (a join), the parent's (a join)
    net = (RULE.format(title="no hostname").replace("process_creation", "network_connection")
           .replace("Image|endswith: '/sh'", "DestinationHostname: null"))
    cwd = (RULE.format(title="cwd").replace("process_creation", "network_connection")
           .replace("Image|endswith: '/sh'", "CurrentDirectory|startswith: '/'"))
    parent = RULE.format(title="parent").replace("Image|endswith: '/sh'", "ParentImage|contains: '/'")
    ruleset = compile_rules([bundled_rules(), SIGMAHQ, extra, net, cwd, parent])
    hits = run_rules(deathstar, ruleset)
    got = {(r, e or x) for r, e, x in hits.select("rule_id", "event_id", "exec_id").iter_rows()}
    want = set()
    for rule in ruleset.rules:
        rows = deathstar.con.execute(
            f"SELECT coalesce(_event_id, _exec_id) FROM ({rule.source.sql()}) WHERE {rule.sql}",  # noqa: S608
            rule.params).fetchall()
        for (key,) in rows:
            want.add((rule.rule_id, key))
    # process hits carry their exec event's id: compare processes by exec_id
    got = {(r, k) for r, k in got} | {(r, x) for r, x in hits.select("rule_id", "exec_id").iter_rows() if x}
    assert want <= got
    assert len(hits) == len(want)
    for title in ("nulls", "no hostname", "cwd", "parent"):
        assert hits.filter(hits["title"] == title).height > 0, title


def test_cli_shows_hostile_titles_and_fields_inert(tmp_path) -> None:
    from tests.store import lines

    capture = tmp_path / "capture.json"
    capture.write_text(lines.tetragon_exec(args="-c \x1b[2J<script>alert(1)</script>") + "\n")
    path = str(tmp_path / "h.duckdb")
    case = kn.open_case(path)
    case.load(capture, progress=False)
    case.close()
    rule = tmp_path / "r.yml"
    rule.write_text(RULE.format(title="\"evil \\x1b[31m title\"").replace(
        "Image|endswith: '/sh'", "CommandLine|contains: '<script>'"))
    out = subprocess.run([sys.executable, "-m", "kernelsec_nb", "hunt", path, str(rule)],
                         capture_output=True, text=True, timeout=300, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert "1 hit(s)" in out.stdout
    assert "\x1b" not in out.stdout and "␛[31m" in out.stdout and "␛[2J" in out.stdout


def test_cli_a_regex_re2_refuses_is_one_line_without_native_noise(tmp_path) -> None:
    """pySigma checks ``|re`` with google-re2, whose C++ logger printed two lines of its own, and
    the reason showed a Python bytes repr (``b'invalid perl operator…'``)."""
    path = str(tmp_path / "c.duckdb")
    subprocess.run([sys.executable, "-m", "kernelsec_nb", "load", path,
                    str(REPO / "data" / "deathstar" / "kind-worker" / "falco.json"), "--no-progress"],
                   capture_output=True, check=True)
    rule = tmp_path / "bad.yml"
    rule.write_text('title: lookahead\nlogsource: {category: process_creation, product: linux}\n'
                    'detection:\n  sel: {Image|re: "kill(?=$)"}\n  condition: sel\n')
    out = subprocess.run([sys.executable, "-m", "kernelsec_nb", "hunt", path, str(rule)],
                         capture_output=True, text=True)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "lookahead" in lines[0] and "invalid perl operator" in lines[0] and "b'" not in lines[0]
