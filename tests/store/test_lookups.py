"""A route's columns computed once per distinct value of a part of the line (store/_lookups.py),
and the flows route's labels: the same rows as the general path, whatever the label lists hold."""

from __future__ import annotations

import json

import duckdb

import kernelsec_nb as kn
from kernelsec_nb.store import _ingest, _lookups

_ROWS = "SELECT * FROM (VALUES (1, ['a', 'b']), (2, ['a', 'b']), (3, NULL), (4, ['c', NULL]), (5, ['c', NULL]), (6, NULL))"


def _looked_up(texts: dict[str, str]) -> list[tuple]:
    lk = _lookups.plan(texts, ("x.p",))
    inner = ", ".join(["n"] + [f"{e} AS {c}" for c, e in texts.items() if c not in lk.columns]
                      + [f"{k} AS _k{i}" for i, k in enumerate(lk.keys)])
    rows = f"SELECT {inner} FROM (SELECT n, {{'p': p}} AS x FROM ({_ROWS}) t(n, p))"  # noqa: S608
    return duckdb.sql(f"SELECT * EXCLUDE (_k0) FROM ({lk.join(rows)}) ORDER BY n").fetchall()  # noqa: S608


def test_a_column_of_one_part_is_computed_once_per_distinct_value():
    # random() tells one computation from two: equal parts, equal values; a NULL part too
    rows = _looked_up({"c": "CAST(x.p AS VARCHAR) || random()", "d": "len(x.p)"})
    values = {n: (c, d) for n, c, d in rows}
    assert values[1] == values[2] and values[4] == values[5] and values[3] == values[6]
    assert values[1] != values[4]
    assert [v[1] for v in values.values()] == [2, 2, None, 2, 2, None]


def test_only_columns_that_read_the_part_alone_are_looked_up():
    lk = _lookups.plan({"a": "f(x.p)", "b": "g(x.p, x.q)", "c": "h(x.pq)", "d": "k(x.p.z)"}, ("x.p",))
    assert set(lk.columns) == {"a", "d"}  # x.pq is another field; x.p.z is read from x.p


def test_the_flows_route_builds_each_label_map_once_per_distinct_list():
    hubble = next(r for r in _ingest.ROUTES if r.source == "hubble")
    # the map is built in the lookup table only (plain and careful conversions: once each)
    assert hubble.insert.count("map_from_entries") == 2
    assert "LEFT JOIN _d AS _d1" in hubble.insert


def _flow(i: int, labels: object, dst: object) -> str:
    t = f"2024-05-14T05:00:{i % 60:02d}.{i:09d}Z"
    flow = {"time": t, "verdict": "FORWARDED", "IP": {"source": "10.0.0.1", "destination": "10.0.0.2"},
            "l4": {"TCP": {"source_port": 1000 + i, "destination_port": 80}},
            "source": {"namespace": "ns", "pod_name": f"web-{i % 3}", "labels": labels},
            "destination": {"namespace": "ns", "labels": dst}}
    if labels is None:
        del flow["source"]["labels"]
    return json.dumps({"flow": flow, "node_name": "kind/n1", "time": t})


def test_odd_label_lists_load_as_the_general_path_loads_them(tmp_path, monkeypatch):
    odd = [["k8s:app=web", "k8s:tier=front"], ["k8s:app=web", "k8s:app=other"], ["k8s:a=1", None],
           [], None, ["reserved:world"], ["k8s:x=a=b", "k8s:y="], [1, True, {"k": "v"}], "k8s:app=web",
           {"app": "web"}]
    lines = [_flow(i, odd[i % len(odd)], odd[(i * 7) % len(odd)]) for i in range(200)]
    path = tmp_path / "flows.json"
    path.write_text("\n".join(lines) + "\n")
    rows = {}
    for routes in (True, False):
        monkeypatch.setattr(_ingest, "USE_ROUTES", routes)
        case = kn.open_case(tmp_path / f"{routes}.duckdb")
        report = case.load(path, progress=False).to_dict()
        rows[routes] = (report["loaded"], report["quarantined"], case.con.execute(
            "SELECT * EXCLUDE (file) FROM flows ORDER BY ALL").fetchall())
        case.close()
    assert rows[True] == rows[False]
    assert rows[True][0] == 200
    labels = {r[0]: r for r in rows[True][2]}
    assert len(labels) == 200
