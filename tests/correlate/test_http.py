"""Sidecar access-log requests joined with the case: their pod, Hubble flow and process."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import kernelsec_nb as kn
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
