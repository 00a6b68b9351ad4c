"""Benign operator work that is no incident: a unix socket's clients, a ``kubectl debug`` session
(an ephemeral container, a node debugger pod), a bare pod running the command its spec declares.
Each mechanism on a few rows of plain polars data."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings.graph import file_accesses, file_edges

S = 1_000_000_000
MS = 1_000_000
SOCK = '[{"file_arg":{"path":"/run/containerd/containerd.sock","permission":"srwxrwxrwx"}},{"int_arg":2}]'
FILE = '[{"file_arg":{"path":"/tmp/k","permission":"-rwxr-xr-x"}},{"int_arg":2}]'


def test_a_unix_socket_its_clients_write_to_is_no_file_used_later():
    k = pl.DataFrame({"exec_id": ["ps", "logs", "w", "r"], "node": ["n"] * 4, "namespace": ["d"] * 4,
                      "pod": ["dbg"] * 4, "event_id": ["k1", "k2", "k3", "k4"],
                      "file_path": ["/run/containerd/containerd.sock"] * 2 + ["/tmp/k"] * 2, "time_ns": [1, 2, 3, 4],
                      "function_name": ["security_file_permission"] * 4,
                      "hook_args": [SOCK, SOCK, FILE, FILE.replace('"int_arg":2', '"int_arg":4')]})
    acc = file_accesses(k)
    assert acc["exec_id"].to_list() == ["w", "r"]       # the socket's two clients are no file accesses
    e = file_edges(acc, pl.DataFrame({"exec_id": ["x"], "node": ["n"], "namespace": ["d"], "pod": ["dbg"],
                                      "binary": ["/bin/cat"], "args": ["/tmp/k"], "start_ns": [9]}))
    assert ("proc:w", "file:d/dbg:/tmp/k", "write") in e.select("src", "dst", "kind").rows()


# -- operator sessions in containers made for them (kubectl debug, kubectl run -it) ---------------------
from kernelsec_nb.findings._sessions import as_sessions, interactive, session_containers, uncaused  # noqa: E402
from kernelsec_nb.findings.engine import find_in  # noqa: E402
from tests.findings.test_engine import _hits, flow, frames, proc  # noqa: E402

T0 = 1_000 * S


def _ephemeral(shell="/bin/zsh", args=""):
    """A running pod web-1 (its app started before the capture); an ephemeral container's shell
    added later runs nc and curl out."""
    return [proc("shim", None, None, "/usr/local/bin/containerd-shim-runc-v2", t=0, seen="parent"),
            proc("app", "shim", "web-1", "/srv/app", "--port 80", t=10 * S, seen="event"),
            proc("zsh", "shim", "web-1", shell, args, t=T0),
            proc("nc", "zsh", "web-1", "/usr/bin/nc", "-zv db 5432", t=T0 + 90 * S),
            proc("curl", "zsh", "web-1", "/usr/bin/curl", "-sI https://api.example.com", t=T0 + 120 * S)]


def _ephemeral_hits():
    return _hits([
        {"rule_id": "falco:Terminal shell", "title": "Terminal shell in container", "level": "low",
         "techniques": ["T1059"], "exec_id": "zsh", "event_id": "h1", "time_ns": T0},
        {"rule_id": "nettool", "title": "Network tool run in a container", "level": "medium",
         "techniques": ["T1046"], "exec_id": "nc", "event_id": "h2", "time_ns": T0 + 90 * S}])


def test_an_ephemeral_containers_shell_is_an_operator_session_not_the_pods_service():
    out = flow("f1", T0 + 121 * S, "curl", ("a", "web-1"), None, 443, dst_ip="203.0.113.7")
    f = find_in(**frames(_ephemeral(), [out], hits=_ephemeral_hits()))
    assert f.incidents == []            # an engineer's session that checked an outside API: a lead
    lead = next(x for x in f.leads if x.pod == "web-1")
    assert "one kind of act" in lead.why_not
    assert any("opened an operator session" in w for w in lead.why)
    assert not any("service process" in w for w in lead.why)


def test_the_sessions_acts_still_count():
    """The same session killing the app is an incident, as in a kubectl exec session."""
    procs = [*_ephemeral()[:3],
             proc("kill", "zsh", "web-1", "/bin/kill", "-9 1", t=T0 + 60 * S),
             proc("app2", "shim", "web-1", "/srv/app", "--port 80", t=T0 + 61 * S)]
    procs[1] = {**procs[1], "exit_ns": T0 + 60 * S + 10 * MS, "signal": "SIGKILL"}
    f = find_in(**frames(procs, hits=_ephemeral_hits().head(1)))
    assert [i.key_command.exec_id for i in f.incidents] == ["kill"]


def test_a_critical_rule_alone_in_a_node_debugger_session_is_a_lead():
    """kubectl debug node/x: a pod made for the session whose shell chroots into the host it mounts."""
    procs = [proc("shim", None, None, "/usr/local/bin/containerd-shim-runc-v2", t=0, seen="parent"),
             proc("sh", "shim", "node-debugger-x", "/bin/sh", "", t=T0),
             proc("chroot", "sh", "node-debugger-x", "/usr/sbin/chroot", "/host", t=T0 + 20 * S),
             proc("bash", "chroot", "node-debugger-x", "/bin/bash", "", t=T0 + 20 * S + MS),
             proc("logs", "bash", "node-debugger-x", "/usr/bin/journalctl", "-u kubelet", t=T0 + 30 * S)]
    hits = _hits([{"rule_id": "escape", "title": "Container escape tool", "level": "critical",
                   "techniques": ["T1611"], "exec_id": "chroot", "event_id": "h1", "time_ns": T0 + 20 * S}])
    f = find_in(**frames(procs, hits=hits))
    assert f.incidents == []
    assert f.leads and f.leads[0].pod == "node-debugger-x"
    # the same chroot run by the pod's service (a shell given its program) is an incident
    procs[1] = {**procs[1], "args": "-c /srv/run.sh"}
    assert len(find_in(**frames(procs, hits=hits)).incidents) == 1


def test_sessions_from_the_runtime_and_from_the_audit_log():
    assert pl.select(interactive(pl.lit("/bin/bash"), pl.lit("-il"))).item() is True
    assert pl.select(interactive(pl.lit("/bin/bash"), pl.lit("-lc id"))).item() is False
    assert pl.select(interactive(pl.lit("/srv/app"), pl.lit(None, pl.String))).item() is False
    p = pl.DataFrame(_ephemeral(shell="/usr/local/bin/toolbox"))
    p = p.with_columns(pl.col("seen_as").cast(pl.String))
    assert session_containers(p)["exec_id"].to_list() == []         # not a shell: no session by itself
    api = pl.DataFrame({
        "verb": ["patch", "create", "create"], "resource": ["pods"] * 3,
        "subresource": ["ephemeralcontainers", "attach", "attach"], "user": ["oidc:sre", "oidc:sre", "oidc:sre"],
        "namespace": ["a"] * 3, "name": ["web-1"] * 3, "created_name": [None] * 3,
        "time_ns": [T0 - 3 * S, T0 + 2 * S, T0 + 5 * S], "code": [200, 101, 101],
        "linked_exec_id": [None, "zsh", "app"]})
    s = session_containers(p, api)
    assert s["exec_id"].to_list() == ["zsh"]      # the app, attached to too, started long before: no session
    assert "added this container to the pod" in s["how"][0]
    assert session_containers(p, api.with_columns(pl.lit("oidc:other").alias("user")).with_row_index().with_columns(
        pl.when(pl.col("index") == 0).then(pl.lit("oidc:sre")).otherwise(pl.col("user")).alias("user")).drop("index")
    ).height == 0                                  # attached by someone else than who added it
    marked = as_sessions(p, s)
    assert dict(marked.select("exec_id", "in_init_tree").rows())["curl"] is False
    assert dict(marked.select("exec_id", "in_init_tree").rows())["app"] is True
    # a session a process of the capture made through the API is no exemption
    edge = pl.DataFrame({"src": ["proc:x"], "dst": ["proc:zsh"], "kind": ["api"]})
    assert uncaused(p, edge, s) == set()
    assert uncaused(p, edge.clear(), s) == {"zsh", "nc", "curl"}


# -- a bare pod running the script its spec declares (a Helm hook without the Job label) -------------------
from kernelsec_nb.findings._declared import declared_steps, probed_pods, with_declared  # noqa: E402

SCRIPT = "-c apk add curl && curl -fsSL https://example.org/t.tgz | tar xz -C /tmp && /tmp/tool up"


def _hook(script=SCRIPT):
    procs = [proc("shim", None, None, "/usr/local/bin/containerd-shim-runc-v2", t=0, seen="parent"),
             proc("app", "shim", "web-1", "/srv/app", "--port 80", t=10 * S, seen="event"),
             proc("sh", "shim", "hook", "/bin/sh", script, t=T0),
             proc("apk", "sh", "hook", "/sbin/apk", "add curl", t=T0 + 10 * MS),
             proc("curl", "sh", "hook", "/usr/bin/curl", "-fsSL https://example.org/t.tgz", t=T0 + 2 * S),
             proc("tar", "sh", "hook", "/bin/tar", "xz -C /tmp", t=T0 + 2 * S + MS),
             proc("tool", "sh", "hook", "/tmp/tool", "up", t=T0 + 4 * S)]
    flows = [flow("f1", T0 + 2 * S + 5 * MS, "curl", ("a", "hook"), None, 443, dst_ip="203.0.113.9")]
    hits = _hits([
        {"rule_id": "drop", "title": "Drop and execute new binary in container", "level": "critical",
         "techniques": ["T1059"], "exec_id": "tool", "event_id": "h1", "time_ns": T0 + 4 * S},
        {"rule_id": "pkg", "title": "Launch Package Management Process in Container", "level": "high",
         "techniques": ["T1505"], "exec_id": "apk", "event_id": "h2", "time_ns": T0 + 10 * MS}])
    kp = [{"event_id": "k1", "kind": "process_kprobe", "time_ns": T0 + 3 * S, "node": "n1", "namespace": "a",
           "pod": "hook", "workload": "hook", "exec_id": "tar", "function_name": "security_file_permission",
           "file_path": "/tmp/tool", "daddr": None, "dport": None,
           "hook_args": '[{"file_arg":{"path":"/tmp/tool","permission":"-rwxr-xr-x"}},{"int_arg":2}]'}]
    return frames(procs, flows, kp, hits)


def test_a_bare_pod_running_the_script_its_spec_declares_is_no_incident():
    f = find_in(**_hook())
    assert f.incidents == []
    assert any("declares" in w for x in f.leads for w in x.why)


def test_the_declared_script_credits_only_the_steps_it_names():
    fr = _hook(script="-c python3 /srv/app.py")
    p = fr["procs"]
    assert declared_steps(p)["exec_id"].to_list() == []          # apk, curl, tar, tool: not in this script
    assert find_in(**fr).incidents                               # what it did not name still raises


def test_a_pod_created_by_a_credential_that_probed_its_rights_gets_no_credit():
    api = pl.DataFrame({
        "verb": ["create", "create"], "resource": ["selfsubjectrulesreviews", "pods"], "subresource": [None, None],
        "user": ["system:serviceaccount:ci:deployer"] * 2, "src_ip": ["198.51.100.7"] * 2,
        "namespace": [None, "a"], "name": [None, None], "created_name": [None, "hook"],
        "time_ns": [T0 - 60 * S, T0 - 5 * S], "code": [201, 201], "event_id": ["a1", "a2"]},
        schema_overrides={"subresource": pl.String, "name": pl.String})
    assert probed_pods(api).rows() == [("a", "hook")]
    p = _hook()["procs"]
    rt = pl.DataFrame({"exec_id": p["exec_id"], "routine": [0.0] * p.height, "reason": [""] * p.height})
    assert with_declared(rt, p)["routine"].to_list() == [0.0, 0.0, 0.0, 0.6, 0.6, 0.6, 0.6]
    assert with_declared(rt, p, api)["routine"].to_list() == [0.0] * 7


# -- a schedule's runs are no pods a call to the API made (the timing guess without an audit log) -----------
from kernelsec_nb.findings._runs import drop_scheduled  # noqa: E402


def test_a_cronjobs_run_started_right_after_a_kubectl_call_is_not_joined_to_it():
    m = 60 * S
    procs = [proc("shim", None, None, "/usr/local/bin/containerd-shim-runc-v2", t=-90_000 * S, seen="parent"),
             proc("shell", "shim", "ide-1", "/bin/bash", "-c serve", t=-90_000 * S, seen="event"),
             proc("kubectl", "shell", "ide-1", "/home/u/kubectl", "apply -f -", t=44 * m)]
    procs += [proc(f"r{n}", "shim", f"report-2862{n}-abcde", "/app/report", "", t=n * 15 * m, workload="report")
              for n in range(5)]
    procs += [proc("dbg", "shim", "debug", "/bin/sleep", "infinity", t=44 * m + 5 * S)]
    calls = [flow(f"c{n}", t, "kubectl", ("a", "ide-1"), None, 6443) for n, t in enumerate([44 * m, 45 * m - 20 * S])]
    fr = frames(procs, calls)
    from kernelsec_nb.findings.graph import api_edges
    e = api_edges(fr["flows"], fr["procs"])
    assert set(e["dst"].to_list()) == {"proc:dbg", "proc:r3"}          # r3 started at 45 min: the guess joins it
    assert drop_scheduled(e, fr["procs"])["dst"].to_list() == ["proc:dbg"]
    f = find_in(**fr)
    assert not any(r.pod and r.pod.startswith("report") for i in [*f.incidents] for r in i.reached)
