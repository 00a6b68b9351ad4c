"""Acts through the Kubernetes API the audit log names: a controller object created (an act,
linked to the pods its controllers make later) and a workload's routine creates of pods; and who
called the API server at all (a connection there, or a call the log names)."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings._api_acts import (
    API_SERVER,
    API_SERVER_NODE,
    CONTROLLER,
    api_server_edges,
    controller_acts,
    controller_edges,
    routine_pod_creates,
)

S = 1_000_000_000
C = {"exec_id": pl.String, "verb": pl.String, "resource": pl.String, "subresource": pl.String,
     "namespace": pl.String, "name": pl.String, "created_name": pl.String, "time_ns": pl.Int64,
     "event_id": pl.String, "user": pl.String, "code": pl.Int64, "src_namespace": pl.String,
     "linked_exec_id": pl.String}


def _calls(rows):
    return pl.DataFrame([{**dict.fromkeys(C), **r} for r in rows], schema=C)


def _procs(rows):
    cols = ["exec_id", "namespace", "pod", "start_ns", "seen_as"]
    return pl.DataFrame([dict(zip(cols, r, strict=True)) for r in rows],
                        schema={c: (pl.Int64 if c == "start_ns" else pl.String) for c in cols})


def test_a_cronjob_created_through_the_api_links_to_the_pod_its_job_made_later():
    calls = _calls([{"exec_id": "k", "verb": "create", "resource": "cronjobs", "namespace": "pay",
                     "name": "rec", "created_name": "rec", "time_ns": 100 * S, "event_id": "a1",
                     "user": "system:serviceaccount:tools:x", "code": 201},
                    # the controller-manager's own calls name no process of the capture
                    {"exec_id": None, "verb": "create", "resource": "jobs", "namespace": "pay",
                     "created_name": "rec-2864", "time_ns": 390 * S, "event_id": "a2"}])
    procs = _procs([("old", "pay", "rec-2863-abcde", 50 * S, "exec"),       # before the call
                    ("j", "pay", "rec-2864-dx7q2", 400 * S, "exec"),
                    ("j2", "pay", "rec-2864-dx7q2", 401 * S, "exec"),        # not the pod's first
                    ("other", "web", "rec-2864-zzzzz", 400 * S, "exec"),     # another namespace
                    ("api", "pay", "rec-api-6d9f8b7c5d-qwert", 400 * S, "exec")])  # another Deployment
    e = controller_edges(calls, procs)
    assert e.select("src", "dst", "kind", "event_id").rows() == [("proc:k", "proc:j", CONTROLLER, "a1")]
    assert "rec-2864-dx7q2" in e["why"][0] and "cronjobs pay/rec" in e["why"][0]


def test_a_deployment_patched_links_to_its_new_pods_and_a_failed_call_to_none():
    calls = _calls([{"exec_id": "k", "verb": "patch", "resource": "deployments", "namespace": "a",
                     "name": "web", "time_ns": 10 * S, "event_id": "p1", "code": 200},
                    {"exec_id": "k", "verb": "create", "resource": "daemonsets", "namespace": "a",
                     "name": "ds", "time_ns": 10 * S, "event_id": "p2", "code": 403}])
    procs = _procs([("w", "a", "web-6d9f8b7c5d-qwert", 20 * S, "exec"),
                    ("d", "a", "ds-abcde", 20 * S, "exec")])
    assert controller_edges(calls, procs)["dst"].to_list() == ["proc:w"]


def test_creating_a_controller_is_an_act_with_its_technique():
    calls = _calls([{"exec_id": "k", "verb": "create", "resource": "cronjobs", "namespace": "p", "name": "x",
                     "time_ns": 1, "event_id": "a"},
                    {"exec_id": "k", "verb": "create", "resource": "daemonsets", "namespace": "p", "name": "y",
                     "time_ns": 2, "event_id": "b"},
                    {"exec_id": None, "verb": "create", "resource": "jobs", "namespace": "p", "name": "z",
                     "time_ns": 3, "event_id": "c"},
                    {"exec_id": "k", "verb": "get", "resource": "cronjobs", "namespace": "p", "name": "x",
                     "time_ns": 4, "event_id": "d"},
                    # a rollout's patch (a CI job's deploy step) is no act by itself
                    {"exec_id": "k", "verb": "patch", "resource": "deployments", "namespace": "p", "name": "w",
                     "time_ns": 5, "event_id": "e"}])
    ev = controller_acts(calls)
    assert ev.select("exec_id", "kind", "event_id", "techniques").rows() == [
        ("k", "persistence", "a", ["T1053.007"]), ("k", "persistence", "b", ["T1610"])]


def test_repeated_creates_of_one_template_by_a_main_process_in_its_namespace_are_routine():
    rows = [{"exec_id": "drv", "verb": "create", "resource": "pods", "namespace": "d", "src_namespace": "d",
             "created_name": f"agg-3f9a2c8e1b-exec-{i}", "event_id": f"c{i}", "linked_exec_id": f"e{i}"}
            for i in range(1, 4)]
    assert routine_pod_creates(_calls(rows), ["drv"])["event_id"].to_list() == ["c1", "c2", "c3"]
    # a shell that is no container's main process, one create, or creates into another namespace are not
    assert routine_pod_creates(_calls(rows), ["other"]).height == 0
    assert routine_pod_creates(_calls(rows[:1]), ["drv"]).height == 0
    away = [{**r, "namespace": "kube-system"} for r in rows]
    assert routine_pod_creates(_calls(away), ["drv"]).height == 0
    # two different pods (not one template) are not
    mixed = [rows[0], {**rows[1], "created_name": "miner"}]
    assert routine_pod_creates(_calls(mixed), ["drv"]).height == 0


L = pl.List(pl.Struct({"key": pl.String, "value": pl.String}))


def _conns(rows, labels=L):
    cols = {"exec_id": pl.String, "dst_ip": pl.String, "dst_port": pl.Int64, "time_ns": pl.Int64,
            "event_id": pl.String, "verdict": pl.String, "is_reply": pl.Boolean, "dst_labels": labels}
    return pl.DataFrame([{**dict.fromkeys(cols), **r} for r in rows], schema=cols)


def test_the_api_servers_callers_by_its_port_or_ciliums_label_once_each_at_their_first_call():
    api = [{"key": "reserved:kube-apiserver", "value": ""}]
    c = _conns([{"exec_id": "curl", "dst_ip": "172.18.0.2", "dst_port": 6443, "time_ns": 9, "event_id": "f2"},
                {"exec_id": "curl", "dst_ip": "172.18.0.2", "dst_port": 6443, "time_ns": 5, "event_id": "f1"},
                # a managed control plane: port 443, the identity says what it is
                {"exec_id": "kctl", "dst_ip": "34.1.2.3", "dst_port": 443, "time_ns": 7, "event_id": "f3",
                 "dst_labels": api},
                {"exec_id": "web", "dst_ip": "34.1.2.4", "dst_port": 443, "time_ns": 7, "event_id": "f4",
                 "dst_labels": [{"key": "app", "value": "web"}]},
                {"exec_id": "dropped", "dst_ip": "172.18.0.2", "dst_port": 6443, "time_ns": 8, "verdict": "DROPPED"},
                {"exec_id": "reply", "dst_ip": "172.18.0.2", "dst_port": 6443, "time_ns": 8, "is_reply": True}])
    e = api_server_edges(c)
    assert e.select("src", "dst", "kind", "event_id").rows() == [
        ("proc:curl", API_SERVER_NODE, API_SERVER, "f1"), ("proc:kctl", API_SERVER_NODE, API_SERVER, "f3")]
    assert "only an audit log says" in e["why"][0]
    # DuckDB's MAP reaches polars as a Map; the same rows that way
    e = api_server_edges(c.with_columns(pl.col("dst_labels").cast(pl.Map(pl.String, pl.String))))
    assert e["src"].to_list() == ["proc:curl", "proc:kctl"]


def test_a_call_the_audit_log_names_gives_its_words_to_its_process_and_hooks_count_too():
    hooks = _conns([{"exec_id": "curl", "dst_ip": "172.18.0.2", "dst_port": 6443, "time_ns": 5, "event_id": "k1"},
                    {"exec_id": "kctl", "dst_ip": "172.18.0.2", "dst_port": 6443, "time_ns": 6, "event_id": "k2"}])
    flows = _conns([], labels=pl.Null)
    calls = _calls([{"exec_id": "curl", "verb": "list", "resource": "secrets", "time_ns": 6, "event_id": "a1",
                     "user": "system:serviceaccount:bill:api"},
                    {"exec_id": "curl", "verb": "get", "resource": "pods", "subresource": "log", "namespace": "pay",
                     "name": "pay-0", "time_ns": 7, "event_id": "a2"}])
    e = api_server_edges([flows, hooks], calls)
    assert e.select("src", "why").rows() == [
        ("proc:curl", "called the Kubernetes API: list secrets (audit log)"),
        ("proc:kctl", "called the Kubernetes API server (172.18.0.2:6443; what it read or changed, "
                      "only an audit log says)")]
    assert api_server_edges([], calls.tail(1))["why"].to_list() == [
        "called the Kubernetes API: get pods/log pay/pay-0 (audit log)"]


def test_a_nameless_create_links_the_pods_of_the_new_object_whose_first_pod_came_first_after_it():
    """``kubectl create -f`` of a CronJob the audit event names no object of (its Metadata level,
    a ``generateName``): the object is the one whose first pod started first after the call —
    not a CronJob whose runs began before it, nor one another call of the log names — and the act
    says the name is its pods'."""
    calls = _calls([{"exec_id": "k", "verb": "create", "resource": "cronjobs", "namespace": "apps",
                     "time_ns": 100 * S, "event_id": "a1", "user": "system:serviceaccount:ci:runner", "code": 201},
                    {"exec_id": "h", "verb": "create", "resource": "cronjobs", "namespace": "apps", "name": "warm",
                     "created_name": "warm", "time_ns": 90 * S, "event_id": "a2", "user": "alice", "code": 201}])
    procs = _procs([("o1", "apps", "old-28623400-aa1bb", 10 * S, "exec"),     # ran before the call
                    ("o2", "apps", "old-28623500-cc2dd", 150 * S, "exec"),
                    ("w1", "apps", "warm-28623490-ee3ff", 120 * S, "exec"),   # another call names it
                    ("m1", "apps", "lc-28623495-qx2lz", 160 * S, "exec"),
                    ("m2", "apps", "lc-28623500-p0o9i", 460 * S, "exec"),
                    ("x1", "shop", "lc-28623495-zz9yy", 130 * S, "exec")])    # another namespace
    got = controller_edges(calls, procs).filter(pl.col("src") == "proc:k")
    assert got.select("dst", "kind").rows() == [("proc:m1", CONTROLLER), ("proc:m2", CONTROLLER)]
    acts = controller_acts(calls, procs=procs).filter(pl.col("exec_id") == "k")
    assert acts["text"].to_list() == ["create cronjobs apps/lc (the log names none: its pods' name) through the "
                                      "Kubernetes API (audit log): its controllers make pods from it"]
    # without the processes the create names nothing: no link, and no act
    assert controller_acts(calls).filter(pl.col("exec_id") == "k").height == 0
