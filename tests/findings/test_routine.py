"""Routine rules, each on a few rows of plain polars data."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings.routine import (
    RoutineSettings,
    arg_shape,
    destinations,
    job_detections,
    job_pods,
    replicas,
    routine,
    schedule,
    startup,
    two_runs,
)

S = 1_000_000_000


def _procs(rows):
    cols = ["exec_id", "parent_exec_id", "workload", "pod", "binary", "args", "start_ns", "in_init_tree"]
    return pl.DataFrame([dict(zip(cols, r, strict=True)) for r in rows], schema={
        "exec_id": pl.String, "parent_exec_id": pl.String, "workload": pl.String, "pod": pl.String,
        "binary": pl.String, "args": pl.String, "start_ns": pl.Int64, "in_init_tree": pl.Boolean})


def test_arg_shape_masks_numbers_and_hex_ids_only():
    got = pl.select(arg_shape(pl.Series(["--since 1715670000 /tmp/job-7f3a9c21e0", "deadbeef 0a1b2c 12",
                                         "-c cafe face"]))).to_series().to_list()
    assert got == ["--since <n> /tmp/job-<hex>", "deadbeef <hex> <n>", "-c cafe face"]  # words of hex letters alone stay


def test_replicas_needs_most_pods_of_the_workload_and_the_same_shape():
    p = _procs([
        ("a", None, "web", "web-1", "/bin/probe", "--id 11", 0, True),
        ("b", None, "web", "web-2", "/bin/probe", "--id 22", 0, True),
        ("c", None, "web", "web-3", "/bin/probe", "--id 33", 0, True),
        ("d", None, "web", "web-1", "/bin/sh", "", 0, False),      # one pod only
        ("e", None, "one", "one-1", "/bin/probe", "", 0, True),     # a single-pod workload says nothing
        ("f", None, "web", "web-2", "/bin/probe", "--id 22", 0, False),  # outside the init tree: another command
    ])
    got = replicas(p)
    assert got.rows() == [(x, 0.6, "runs in all 3 replicas") for x in "abc"]


def test_schedule_regular_intervals_in_a_pod_not_a_burst_of_retries():
    t = [0, 10, 20, 31, 40, 50]
    rows = [(f"s{i}", "root", "w", "p", "/bin/check", "", x * S, True) for i, x in enumerate(t)]
    rows += [(f"r{i}", "sh", "w", "p", "/usr/bin/curl", "-XPUT x", x * S, False)
             for i, x in enumerate([1, 40, 42, 44])]  # retried by hand: irregular
    got = schedule(_procs(rows))
    assert sorted(got["exec_id"].to_list()) == [f"s{i}" for i in range(6)]
    assert set(got["reason"]) == {"runs every 10 s"}


def test_schedule_needs_the_runs_to_cover_the_time_the_pod_was_seen():
    # a beacon loop started late: regular, but only in the last part of the pod's hour
    rows = [("x0", None, "w", "p", "/app", "", 0, True)]
    rows += [(f"b{i}", "sh", "w", "p", "/bin/beacon", "", (3000 + 10 * i) * S, False) for i in range(20)]
    rows += [("x1", None, "w", "p", "/app", "", 3600 * S, True)]
    assert schedule(_procs(rows)).height == 0
    assert schedule(_procs(rows), RoutineSettings(min_span_share=0.01)).height == 20


def test_schedule_across_the_workloads_pods_for_a_cronjob():
    rows = [(f"c{i}", None, "report", f"report-{i}", "/bin/report", f"--run {i}", i * 900 * S, True)
            for i in range(4)]
    got = schedule(_procs(rows))
    assert got.height == 4 and set(got["reason"]) == {"runs every 15 min"}


def test_startup_is_the_init_tree_at_the_pods_start_and_what_ran_before_the_capture():
    p = _procs([
        ("a", None, "w", "p", "/entry", "", 100 * S, True),
        ("b", "a", "w", "p", "/bin/sh", "-c setup", 130 * S, True),
        ("c", "a", "w", "p", "/bin/sh", "-c id", 900 * S, True),   # the service's child, later: not startup
        ("d", None, "w", "p", "/bin/sh", "", 101 * S, False),      # exec'd from outside
        ("e", None, "w", "p2", "/entry", "", 100 * S, True),        # a second pod of the workload
    ]).with_columns(pl.Series("seen_as", ["event", "exec", "exec", "exec", "exec"]))
    got = startup(p)
    assert got["exec_id"].to_list() == ["a", "b", "e"]
    # a lone pod's start is nothing to compare with: only what ran before the capture stays routine
    assert startup(p.filter(pl.col("pod") == "p"))["exec_id"].to_list() == ["a"]
    assert got.filter(pl.col("exec_id") == "a")["reason"].item().startswith("the container's own start")


def test_routine_combines_schedule_and_replicas_and_leaves_the_rest_at_zero():
    rows = []
    for pod in ("web-1", "web-2", "web-3"):
        rows += [(f"{pod}-{i}", "root", "web", pod, "/bin/probe", "", (i * 10 + 1) * S, True) for i in range(5)]
    rows.append(("odd", "sh", "web", "web-2", "/usr/bin/nc", "1.2.3.4 4444", 25 * S, False))
    got = routine(_procs(rows))
    probe = got.filter(pl.col("exec_id") == "web-1-0").row(0)
    assert probe == ("web-1-0", 0.9, "runs every 10 s in all 3 replicas")
    assert got.filter(pl.col("exec_id") == "odd").row(0) == ("odd", 0.0, "")
    assert got.height == len(rows)


def test_destinations_all_day_versus_once():
    h = 3600 * S
    f = pl.DataFrame({
        "src_workload": ["web"] * 7 + ["dbg"],
        "dst_workload": ["db", "db", "db", "db", None, None, None, None],
        "dst_ip": ["10.0.0.2"] * 4 + ["93.184.216.34"] * 3 + ["93.184.216.34"],
        "dst_port": [5432] * 4 + [443] * 3 + [443],
        "time_ns": [0, h, 2 * h, 3 * h, 0, 2 * h, 3 * h, 3 * h],
        "is_reply": [False] * 8})
    got = destinations(f, RoutineSettings(destination_windows=4))
    assert got.select("src_workload", "dst", "dst_port").rows() == [
        ("web", "93.184.216.34", 443), ("web", "db", 5432)]
    assert "3 of 4 windows" in got["reason"][0]
    # the same external API from another workload once is not that workload's routine
    assert "dbg" not in got["src_workload"].to_list()


def test_schedule_ignores_starts_from_before_the_capture():
    # three main processes started long before the capture, hours apart by chance
    rows = [(f"m{i}", None, "agent", f"agent-{i}", "/agent", "", -i * 3600 * S, True) for i in range(3)]
    p = _procs(rows).with_columns(pl.lit("event").alias("seen_as"))
    assert schedule(p).height == 0
    assert schedule(p.with_columns(pl.lit("exec").alias("seen_as"))).height == 3


def test_host_processes_compare_across_nodes():
    rows = [(f"h{i}", None, None, None, "/usr/sbin/runc", "--root /run/x", i * S, None) for i in range(3)]
    p = _procs(rows).with_columns(pl.Series("node", ["n1", "n2", "n3"]))
    assert set(replicas(p)["reason"]) == {"runs on 3 of 3 nodes"}
    assert replicas(p.with_columns(pl.lit("n1").alias("node"))).height == 0


def test_detections_routine_all_day_on_a_workload_not_a_burst():
    from kernelsec_nb.findings.routine import detections_routine

    h = 3600 * S
    hits = pl.DataFrame({
        "workload": ["ci"] * 6 + ["web"] * 3, "rule_id": ["shell"] * 6 + ["shell"] * 3,
        "exec_id": [f"c{i}" for i in range(6)] + ["w0", "w1", "w2"],
        "time_ns": [0, h, 2 * h, 3 * h, 4 * h, 5 * h, 5 * h, 5 * h + 1, 5 * h + 2]})
    got = detections_routine(hits, RoutineSettings(destination_windows=6))
    assert got.select("workload", "rule_id").rows() == [("ci", "shell")]   # web's three are one burst
    assert got["reason"][0] == "fires on ci all through the capture (6 processes, 6 of 6 windows)"


def test_repeated_detections_on_a_routine_process_all_through_the_capture():
    """A main process polls the API every ~40 min over 3 h: the rule is that process's routine.
    The same hits on a process that is not routine, a burst, or one hit at each end, are not."""
    from kernelsec_nb.findings.routine import repeated_detections

    m = 60 * S
    poll = [0, 41 * m, 83 * m, 124 * m, 170 * m]
    hits = pl.DataFrame({
        "exec_id": ["main"] * 5 + ["implant"] * 5 + ["burst"] * 4 + ["ends"] * 3,
        "rule_id": ["api"] * 17,
        "time_ns": poll + poll + [90 * m + i * S for i in range(4)] + [0, S, 170 * m]})
    got = repeated_detections(hits, ["main", "burst", "ends"])
    assert got.select("exec_id", "rule_id").rows() == [("main", "api")]
    assert got["reason"][0] == "fires on this process all through the capture (5 times, 5 of 12 windows)"
    assert repeated_detections(hits.head(0), ["main"]).height == 0


def test_startup_a_host_daemon_running_before_the_capture_is_routine_what_it_starts_is_not():
    # cron on the node (no pod), seen only as the parent of its jobs; a job it starts is no daemon
    p = _procs([("cron", None, None, None, "/usr/sbin/cron", "-f", None, None),
                ("job", "cron", None, None, "/bin/sh", "-c x", 100 * S, None)]).with_columns(
        pl.Series("seen_as", ["parent", "exec"]), pl.lit("n1").alias("node"))
    got = startup(p)
    assert got["exec_id"].to_list() == ["cron"]
    assert got["reason"].item() == "already running on the node's host when the capture began"


M = 60 * S
H = 60 * M


def test_two_runs_a_schedule_would_start_no_other_run_in_the_capture():
    rows = [("cap0", None, "w", "p", "/app", "", 0, True),              # the capture: 0 to 2 h 10 min
            ("loop", None, "w", "p", "/loop", "", 25 * M, True),
            ("r1", "loop", "w", "p", "/tmp/bk", "backup /data", 30 * M + 5 * S, True),
            ("r2", "loop", "w", "p", "/tmp/bk", "backup /data", H + 30 * M + 5 * S, True),
            ("cap1", None, "w", "p", "/app", "", 2 * H + 10 * M, True)]
    got = two_runs(_procs(rows))
    assert got["exec_id"].to_list() == ["r1", "r2"]
    assert set(got["weight"]) == {0.7} and "like cron" in got["reason"][0]
    # not on the minute (a loop's sleep drifts): the same, weighed less
    drift = [r if r[0] != "r2" else ("r2", "loop", "w", "p", "/tmp/bk", "backup /data", H + 30 * M + 35 * S, True)
             for r in rows]
    assert set(two_runs(_procs(drift))["weight"]) == {0.4}
    # close together in a long capture: a schedule would have run again in it
    close = [r if r[0] != "r2" else ("r2", "loop", "w", "p", "/tmp/bk", "backup /data", 40 * M + 5 * S, True)
             for r in rows]
    assert two_runs(_procs(close)).height == 0
    # run by hand from two shells: not one process's schedule
    hand = [r if r[0] != "r2" else ("r2", "sh2", "w", "p", "/tmp/bk", "backup /data", H + 30 * M + 5 * S, True)
            for r in rows]
    assert two_runs(_procs(hand)).height == 0


def test_two_runs_of_a_cronjob_in_two_pods_of_its_workload():
    rows = [("a", None, "rep", "rep-1", "/bin/report", "", 10 * M, True),
            ("b", None, "rep", "rep-2", "/bin/report", "", 70 * M, True),
            ("x", None, "web", "web-1", "/srv", "", 0, True), ("y", None, "web", "web-1", "/srv", "", 100 * M, True)]
    assert two_runs(_procs(rows))["exec_id"].to_list() == ["a", "b"]
    assert routine(_procs(rows)).filter(pl.col("exec_id") == "a")["routine"].item() == 0.7


def test_job_pods_the_job_controllers_label_and_only_the_pods_own_tree():
    labels = pl.List(pl.Struct({"key": pl.String, "value": pl.String}))
    p = _procs([("e", None, "bk", "bk-1-x", "/bin/sh", "-c /backup.sh", 0, True),
                ("c", "e", "bk", "bk-1-x", "/usr/bin/aws", "s3 cp x", S, True),
                ("d", "shim", "bk", "bk-1-x", "/bin/sh", "", 2 * S, False),         # exec'd in
                ("w", None, "web", "web-1", "/srv", "", 0, True)]).with_columns(pl.Series("pod_labels", [
                    [{"key": "batch.kubernetes.io/job-name", "value": "bk-1"}]] * 3 + [[{"key": "app", "value": "web"}]],
                    dtype=labels))
    assert job_pods(p)["exec_id"].to_list() == ["e", "c"]
    assert job_pods(p.drop("pod_labels")).height == 0


def test_job_detections_rules_most_jobs_of_a_service_trip_not_what_is_new_in_one():
    p = _procs([("svc", None, "ci", "ci-0", "/runner", "", 0, True)]
               + [(f"j{i}", "svc", "ci", "ci-0", "/bin/sh", f"-c s{i}", (10 + i) * S, True) for i in range(4)]
               + [(f"t{i}", f"j{i}", "ci", "ci-0", "/tool", "", (10 + i) * S, True) for i in range(4)]
               + [(f"u{i}", f"t{i}", "ci", "ci-0", f"/tmp/{i}.test", "", (10 + i) * S, True) for i in range(4)])
    hits = pl.DataFrame({"exec_id": ["u0", "u1", "u2", "u3", "u3", "j0"],
                         "rule_id": ["tmp", "tmp", "tmp", "tmp", "pkg", "shell"]})
    got = job_detections(p, hits)
    assert got.select("exec_id", "rule_id").rows() == [(f"u{i}", "tmp") for i in range(4)]  # two levels down
    assert set(got["reason"]) == {"fires in 4 of 4 jobs of /runner"}
    # two jobs are not a service running jobs
    assert job_detections(p.filter(~pl.col("exec_id").is_in(["j2", "j3"])), hits).height == 0
    # a job of another pod's process (the runtime exec'ing in) is no job of a service
    assert job_detections(p.with_columns(pl.col("in_init_tree").and_(pl.col("exec_id") != "svc")), hits).height == 0
