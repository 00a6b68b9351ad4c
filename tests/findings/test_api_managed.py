"""An operator's calls into the namespace it reconciles all day (``findings._api_managed``): its
exec of a backup command into the database pod and its Job create are its routine, not the
routine process turned bad; the same calls by a process that polls nothing there are acts."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings._api_managed import managed_calls
from kernelsec_nb.findings.engine import find_in
from tests.findings.test_engine import MS, S, _hits, flow, frames, proc

API = {"event_id": pl.String, "time_ns": pl.Int64, "verb": pl.String, "resource": pl.String,
       "subresource": pl.String, "namespace": pl.String, "name": pl.String, "target_pod": pl.String,
       "user": pl.String, "exec_id": pl.String, "linked_exec_id": pl.String, "link": pl.String,
       "created_name": pl.String, "code": pl.Int64, "src_namespace": pl.String}
SA = "system:serviceaccount:ops:op"


def _api(rows):
    return pl.DataFrame([{**dict.fromkeys(API), "user": SA, "code": 200, "src_namespace": "ops", **r} for r in rows],
                        schema=API)


def _operator(poll_ns="db", sender="op", init=True):
    """An operator's main process, running before the capture, gets its resource in ``poll_ns``
    every minute for an hour; at 30 min ``sender`` execs a backup into db/pg-1 (which uploads
    out) and creates a Job in db."""
    procs = [proc("op", None, "op-7d9f8c6b5-x2x9z", "/manager", "controller", -1000 * S, ns="ops", seen="event",
                  init=init),
             proc("pgmain", None, "pg-1", "/usr/bin/postgres", "", -1000 * S, ns="db", seen="event", node="n2"),
             proc("bk", "rt", "pg-1", "/usr/bin/backup", "--to s3", 1800 * S + 50 * MS, ns="db", init=False,
                  node="n2", exit_ns=2100 * S),
             proc("rt", None, None, "/usr/bin/runc", "", -2000 * S, node="n2")]
    if sender != "op":  # a shell the operator's container started in the capture
        procs.append(proc(sender, "op", "op-7d9f8c6b5-x2x9z", "/bin/sh", "-c kubectl exec", 1790 * S, ns="ops",
                          init=False))
    rows = [{"event_id": f"g{i}", "time_ns": i * 60 * S, "verb": "get", "resource": "clusters", "namespace": poll_ns,
             "name": "pg", "exec_id": "op"} for i in range(61)]
    rows += [{"event_id": "x1", "time_ns": 1800 * S, "verb": "create", "resource": "pods", "subresource": "exec",
              "namespace": "db", "name": "pg-1", "target_pod": "pg-1", "exec_id": sender, "linked_exec_id": "bk",
              "link": "exec"},
             {"event_id": "j1", "time_ns": 1900 * S, "verb": "create", "resource": "jobs", "namespace": "db",
              "name": "verify", "created_name": "verify", "exec_id": sender}]
    flows = [flow(f"u{i}", (1801 + 60 * i) * S, "bk", ("db", "pg-1"), None, 443, dst_ip="52.219.1.1")
             for i in range(4)]
    hits = _hits([{"rule_id": "exec-by-sa", "title": "Exec into a container by a pod's SA", "level": "high",
                   "techniques": ["T1609"], "exec_id": sender, "event_id": "x1", "time_ns": 1800 * S}])
    fr = frames(procs, flows, hits=hits)
    fr["api"] = _api(rows)
    return fr


def test_an_operators_exec_and_job_in_the_namespace_it_reconciles_raise_nothing():
    f = find_in(**_operator())
    assert f.incidents == [], [(i.key_command, i.why) for i in f.incidents]
    # the backup it exec'd is its own part, found by what it does (a lead at most)
    assert not any("op" in x.exec_ids for x in f.leads)


def test_a_source_that_does_not_say_which_tree_a_process_is_of_still_knows_a_long_running_operator():
    # Tracee, Inspektor Gadget: no ``in_init_tree``, so the operator's main process is not
    # "already running in its container's own tree"; running before the capture, it polls db all day
    f = find_in(**_operator(init=None))
    assert f.incidents == [], [(i.key_command, i.why) for i in f.incidents]


def test_the_same_calls_by_an_operator_that_polls_another_namespace_are_acts():
    (i,) = find_in(**_operator(poll_ns="other")).incidents
    assert i.key_command is not None and i.key_command.exec_id == "op"


def test_the_same_calls_by_a_process_that_polls_nothing_are_acts():
    (i,) = find_in(**_operator(sender="sh")).incidents
    assert i.key_command is not None and i.key_command.exec_id == "sh"


def test_managed_calls_need_a_routine_sender_and_a_loop_over_the_log():
    api = _operator()["api"]
    assert set(managed_calls(api, ["op"])["event_id"]) >= {"x1", "j1"}
    assert managed_calls(api, []).height == 0
    # the polls only in the log's first quarter: no reconcile loop over the capture
    early = api.filter((pl.col("time_ns") < 900 * S) | pl.col("verb").eq("create"))
    late = pl.concat([early, _api([{"event_id": "z", "time_ns": 3600 * S, "verb": "get", "namespace": "kube-system",
                                    "exec_id": "other"}])])
    assert managed_calls(late, ["op"]).height == 0
