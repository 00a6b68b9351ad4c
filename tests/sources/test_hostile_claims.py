"""A line is its own tool's whatever keys its values hold: claims and rewrites read top-level keys.

Every source's real lines are loaded as written, then again with another tool's whole event
nested in them (a value an attacker controls: pod labels, a request body, an argument, Falco's
``output_fields``), for every ordered pair of sources: each such line must load into the same
table, with the same values, as the line without it.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

import kernelsec_nb as kn
from kernelsec_nb import sources
from kernelsec_nb.sources._keys import top_keys_sql

#: Real lines of each source (under ../shared/data): files read whole, one JSON document after another.
_FILES = {
    "tetragon": ["public/tetragon/events.json"],
    "hubble": ["public/hubble/basic-sample-10-flows.json", "public/hubble/basic-sample-5-dns-flows.json",
               "public/hubble/basic-sample-5-http-flows.json"],
    "falco": ["public/falco/test-falco.log"],
    "tracee": ["public-new-sources/tracee/v0.20.0_net_packet_dns.ndjson",
               "public-new-sources/tracee/output-options_exec-hash_sched_process_exec.ndjson",
               "public-new-sources/tracee/vagrant_TRC-102_anti-debugging_finding.ndjson",
               "public-new-sources/tracee/output-formats_openat.ndjson"],
    "inspektor_gadget": ["public-new-sources/inspektor-gadget/run_trace_tcp.ig.ndjson",
                         "public-new-sources/inspektor-gadget/ig_run_trace_open.jsonpretty.json"],
    "k8s_audit": ["public-new-sources/k8s-audit/audit2rbac-demo.log"],
    "istio": ["public-new-sources/istio/test-access-json-logs.log"],
}
#: Columns that name the line itself (its bytes, where it is), not what it says.
_PLACE = {"event_id", "file", "line", "byte_offset"}
_TABLES = ("events", "process_events", "kprobes", "alerts", "flows", "other_events", "audit_events",
           "http_requests")


def _docs(path: Path) -> list[dict]:
    text, dec, out, i = path.read_text(), json.JSONDecoder(), [], 0
    while True:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        if i >= len(text):
            return out
        doc, i = dec.raw_decode(text, i)
        if isinstance(doc, dict):
            out.append(doc)


def _line(doc: dict) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def _rows(case, line_of: dict[int, int] | None = None) -> dict[int, list]:
    """Per line: the rows it made, every table's, without the columns that place the line."""
    out: dict[int, list] = {}
    for table in _TABLES:
        cols = [c for (c,) in case.con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
            [table]).fetchall() if c not in _PLACE]
        select = ", ".join(f'"{c}"' for c in cols)
        for line, *row in case.con.execute(f'SELECT line, {select} FROM "{table}"').fetchall():  # noqa: S608
            out.setdefault(line, []).append((table, repr(row)))
    return {k: sorted(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def originals(public_dir, tmp_path_factory):
    """Up to four lines per source, one per kind and first key, that load as that source's."""
    data = public_dir.parent
    if not (data / "public-new-sources").is_dir():
        pytest.skip("the new sources' samples are not here")
    candidates = []
    for name, files in _FILES.items():
        docs = [d for f in files for d in _docs(data / f)[:12]]
        if name == "hubble":  # the bare flows of `hubble observe -o json`, too
            docs += [d["flow"] for d in docs[:3]]
        candidates += [(name, _line(d)) for d in docs]
    folder = tmp_path_factory.mktemp("claims")
    (folder / "candidates.ndjson").write_text("".join(line + "\n" for _, line in candidates))
    case = kn.open_case()
    case.load(folder / "candidates.ndjson", progress=False)
    got = dict(((line, (s, k)) for line, s, k in case.con.execute("SELECT line, source, kind FROM events").fetchall()))
    picked: dict[str, list[str]] = {}
    seen = set()
    for n, (name, line) in enumerate(candidates, start=1):
        shape = (*got.get(n, (None, None)), next(iter(json.loads(line))))  # bare flows apart
        if shape[0] == name and shape not in seen and len(picked.get(name, [])) < 4:
            seen.add(shape)
            picked.setdefault(name, []).append(line)
    assert set(picked) == {s.name for s in sources.registry()}, picked.keys()
    return picked


def _variants(line: str, nested: str) -> list[str]:
    """``line`` with the object ``nested`` as a value: last, first, and inside each object value."""
    doc = json.loads(line)
    out = [line[:-1] + ',"x_nested":' + nested + "}", '{"x_nested":' + nested + "," + line[1:]]
    for key, value in doc.items():
        if isinstance(value, dict):
            out.append(_line({**doc, key: {**value, "x_nested": json.loads(nested)}}))
    return out


def test_a_nested_event_of_another_tool_changes_nothing(originals, tmp_path):
    plain, hostile, of = [], [], []
    for a, lines in originals.items():
        for line in lines:
            plain.append(line)
            for b, others in originals.items():
                if b == a:
                    continue
                for v, text in enumerate(_variants(line, others[0])):
                    hostile.append(text)
                    of.append((len(plain), v < 2, a, b))
    (tmp_path / "plain.ndjson").write_text("".join(x + "\n" for x in plain))
    (tmp_path / "hostile.ndjson").write_text("".join(x + "\n" for x in hostile))
    case_p, case_h = kn.open_case(), kn.open_case()
    rp = case_p.load(tmp_path / "plain.ndjson", progress=False).files[0]
    rh = case_h.load(tmp_path / "hostile.ndjson", progress=False).files[0]
    assert (rp.loaded, rp.quarantined) == (len(plain), 0)
    assert (rh.loaded, rh.quarantined, rh.duplicates) == (len(hostile), 0, 0), \
        case_h.con.execute("SELECT line, reason FROM quarantine LIMIT 5").fetchall()
    want, got = _rows(case_p), _rows(case_h)
    src_p = dict(case_p.con.execute("SELECT line, source || ' ' || kind FROM events").fetchall())
    src_h = dict(case_h.con.execute("SELECT line, source || ' ' || kind FROM events").fetchall())
    pairs = set()
    for n, (orig, top, a, b) in enumerate(of, start=1):
        assert src_h[n] == src_p[orig], (a, b, hostile[n - 1][:300])
        if top:  # the nested event is a new top-level key: every value is the plain line's
            assert got[n] == want[orig], (a, b)
        else:  # inside an object (a map of labels, a Falco output_fields): the same tables
            assert [t for t, _ in got[n]] == [t for t, _ in want[orig]], (a, b)
        pairs.add((a, b))
    assert len(pairs) == len(originals) * (len(originals) - 1)


@pytest.mark.parametrize(("text", "expected"), [
    ('{"eventName":"x","hostProcessId":1}', True),
    ('{"a":{"eventName":"x","hostProcessId":1}}', False),
    ('{"eventName":"x","a":{"hostProcessId":1}}', False),
    ('{"a":[{"eventName":"x"}],"hostProcessId":1}', False),
    ('{"a":"\\"eventName\\":","hostProcessId":1}', False),
    ('{"eventName":"x","hostProcessId":1', False),  # cut short: not JSON
    ('[{"eventName":"x","hostProcessId":1}]', False),
])
def test_top_keys_reads_the_object_s_own_keys(text, expected):
    sql = top_keys_sql((("eventName", "hostProcessId"),))
    q = f"SELECT {sql} FROM (SELECT ? AS raw)"  # noqa: S608 - our own SQL; the line is a parameter
    assert duckdb.connect().execute(q, [text]).fetchone()[0] is expected


def test_top_keys_alternatives_and_exclusions():
    sql = top_keys_sql((("a",), ("b", "c")), without=("flow",))
    q = f"SELECT {sql} FROM (SELECT ? AS raw)"  # noqa: S608 - our own SQL; the line is a parameter
    for text, expected in [('{"a":1}', True), ('{"b":1,"c":2}', True), ('{"b":1,"x":{"c":2}}', False),
                           ('{"a":1,"flow":{}}', False), ('{"a":1,"x":{"flow":{}}}', True)]:
        assert duckdb.connect().execute(q, [text]).fetchone()[0] is expected, text


def test_a_claim_is_top_level_keys():
    with pytest.raises(ValueError, match="tuple"):
        sources.Source(name="x", title="X", detect="true", kind="'x'", structure={}, event={}, maps=(),
                       capabilities=frozenset(), claim=("auditID", "verb"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="plain name"):
        sources.Source(name="x", title="X", detect="true", kind="'x'", structure={}, event={}, maps=(),
                       capabilities=frozenset(), claim=(("a'b",),))
