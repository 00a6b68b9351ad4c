"""A client naming a pod and a command → that command exec'd into the pod (``findings._exec_named``)."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings._exec_named import audited_execs, named_exec_edges

S = 1_000_000_000
MS = 1_000_000


def _procs(client_args: str, late: bool = False):
    rows = [  # (exec_id, parent, pod, binary, args, start, in_init_tree)
        ("k", "sh", "ide-1", "/home/u/kubectl", client_args, 100 * S, True),
        # what the runtime started in the debug pod (another node): the escape, and an unrelated exec
        ("ns", "shim", "dbg", "/usr/bin/nsenter", "-t 1 -m -u -i -n -p -- bash -c \"tar czf /tmp/k.tgz /etc\"",
         100 * S + (30 * S if late else 180 * MS), False),
        ("ls", "shim", "dbg", "/bin/ls", "-la", 101 * S, False),
        ("sh2", "shim", "dbg-2", "/bin/sh", "", 101 * S, False),   # a shell in a pod whose name begins alike
        ("child", "ns", "dbg", "/usr/bin/tar", "czf /tmp/k.tgz /etc", 100 * S + 200 * MS, False),
    ]
    cols = ["exec_id", "parent_exec_id", "pod", "binary", "args", "start_ns", "in_init_tree"]
    return pl.DataFrame([dict(zip(cols, r, strict=True)) for r in rows])


def test_kubectl_exec_links_to_the_command_it_names_in_the_pod_it_names():
    args = "exec dbg -- nsenter -t 1 -m -u -i -n -p -- bash -c \"tar czf /tmp/k.tgz /etc\""
    e = named_exec_edges(_procs(args))
    assert e.select("src", "dst", "kind").rows() == [("proc:k", "proc:ns", "api")]


def test_an_interactive_shell_is_named_by_its_program():
    e = named_exec_edges(_procs("exec -it dbg-2 -- sh"))
    assert e.select("src", "dst").rows() == [("proc:k", "proc:sh2")]


def test_another_command_another_pod_or_too_late_is_no_link():
    assert named_exec_edges(_procs("exec dbg -- cat /etc/hostname")).height == 0
    assert named_exec_edges(_procs("logs dbg-3 -f")).height == 0
    args = "exec dbg -- nsenter -t 1 -m -u -i -n -p -- bash -c \"tar czf /tmp/k.tgz /etc\""
    assert named_exec_edges(_procs(args, late=True)).height == 0


def _kubelet_run():
    """A client of a kubelet's own API naming pod cart and a command; the shell the runtime started
    in cart 227 ms later (no API server call: no audit event names it)."""
    rows = [("c", "sh0", "web-1", "/usr/bin/curl",
             "-sk -X POST https://10.0.0.4:10250/run/shop/cart-1/cart -d \"cmd=sh -c 'cat /tok; env'\"", 100 * S, True),
            ("sh", "shim", "cart-1", "/bin/sh", "-c 'cat /tok; env'", 100 * S + 227 * MS, False)]
    cols = ["exec_id", "parent_exec_id", "pod", "binary", "args", "start_ns", "in_init_tree"]
    return pl.DataFrame([dict(zip(cols, r, strict=True)) for r in rows])


def test_a_kubelet_api_client_links_to_the_command_it_ran_in_the_pod():
    e = named_exec_edges(_kubelet_run())
    assert e.select("src", "dst").rows() == [("proc:c", "proc:sh")]


def test_an_exec_an_audited_call_explains_is_not_linked_again():
    api = pl.DataFrame({"link": ["exec", "created-pod"], "linked_exec_id": ["sh", "c"]})
    assert audited_execs(api).to_list() == ["sh"]
    assert named_exec_edges(_kubelet_run(), explained=audited_execs(api)).height == 0
    # an audit log whose calls explain other processes leaves the kubelet's exec to the name link
    other = pl.DataFrame({"link": ["exec"], "linked_exec_id": ["x"]})
    assert named_exec_edges(_kubelet_run(), explained=audited_execs(other)).height == 1


def test_with_an_audit_log_the_engine_still_links_a_kubelet_api_exec():
    """The audit log has calls (none for the kubelet's /run): the exec'd shell's theft is the
    client's part, not an incident of its own whose entry is unexplained."""
    from kernelsec_nb.findings.engine import find_in
    from tests.findings.test_engine import frames, proc

    procs = [proc("m", None, "web-1", "/srv/web", t=-100 * S, seen="event"),
             proc("c", "m", "web-1", "/usr/bin/curl",
                  "-sk -X POST https://10.0.0.4:10250/run/shop/cart-1/cart -d \"cmd=sh -c 'cat /tok'\"", 100 * S),
             proc("cm", None, "cart-1", "/srv/cart", t=-100 * S, seen="event", ns="shop", node="n2"),
             proc("sh", "shim", "cart-1", "/bin/sh", "-c 'cat /tok'", 100 * S + 227 * MS, init=False, ns="shop",
                  node="n2")]
    api = pl.DataFrame({"event_id": ["a1"], "exec_id": [None], "linked_exec_id": [None], "link": [None],
                        "time_ns": [50 * S], "verb": ["get"], "resource": ["pods"], "namespace": ["shop"],
                        "target_pod": [None], "user": ["admin"]},
                       schema_overrides={"exec_id": pl.String, "linked_exec_id": pl.String, "link": pl.String,
                                         "target_pod": pl.String})
    f = find_in(**frames(procs), api=api)
    parts = [set(x.exec_ids) for x in f.leads] + [set(i.evidence["exec_id"].to_list()) for i in f.incidents
                                                 if "exec_id" in i.evidence.columns]
    assert any({"c", "sh"} <= p for p in parts), f.summary()


def test_crictl_exec_names_the_container_by_a_prefix_of_its_id():
    """On the node, ``crictl exec <id prefix> cat /app/.env`` → the ``cat`` the runtime started in
    that container 40 ms later; a prefix of another container's id, or too short a word, is no link."""
    full = "5754cfe3e977af2177fc205c9addf2164b42c2517f901e05cc1816b415a79ddb"
    rows = [("cr", "kb", None, "/usr/local/bin/crictl", "exec 5754cfe3e977a cat /app/.env", 100 * S, None, None, None),
            ("cat", "shim", "frontend-1", "/bin/cat", "/app/.env", 100 * S + 40 * MS, False, full[:12], full)]
    cols = ["exec_id", "parent_exec_id", "pod", "binary", "args", "start_ns", "in_init_tree", "container_id",
            "container_full_id"]
    p = pl.DataFrame([dict(zip(cols, r, strict=True)) for r in rows])
    e = named_exec_edges(p)
    assert e.select("src", "dst").rows() == [("proc:cr", "proc:cat")]
    assert "its container (5754cfe3e977a)" in e["why"][0]
    other = p.with_columns(pl.col("args").str.replace("5754cfe3e977a", "9d3eb2509270"))
    assert named_exec_edges(other).height == 0
    short = p.with_columns(pl.col("args").str.replace("5754cfe3e977a", "5754cfe"))
    assert named_exec_edges(short).height == 0


def _timed(client_at: int, target_at: int, pod: str = "dbg"):
    cols = ["exec_id", "parent_exec_id", "pod", "binary", "args", "start_ns", "in_init_tree"]
    rows = [("k", "sh", "ide-1", "/bin/kubectl", f"exec {pod} -- id -u", client_at, True),
            ("t", "shim", pod, "/usr/bin/id", "-u", target_at, False)]
    return pl.DataFrame([dict(zip(cols, r, strict=True)) for r in rows])


def test_the_window_holds_across_the_time_buckets_of_the_word_join():
    """The word join buckets time by the window: a client in the bucket before the target's is
    still in the window, one a window and a moment before is not."""
    w = 10 * S
    assert named_exec_edges(_timed(w - MS, w + MS), window_ns=w).height == 1      # two buckets, 2 ms apart
    assert named_exec_edges(_timed(0, w), window_ns=w).height == 1                # exactly the window
    assert named_exec_edges(_timed(0, w + MS), window_ns=w).height == 0           # just over it
    assert named_exec_edges(_timed(5 * S, 3 * S), window_ns=w).height == 0        # after the target


def test_a_name_that_is_no_word_is_still_found():
    """A pod name with a character outside ``[\\w.-]`` (hostile data) is searched as before."""
    assert named_exec_edges(_timed(0, S, pod="db:0")).height == 1


def test_many_clients_naming_other_containers_cost_no_cross_product():
    """Thousands of runtime calls each naming a container (``runc exec … <id>``) beside thousands of
    exec'd probes: only the client that names the pod and the command is linked."""
    cols = ["exec_id", "parent_exec_id", "pod", "binary", "args", "start_ns", "in_init_tree", "container_id"]
    rows = []
    for i in range(3000):
        cid = f"{i:08x}" + "ab" * 28
        rows.append((f"r{i}", "ctr", None, "/usr/bin/runc", f"--root /run exec --process /tmp/p.json {cid}",
                     i * S, True, None))
        rows.append((f"p{i}", "shim", f"web-{i % 50}", "/bin/cat", "/tmp/healthy", i * S + MS, False, cid))
    rows.append(("k", "sh", "ide-1", "/bin/kubectl", "exec web-7 -- cat /tmp/healthy", 1507 * S, True, None))
    procs = pl.DataFrame([dict(zip(cols, r, strict=True)) for r in rows])
    e = named_exec_edges(procs)
    assert e.select("src", "dst").rows() == [("proc:k", "proc:p1507")]
