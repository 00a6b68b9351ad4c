"""Every real public export loads with every line accounted for, and values are read right."""

from __future__ import annotations

import json
import shlex

import polars as pl
import pytest

import kernelsec_nb as kn

#: Folders of ../shared/data/public-new-sources loaded with the public exports (their values are
#: checked by each source's own tests, tests/sources/).
NEW_SOURCES = ("inspektor-gadget", "tracee", "k8s-audit", "istio")
#: Records of those that are quarantined, by file: events without an epoch time (SOURCES.md).
NEW_QUARANTINED = {"example_trace_dns_go.jsonpretty.json": 3, "golang-grpc-k8s_trace_open.ndjson": 4,
                   "v0.10.0_trace_mount.kubectl-gadget.ndjson": 8}


def _new_dirs(public_dir):
    return [public_dir.parent / "public-new-sources" / d for d in NEW_SOURCES
            if (public_dir.parent / "public-new-sources" / d).is_dir()]


@pytest.fixture(scope="module")
def loaded(public_dir, tmp_path_factory):
    case = kn.open_case(tmp_path_factory.mktemp("pub") / "case.duckdb")
    report = case.load([public_dir, *_new_dirs(public_dir)], progress=False)
    return case, report


def test_every_public_file_is_accounted_for(loaded, public_dir):
    case, report = loaded
    on_disk = sorted(p for p in public_dir.rglob("*") if p.is_file() and p.suffix in (".json", ".log"))
    on_disk += [p for d in _new_dirs(public_dir) for p in d.rglob("*") if p.is_file()]
    assert len(report.files) == len(on_disk)
    for f in report.files:
        assert f.status == "loaded", f
        assert f.balanced, f
        assert f.lines > 0
        assert f.quarantined == NEW_QUARANTINED.get(f.path.rsplit("/", 1)[-1], 0), f
    totals = report.to_dict()
    assert totals["lines"] == totals["loaded"] + totals["duplicates"] + totals["quarantined"] + totals["blank"]
    # NDJSON line counts match the files themselves
    for f in report.files:
        if f.format == "ndjson":
            with open(f.path, "rb") as fh:
                assert f.lines == sum(1 for _ in fh)
    # nothing silently dropped: every loaded line is an event row
    assert case.sql("select count(*) n from events")["n"][0] == totals["loaded"]
    assert totals["quarantined"] == sum(NEW_QUARANTINED.values()) * (len(_new_dirs(public_dir)) > 0)


def test_sources_detected_from_content(loaded):
    _, report = loaded
    by_dir: dict[str, set] = {}
    for f in report.files:
        by_dir.setdefault(f.path.split("/data/public")[1].split("/")[1], set()).add(f.sources)
    assert by_dir["tetragon"] == {("tetragon",)}
    assert by_dir["hubble"] == {("hubble",)}
    assert by_dir["falco"] == {("falco",)}
    if "tracee" in by_dir:
        assert by_dir["tracee"] == {("tracee",)}
        assert by_dir["inspektor-gadget"] == {("inspektor_gadget",), ()}  # () : all without a time
    assert {f.sources for f in report.files if "/k8s-audit/" in f.path} == {("k8s_audit",)}
    assert {f.sources for f in report.files if "/public-new-sources/istio/" in f.path} == {("istio",)}


def test_tetragon_values(loaded):
    case, _ = loaded
    p = case.sql("select * from processes where pid = 68790")
    assert p["binary"][0] == "/usr/bin/netserver"
    assert p["args"][0] == "-D"
    assert p["pod"][0] == "tiefighter" and p["namespace"][0] == "default"
    assert p["node"][0] == "my-node"
    assert p["container_id"][0] == "19a02291e106"
    row = case.sql("select pod_labels['org'] as org from processes where pid = 68790")
    assert row["org"][0] == "empire"
    # the old export has no top-level time: the exec's start time is used
    e = case.sql("select time_ns from events where pid = 68790 and kind = 'process_exec'")
    assert e["time_ns"][0] == 1666062978273546829


def test_old_socket_events_and_kprobe_args(loaded):
    case, _ = loaded
    k = case.sql("select * from kprobes where kind = 'process_connect' and daddr = '142.250.180.196'")
    assert k["saddr"][0] == "10.88.0.7" and k["sport"][0] == 49168 and k["dport"][0] == 80
    assert k["binary"][0] == "/usr/bin/curl"
    w = case.sql("select * from kprobes where function_name = '__x64_sys_write'")
    assert w["file_path"][0] == "etc/passwd"
    assert w["binary"][0] == "/usr/bin/vi"


def test_hubble_values(loaded):
    case, _ = loaded
    f = case.sql("select * from flows where time_ns = 1633357718735173594")
    assert f["http_method"][0] == "GET"
    assert f["http_url"][0] == "http://10.128.0.4:9990/metrics"
    assert f["http_path"][0] == "/metrics"
    assert f["src_pod"][0] == "prometheus-6655946b9f-6xcpf"
    assert f["src_workload"][0] == "prometheus"
    assert f["src_port"][0] == 48532 and f["dst_port"][0] == 9990 and f["protocol"][0] == "TCP"
    assert f["node"][0] == "gke-ilya-otel-demo-2-ilya-otel-demo-2-dac8cc20-hr0z"
    labels = case.sql("select src_labels['app'] as app from flows where time_ns = 1633357718735173594")
    assert labels["app"][0] == "prometheus"
    verdicts = set(case.sql("select distinct verdict from flows")["verdict"])
    assert {"FORWARDED", "REDIRECTED"} <= verdicts
    dns = case.sql("select count(*) n from flows where l7_type = 'dns' and dns_query is not null")
    assert dns["n"][0] > 100
    icmp = case.sql("select count(*) n from flows where protocol = 'ICMPv4'")
    assert icmp["n"][0] == 18
    # the old export marks replies with "reply": true only (no is_reply): 5 of its 10 flows
    old = case.sql("select count(*) filter (where is_reply) n from flows where file like '%basic-sample-10-flows.json'")
    assert old["n"][0] == 5


def test_falco_values(loaded):
    case, _ = loaded
    a = case.sql("select * from alerts where rule = 'Terminal shell in container'")
    assert a["pod"][0] == "debug" and a["namespace"][0] == "default"
    assert a["container_id"][0] == "8645a7a530c3"
    assert a["node"][0] == "cluster-1-default-pool-131bf483-7km9"
    assert a["priority"][0] == "Notice" and a["alert_source"][0] == "syscall"
    assert a["cmdline"][0] == "sh"
    counts = case.sql("select rule, count(*) n from alerts group by 1")
    assert dict(zip(counts["rule"], counts["n"], strict=True))["Read sensitive file untrusted"] == 11


def test_raw_round_trip(loaded):
    case, _ = loaded
    ids = case.sql("select event_id, source from events order by event_id")
    for src in ("tetragon", "hubble", "falco"):
        eid = ids.filter(pl.col("source") == src)["event_id"][0]
        raw = case.raw(eid)
        assert raw.lstrip().startswith("{")
    with pytest.raises(KeyError):
        case.raw("nope")


def test_k8s_audit_values(loaded, public_dir):
    """Every audit event of the public files, field by field against the file's own JSON."""
    import datetime as dt
    import json

    case, _ = loaded
    rows = {(r["file"], r["line"]): r for r in case.sql("select * from audit_events").iter_rows(named=True)}
    seen = 0
    for path in sorted((public_dir.parent / "public-new-sources" / "k8s-audit").rglob("*")):
        if not path.is_file():
            continue
        for n, text in enumerate(path.read_text().splitlines(), start=1):
            if not text.strip():
                continue
            e, r = json.loads(text), rows[(str(path.resolve()), n)]
            seen += 1
            written = e.get("requestReceivedTimestamp") or e["timestamp"]
            t = dt.datetime.fromisoformat(written.replace("Z", "+00:00"))
            assert r["time_ns"] == int(t.timestamp()) * 10**9 + t.microsecond * 1000, (path, n)
            ref, user = e.get("objectRef", {}), e["user"]
            assert (r["audit_id"], r["stage"], r["verb"], r["level"]) == (e["auditID"], e["stage"], e["verb"], e["level"])
            assert (r["user"], r["groups"]) == (user["username"], user.get("groups"))
            assert r["impersonated_user"] == e.get("impersonatedUser", {}).get("username")
            assert (r["resource"], r["subresource"], r["namespace"], r["name"], r["api_group"]) == (
                ref.get("resource"), ref.get("subresource"), ref.get("namespace"), ref.get("name"), ref.get("apiGroup"))
            assert r["code"] == e["responseStatus"]["code"] and r["request_uri"] == e["requestURI"]
            assert r["source_ips"] == e["sourceIPs"] and r["user_agent"] == e.get("userAgent")
            sa = next((u for u in (user["username"], e.get("impersonatedUser", {}).get("username"))
                       if u and u.startswith("system:serviceaccount:")), None)
            assert (r["sa_namespace"], r["sa_name"]) == (tuple(sa.split(":")[2:]) if sa else (None, None))
            if e["verb"] == "create" and not ref.get("subresource") and "responseObject" in e:
                assert r["created_name"] == e["responseObject"]["metadata"]["name"]
    assert seen == len(rows) == 54
    # one call per request: every file's auditIDs are distinct
    assert case.sql("select count(*) n from api_calls")["n"][0] == 54
    sa = case.sql("select sa_namespace, sa_name, sa_of from audit_events where created_name like 'nginx-deployment-5cdcc%'")
    assert sa.row(0) == ("kube-system", "replicaset-controller", "user")


# Istio's access logs, read here without the loader: shlex splits the TEXT format's quoted fields
# (the samples hold no backslash), json the JSON encoding; "-" and null are no value.
_TEXT_FIELDS = ("start", "request", "response_code", "response_flags", "response_code_details",
                "connection_termination_details", "upstream_transport_failure_reason", "bytes_received",
                "bytes_sent", "duration", "upstream_service_time", "x_forwarded_for", "user_agent", "request_id",
                "authority", "upstream_host", "upstream_cluster", "upstream_local_address",
                "downstream_local_address", "downstream_remote_address", "requested_server_name", "route_name")


def _access_log(line: str) -> dict:
    wrapper = None
    if not line.startswith(("[", "{")):  # CRI: <time> <stream> F <line>
        _, _, _, line = line.split(" ", 3)
        wrapper = "cri"
    if line.startswith("{"):
        f = json.loads(line)
    else:
        f = dict(zip(_TEXT_FIELDS, shlex.split(line), strict=True))
        f["start_time"] = f.pop("start").strip("[]")
        f["method"], f["path"], f["protocol"] = f.pop("request").split(" ")
    f = {k: (None if v in ("-", None) else str(v)) for k, v in f.items()}
    f["wrapper"] = wrapper
    return f


def _split(addr: str | None) -> tuple[str | None, int | None]:
    if addr is None:
        return None, None
    ip, port = addr.rsplit(":", 1)
    return ip.strip("[]"), int(port)


def test_istio_values(loaded, public_dir):
    case, _ = loaded
    files = sorted((public_dir.parent / "public-new-sources" / "istio").glob("*.log"))
    assert files
    n = 0
    for path in files:
        rows = case.sql("SELECT * FROM http_requests WHERE file = ? ORDER BY line", [str(path.resolve())]).to_dicts()
        lines = path.read_text().splitlines()
        assert [r["line"] for r in rows] == list(range(1, len(lines) + 1)), path
        for r, line in zip(rows, lines, strict=True):
            f = _access_log(line)
            n += 1
            for col in ("method", "path", "protocol", "response_flags", "response_code_details", "authority",
                        "request_id", "user_agent", "x_forwarded_for", "upstream_cluster", "route_name",
                        "requested_server_name", "connection_termination_details",
                        "upstream_transport_failure_reason", "wrapper"):
                assert r[col] == f[col], (path.name, r["line"], col)
            for col, key in (("response_code", "response_code"), ("bytes_received", "bytes_received"),
                             ("bytes_sent", "bytes_sent"), ("duration_ms", "duration"),
                             ("upstream_service_time_ms", "upstream_service_time")):
                assert r[col] == (None if f[key] is None else int(f[key])), (path.name, r["line"], col)
            for prefix, key in (("upstream", "upstream_host"), ("upstream_local", "upstream_local_address"),
                                ("downstream_local", "downstream_local_address"),
                                ("downstream_remote", "downstream_remote_address")):
                assert (r[f"{prefix}_ip"], r[f"{prefix}_port"]) == _split(f[key]), (path.name, r["line"], key)
            assert r["time"].isoformat().replace("+00:00", "")[:23] == f["start_time"].rstrip("Z"), (path.name, r["line"])
            assert r["direction"] == {"inbound": "inbound", "outbound": "outbound"}.get(
                (f["upstream_cluster"] or "").split("|")[0]), (path.name, r["line"])
    assert n == 26
    ipv6 = case.sql("SELECT downstream_remote_ip FROM http_requests WHERE log_format = 'json' AND line = 2")
    assert ipv6["downstream_remote_ip"].to_list() == ["2a02:cf40::4e36"]
