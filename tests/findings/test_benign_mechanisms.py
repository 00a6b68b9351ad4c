"""The engine's mechanisms against accusing a busy benign cluster, each on a few hand-made rows:
a one-act part needs a detection on the act's own line, an exec'd shell's "exec'd into a container"
rule is its arrival, the rules a service's jobs all trip weigh less, a Job's pod runs its declared
command (unless a process that is not routine deployed it)."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings._corroborate import corroborated
from kernelsec_nb.findings.engine import find_in
from tests.findings.test_engine import MS, S, _hits, flow, frames, proc

OUT = "203.0.113.5"


def _hit(exec_id, rule, level="medium", techniques=(), t=0, workload=None, tactics=()):
    return {"rule_id": rule, "title": rule, "level": level, "techniques": list(techniques), "exec_id": exec_id,
            "event_id": f"h-{exec_id}-{rule}", "time_ns": t, "workload": workload, "tactics": list(tactics)}


def test_corroborated_follows_the_links_up_and_down_not_across_branches():
    nxt = {"proc:sh": ["proc:pm", "proc:up"], "proc:up": ["file:a:/x"], "file:a:/x": ["proc:run"]}
    assert corroborated(nxt, {"up"}, {"up"})
    assert corroborated(nxt, {"up"}, {"sh"})       # what started it
    assert corroborated(nxt, {"up"}, {"run"})      # what ran the file it wrote
    assert not corroborated(nxt, {"up"}, {"pm"})   # a sibling branch
    assert not corroborated({}, {"up"}, {"pm"})


def _session(det_on: str, techniques=("T1105",)):
    """An exec'd shell with two children: one a rule marks, one that connects out."""
    procs = [proc("sh", "shim", "app-1", "/bin/sh", "", 100 * S, init=False),
             proc("pm", "sh", "app-1", "/usr/bin/pkg", "install x", 101 * S, init=False),
             proc("up", "sh", "app-1", "/usr/bin/curl", "-T f https://up.example", 102 * S, init=False)]
    flows = [flow("f", 102 * S + MS, "up", ("a", "app-1"), None, 443, dst_ip=OUT)]
    return frames(procs, flows, hits=_hits([_hit(det_on, "r", "high", techniques, 101 * S)]))


def test_one_act_with_a_detection_on_another_branch_is_a_lead():
    f = find_in(**_session("pm"))
    assert f.incidents == []
    assert any("no detection on its line" in x.why_not for x in f.leads)


def test_one_act_with_a_detection_on_its_own_line_is_an_incident():
    assert len(find_in(**_session("up")).incidents) == 1
    assert len(find_in(**_session("sh")).incidents) == 1


def test_an_exec_d_shells_own_exec_rule_is_its_arrival_not_a_detection_of_what_it_did():
    f = find_in(**_session("sh", ("T1609", "T1059.004")))
    assert f.incidents == []
    assert any(x.why_not.startswith("one kind of act (connect_out) and no detection") for x in f.leads)
    # a rule saying more than the arrival (here: a tool transfer too) still counts
    assert len(find_in(**_session("sh", ("T1609", "T1105"))).incidents) == 1


def _runner(release_hits, level="high", tactics=()):
    """A CI runner's three jobs in a few minutes: each runs a test binary from /tmp (the rule "tmp"
    fires), the third also uploads out.  A hit far later elsewhere makes the capture long, so the
    rule does not fire 'all through the capture'."""
    procs = [proc("runner", None, "ci-0", "/usr/bin/runner", t=-100 * S, seen="event")]
    rows = [_hit("far", "other", "low", t=9000 * S, workload="web")]
    flows = []
    for i in range(3):
        t = (100, 130, 250)[i] * S  # irregular: no schedule
        procs += [proc(f"job{i}", "runner", "ci-0", "/bin/sh", f"-c step{i}", t),
                  proc(f"bin{i}", f"job{i}", "ci-0", f"/tmp/b{i}/x.test", "", t + S)]
        if i < 2 or release_hits:
            rows.append(_hit(f"bin{i}", "tmp", level, t=t + S, workload="ci", tactics=tactics))
    flows.append(flow("u", 251 * S, "bin2", ("a", "ci-0"), None, 443, dst_ip=OUT))
    procs.append(proc("far", None, "web-1", "/srv/web", t=-100 * S, seen="event"))
    return frames(procs, flows, hits=_hits(rows))


def test_a_rule_most_of_a_services_jobs_trip_does_not_make_one_of_them_an_incident():
    f = find_in(**_runner(release_hits=True))
    assert f.incidents == [], [(i.key_command, i.why) for i in f.incidents]
    assert any("bin2" in x.exec_ids for x in f.leads)  # still a lead: an upload nobody else does


def test_a_rule_every_job_trips_implies_no_persistence_act_in_one_of_them():
    """Falco's "drop and execute new binary" is critical and tagged persistence: on every build."""
    f = find_in(**_runner(release_hits=True, level="critical", tactics=("persistence",)))
    assert f.incidents == [], [(i.key_command, i.why) for i in f.incidents]


def _job_pod(deployed_by_shell: bool):
    """A Job's pod (its ``job-name`` label) reads a secret (a high rule) and uploads it out."""
    procs = [proc("ent", "shim", "bk-28630080-x7k2p", "/bin/sh", "-c /scripts/backup.sh", 500 * S, workload="bk"),
             proc("cp", "ent", "bk-28630080-x7k2p", "/usr/bin/uploader", "cp /work/x s3://b/x", 501 * S,
                  workload="bk")]
    flows = [flow("o", 501 * S + MS, "cp", ("a", "bk-28630080-x7k2p"), None, 443, dst_ip=OUT)]
    if deployed_by_shell:  # an exec'd shell elsewhere called the API just before the pod started
        procs += [proc("dbg", "shim", "ops-1", "/bin/sh", "", 400 * S, init=False),
                  proc("kc", "dbg", "ops-1", "/usr/bin/kubectl", "create job bk", 490 * S, init=False)]
        flows.append(flow("api", 490 * S + MS, "kc", ("a", "ops-1"), None, 6443, dst_ip="10.0.0.1"))
    fr = frames(procs, flows, hits=_hits([_hit("cp", "secret-read", "high", ("T1552",), 501 * S)]))
    labels = pl.List(pl.Struct({"key": pl.String, "value": pl.String}))
    fr["procs"] = fr["procs"].with_columns(pl.Series(
        "pod_labels", [[{"key": "job-name", "value": "bk-28630080"}] if p.startswith("bk-") else []
                       for p in fr["procs"]["pod"]], dtype=labels))
    return fr


def test_a_jobs_pod_running_its_declared_command_is_no_incident():
    f = find_in(**_job_pod(deployed_by_shell=False))
    assert f.incidents == []
    assert any("runs the command its Job declares" in w for x in f.leads for w in x.why)


def test_a_job_a_shell_deployed_through_the_api_is_not_designed_behaviour():
    f = find_in(**_job_pod(deployed_by_shell=True))
    assert len(f.incidents) == 1
    assert "cp" in {x for r in f.incidents[0].reached for x in r.exec_ids}  # the upload is part of it
