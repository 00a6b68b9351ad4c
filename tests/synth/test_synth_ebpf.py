"""Tracee and Inspektor Gadget output of the generator (``generate(..., extra=...)``): written only
when asked for, the other files unchanged, and every generated line loads with the values of the
Tetragon, Falco and Hubble events it was derived from."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

import kernelsec_nb as kn
from kernelsec_nb.synth import generate
from kernelsec_nb.synth.fmt import parse_proto_time
from tests.synth.synth_helpers import iter_events, read_lines

EXTRA = ("tracee", "inspektor_gadget")


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _new(rel: str) -> bool:
    return rel.endswith("/tracee.json") or "/gadget/" in rel


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    base = tmp_path_factory.mktemp("ebpf")
    generate(base / "plain", seed=5, hours=0.25)
    truth = generate(base / "extra", seed=5, hours=0.25, extra=EXTRA)
    return base / "plain", base / "extra", truth


@pytest.fixture(scope="module")
def loaded(pair):
    _, extra, _ = pair
    files = sorted(p for p in extra.rglob("*") if p.is_file() and _new(str(p.relative_to(extra))))
    case = kn.open_case()
    return case, files, case.load(files, progress=False)


def test_opt_in_and_the_other_files_unchanged(pair, capture):
    plain, extra, _ = pair
    a, b = _digests(plain), _digests(extra)
    assert not any(_new(k) for k in a)
    assert not any(_new(k) for k in _digests(capture[0]))  # the bundled capture's generation
    assert {k: v for k, v in b.items() if not _new(k)} == a
    assert {k.split("/", 1)[1] for k in b if _new(k)} >= {"tracee.json", "gadget/trace_exec.json",
                                                          "gadget/trace_tcp.json", "gadget/trace_dns.json"}
    with pytest.raises(ValueError, match="unknown extra source"):
        generate(plain.parent / "bad", seed=5, hours=0.01, extra=("nope",))


def test_every_generated_line_is_accounted_for(loaded):
    case, files, report = loaded
    assert len(report.files) == len(files)
    for f in report.files:
        want = ("tracee",) if f.path.endswith("tracee.json") else ("inspektor_gadget",)
        assert f.status == "loaded" and f.balanced and f.sources == want, f
        assert f.lines == f.loaded == len(read_lines(Path(f.path))), f
    assert case.sql("select count(*) n from quarantine")["n"][0] == 0


def _tetragon(root: Path, key: str) -> list[tuple[str, dict]]:
    return [(rel.split("/", 1)[0], ev[key]) for rel, ev in iter_events(root, "tetragon") if key in ev]


def test_execs_match_tetragons(pair, loaded):
    _, extra, _ = pair
    case, _, _ = loaded
    want = {(node, b["process"]["pid"], b["process"]["binary"], b["process"].get("arguments") or None,
             parse_proto_time(b["process"]["start_time"])) for node, b in _tetragon(extra, "process_exec")}
    assert want
    tracee = case.sql("select node, pid, binary, args, start_ns from process_events "
                      "where source = 'tracee' and kind = 'process_exec'")
    assert set(tracee.iter_rows()) == want
    ig = case.sql("select node, pid, binary, args from process_events "
                  "where source = 'inspektor_gadget' and kind = 'process_exec'")
    assert set(ig.iter_rows()) == {w[:4] for w in want}
    pods = case.sql("select node, pid, pod from process_events where source = 'tracee' and kind = 'process_exec'")
    byp = {(n, b["process"]["pid"]): (b["process"].get("pod") or {}).get("name") for n, b in
           _tetragon(extra, "process_exec")}
    assert {(n, pid): pod for n, pid, pod in pods.iter_rows()} == byp


def _same_but_truncated(got: list, want: list, truth: dict) -> None:
    """``got`` is ``want`` plus, at most, the event of the line the writer truncated in a rotated
    Tetragon file (the sensors saw it; the export lost it)."""
    assert not Counter(want) - Counter(got)
    assert len(got) - len(want) <= (1 if truth["truncated_line"]["file"] else 0)


def test_connects_match_tetragons(pair, loaded):
    _, extra, truth = pair
    case, _, _ = loaded
    socks = [(node, b["process"]["pid"], b["args"][0]["sock_arg"]) for node, b in _tetragon(extra, "process_kprobe")
             if b["function_name"] == "tcp_connect"]
    assert socks
    tracee = case.sql("select node, pid, daddr, dport from kprobes where source = 'tracee' "
                      "and function_name = 'security_socket_connect'")
    _same_but_truncated(tracee.rows(), [(n, p, s["daddr"], s["dport"]) for n, p, s in socks], truth)
    ig = case.sql("select node, pid, saddr, sport, daddr, dport from kprobes where source = 'inspektor_gadget' "
                  "and function_name = 'connect'")
    _same_but_truncated(ig.rows(), [(n, p, s["saddr"], s["sport"], s["daddr"], s["dport"])
                                     for n, p, s in socks], truth)


def test_alerts_and_opens_match_falcos(pair, loaded):
    _, extra, _ = pair
    case, _, _ = loaded
    alerts = [ev for _, ev in iter_events(extra, "falco")]
    got = case.sql("select rule, tags, time_ns from alerts where source = 'tracee' order by time_ns")
    assert got["rule"].to_list() == [a["rule"] for a in sorted(alerts, key=lambda a: a["output_fields"]["evt.time"])]
    for (_, tags, _), a in zip(got.iter_rows(), sorted(alerts, key=lambda a: a["output_fields"]["evt.time"]),
                               strict=True):
        technique = [t for t in a["tags"] if t[0] == "T" and t[1:2].isdigit()][:1]
        tactic = [t for t in a["tags"] if t.startswith("mitre_")][:1]
        assert tags == technique + tactic
    files = {a["output_fields"]["fd.name"] for a in alerts if a["output_fields"].get("fd.name", "").startswith("/")}
    opened = case.sql("select distinct file_path from kprobes where source = 'inspektor_gadget' "
                      "and function_name = 'open'")
    assert set(opened["file_path"]) == files


def test_dns_questions_and_times(pair, loaded):
    _, extra, _ = pair
    case, files, _ = loaded
    dns = case.sql("select dns_query from other_events where source = 'inspektor_gadget' and kind = 'dns'")
    queries = {ev["flow"]["l7"]["dns"]["query"].rstrip(".") for _, ev in iter_events(extra, "hubble")
               if "dns" in (ev["flow"].get("l7") or {})}
    assert dns.height and set(dns["dns_query"]) <= queries
    for path in files:
        if "/gadget/" not in str(path):
            continue
        raws = [json.loads(x)["timestamp_raw"] for x in read_lines(path)]
        got = case.con.execute("select time_ns from events where file = ? order by line", [str(path)]).fetchall()
        assert [t for t, in got] == raws
