"""A key written twice in one object the loader reads: DuckDB would keep the first value, jq,
Python and Go the last, so the line is quarantined ('duplicate key "pid" in $.process_exec.process')
instead of loaded with a value other tools do not show.  Both ways in (fast routes and the general
path) agree, the line's accounting adds up, and a property test checks the routes' test against
random lines of each route's shape (issue 19, item 8)."""

from __future__ import annotations

import json

import pytest

from tests.store.lines import falco_alert, hubble_flow, tetragon_exec


def _with(line: str, old: str, new: str) -> str:
    assert old in line
    return line.replace(old, new, 1)


def kprobe() -> str:
    return ('{"process_kprobe":{"process":{"exec_id":"ZTE=","pid":100,"uid":0,"binary":"/usr/bin/curl",'
            '"start_time":"2026-11-20T10:00:00Z","pod":{"namespace":"default","name":"web-1"}},'
            '"parent":{"exec_id":"cDE="},"function_name":"tcp_connect","args":[]},'
            '"node_name":"n1","time":"2026-11-20T10:00:00Z"}')


HOSTILE = {
    # top level: a shipper's second "time" (jq would read 10:00:09, DuckDB 10:00:00)
    "top-time": (tetragon_exec(pid=101)[:-1] + ', "time": "2026-11-20T10:00:09Z"}', '"time" in $'),
    "process-pid": (_with(tetragon_exec(pid=102), '"pid": 102,', '"pid": 102, "pid": 666,'),
                    '"pid" in $.process_exec.process'),
    # two "pod" objects: the analyst's jq shows the second pod, the case would show the first
    "two-pods": (_with(tetragon_exec(pid=103), '"docker":', '"pod": {"namespace": "kube-system", "name": "x"}, "docker":'),
                 '"pod" in $.process_exec.process'),
    "pod-name": (_with(kprobe(), '"name":"web-1"', '"name":"web-1","name":"db-0"'),
                 '"name" in $.process_kprobe.process.pod'),
    "kprobe-body": (_with(kprobe(), '"function_name":"tcp_connect"', '"function_name":"tcp_connect","function_name":"x"'),
                    '"function_name" in $.process_kprobe'),
    "flow": (_with(hubble_flow(), '"verdict": "FORWARDED"', '"verdict": "FORWARDED", "verdict": "DROPPED"'),
             '"verdict" in $.flow'),
    "flow-time": (_with(hubble_flow(), '"flow": {"time": "', '"flow": {"time": "2026-11-20T11:00:00Z", "time": "'),
                  '"time" in $.flow'),
    "flow-endpoint": (_with(hubble_flow(), '"pod_name": "api-0"', '"pod_name": "api-0", "pod_name": "db-0"'),
                      '"pod_name" in $.flow.destination'),
    "bare-flow": (json.dumps(json.loads(hubble_flow())["flow"])[:-1] + ', "verdict": "DROPPED"}', '"verdict" in $'),
    "falco": (_with(falco_alert(), '"proc.cmdline": "sh"', '"proc.cmdline": "sh", "proc.cmdline": "bash"'),
              '"proc.cmdline" in $.output_fields'),
    # the event key not first: the general path's shape
    "other-order": ('{"cluster_name": "c1", ' + _with(tetragon_exec(pid=104), '"uid": 0,', '"uid": 0, "uid": 5,')[1:],
                    '"uid" in $.process_exec.process'),
    # the same key written another way: escaped, or with a blank before the colon
    "escaped": (_with(tetragon_exec(pid=105), '"pid": 105,', '"pid": 105, "p\\u0069d": 666,'),
                '"pid" in $.process_exec.process'),
    "blank-colon": (_with(tetragon_exec(pid=106), '"pid": 106,', '"pid": 106, "pid" : 666,'),
                    '"pid" in $.process_exec.process'),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_duplicate_key_is_quarantined(case, tmp_path, name):
    line, where = HOSTILE[name]
    path = tmp_path / "x.json"
    path.write_text("\n".join([tetragon_exec(pid=200), line]) + "\n")
    report = case.load(path, progress=False)
    assert report.files[0].balanced and report.total("loaded") == 1 and report.total("quarantined") == 1
    q = case.quarantine().row(0, named=True)
    assert q["line"] == 2 and q["reason"] == f"duplicate key {where}" and q["raw"] == line


def test_same_key_in_different_objects_or_unread_objects_loads(case, tmp_path):
    # "pid" in the process, its container and its parent; "namespace" in both endpoints of a flow;
    # a key twice in an object the loader does not read (the process's namespaces) changes nothing
    unread = _with(tetragon_exec(pid=300), '"tid": 300,', '"ns": {"pid": {"inum": 1}, "pid": {"inum": 2}}, "tid": 300,')
    path = tmp_path / "x.json"
    path.write_text("\n".join([tetragon_exec(pid=301), hubble_flow(), kprobe(), unread]) + "\n")
    report = case.load(path, progress=False)
    assert report.total("loaded") == 4 and report.total("quarantined") == 0, report


# -- property test: random lines of a route's shape, with and without an injected duplicate -----

def _dump(value: object) -> str:
    """JSON text of ``value``, where an object is a list of (key text as written, value) pairs."""
    if isinstance(value, list) and value and isinstance(value[0], tuple):
        return "{" + ",".join(f"{k}:{_dump(v)}" for k, v in value) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_dump(v) for v in value) + "]"
    if value == {}:
        return "{}"
    return json.dumps(value)


_TRICKY = ['a":b', 'x\\"pid\\"', "{", "}", "pid", "é", "a\\u0069", '"pid":1']


def _random_object(rng, structure: object, read: bool, objects: list) -> list:
    """Pairs for an object of ``structure`` (a dict: its keys, some left out, plus unread keys,
    some of them holding an unread object with the same key names); ``objects`` collects
    (pairs, read) for every object made."""
    pairs: list = []
    names = list(structure) if isinstance(structure, dict) else ["app", "k8s:io.kubernetes.pod.namespace"]
    for name in names:
        if rng.random() < 0.3:
            continue
        sub = structure[name] if isinstance(structure, dict) else "VARCHAR"
        if isinstance(sub, dict):
            pairs.append((json.dumps(name), _random_object(rng, sub, read, objects)))
        elif isinstance(sub, str) and sub.startswith("MAP("):
            pairs.append((json.dumps(name), _random_object(rng, sub, read, objects)))
        else:
            pairs.append((json.dumps(name), rng.choice([rng.randint(0, 9), rng.choice(_TRICKY), [rng.choice(_TRICKY)], None, True])))
    unread = [n for n in ("ns", "refcnt", "extra") if n not in names]
    for extra in rng.sample(unread, rng.randint(0, 2)):  # keys the loader does not read, perhaps an object of read key names
        inner = [(json.dumps(n), 1) for n in rng.sample(names, min(2, len(names)))] or 1
        pairs.append((json.dumps(extra), inner))
        if isinstance(inner, list):
            objects.append((inner, False))
    objects.append((pairs, read))
    return pairs


def _spelled(rng, key: str) -> str:
    """The key as a line may write it: as is, one letter escaped (``"p\\u0069d"``), or a blank
    before the colon."""
    how = rng.choice(["plain", "escaped", "blank"])
    if how == "escaped" and key.isascii() and key:
        i = rng.randrange(len(key))
        return json.dumps(key[:i]) [:-1] + f"\\u{ord(key[i]):04x}" + json.dumps(key[i + 1:])[1:]
    return json.dumps(key) + (rng.choice([" ", "\t", "  "]) if how == "blank" else "")


@pytest.mark.parametrize("kind", ["flow", "process_exec", "process_kprobe"])
def test_route_check_sends_exactly_the_duplicates_of_read_objects_away(kind):
    import random

    import duckdb
    import numpy as np
    import pyarrow as pa

    from kernelsec_nb import sources
    from kernelsec_nb.store import _dupkeys

    spec = next(s for s in sources.routes() if s.kind == kind)
    structure = json.loads(spec.structure)
    rng = random.Random(kind)
    lines, expected = [], []
    for n in range(400):
        objects: list = []
        top = _random_object(rng, structure, True, objects)
        injected = False
        filled = [o for o in objects if o[0]]
        if n % 2 and filled:  # a key written again, with another value, in one object (read or not)
            pairs, read = rng.choice(filled)
            key = json.loads(rng.choice(pairs)[0])
            pairs.insert(rng.randrange(len(pairs) + 1), (_spelled(rng, key), "other"))
            injected = read
        line = _dump(top)
        assert json.loads(line) is not None  # valid JSON, whatever the spelling
        lines.append(line)
        expected.append(injected)
    number = next(i for i, s in enumerate(sources.routes(), start=1) if s.kind == kind)
    block = pa.table({"rec": np.arange(len(lines)), "raw": lines})
    route = _dupkeys.unroute(duckdb.connect(), block, np.full(len(lines), number))
    got = list(route == 0)
    assert sum(expected) > 50 and got == expected


def test_lines_of_one_layout_are_judged_together_yet_each_counted(case, tmp_path):
    # the test runs once per layout of key lists: two lines of the same duplicated layout are both
    # quarantined, lines of the clean layout beside them all load, and the accounting adds up
    dup = [_with(tetragon_exec(pid=p), f'"pid": {p},', f'"pid": {p}, "pid": 666,') for p in (400, 401)]
    clean = [tetragon_exec(pid=p) for p in (402, 403, 404)]
    path = tmp_path / "x.json"
    path.write_text("\n".join([clean[0], dup[0], clean[1], dup[1], clean[2], ""]) + "\n")
    report = case.load(path, progress=False)
    f = report.files[0]
    assert f.balanced and (f.loaded, f.quarantined, f.blank, f.lines) == (3, 2, 1, 6)
    q = case.quarantine()
    assert q["line"].to_list() == [2, 4]
    assert set(q["reason"]) == {'duplicate key "pid" in $.process_exec.process'}
