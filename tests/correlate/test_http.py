"""Sidecar access-log requests joined with the case: their pod, Hubble flow and process."""

from __future__ import annotations

import random
from pathlib import Path

import duckdb
import polars as pl
import pytest

import kernelsec_nb as kn
from kernelsec_nb.correlate._http import FLOW_CANDIDATES_SQL, flow_of_request
from tests.correlate.conftest import CLIENT, MS, SERVER, T0, scenario, ts, write

VIP = "10.96.0.10"


def text_line(t: int, method: str, path: str, code: int, *, cluster: str, upstream: str, up_local: str,
              down_local: str, down_remote: str, duration: int = 3) -> str:
    start = ts(t)[:23] + "Z"  # Envoy writes milliseconds
    return (f'[{start}] "{method} {path} HTTP/1.1" {code} - via_upstream - "-" 0 12 {duration} 2 "-" "curl/8" '
            f'"req-{t}" "api" "{upstream}" {cluster} {up_local} {down_local} {down_remote} - default')


INBOUND_C1 = text_line(T0 + 2101 * MS, "PUT", "/v1/secret?x=1", 201, cluster="inbound|80||",
                       upstream="10.0.1.5:80", up_local="127.0.0.6:5555", down_local="10.0.1.5:80",
                       down_remote="10.0.0.1:40000")
INBOUND_C2 = text_line(T0 + 10101 * MS, "PUT", "/v1/secret", 403, cluster="inbound|80||",
                       upstream="10.0.1.5:80", up_local="127.0.0.6:5555", down_local="10.0.1.5:80",
                       down_remote="10.0.0.1:40000")
OUTBOUND = text_line(T0 + 2101 * MS, "GET", "/v1/list", 200, cluster="outbound|80||api.shop.svc.cluster.local",
                     upstream="10.0.1.5:80", up_local="10.0.0.1:40000", down_local=f"{VIP}:80",
                     down_remote="10.0.0.1:46000")
STRANGER = text_line(T0 + 2101 * MS, "GET", "/", 404, cluster="inbound|80||", upstream="10.9.9.9:80",
                     up_local="127.0.0.6:1", down_local="10.9.9.9:80", down_remote="10.9.9.8:1234")


def add_requests(case: kn.Case, lines: list[str], file: Path) -> None:
    """Load ``lines`` as the access log ``file``."""
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text("".join(x + "\n" for x in lines))
    f = case.load(file, progress=False).files[0]
    assert (f.loaded, f.quarantined) == (len(lines), 0), f


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> kn.Case:
    root = tmp_path_factory.mktemp("http")
    c = kn.open_case(root / "case.duckdb")
    c.load(write(root / "capture", scenario()), progress=False)
    add_requests(c, [INBOUND_C1, INBOUND_C2, OUTBOUND, STRANGER], root / "logs" / "access.log")
    return c


def by_code(df: pl.DataFrame) -> dict[int, dict]:
    return {r["response_code"]: r for r in df.iter_rows(named=True)}


def test_sidecar_pod_from_addresses(case):
    rows = by_code(case.sql("SELECT response_code, namespace, pod, workload, pod_from FROM http_requests"))
    assert (rows[201]["namespace"], rows[201]["pod"], rows[201]["pod_from"]) == ("shop", SERVER[2], "address")
    assert rows[201]["workload"] == "api"
    assert rows[403]["pod"] == SERVER[2]
    assert (rows[200]["pod"], rows[200]["pod_from"]) == (CLIENT[2], "address")  # outbound: its upstream local
    assert (rows[404]["pod"], rows[404]["pod_from"]) == (None, None)  # an address the case never saw


def test_requests_attributed_like_flows(case):
    rows = by_code(case.http_requests())
    assert (rows[201]["exec_id"], rows[201]["match"], rows[201]["binary"]) == ("C1", "5tuple", "/usr/bin/curl")
    assert (rows[403]["exec_id"], rows[403]["match"]) == ("C2", "5tuple")  # same 5-tuple, 8 s later
    assert rows[201]["client_pod"] == CLIENT[2] and rows[201]["client_namespace"] == "shop"
    assert rows[404]["match"] == "none" and rows[404]["exec_id"] is None
    # outbound: the application's connection goes to the service VIP, which no connect names
    assert rows[200]["match"] == "none" and rows[200]["client_pod"] == CLIENT[2]


def test_requests_joined_with_hubble_flows(case):
    rows = by_code(case.http_requests())
    flows = case.sql("SELECT event_id, time_ns, src_port FROM flows")
    fl = {r["event_id"]: r for r in flows.iter_rows(named=True)}
    assert rows[201]["flow_leg"] == "downstream" and fl[rows[201]["flow_event_id"]]["src_port"] in (40000, 80)
    assert abs(rows[201]["flow_time_ns"] - (T0 + 2101 * MS)) < 500 * MS
    assert abs(rows[403]["flow_time_ns"] - (T0 + 10101 * MS)) < 500 * MS  # the second connection's flow
    assert rows[200]["flow_leg"] == "upstream"  # Hubble saw the sidecar's connection to the pod
    assert rows[404]["flow_event_id"] is None


def test_http_filters(case):
    assert case.http_requests(http_path="^/v1/secret$")["response_code"].sort().to_list() == [201, 403]
    assert case.http_requests(http_url=r"\?x=1$")["response_code"].to_list() == [201]
    assert case.http_requests(http_method="put", http_status=403)["exec_id"].to_list() == ["C2"]
    assert case.http_requests(from_pod="web", direction="inbound")["response_code"].sort().to_list() == [201, 403]
    assert case.http_requests(binary="curl$", pod="api")["response_code"].sort().to_list() == [201, 403]
    with pytest.raises(TypeError, match="unknown filter"):
        case.http_requests(verdict="DROPPED")


def test_a_pod_ip_two_pods_held_at_once_names_neither(tmp_path):
    c = kn.open_case(tmp_path / "case.duckdb")
    lines = scenario()
    lines["n1/hubble.json"] = [*lines["n1/hubble.json"], *[
        {**f, "flow": {**f["flow"], "source": {**f["flow"]["source"], "pod_name": "other-pod"}}}
        for f in lines["n1/hubble.json"][:3]]]  # around the request, as web-... was
    c.load(write(tmp_path / "capture", lines), progress=False)
    add_requests(c, [OUTBOUND], tmp_path / "logs" / "access.log")
    assert c.sql("SELECT pod FROM http_requests")["pod"].to_list() == [None]


def test_the_file_path_names_the_pod_before_the_addresses(tmp_path):
    c = kn.open_case(tmp_path / "case.duckdb")
    add_requests(c, [STRANGER], tmp_path / "var/log/pods/prod_edge-0_0e5a1b2c-1111-2222-3333-444455556666/istio-proxy/0.log")
    r = c.http_requests().row(0, named=True)
    assert (r["namespace"], r["pod"], r["pod_from"], r["container"]) == ("prod", "edge-0", "file", "istio-proxy")


def test_pods_are_named_whatever_the_order_the_files_come_in(tmp_path):
    c = kn.open_case(tmp_path / "case.duckdb")
    add_requests(c, [INBOUND_C1], tmp_path / "logs" / "access.log")  # before the flows that name the pod
    assert c.sql("SELECT pod FROM http_requests")["pod"].to_list() == [None]
    c.load(write(tmp_path / "capture", scenario()), progress=False)
    assert c.sql("SELECT pod, pod_from FROM http_requests").rows() == [(SERVER[2], "address")]


def test_a_saved_query_and_a_tag_on_requests(case):
    case.save_query("secret puts", "http_requests", http_method="PUT", http_path="^/v1/secret$")
    assert case.query("secret puts")["response_code"].sort().to_list() == [201, 403]
    with pytest.raises(TypeError, match="unknown filter"):
        case.save_query("bad", "http_requests", verdict="DROPPED")
    case.tag(case.http_requests(http_status=201)["event_id"][0], "seen")
    assert case.http_requests(tag="seen")["response_code"].to_list() == [201]


def _flow_oracle(reqs: list[tuple], flows: list[tuple]) -> dict[int, tuple]:
    """The rule of ``flow_of_request`` written out: per request, among the TCP flows of its
    downstream or upstream connection (either orientation), the smallest (leg, distance to
    [start, end], flow time); the leg Hubble sees first is 1."""
    out = {}
    for rid, (t0, dur, direction, dr, drp, dl, dlp, ul, ulp, u, up) in enumerate(reqs):
        t1 = None if t0 is None else t0 + (dur or 0) * 1_000_000
        legs = []
        if drp is not None and dlp is not None:
            legs.append((2 if direction == "outbound" else 1, "downstream", {((dr, drp), (dl, dlp)), ((dl, dlp), (dr, drp))}))
        if ulp is not None and up is not None:
            legs.append((1 if direction == "outbound" else 2, "upstream", {((ul, ulp), (u, up)), ((u, up), (ul, ulp))}))
        best = None
        for leg, name, ends in legs:
            for event_id, ft, src, sport, dst, dport, proto in flows:
                if ft is None or (proto or "").upper() != "TCP" or ((src, sport), (dst, dport)) not in ends:
                    continue
                dist = 0 if t0 is None else max(t0 - ft, ft - t1, 0)
                cand = ((leg, dist, ft), (event_id, ft, name))
                best = cand if best is None or cand[0] < best[0] else best
        if best:
            out[rid] = best[1]
    return out


@pytest.mark.parametrize("seed", range(30))
def test_flow_of_request_matches_the_brute_force_rule(seed):
    rng = random.Random(seed)
    ends = [("10.0.0.1", 40000), ("10.0.0.1", 40001), ("10.0.1.5", 80), ("10.96.0.10", 80), (None, 80)]
    times = rng.sample(range(-50_000_000, 50_000_000, 1_000_000), 20)  # distinct: no tie on the flow time
    flows = [(f"f{i}", t if rng.random() > 0.1 else None, *rng.choice(ends), *rng.choice(ends),
              rng.choice(["TCP", "tcp", "UDP"])) for i, t in enumerate(times)]
    reqs = []
    for _ in range(10):
        t0 = rng.choice([rng.choice(times) + rng.choice([-1, 0, 1]), rng.randrange(-60_000_000, 60_000_000), None])
        d = [*rng.choice(ends), *rng.choice(ends)]
        u = [*rng.choice(ends), *rng.choice(ends)] if rng.random() > 0.3 else [None] * 4
        reqs.append((t0, rng.choice([None, 0, 3]), rng.choice(["inbound", "outbound", None]), *d, *u))
    con = duckdb.connect()
    con.execute("CREATE TABLE flows (event_id VARCHAR, time_ns BIGINT, src_ip VARCHAR, src_port INTEGER, "
                "dst_ip VARCHAR, dst_port INTEGER, protocol VARCHAR)")
    con.execute("CREATE TABLE r (rid INTEGER, time_ns BIGINT, duration_ms BIGINT, direction VARCHAR, "
                "downstream_remote_ip VARCHAR, downstream_remote_port INTEGER, downstream_local_ip VARCHAR, "
                "downstream_local_port INTEGER, upstream_local_ip VARCHAR, upstream_local_port INTEGER, "
                "upstream_ip VARCHAR, upstream_port INTEGER)")
    con.executemany("INSERT INTO flows VALUES (?, ?, ?, ?, ?, ?, ?)", flows)
    con.executemany("INSERT INTO r VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [(i, *x) for i, x in enumerate(reqs)])
    sql = FLOW_CANDIDATES_SQL.replace("{http_requests_rows}", "(SELECT rid AS rowid, * FROM r)").replace("{flows_rows}", "flows")
    got = {rid: (con.execute("SELECT event_id FROM flows WHERE rowid = ?", [row]).fetchone()[0], t,
                "upstream" if up else "downstream") for rid, t, row, up in flow_of_request(con, sql).rows()}
    want = _flow_oracle(reqs, flows)
    assert want, "every seed links some request to a flow"
    assert got == want
