"""A sidecar access log whose client-chosen fields are attacker strings: they reach the timeline's
data as text and the saved page stays inert."""

from __future__ import annotations

import json

import kernelsec_nb as kn
from tests.viz.fixture_case import IMG, SCRIPT
from tests.viz.test_viz_xss import _assert_page_safe, _spec_text


def test_access_log_payloads_stay_text(tmp_path):
    line = (f'[2024-05-14T08:23:58.830Z] "PUT /v1/{SCRIPT} HTTP/1.1" 200 - via_upstream - "-" 0 5 3 2 "-" '
            f'"{IMG}" "rid" "deathstar" "10.0.0.5:80" inbound|80|| 127.0.0.6:5000 10.0.0.5:80 10.0.0.9:4000 - default')
    log = tmp_path / "var/log/pods/default_web-0_0e5a1b2c-1111-2222-3333-444455556666/istio-proxy/0.log"
    log.parent.mkdir(parents=True)
    log.write_text(f"2024-05-14T08:23:58.900000000Z stdout F {line}\n")
    with kn.open_case(tmp_path / "case.duckdb") as case:
        assert case.load(log, progress=False).files[0].loaded == 1
        r = case.http_requests().row(0, named=True)
        assert r["path"] == f"/v1/{SCRIPT}" and r["user_agent"] == IMG and r["pod"] == "web-0"
        chart = kn.viz.timeline(case)
        page = kn.viz.save(chart, tmp_path / "timeline.html").read_text()
    _assert_page_safe(page)
    assert SCRIPT in json.dumps(json.loads(_spec_text(page)), ensure_ascii=False)  # the data, intact
