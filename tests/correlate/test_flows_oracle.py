"""Flow attribution against a brute-force reading of the module rules, on random small captures.

Few 5-tuples, coarse times: port reuse, connects at the same instant, closes before and after
the flows, replies with and without ``is_reply``, flows ahead of their connect (skew).  The case
(DuckDB keys) must agree with the DataFrame function (polars keys) on the same rows.
"""

from __future__ import annotations

from unittest import mock

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kernelsec_nb as kn
from kernelsec_nb.correlate import _flows, attribute_flows
from kernelsec_nb.correlate._flows import _Runs

S, MS = 10**9, 10**6
TOL, WINDOW = 1500 * MS, 60 * S
CLIENTS = [("10.0.0.1", "ns", "web-1"), ("10.0.0.2", "ns", "web-2")]
SERVER = "10.0.1.5"
PORTS = [40000, 40001]
FUNCS = ["tcp_connect", "tcp_connect", "tcp_sendmsg", "tcp_close", "security_file_open"]

times = st.integers(0, 40).map(lambda x: x * 250 * MS)  # 0-10 s in 250 ms steps: ties and skew
kprobe_rows = st.lists(st.tuples(times, st.sampled_from(FUNCS), st.sampled_from([0, 1]), st.sampled_from(PORTS),
                                 st.sampled_from([80, 443])), max_size=14)
flow_rows = st.lists(st.tuples(times, st.sampled_from([0, 1]), st.sampled_from(PORTS + [45555]),
                               st.sampled_from([80, 443]), st.sampled_from([False, True]),
                               st.sampled_from([False, True, None])), min_size=1, max_size=10)


def kprobes_frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame({
        "event_id": [f"k{i}" for i in range(len(rows))], "time_ns": [r[0] for r in rows],
        "exec_id": [f"e{i}" for i in range(len(rows))], "function_name": [r[1] for r in rows],
        "saddr": [CLIENTS[r[2]][0] for r in rows], "sport": [r[3] for r in rows],
        "daddr": [SERVER] * len(rows), "dport": [r[4] for r in rows], "protocol": ["TCP"] * len(rows),
        "namespace": [CLIENTS[r[2]][1] for r in rows], "pod": [CLIENTS[r[2]][2] for r in rows],
    }, schema={"event_id": pl.String, "time_ns": pl.Int64, "exec_id": pl.String, "function_name": pl.String,
               "saddr": pl.String, "sport": pl.Int64, "daddr": pl.String, "dport": pl.Int64,
               "protocol": pl.String, "namespace": pl.String, "pod": pl.String})


def flows_frame(rows: list[tuple]) -> pl.DataFrame:
    out = []
    for i, (t, c, cport, sport, swapped, reply) in enumerate(rows):
        cip, ns, pod = CLIENTS[c]
        src, dst = (SERVER, sport, cip, cport), (cip, cport, SERVER, sport)
        a, b = (src, dst) if swapped else (dst, src)
        out.append({"event_id": f"f{i}", "time_ns": t, "src_ip": a[0], "src_port": a[1], "dst_ip": a[2],
                    "dst_port": a[3], "protocol": "TCP", "is_reply": reply,
                    "src_namespace": None if swapped else ns, "src_pod": None if swapped else pod})
    return pl.DataFrame(out, schema_overrides={"is_reply": pl.Boolean, "time_ns": pl.Int64,
                                               "src_port": pl.Int64, "dst_port": pl.Int64,
                                               "src_namespace": pl.String, "src_pod": pl.String})


def oracle(flows: pl.DataFrame, kp: pl.DataFrame) -> list[tuple]:
    """Per flow: (allowed exec ids, match, confidence), straight from the module docstring."""
    rows = list(enumerate(kp.iter_rows(named=True)))
    conns = [(i, r) for i, r in rows if r["function_name"] in ("tcp_connect", "tcp_sendmsg")]
    closes = [r for _, r in rows if r["function_name"] == "tcp_close"]
    tup = ("saddr", "sport", "daddr", "dport")

    def close_of(c: dict) -> int | None:
        ts = [x["time_ns"] for x in closes if all(x[k] == c[k] for k in tup) and x["time_ns"] >= c["time_ns"]]
        return min(ts) if ts else None

    def five(ft: int, key: tuple) -> tuple | None:
        same = sorted(((r["time_ns"], i, r) for i, r in conns if tuple(r[k] for k in tup) == key),
                      key=lambda x: x[:2])
        back = [x for x in same if x[0] <= ft]
        ahead = [x for x in same if ft < x[0] <= ft + TOL]
        b = back[-1][2] if back else None
        a = ahead[0][2] if ahead else None
        close = close_of(b) if b else None
        back_open = close is None or close >= ft - TOL
        if a is not None and (b is None or close is None or not back_open):
            return {a["exec_id"]}, "5tuple", 0.9
        if b is not None:
            return {b["exec_id"]}, "5tuple", 1.0 if back_open else 0.5
        return None

    out = []
    for f in flows.iter_rows(named=True):
        fwd = (f["src_ip"], f["src_port"], f["dst_ip"], f["dst_port"])
        rev = (f["dst_ip"], f["dst_port"], f["src_ip"], f["src_port"])
        keys = [rev, fwd] if f["is_reply"] else [fwd, rev]
        got = five(f["time_ns"], keys[0]) or five(f["time_ns"], keys[1])
        if got is None and not f["is_reply"]:
            for same in (
                lambda r, f=f: f["src_namespace"] is not None and (r["namespace"], r["pod"]) == (f["src_namespace"], f["src_pod"]),
                lambda r, f=f: r["saddr"] == f["src_ip"],
            ):
                cand = [r for _, r in conns if same(r) and (r["daddr"], r["dport"]) == (f["dst_ip"], f["dst_port"])
                        and abs(r["time_ns"] - f["time_ns"]) <= WINDOW]
                if cand:
                    d = min(abs(r["time_ns"] - f["time_ns"]) for r in cand)
                    ids = {r["exec_id"] for r in cand if abs(r["time_ns"] - f["time_ns"]) == d}
                    got = ids, "pod+dest", 0.6 - 0.3 * min(d / WINDOW, 1.0)
                    break
        out.append(got or ({None}, "none", 0.0))
    return out


def check(out: pl.DataFrame, expected: list[tuple]) -> None:
    for r, (ids, match, conf) in zip(out.iter_rows(named=True), expected, strict=True):
        assert (r["exec_id"] in ids, r["match"], r["confidence"]) == (True, match, conf), (r, ids, match, conf)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kprobe_rows, flow_rows)
def test_attribute_flows_matches_the_rules(kps: list[tuple], fls: list[tuple]) -> None:
    kp, flows = kprobes_frame(kps), flows_frame(fls)
    out = attribute_flows(flows, kp, tolerance=TOL, window=WINDOW)
    check(out, oracle(flows, kp))
    # the connect named is the chosen kprobe itself
    hit = out.filter(pl.col("conn_event_id").is_not_null())
    assert (hit["conn_event_id"].str.slice(1) == hit["exec_id"].str.slice(1)).all()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kprobe_rows, flow_rows)
def test_case_agrees_with_dataframes(kps: list[tuple], fls: list[tuple]) -> None:
    kp, flows = kprobes_frame(kps), flows_frame(fls)
    case = kn.open_case()
    case.con.register("_kp", kp.with_columns(pl.lit("process_kprobe").alias("kind")).to_arrow())
    case.con.register("_fl", flows.to_arrow())
    case.con.execute("INSERT INTO kprobes BY NAME SELECT * FROM _kp")
    case.con.execute("INSERT INTO flows BY NAME SELECT * FROM _fl")
    att = case._flow_attribution()
    got = flows.select("event_id").join(att, on="event_id", how="left", maintain_order="left").with_columns(
        pl.col("match").fill_null("none"), pl.col("confidence").fill_null(0.0))
    check(got, oracle(flows, kp))


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 5)), max_size=40),
       st.lists(st.tuples(st.integers(0, 4), st.integers(0, 3), st.integers(-1, 6)), max_size=20),
       st.booleans(), st.booleans())
def test_runs_search(rows: list[tuple], needles: list[tuple], after: bool, unpacked: bool) -> None:
    # keys sharing their high 32 bits (the packed sort's ties) and equal keys, times with ties;
    # ``unpacked``: the plain argsort used when row numbers do not fit in 32 bits
    with mock.patch.object(_flows, "_PACK_LIMIT", 0 if unpacked else _flows._PACK_LIMIT):
        check_runs(rows, needles, after)


def check_runs(rows: list[tuple], needles: list[tuple], after: bool) -> None:
    key = np.array([(h << 32) | lo for h, lo, _ in rows], dtype=np.uint64)
    runs = _Runs(pl.Series(key, dtype=pl.UInt64), pl.Series([t for *_, t in rows], dtype=pl.Int64),
                 pl.Series(range(len(rows)), dtype=pl.Int64))
    order = sorted(range(len(rows)), key=lambda i: ((rows[i][0] << 32) | rows[i][1], rows[i][2], i))
    assert runs.id.tolist() == order
    nk = np.array([(h << 32) | lo for h, lo, _ in needles], dtype=np.uint64)
    nt = np.array([t for *_, t in needles], dtype=np.int64)
    o, to, lo, p, hi = runs.locate(nk, nt, after=after)
    assert sorted(o.tolist()) == list(range(len(needles))) and to.tolist() == nt[o].tolist()
    ks = runs.key.tolist()
    for j, i in enumerate(o.tolist()):
        run = [x for x in range(len(ks)) if ks[x] == int(nk[i])]
        if not run:
            assert lo[j] == hi[j] == p[j]
            continue
        assert (lo[j], hi[j]) == (run[0], run[-1] + 1)
        later = [x for x in run if (runs.time[x] > nt[i] if after else runs.time[x] >= nt[i])]
        assert p[j] == (later[0] if later else hi[j])
