"""The deathstar sidecars' Istio access logs in the bundled capture: where kubelet keeps them, as
the runtime wraps them, and the attack's PUT in them, attributed end to end."""

from __future__ import annotations

import json
import re

import pytest

import kernelsec_nb as kn
from tests.synth.synth_helpers import SHIPPED, iter_events, read_lines

CRI = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z stdout F \[")


@pytest.fixture(scope="module")
def logs():
    return sorted(SHIPPED.glob("*/var/log/pods/default_deathstar-*_*/istio-proxy/0.log"))


def test_each_deathstar_pod_has_its_sidecar_log(logs):
    truth = json.loads((SHIPPED / "TRUTH.json").read_text())
    pods = {p.parts[-3].split("_")[1] for p in logs}
    deathstars = {ev["flow"]["destination"].get("pod_name") for _, ev in iter_events(SHIPPED, "hubble")
                  if ev["flow"]["destination"].get("pod_name", "").startswith(truth["target"]["workload"])}
    assert pods and pods == deathstars
    for path in logs:
        lines = read_lines(path)
        assert lines and all(CRI.match(x) for x in lines), path
        times = [x.split(" ", 1)[0] for x in lines]
        assert times == sorted(times)  # written as requests end


def test_the_attack_put_is_logged_with_the_flows_request_id(logs):
    truth = json.loads((SHIPPED / "TRUTH.json").read_text())
    flow = truth["attack_flows"][0]
    put = [x for p in logs for x in read_lines(p) if '"PUT /v1/exhaust-port HTTP/1.1"' in x]
    assert len(put) == 1  # the retries were denied by the L7 policy before reaching the pod
    assert f" {flow['dst_ip']}:80 {flow['src_ip']}:{flow['src_port']} " in put[0]
    ids = {h["value"] for _, ev in iter_events(SHIPPED, "hubble") if ev["flow"].get("l7", {}).get("type") == "REQUEST"
           and ev["flow"]["l4"].get("TCP", {}).get("source_port") == flow["src_port"]
           for h in ev["flow"]["l7"]["http"]["headers"] if h["key"] == "X-Request-Id"}
    assert len(ids) == 1 and f'"{ids.pop()}"' in put[0]


def test_the_case_attributes_the_put_to_the_curl(bundled_case_file):
    truth = json.loads((SHIPPED / "TRUTH.json").read_text())
    with kn.open_case(bundled_case_file, read_only=True) as case:  # SHIPPED, loaded once per session
        put = case.http_requests(http_method="PUT", http_path=f"^{truth['target']['http_path']}$")
        assert put.height == 1
        row = put.row(0, named=True)
        assert (row["exec_id"], row["match"]) == (truth["attack_flows"][0]["exec_id"], "5tuple")
        assert row["pod_from"] == "file" and row["workload"] == "deathstar" and row["response_code"] == 503
        assert row["client_pod"] == truth["attacker"]["pod"] and row["flow_leg"] == "downstream"
        every = case.http_requests()
        assert every.height == sum(len(read_lines(p)) for p in SHIPPED.glob("*/var/log/pods/*/istio-proxy/0.log"))
        assert every["match"].to_list() == ["5tuple"] * every.height  # each client's connect kprobe
