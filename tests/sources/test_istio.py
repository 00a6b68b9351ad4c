"""Istio/Envoy access-log lines: both formats, container-log wrappers, detection by content."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

import kernelsec_nb as kn

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "public-new-sources" / "istio"
TEXT = ('[2022-09-01T13:15:09.085Z] "GET /reviews/0 HTTP/1.1" 503 UF upstream_reset_before_response_started'
        '{connection_failure,delayed_connect_error:_111} - "-" 0 145 0 - "-" "curl/8" '
        '"56446678-64f3-9fbf-9c4a-eca01fafba4d" "reviews:9080" "10.124.2.14:9080" inbound|9080|| - '
        '10.124.2.14:9080 10.124.1.6:48816 outbound_.9080_._.reviews.default.svc.cluster.local default')
JSON = {"authority": "reviews:9080", "bytes_received": 0, "bytes_sent": 358, "connection_termination_details": None,
        "downstream_local_address": "10.124.1.5:9080", "downstream_remote_address": "[2a02:cf40::4e36]:5000",
        "duration": 15, "method": "GET", "path": "/reviews/0?a=1", "protocol": "HTTP/1.1",
        "request_id": "9fcc", "requested_server_name": "-", "response_code": 200,
        "response_code_details": "via_upstream", "response_flags": "-", "route_name": "default",
        "start_time": "2022-09-08T12:51:05.656Z", "upstream_cluster": "inbound|9080||",
        "upstream_host": "10.124.1.5:9080", "upstream_local_address": "127.0.0.6:37685",
        "upstream_service_time": "14", "upstream_transport_failure_reason": None, "user_agent": "curl/7.79.1",
        "x_forwarded_for": None}


_n = itertools.count()


def parse(lines: list[str], file: str = "access.log", tmp: Path | None = None) -> list[dict | None]:
    """Load ``lines`` as the file ``file`` into a new case: each line's ``http_requests`` row (None
    when it is no request), with ``reason`` when it was quarantined; every line accounted for.
    (A request follows them: a file with no event at all is refused as a whole.)"""
    root = (tmp or Path(PARSE_DIR)) / f"c{next(_n)}"
    path = root / file.lstrip("/")
    path.parent.mkdir(parents=True)
    path.write_text("".join(x + "\n" for x in [*lines, TEXT.replace("56446678", "sentinel")]))
    with kn.open_case(root / "case.duckdb") as case:
        f = case.load(path, progress=False).files[0]
        assert f.lines == f.loaded + f.duplicates + f.quarantined + f.blank == len(lines) + 1
        rows = {r["line"]: r for r in case.sql("SELECT * FROM http_requests").iter_rows(named=True)}
        bad = dict(case.con.execute("SELECT line, reason FROM quarantine").fetchall())
    return [rows.get(i + 1) or ({"reason": bad[i + 1]} if i + 1 in bad else None) for i in range(len(lines))]


PARSE_DIR = ""


@pytest.fixture(autouse=True)
def _parse_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(f"{__name__}.PARSE_DIR", str(tmp_path))


def test_text_line_fields():
    r = parse([TEXT])[0]
    assert r["time_ns"] == 1662038109085000000
    assert (r["method"], r["path"], r["protocol"], r["response_code"]) == ("GET", "/reviews/0", "HTTP/1.1", 503)
    assert r["response_flags"] == "UF"
    assert r["response_code_details"] == "upstream_reset_before_response_started{connection_failure,delayed_connect_error:_111}"
    assert (r["bytes_received"], r["bytes_sent"], r["duration_ms"], r["upstream_service_time_ms"]) == (0, 145, 0, None)
    assert (r["upstream_ip"], r["upstream_port"], r["upstream_local_ip"]) == ("10.124.2.14", 9080, None)
    assert (r["downstream_remote_ip"], r["downstream_remote_port"]) == ("10.124.1.6", 48816)
    assert (r["direction"], r["service_port"], r["upstream_service"]) == ("inbound", 9080, None)
    assert r["requested_server_name"] == "outbound_.9080_._.reviews.default.svc.cluster.local"
    assert (r["log_format"], r["wrapper"], r["x_forwarded_for"]) == ("text", None, None)


def test_json_line_fields_ipv6_and_query():
    r = parse([json.dumps(JSON)])[0]
    assert r["log_format"] == "json"
    assert (r["downstream_remote_ip"], r["downstream_remote_port"]) == ("2a02:cf40::4e36", 5000)
    assert (r["path"], r["http_path"]) == ("/reviews/0?a=1", "/reviews/0")
    assert r["upstream_service_time_ms"] == 14 and r["duration_ms"] == 15  # a string and a number
    assert r["response_flags"] is None and r["requested_server_name"] is None  # "-"
    assert r["connection_termination_details"] is None  # null


def test_container_log_wrappers():
    cri = "2022-07-22T12:24:13.900328365Z stdout F " + TEXT
    docker = json.dumps({"log": TEXT + "\n", "stream": "stdout", "time": "2022-07-22T12:24:13.9Z"})
    docker_json = json.dumps({"log": json.dumps(JSON) + "\n", "stream": "stderr", "time": "2022-07-22T12:24:13.9Z"})
    rows = parse([cri, docker, docker_json])
    assert [(r["wrapper"], r["stream"], r["log_format"]) for r in rows] == [
        ("cri", "stdout", "text"), ("docker", "stdout", "text"), ("docker", "stderr", "json")]
    assert rows[0]["log_time_ns"] == 1658492653900328365
    assert rows[1]["log_time_ns"] == 1658492653900000000
    assert rows[0]["response_code"] == rows[1]["response_code"] == 503
    assert rows[2]["downstream_remote_port"] == 5000


def test_cut_and_timeless_lines_are_refused_with_a_reason():
    part, rest, timeless = parse(["2022-07-22T12:24:13Z stdout P " + TEXT[:100], "2022-07-22T12:24:13Z stdout F " + TEXT[100:],
                                  TEXT.replace("2022-09-01T13:15:09.085Z", "yesterday")])
    assert part["reason"] == rest["reason"] == "malformed JSON"  # each part read alone: neither is a request
    assert timeless["reason"] == "istio http_request event without a valid time"


def test_envoy_default_format_and_tcp_lines():
    envoy = ('[2024-01-02T03:04:05.678Z] "POST /api HTTP/2" 201 - 12 34 5 4 "1.2.3.4" "ua" "rid" '
             '"example.com" "10.0.0.9:8080"')
    tcp = ('[2024-01-02T03:04:05.678Z] "- - -" 0 - - - "-" 1200 3400 50 - "-" "-" "-" "-" "10.0.0.9:5432" '
           'outbound|5432||db.x.svc.cluster.local 10.0.0.1:4000 10.96.0.7:5432 10.0.0.1:3999 - -')
    e, t = parse([envoy, tcp])
    assert (e["method"], e["response_code"], e["x_forwarded_for"], e["upstream_cluster"]) == ("POST", 201, "1.2.3.4", None)
    assert (t["method"], t["protocol"], t["response_code"], t["bytes_sent"]) == (None, None, 0, 3400)
    assert t["direction"] == "outbound" and t["upstream_service"] == "db.x.svc.cluster.local"


def test_client_chosen_text_cannot_shift_the_other_fields():
    hostile = TEXT.replace('"curl/8"', '"a\\" "b" "c"').replace("/reviews/0 ", "/a b/../etc ")
    r = parse([hostile])[0]
    assert r["path"] == "/a b/../etc"
    assert (r["downstream_remote_ip"], r["response_code"], r["upstream_cluster"]) == ("10.124.1.6", 503, "inbound|9080||")


def test_not_access_logs():
    falco = json.dumps({"time": "2024-01-01T00:00:00Z", "rule": "x", "output": "y", "priority": "Notice"})
    others = ["2024-01-01T00:00:00Z stderr F 2024-01-01T00:00:00.000Z info Envoy proxy is ready", "[x] junk",
              falco, json.dumps({"start_time": "2024-01-01T00:00:00Z"}), "{not json", ""]
    rows = parse(others)
    assert rows[2] is None and rows[-1] is None  # a Falco alert (loaded as one), a blank line
    assert [set(r) for i, r in enumerate(rows) if i not in (2, len(rows) - 1)] == [{"reason"}] * 4, rows


@pytest.mark.parametrize(("path", "expected"), [
    ("/var/log/pods/default_deathstar-6c94dcc57b-v2x8k_0e5a1b2c-1111-2222-3333-444455556666/istio-proxy/0.log",
     ("default", "deathstar-6c94dcc57b-v2x8k", "istio-proxy", "deathstar")),
    ("/x/pods/prod_web-0_0e5a1b2c-1111-2222-3333-444455556666/istio-proxy/3.log.20240101-120000.gz",
     ("prod", "web-0", "istio-proxy", "web")),
    ("/var/log/containers/web-0_prod_istio-proxy-" + "a" * 64 + ".log", ("prod", "web-0", "istio-proxy", "web")),
    ("/tmp/istio-proxy.log", (None, None, None, None)),
])
def test_pod_from_kubelet_paths(path, expected):
    r = parse([TEXT], file=path)[0]
    assert (r["namespace"], r["pod"], r["container"], r["workload"]) == expected
    assert r["pod_from"] == ("file" if expected[1] else None)


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/data/public-new-sources is not here")
def test_every_sample_line_is_an_access_log():
    for f in sorted(SAMPLES.glob("*.log")):
        rows = parse(f.read_text().splitlines())
        assert rows and all(r is not None and "reason" not in r for r in rows), f.name
