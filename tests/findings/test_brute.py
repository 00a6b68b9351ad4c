"""Password guessing (T1110) on a few rows: runs of refused logins then a success, per client,
with a threshold relative to the capture; behind a proxy, and from access logs."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings import _brute as B
from kernelsec_nb.findings._records import Endpoint, Entry, Incident, KeyCommand

S = B.NS


def _replies(codes, client="203.0.113.5", t0=0, step=S, pod="web-1", path="/login", client_pod=None):
    """Hubble reply flows (server → client) of ``pod`` answering ``codes`` on ``path``."""
    n = len(codes)
    return pl.DataFrame({
        "event_id": [f"{client}-{t0}-{i}" for i in range(n)], "time_ns": [t0 + i * step for i in range(n)],
        "src_namespace": ["a"] * n, "src_pod": [pod] * n, "src_ip": ["10.0.0.5"] * n,
        "dst_namespace": ["ing" if client_pod else None] * n, "dst_pod": [client_pod] * n,
        "dst_ip": [client] * n, "http_method": ["POST"] * n, "http_path": [path] * n,
        "http_code": codes, "is_reply": [True] * n}, schema_overrides={"dst_pod": pl.String, "dst_namespace": pl.String})


def _bursts(*frames, s=B.DEFAULT):
    return B.bursts_of(pl.concat(frames, how="diagonal_relaxed"), None, s)


def test_a_run_of_refusals_then_a_success_from_one_client_is_a_burst():
    got = _bursts(_replies([401] * 6 + [302]))
    assert got.select("pod", "path", "client", "failures").rows() == [("web-1", "/login", "203.0.113.5", 6)]
    assert got["event_id"].to_list() == ["203.0.113.5-0-6"]  # the success, for case.raw
    assert _bursts(_replies([401] * 4 + [302])).height == 0  # below min_failures
    assert _bursts(_replies([401] * 6)).height == 0  # never let in
    assert _bursts(_replies([401] * 6 + [500] * 3)).height == 0  # errors are no success
    slow = pl.concat([_replies([401] * 6), _replies([200], t0=6 * S + 300 * S)])
    assert _bursts(slow).height == 0  # let in long after the run: not by it
    spread = _replies([401] * 6 + [302], step=200 * S)
    assert _bursts(spread).height == 0  # a refusal every few minutes is no run
    other_path = pl.concat([_replies([401] * 6), _replies([200], t0=6 * S, path="/")])
    assert _bursts(other_path).height == 0  # the success must be on the same path


def test_the_threshold_is_relative_to_the_longest_run_of_the_other_clients():
    """A login page users mistype all day (runs of 3 refusals) needs a run of 9 (factor 3)."""
    users = pl.concat([_replies([401] * 3 + [302], client=f"198.51.100.{k}", t0=k * 1000 * S) for k in range(4)])
    assert _bursts(users, _replies([401] * 6 + [302], t0=9000 * S)).height == 0
    got = _bursts(users, _replies([401] * 9 + [302], t0=9000 * S))
    assert got["client"].to_list() == ["203.0.113.5"]
    assert _bursts(users, _replies([401] * 9 + [302], t0=9000 * S), s=B.BruteSettings(factor=4)).height == 0


def _syns(ips_times, pod="ingress-0"):
    n = len(ips_times)
    return pl.DataFrame({"event_id": [f"syn{i}" for i in range(n)], "time_ns": [t for _, t in ips_times],
                         "src_ip": [ip for ip, _ in ips_times], "src_pod": [None] * n, "dst_namespace": ["ing"] * n,
                         "dst_pod": [pod] * n, "dst_ip": ["10.0.1.1"] * n, "is_reply": [False] * n},
                        schema_overrides={"src_pod": pl.String})


def test_behind_a_proxy_the_client_is_the_one_outside_address_that_reached_the_proxy_then():
    proxied = _replies([401] * 6 + [302], client="10.0.1.1", client_pod="ingress-0")
    alone = _syns([("185.220.101.47", i * S - 5_000_000) for i in range(7)])
    assert _bursts(proxied, alone)["client"].to_list() == ["185.220.101.47"]
    # another outside address reached the proxy at the same moments: the proxy pod stays the client
    crowd = pl.concat([alone, _syns([("198.51.100.9", i * S - 3_000_000) for i in range(7)])])
    assert _bursts(proxied, crowd)["client"].to_list() == ["10.0.1.1"]


def test_access_log_requests_name_the_client_by_x_forwarded_for():
    n = 7
    r = pl.DataFrame({"event_id": [f"r{i}" for i in range(n)], "time_ns": [i * S for i in range(n)],
                      "direction": ["inbound"] * n, "namespace": ["a"] * n, "pod": ["web-1"] * n,
                      "method": ["POST"] * n, "path": ["/api/login?next=/"] * n, "response_code": [403] * 6 + [200],
                      "x_forwarded_for": ["185.220.101.47, 10.0.1.1"] * n, "downstream_remote_ip": ["10.0.1.1"] * n,
                      "client_namespace": ["ing"] * n, "client_pod": ["ingress-0"] * n})
    got = B.bursts_of(pl.DataFrame(), r)
    assert got.select("path", "client", "failures").rows() == [("/api/login", "185.220.101.47", 6)]


def _incident(pod, entry="sh"):
    return Incident(rank=1, confidence="high", why=["+ x"], pod=pod, namespace="a", workload=None, node="n",
                    entry=Entry(entry, "/bin/sh", "", None), key_command=KeyCommand(None, None, "k", ""), chain=[],
                    reached=[], endpoints=[Endpoint("6.6.6.6", 443, None, "c2")], techniques={"T1059": ["x"]},
                    evidence=pl.DataFrame({"exec_id": ["sh"], "kind": ["exec_in"], "text": ["t"], "event_id": ["e"]}))


def test_an_incident_that_started_in_the_guessed_pod_after_the_success_is_t1110():
    bursts = _bursts(_replies([401] * 6 + [302]))
    done = B.guessed_logins([_incident("web-1"), _incident("db-0")], bursts, {"sh": 60 * S})
    assert B.TECHNIQUE in done[0].techniques and done[0].techniques[B.TECHNIQUE] == [B.RULE]
    assert "203.0.113.5" in done[0].why[-1] and "6 logins refused" in done[0].why[-1]
    assert "203.0.113.5-0-6" in done[0].evidence["event_id"].to_list()
    assert B.TECHNIQUE not in done[1].techniques  # another pod
    late = B.guessed_logins([_incident("web-1")], bursts, {"sh": 6 * S + B.DEFAULT.after_ns + S})
    assert B.TECHNIQUE not in late[0].techniques  # long after: not what let it in
    early = B.guessed_logins([_incident("web-1")], bursts, {"sh": S})
    assert B.TECHNIQUE not in early[0].techniques  # before the success


def test_the_engine_marks_the_incident_of_the_guessed_pod():
    from kernelsec_nb.findings.engine import find_in
    from tests.findings.test_engine_acts import _dump_piped_out

    fr = _dump_piped_out("198.18.7.7")
    guesses = _replies([401] * 6 + [302], t0=10 * S, pod="db-0")
    fr["flows"] = pl.concat([fr["flows"], guesses], how="diagonal_relaxed")
    (i,) = find_in(**fr).incidents
    assert i.techniques.get(B.TECHNIQUE) == [B.RULE]
    (j,) = find_in(**_dump_piped_out("198.18.7.7")).incidents
    assert B.TECHNIQUE not in j.techniques
