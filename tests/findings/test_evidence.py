"""Evidence builders, each on a few rows of plain polars data."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings import _evidence as E
from kernelsec_nb.findings.detections import DETECTION_SCHEMA

S = 1_000_000_000


def test_is_internal():
    assert E.is_internal("192.168.1.1") and E.is_internal("fd00::1") and E.is_internal("169.254.1.1")
    assert E.is_internal("100.64.3.2") and E.is_internal(None) and E.is_internal("not-an-ip")
    assert not E.is_internal("8.8.8.8") and not E.is_internal("2001:4860::8888")


def test_detections_weigh_by_level_and_keep_rule_and_techniques():
    hits = pl.DataFrame({"rule_id": ["falco:a", "falco:b", "falco:c"], "title": ["A", "B", "C"],
                         "level": ["critical", "informational", "low"], "techniques": [["T1059"], [], []],
                         "exec_id": ["e1", "e1", None], "event_id": ["h1", "h2", "h3"]},
                        schema_overrides={"techniques": pl.List(pl.String)})
    got = E.detections_on_processes(hits.with_columns(
        *(pl.lit(None, t).alias(c) for c, t in DETECTION_SCHEMA.items() if c not in hits.columns)))
    assert got.select("exec_id", "weight", "rule_id").rows() == [("e1", 4.0, "falco:a"), ("e1", 0.0, "falco:b")]
    assert got["techniques"][0].to_list() == ["T1059"]


def test_entry_kinds_exec_in_and_service_child():
    p = pl.DataFrame({
        "exec_id": ["main", "kid", "early", "shell", "host"],
        "parent_exec_id": [None, "main", "main", "shim", None],
        "pod": ["web", "web", "web", "web", None], "binary": ["/srv", "/bin/sh", "/bin/setup", "/bin/sh", "/shim"],
        "start_ns": [0, 600 * S, 10 * S, 700 * S, 0], "in_init_tree": [True, True, True, False, None]})
    got = E.entry_kinds(p).select("exec_id", "kind").rows()
    assert got == [("shell", "exec_in"), ("kid", "service_child")]  # "early" is the start, not a service's child


def test_outside_connections_skip_internal_and_routine_destinations():
    c = pl.DataFrame({"exec_id": ["a", "a", "b", "c"], "src_workload": ["dbg", "dbg", "web", "web"],
                      "dst_ip": ["6.6.6.6", "6.6.6.6", "10.0.0.2", "93.184.216.34"], "dst_port": [4444, 4444, 80, 443],
                      "time_ns": [1, 2, 3, 4], "event_id": ["f1", "f2", "f3", "f4"]})
    routine = pl.DataFrame({"src_workload": ["web"], "dst": ["93.184.216.34"], "dst_port": [443], "weight": [0.8],
                            "reason": ["web talks to it all day"]})
    got = E.outside_connections(c, routine)
    assert got.select("exec_id", "event_id").rows() == [("a", "f1")]
    # the same external API from a debugging shell of a workload that calls it all day is no evidence
    dbg = c.with_columns(pl.lit("web").alias("src_workload"))
    assert E.outside_connections(dbg.filter(pl.col("exec_id") == "c"), routine).height == 0


def test_blocked_and_new_state_changing_requests():
    f = pl.DataFrame({
        "event_id": ["f1", "f2", "f3", "f4"], "time_ns": [1, 2, 3, 4], "exec_id": ["a", "a", "b", "a"],
        "dst_pod": ["api-1", "api-1", "api-1", "api-1"], "dst_workload": ["api"] * 4, "dst_ip": ["10.0.0.3"] * 4,
        "dst_port": [80] * 4, "src_workload": ["cli"] * 4, "verdict": ["DROPPED", "DROPPED", "FORWARDED", "FORWARDED"],
        "http_method": ["PUT", "PUT", "POST", "GET"], "http_path": ["/v1/x", "/v1/x", "/v1/land/42", "/"],
        "http_url": [None, None, "http://api/v1/land/42", None], "is_reply": [False] * 4})
    routine = E.request_keys(f.filter(pl.col("exec_id") == "b")).select(
        "src_workload", pl.col("dst_workload").alias("dst"), "dst_port").with_columns(
        pl.lit(0.8).alias("weight"), pl.lit("all day").alias("reason"))
    assert routine["dst"].to_list() == ["api POST /v<n>/land/<n>"]
    got = E.blocked_and_requests(f, routine)
    # a PUT the policy dropped is blocked, not sent (two kinds of acts from one refused request
    # would outrank the same request that got through); the retry that got through is the request
    assert got.select("exec_id", "kind", "event_id").rows() == [("a", "blocked", "f1")]
    through = E.blocked_and_requests(f.with_columns(
        pl.when(pl.col("event_id") == "f2").then(pl.lit("FORWARDED")).otherwise("verdict").alias("verdict")), routine)
    assert through.select("exec_id", "kind", "event_id").rows() == [("a", "blocked", "f1"), ("a", "request", "f2")]
    assert through["text"][1] == "sent PUT /v1/x"


def test_signals_prefer_a_sender_in_the_dead_process_pod():
    p = pl.DataFrame({
        "exec_id": ["victim", "kill", "probe", "old"], "node": ["n"] * 4, "pod": ["p", "p", "q", "p"],
        "binary": ["/app", "/bin/kill", "/probe", "/x"], "start_ns": [0, 100 * S, 99 * S, 10 * S],
        "exit_ns": [100 * S + 1000, 100 * S + 2000, 101 * S, 20 * S], "signal": ["SIGKILL", None, None, None]})
    got = E.signals(p)
    assert got.select("exec_id", "text").rows() == [("kill", "/app died by SIGKILL while it ran")]
    # without a candidate in its pod, any process of the node that ran then
    assert E.signals(p.filter(pl.col("exec_id") != "kill"))["exec_id"].to_list() == ["probe"]


def test_from_edges_handoff_and_lateral():
    e = pl.DataFrame({"src": ["proc:w", "proc:c", "file:a/p:/x", "proc:c"],
                      "dst": ["file:a/p:/x", "proc:j", "proc:r", "file:b/q:/y"],
                      "kind": ["write", "service", "exec_file", "service_write"], "time_ns": [1, 2, 3, 4],
                      "why": ["wrote /x", "b/q started /bin/sh", "ran /x", "b/q wrote /y"],
                      "event_id": ["k1", None, None, "k2"]})
    got = E.from_edges(e).select("exec_id", "kind").rows()
    assert got == [("w", "file_handoff"), ("c", "lateral"), ("c", "lateral")]


def test_persistence_by_a_persistence_technique_not_by_the_tactic_alone():
    # a rule tagged with the persistence tactic only ("Drop and execute new binary in container":
    # Falco's mitre_persistence) saw an exec, not a persistence: its tag is no act
    hits = pl.DataFrame({"exec_id": ["tee", "cat", "cp"], "rule_id": ["falco:cron", "falco:read", "sigma:x"],
                         "title": ["Schedule Cron Jobs", "Read", "Unit"],
                         "techniques": [["T1053.003"], ["T1555"], []],
                         "tactics": [["execution"], ["credential-access"], ["persistence"]], "event_id": ["a", "b", "c"]})
    got = E.persistence(hits)
    assert got.select("exec_id", "kind").rows() == [("tee", "persistence")]
    assert got["text"][0] == "made itself persistent: Schedule Cron Jobs"


def test_around_policy_another_port_of_a_refused_destination_soon_after():
    from kernelsec_nb.findings._evidence import around_policy

    s = 1_000_000_000
    f = pl.DataFrame({
        "exec_id": ["wget", "curl", "again", "late", None, "other"],
        "src_pod": ["p", "p", "p", "p", "p", "q"], "dst_pod": ["db-0"] * 6, "dst_ip": ["10.0.0.5"] * 6,
        "dst_port": [80, 8081, 80, 9090, 8082, 8081],
        "verdict": ["DROPPED", "FORWARDED", "FORWARDED", "FORWARDED", "FORWARDED", "FORWARDED"],
        "time_ns": [0, s, 2 * s, 3600 * s, s, s], "event_id": [f"f{i}" for i in range(6)], "is_reply": [False] * 6})
    got = around_policy(f)
    # the same port later (a fixed policy), an hour later, no process, another pod: none of them
    assert got.select("exec_id", "kind").rows() == [("curl", "around_policy")]


def test_blocked_not_when_the_policy_also_refuses_the_pods_main_process_there():
    s = 1_000_000_000
    f = pl.DataFrame({"exec_id": ["app", "curl", "curl"], "src_pod": ["p"] * 3, "dst_pod": ["pay-0", "pay-0", "db-0"],
                      "dst_ip": ["10.0.0.5", "10.0.0.5", "10.0.0.6"], "dst_port": [8080, 8080, 5432],
                      "verdict": ["DROPPED"] * 3, "time_ns": [0, s, 2 * s], "event_id": ["f1", "f2", "f3"],
                      "is_reply": [False] * 3})
    got = E.blocked_and_requests(f, None, usual=["app"])
    assert got.select("exec_id", "text").rows() == [("curl", "a policy dropped its connection to db-0:5432")]
    assert E.blocked_and_requests(f, None).height == 3


def test_signals_a_command_naming_its_signal_counts_only_for_a_death_by_it():
    # `kill -HUP 1` reloads; a `tail -f` stops by SIGINT 2 s later: no kill
    p = pl.DataFrame({
        "exec_id": ["tail", "reload", "kill9"], "node": ["n"] * 3, "pod": ["p"] * 3,
        "binary": ["/usr/bin/tail", "/bin/kill", "/bin/kill"], "args": ["-f /log", "-HUP 1", "-9 7"],
        "start_ns": [0, 100 * S, 100 * S], "exit_ns": [102 * S, 100 * S + 1000, 100 * S + 1000],
        "signal": ["SIGINT", None, None]})
    assert E.signals(p).height == 0
    assert E.signals(p.with_columns(pl.lit("SIGKILL").alias("signal")))["exec_id"].to_list() == ["kill9"]


def test_dns_tunnels_many_random_names_under_one_domain_not_a_cdn_nor_service_names():
    q = ([f"{i:032x}.x.exfil.example.net." for i in range(20)]
         + [f"{i % 12:032x}.cloudfront.net." for i in range(120)]               # a CDN: 12 names, again and again
         + [f"payments-processor-v{i}.finance.svc.cluster.local." for i in range(60)])  # service names
    src = ["tun"] * 20 + ["web"] * 180
    f = pl.DataFrame({"exec_id": src, "dns_query": q, "event_id": [f"e{i}" for i in range(200)],
                      "time_ns": list(range(200))})
    got = E.dns_tunnels(f)
    assert got.select("exec_id", "kind", "event_id").rows() == [("tun", "dns_tunnel", "e0")]
    assert E.dns_tunnels(f.head(19)).height == 0  # below the threshold


def test_arrivals_an_exec_d_shells_exec_rule_is_its_arrival():
    from kernelsec_nb.findings._evidence import DETECTION, EXEC_IN, arrivals
    ev = pl.DataFrame({"exec_id": ["sh", "sh", "sh", "sh", "sh", "x"],
                       "kind": [EXEC_IN, DETECTION, DETECTION, DETECTION, DETECTION, DETECTION],
                       "weight": [1.0, 3.0, 1.0, 3.0, 2.0, 3.0],
                       "techniques": [None, ["T1609", "T1059.004"], ["T1059"], ["T1609", "T1105"], [], ["T1609"]]},
                      schema_overrides={"techniques": pl.List(pl.String)})
    # a terminal shell (T1059 alone) is the arrival too; a rule saying more, or nothing, is not; x was not exec'd in
    assert arrivals(ev).to_list() == [False, True, True, False, False, False]


def test_random_labels_base32_or_hex_data_yes_words_with_digits_no():
    import base64
    import random

    rnd = random.Random(5)
    for size in (10, 20, 35):  # 16, 32 and 56 characters of base32: few digits, letters spread evenly
        assert E.random_labels([base64.b32encode(rnd.randbytes(size)).decode().lower().rstrip("=") for _ in range(20)])
    assert E.random_labels([f"{i * 7919:020x}" for i in range(20)])
    assert not E.random_labels(["averyveryverylongsubdomainname", "metricscollector2", "storageaccount2024prod",
                                "myapplicationserver3", "accountsgoogleusercontent1", "s3dualstackuseast1"])
    assert not E.random_labels([])


def test_dns_tunnel_queries_of_a_pod_without_process_and_the_shared_domain():
    """A pod's lookups no flow attributes (``exec_id`` null) are the pod's: 25 base32 labels under
    t.x.example are a tunnel named by the labels they share; the resolver's answers and another
    pod's few names are not."""
    import base64
    import random

    rnd = random.Random(3)
    names = [f"{base64.b32encode(rnd.randbytes(20)).decode().lower().rstrip('=')}.{i:03x}.t.x.example."
             for i in range(25)]
    f = pl.DataFrame({"exec_id": [None] * 30, "src_namespace": ["a"] * 30, "src_pod": ["w-1"] * 25 + ["v-1"] * 5,
                      "dns_query": names + names[:5], "event_id": [f"q{i}" for i in range(30)],
                      "time_ns": list(range(30)), "is_reply": [False] * 30},
                     schema_overrides={"exec_id": pl.String})
    q = E.dns_tunnel_queries(pl.concat([f, f.with_columns(pl.lit(True).alias("is_reply"))]))
    assert q.height == 25 and set(q["src_pod"]) == {"w-1"} and set(q["domain"]) == {"t.x.example"}
    assert q["exec_id"].null_count() == 25
    assert E.dns_tunnels(f).height == 0  # a pod's lookups name no process: no evidence until attributed


def test_attribute_to_lineage_the_live_ancestor_of_the_pods_last_started_process():
    """The pod's last non-routine process before the lookups is a short-lived shell; its parent (a
    long-running program) was still running then: it gets them.  A routine probe started later and
    a process of another pod do not count; nothing started in the window leaves the row alone."""
    p = pl.DataFrame({"exec_id": ["init", "app", "prog", "sh", "probe", "other"],
                      "parent_exec_id": [None, "init", "init", "prog", "init", None],
                      "namespace": ["a"] * 6, "pod": ["w-1"] * 5 + ["v-1"],
                      "binary": ["/bin/sh", "/app", "/prog", "/bin/sh", "/probe", "/x"],
                      "start_ns": [0, S, S, 100 * S, 103 * S, 103 * S], "exit_ns": [None, None, None, 101 * S, 103 * S, None]})
    r = pl.DataFrame({"exec_id": [None, None, "known"], "src_namespace": ["a", "a", "a"], "src_pod": ["w-1", "w-1", "w-1"],
                      "domain": ["t.x", "t.x", "u.y"], "time_ns": [104 * S, 105 * S, 104 * S]},
                     schema_overrides={"exec_id": pl.String})
    got = E.attribute_to_lineage(r, p, ["probe", "app"])
    assert got["exec_id"].to_list() == ["prog", "prog", "known"]
    assert got["rule_id"].to_list() == [E.ATTRIBUTED, E.ATTRIBUTED, None]
    assert "/prog" in got["_how"][0] and "/bin/sh" in got["_how"][0]
    late = E.attribute_to_lineage(r.with_columns(pl.col("time_ns") + 3600 * S), p, ["probe", "app"])
    assert late["exec_id"].to_list() == [None, None, "known"]


def test_a_tunnel_of_one_lookup_tool_per_chunk_is_one_tunnel_owned_by_the_loop():
    """A shell loop runs a lookup tool per chunk (each names its own process): 24 processes with one
    name each are one tunnel of the pod, owned by the loop (not attributed by time)."""
    import base64
    import random

    rnd = random.Random(9)
    n = 24
    names = [f"{base64.b32encode(rnd.randbytes(25)).decode().lower().rstrip('=')}.{i}.d.x.example." for i in range(n)]
    f = pl.DataFrame({"exec_id": [f"dig{i}" for i in range(n)], "src_namespace": ["a"] * n, "src_pod": ["w-1"] * n,
                      "dns_query": names, "event_id": [f"q{i}" for i in range(n)], "time_ns": list(range(n))})
    p = pl.DataFrame({"exec_id": ["sh", "loop", *(f"dig{i}" for i in range(n))],
                      "parent_exec_id": [None, "sh", *(["loop"] * n)], "namespace": ["a"] * (n + 2),
                      "pod": ["w-1"] * (n + 2), "binary": ["/bin/sh", "/bin/sh", *(["/usr/bin/dig"] * n)],
                      "start_ns": list(range(n + 2)), "exit_ns": [None] * (n + 2)},
                     schema_overrides={"exit_ns": pl.Int64})
    q = E.attribute_to_lineage(E.dns_tunnel_queries(f), p, [])
    assert q.height == n and set(q["exec_id"]) == {"loop"} and q["rule_id"].null_count() == n
    ev = E.dns_tunnels(f, queries=q)
    assert ev.select("exec_id", "kind").rows() == [("loop", "dns_tunnel")]
    assert ev["text"][0] == f"sent data out in {n} distinct random-looking DNS names under d.x.example"


def test_around_policy_finds_what_the_join_of_every_pair_finds():
    """The as-of join keeps the answer of joining every connection with every refusal of the same
    destination (which grows with their product on a busy day)."""
    import random

    from kernelsec_nb.findings._evidence import around_policy
    rng = random.Random(5)
    s = 1_000_000_000
    rows = [{"exec_id": f"p{rng.randint(0, 5)}", "src_pod": f"pod{rng.randint(0, 2)}", "dst_pod": f"db{rng.randint(0, 1)}",
             "dst_ip": "10.0.0.5", "dst_port": rng.choice([80, 443, 5432, 8080]),
             "time_ns": rng.randint(0, 3000) * s, "event_id": f"f{i}"} for i in range(300)]
    f = pl.DataFrame(rows).with_columns(  # the policy refuses port 80 (most of the time) and db1's 5432
        pl.when(((pl.col("dst_port") == 80) & (pl.col("time_ns") % 3 > 0))
                | ((pl.col("dst_port") == 5432) & (pl.col("dst_pod") == "db1")))
        .then(pl.lit("DROPPED")).otherwise(pl.lit("FORWARDED")).alias("verdict"))
    got = set(around_policy(f).select("exec_id", "text").with_columns(
        pl.col("text").str.replace(r" after a policy.*", "")).rows())
    # the reference: every pair, then the same filters
    ok = f.filter(pl.col("verdict") == "FORWARDED")
    ref = f.filter(pl.col("verdict") == "DROPPED").select("src_pod", "dst_pod", pl.col("dst_port").alias("_rp"),
                                                            pl.col("time_ns").alias("_rt"))
    pairs = ok.join(ref, on=["src_pod", "dst_pod"]).filter(
        (pl.col("dst_port") != pl.col("_rp")) & (pl.col("_rt") <= pl.col("time_ns"))
        & (pl.col("time_ns") - pl.col("_rt") <= 600 * s))
    pairs = pairs.join(ref.select("src_pod", "dst_pod", pl.col("_rp").alias("dst_port")).unique(),
                       on=["src_pod", "dst_pod", "dst_port"], how="anti")
    want = {(x, f"got through to {d}:{p}") for x, d, p in pairs.select("exec_id", "dst_pod", "dst_port").unique().rows()}
    assert got == want and got


def test_around_policy_the_latest_refusal_on_another_port_within_the_window():
    """Of the refusals on other ports, one within the window before the flow counts (an older one
    on a port refused again recently does too); one after it, or only one too old, does not."""
    w = E.DEFAULT.around_window_ns
    f = pl.DataFrame({"exec_id": [None, None, None, "a", "b", "c"], "src_pod": ["p"] * 6, "dst_pod": ["db-0"] * 6,
                      "dst_ip": ["10.0.0.5"] * 6, "dst_port": [80, 80, 22, 8081, 8082, 8083],
                      "verdict": ["DROPPED", "DROPPED", "DROPPED", "FORWARDED", "FORWARDED", "FORWARDED"],
                      "time_ns": [0, w + 10 * S, 5 * w, w + 20 * S, 4 * w, 3 * w],
                      "event_id": [f"f{i}" for i in range(6)]})
    got = E.around_policy(f)
    assert got.select("exec_id", "event_id").rows() == [("a", "f3")]
    assert got["text"][0] == "got through to db-0:8081 after a policy refused its pod on port 80"


def test_once_one_rule_of_two_engines_on_one_process_counts_once():
    """Falco and Tracee both naming one rule on one ``apt-get`` saw one thing: one detection (the
    same rule at another level, another rule, another process, and non-detections keep theirs)."""
    ev = pl.DataFrame({
        "exec_id": ["a", "a", "a", "a", "b", "a", "a"],
        "kind": [E.DETECTION] * 5 + [E.CONNECT_OUT, E.CONNECT_OUT],
        "weight": [2.25, 2.25, 1.0, 2.25, 2.25, 1.0, 1.0],
        "text": ["Pkg (high)", "Pkg (high)", "Pkg (low)", "Other (high)", "Pkg (high)", "to x", "to x"],
        "event_id": ["e1", "e2", "e3", "e4", "e5", "e6", "e7"],
        "rule_id": ["falco:Pkg", "tracee:Pkg", "falco:Pkg", "falco:Other", "tracee:Pkg", "r1", "r2"]})
    got = E.once(ev)
    assert got["event_id"].to_list() == ["e1", "e3", "e4", "e5", "e6", "e7"]
    assert got.columns == ev.columns
