"""API-call attribution and links (correlate/_api.py), each rule on a few hand-made rows."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.correlate import _api

S = 1_000_000_000
_STR = ("src_ip", "sa_namespace", "sa_name", "sa_of", "token_pod", "token_node", "verb", "resource",
        "subresource", "namespace", "name", "created_name", "request_uri")


def calls(*rows: dict) -> pl.DataFrame:
    base = dict.fromkeys(_STR)
    return pl.DataFrame([{**base, "call_id": f"c{i}", "time_ns": 100 * S, **r} for i, r in enumerate(rows)],
                        schema_overrides=dict.fromkeys(_STR, pl.String))


def addresses(*rows: tuple) -> pl.DataFrame:
    schema = {"ip": pl.String, "namespace": pl.String, "pod": pl.String, "node": pl.String, "time_ns": pl.Int64}
    return _api.pod_addresses(pl.DataFrame(list(rows), schema=schema, orient="row"))


NO_SA = pl.DataFrame(schema={"namespace": pl.String, "sa_name": pl.String, "pod": pl.String, "node": pl.String})
NO_CONN = pl.DataFrame(schema={"event_id": pl.String, "time_ns": pl.Int64, "namespace": pl.String,
                               "pod": pl.String, "exec_id": pl.String, "daddr": pl.String, "dport": pl.Int64})


def conns(*rows: tuple) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=NO_CONN.schema, orient="row")


def attribute(c, a=None, sa=NO_SA, k=NO_CONN, **kw) -> pl.DataFrame:
    return _api.attribute(c, a if a is not None else addresses(), sa, k, **kw)


def test_source_ip_of_a_pod_at_that_time():
    c = calls({"src_ip": "10.0.0.5"}, {"src_ip": "10.0.0.5", "time_ns": 5000 * S}, {"src_ip": "192.0.2.1"})
    a = addresses(("10.0.0.5", "default", "web-1", "n1", 90 * S), ("10.0.0.5", "default", "web-1", "n1", 95 * S))
    out = attribute(c, a)
    assert out["src_pod"].to_list() == ["web-1", None, None]  # an hour later the IP may be another pod's
    assert out["src_match"].to_list() == ["ip", None, None]
    assert out["src_node"][0] == "n1"


def test_an_ip_two_pods_had_then_attributes_nothing():
    c = calls({"src_ip": "172.18.0.3"})
    a = addresses(("172.18.0.3", "kube-system", "kube-proxy-x", "n1", 99 * S),
                  ("172.18.0.3", "monitoring", "node-exporter-y", "n1", 101 * S))
    assert attribute(c, a)["src_pod"].to_list() == [None]


def test_pod_bound_token_names_the_pod_first():
    c = calls({"src_ip": "10.0.0.5", "token_pod": "runner-7", "sa_namespace": "ci", "sa_name": "runner",
               "sa_of": "user", "token_node": "n2"})
    a = addresses(("10.0.0.5", "default", "web-1", "n1", 100 * S))
    out = attribute(c, a)
    assert out.select("src_namespace", "src_pod", "src_node", "src_match").row(0) == ("ci", "runner-7", "n2", "token")


def test_service_account_of_exactly_one_pod():
    sa = pl.DataFrame({"namespace": ["ci", "ci", "shop", "shop"], "sa_name": ["runner", "runner", "cart", "cart"],
                       "pod": ["runner-7", "runner-7", "cart-1", "cart-2"], "node": ["n2", "n2", "n1", "n1"]})
    c = calls({"sa_namespace": "ci", "sa_name": "runner", "sa_of": "user"},
              {"sa_namespace": "shop", "sa_name": "cart", "sa_of": "user"},  # two pods run as it
              {"sa_namespace": "ci", "sa_name": "runner", "sa_of": "impersonated"})  # no credential of a pod
    out = attribute(c, sa=sa)
    assert out["src_pod"].to_list() == ["runner-7", None, None]
    assert out["src_match"][0] == "sa"


def test_process_is_the_last_connect_to_the_api_server_before_the_call():
    c = calls({"src_ip": "10.0.0.5"})
    a = addresses(("10.0.0.5", "ci", "runner-7", "n2", 100 * S))
    k = conns(("old", 60 * S, "ci", "runner-7", "e-old", "10.96.0.1", 443),  # outside the window
              ("k1", 99 * S, "ci", "runner-7", "e-kubectl", "10.96.0.1", 443),
              ("web", 99 * S + 5, "ci", "runner-7", "e-curl", "93.184.216.34", 80),  # not the API
              ("other", 99 * S + 9, "ci", "runner-8", "e-other", "10.96.0.1", 443))  # another pod
    out = attribute(c, a, k=k)
    assert out.select("exec_id", "conn_event_id", "conn_time_ns").row(0) == ("e-kubectl", "k1", 99 * S)
    # an API server address known: only connects to it count
    assert attribute(c, a, k=k, api_addresses=["172.18.0.2"])["exec_id"].to_list() == [None]


def test_a_skewed_clock_does_not_name_the_pods_previous_process():
    # the node's clock runs 150 ms fast: the sender's connect reads 80 ms after the call
    c = calls({"src_ip": "10.0.0.5", "verb": "get", "resource": "configmaps", "namespace": "app", "name": "settings"})
    a = addresses(("10.0.0.5", "ci", "job-3", "n2", 100 * S))
    k = conns(("k0", 80 * S, "ci", "job-3", "e-earlier", "10.96.0.1", 443),
              ("k1", 100 * S + 80_000_000, "ci", "job-3", "e-sender", "10.96.0.1", 443))
    assert attribute(c, a, k=k)["exec_id"].to_list() == ["e-earlier"]  # as the clocks read
    on_ref = k.with_columns((pl.col("time_ns") - 150_000_000).alias("ref_time_ns"))
    out = attribute(c, a, k=on_ref)
    assert out.select("exec_id", "conn_event_id", "conn_time_ns").row(0) == ("e-sender", "k1", 100 * S + 80_000_000)
    # no offset known: the process whose arguments name the call's object sent it
    named = k.with_columns(pl.Series("args", ["get secret token", "get configmap settings -n app"]))
    assert attribute(c, a, k=named)["exec_id"].to_list() == ["e-sender"]
    # both name it (or neither): the last connect before the call, as before
    both = k.with_columns(pl.Series("args", ["get cm settings", "get configmap settings -n app"]))
    assert attribute(c, a, k=both)["exec_id"].to_list() == ["e-earlier"]
    neither = k.with_columns(pl.Series("args", ["get pods", "get nodes"]))
    assert attribute(c, a, k=neither)["exec_id"].to_list() == ["e-earlier"]


def procs(*rows: tuple) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema={"exec_id": pl.String, "namespace": pl.String, "pod": pl.String,
                                            "start_ns": pl.Int64, "in_init_tree": pl.Boolean,
                                            "parent_pod": pl.String, "parent_namespace": pl.String,
                                            "container_name": pl.String}, orient="row")


def test_exec_links_the_shell_the_runtime_started_in_the_target_pod():
    c = calls({"verb": "create", "resource": "pods", "subresource": "exec", "namespace": "default",
               "name": "tiefighter", "request_uri": "/api/v1/namespaces/default/pods/tiefighter/exec?"
               "command=sh&container=spaceship&stdin=true&tty=true"})
    p = procs(("main", "default", "tiefighter", 1 * S, True, None, None, "spaceship"),
              ("loop", "default", "tiefighter", 100 * S + 5, True, "tiefighter", "default", "spaceship"),
              ("side", "default", "tiefighter", 100 * S + 7, False, None, None, "istio-proxy"),
              ("sh", "default", "tiefighter", 100 * S + 9, False, None, None, "spaceship"),
              ("id", "default", "tiefighter", 100 * S + 20, False, "tiefighter", "default", "spaceship"),
              ("elsewhere", "default", "xwing", 100 * S + 8, False, None, None, "spaceship"))
    out = _api.link_started(c, p)
    assert out.select("link", "target_pod", "linked_exec_id").row(0) == ("exec", "tiefighter", "sh")
    assert out["linked_exec_ids"].to_list() == [["sh"]]
    # too late: nothing
    late = _api.link_started(c.with_columns(pl.lit(50 * S).alias("time_ns")), p)
    assert late["linked_exec_id"].to_list() == [None]


def test_attach_links_the_first_process_after_it():
    c = calls({"verb": "create", "resource": "pods", "subresource": "attach", "namespace": "default",
               "name": "web-1"})
    p = procs(("main", "default", "web-1", 1 * S, True, None, None, "web"),
              ("typed", "default", "web-1", 103 * S, True, "web-1", "default", "web"))
    assert _api.link_started(c, p)["linked_exec_id"].to_list() == ["typed"]


def test_create_pod_links_the_created_pod_and_its_first_processes():
    c = calls({"verb": "create", "resource": "pods", "namespace": "ci", "created_name": "node-debug"},
              {"verb": "create", "resource": "pods", "namespace": "ci"},  # the log does not name it
              {"verb": "get", "resource": "pods", "namespace": "ci", "name": "node-debug"})
    p = procs(*[(f"p{i}", "ci", "node-debug", 103 * S + i, i == 0, None, None, "c") for i in range(7)],
              ("before", "ci", "node-debug", 10 * S, True, None, None, "c"))
    out = _api.link_started(c, p)
    assert out["link"].to_list() == ["created-pod", None, None]
    assert out["target_pod"].to_list() == ["node-debug", None, "node-debug"]
    assert out["linked_exec_id"].to_list() == ["p0", None, None]
    assert out["linked_exec_ids"][0].to_list() == ["p0", "p1", "p2", "p3", "p4"]
