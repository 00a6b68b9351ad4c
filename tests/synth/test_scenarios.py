"""The labelled corpus: each scenario builds deterministically, its truth points at what its
capture holds, and its files load with every line accounted for."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

import kernelsec_nb as kn
from kernelsec_nb.synth.scenarios import SCENARIOS, Truth, get
from tests.synth.synth_helpers import iter_events

NAMES = [s.name for s in SCENARIOS]


def digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Truth]]:
    out = {}
    for s in SCENARIOS:
        path = tmp_path_factory.mktemp(s.name)
        out[s.name] = (path, s.build(path))
    return out


def test_the_library_does_not_know_the_answers(corpus):
    """Only the generator may know a scenario's pods and endpoints: no other module of the
    package names them (the findings engine must find them, not look them up)."""
    answers = set()
    for _, t in corpus.values():
        answers |= {p.pod for p in [t.entry, *t.reached] if p}
        answers |= {e.ip for e in t.endpoints if e.ip} | {e.fqdn for e in t.endpoints if e.fqdn}  # a DNS tunnel has no address
    pkg = Path(kn.__file__).parent
    for py in pkg.rglob("*.py"):
        if "synth" in py.relative_to(pkg).parts:
            continue
        text = py.read_text()
        assert not [a for a in answers if a in text], py


def tetragon(root: Path) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    execs, kprobes = {}, []
    for _, ev in iter_events(root, "tetragon"):
        for kind in ("process_exec", "process_exit", "process_kprobe"):
            if kind in ev:
                proc = ev[kind]["process"]
                execs.setdefault(proc["exec_id"], {**proc, "node": ev["node_name"]})
                if kind == "process_kprobe":
                    kprobes.append(ev[kind])
    return execs, kprobes


def test_registry():
    assert len(NAMES) == len(set(NAMES)) >= 7
    kinds = {s.name: s.kind for s in SCENARIOS}
    assert sum(k == "attack" for k in kinds.values()) >= 5
    assert sum(k == "benign" for k in kinds.values()) >= 2
    for name in ("deathstar", "web-rce", "api-abuse", "lateral-service", "persistence",
                 "benign-busy", "benign-debug", "benign-oncall"):
        assert name in kinds
    with pytest.raises(KeyError, match="known"):
        get("no-such-scenario")


@pytest.mark.parametrize("name", NAMES)
def test_deterministic(name, corpus, tmp_path):
    path, truth = corpus[name]
    again = get(name).build(tmp_path / "again")
    assert again == truth
    assert digests(tmp_path / "again") == digests(path)
    assert Truth.read(path) == truth


def test_seed_matters(corpus, tmp_path):
    s = get("lateral-service")
    other = s.build(tmp_path, seed=s.seed + 1)
    assert other.key_command != corpus[s.name][1].key_command


@pytest.mark.parametrize("name", NAMES)
def test_truth_refers_to_the_capture(name, corpus):
    path, truth = corpus[name]
    assert truth.scenario == name and truth.kind == get(name).kind
    assert 1000 < truth.events < 20000, "a small capture"
    execs, kprobes = tetragon(path)
    pods = {(p["pod"]["namespace"], p["pod"]["name"]): p["node"] for p in execs.values()
            if "pod" in p}
    # pods seen only in flows: an endpoint with its local ID is on the observing node
    for _, ev in iter_events(path, "hubble"):
        f = ev["flow"]
        for ep in (f["source"], f["destination"]):
            if "ID" in ep and "pod_name" in ep:
                pods.setdefault((ep["namespace"], ep["pod_name"]), ev["node_name"].split("/")[-1])
    if truth.kind == "benign":
        assert truth.expected_incidents == 0 and truth.entry is None
        assert truth.key_command is None and not truth.reached and not truth.endpoints
        return
    assert truth.expected_incidents >= 1 and truth.techniques
    assert pods[(truth.entry.namespace, truth.entry.pod)] == truth.entry.node
    for r in truth.reached:
        assert pods[(r.namespace, r.pod)] == r.node
        assert r.pod != truth.entry.pod
    key = execs[truth.key_command.exec_id]
    assert key["binary"] == truth.key_command.binary
    assert key.get("arguments", "") == truth.key_command.args
    assert key["pod"]["name"] == truth.key_command.pod
    assert truth.key_command.exec_id in truth.attacker_exec_ids or name == "deathstar"
    for x in truth.attacker_exec_ids:
        assert x in execs
    attacker_pods = {execs[x]["pod"]["name"] for x in truth.attacker_exec_ids}
    assert attacker_pods <= {truth.entry.pod} | {r.pod for r in truth.reached}
    # every endpoint is connected to by one of the attacker's processes
    conns = {(a["sock_arg"]["daddr"], a["sock_arg"]["dport"], k["process"]["exec_id"])
             for k in kprobes if k["function_name"] == "tcp_connect" for a in k["args"]}
    # … or, for a DNS tunnel (no address of its own, port 53), sent lookups under its domain
    lookups = {(a["sock_arg"]["dport"], k["process"]["exec_id"])
               for k in kprobes if k["function_name"] == "udp_sendmsg" for a in k["args"]}
    names = {ev["flow"]["l7"]["dns"]["query"] for _, ev in iter_events(path, "hubble")
             if (ev["flow"].get("l7") or {}).get("dns")}
    for e in truth.endpoints:
        if e.ip == "" and e.port == 53:
            assert any(port == 53 and x in truth.attacker_exec_ids for port, x in lookups), e
            assert any(n.rstrip(".").endswith("." + e.fqdn) for n in names), e
            continue
        assert any(ip == e.ip and port == e.port and x in truth.attacker_exec_ids
                   for ip, port, x in conns), e


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_loads_with_every_line_accounted_for(name, corpus):
    path, truth = corpus[name]
    case = kn.open_case()
    rep = case.load(path, progress=False)
    d = rep.to_dict()
    assert d["errors"] == []
    for f in rep.files:
        assert f.lines == f.loaded + f.duplicates + f.quarantined + f.blank
    assert rep.total("loaded") == truth.events
    assert rep.total("quarantined") == 1  # the cut line of a rotated file, as in the bundled one
    assert rep.total("duplicates") == 3
    if truth.key_command:
        assert case.processes(exec_id=truth.key_command.exec_id).height == 1
    case.close()


def test_corpus_has_the_shapes_of_real_exports(corpus):
    """Every event of the corpus has key paths and types the public samples have (the same
    allow-lists as the bundled capture's check)."""
    from tests.synth.synth_helpers import public_data_dir
    from tests.synth.synth_schema import public_events, signature
    from tests.synth.test_synth_schema import GENERATED_ONLY, allowed

    public = public_data_dir()
    if not public.is_dir():
        pytest.skip(f"public samples not found at {public}")
    pub = signature(public_events(public))
    gen = signature(ev for path, _ in corpus.values() for src in ("tetragon", "hubble", "falco")
                    for _, ev in iter_events(path, src))
    for kind, g in gen.items():
        p = pub.get(kind, {})
        assert p, f"no public {kind} events"
        only_gen = sorted(k for k in set(g) - set(p) if not allowed(kind, k, GENERATED_ONLY))
        assert not only_gen, f"{kind}: generated-only paths: {only_gen}"
        bad = {k: (sorted(g[k]), sorted(p[k])) for k in set(g) & set(p)
               if (g[k] - {"null"}) and (p[k] - {"null"}) and (g[k] - {"null"}) != (p[k] - {"null"})}
        assert not bad, f"{kind}: type mismatches {bad}"
