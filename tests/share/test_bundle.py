"""Share bundles: planted secrets of every kind are gone from every byte, accounting adds up,
raw lines read back, findings run on the bundle."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

import kernelsec_nb as kn
from kernelsec_nb import cli
from kernelsec_nb.share import ShareError

DEATHSTAR = Path(__file__).resolve().parents[2] / "data" / "deathstar"
POD = "tiefighter-xcxxqckcwg-rwl5r"

JWT = ("eyJhbGciOiJSUzI1NiIsImtpZCI6IlBMQU5URUQifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6cGxhbnRlZCJ9"
       ".c2lnbmF0dXJlUExBTlRFRDEyMw")
SECRETS = {
    "jwt": JWT,
    "mysql": "PlantedMyPw77",
    "pgpassword": "PlantedPgPw88",
    "password_flag": "PlantedFlagPw99",
    "aws_key": "AKIAPLANTED0KEY12345",
    "aws_secret": "wJalrPLANTEDsecretKEYbPxRfiCYEXAMPLEKEY",
    "gcp_api_key": "AIzaSyPLANTED0123456789abcdefghijklmnop",
    "private_key_body": "MIIEvQIBADANBgkqPLANTEDprivatekeybody",
    "api_key_env": "PlantedApiKey555",
    "auth_header": "dXNlcjpwbGFudGVkcGFzc3dvcmQ=",
    "cookie": "PLANTEDcookie0123456789",
    "url_token": "PLANTEDurltoken42",
    "falco_bearer": "PlantedFalcoBearer0123456789",
    "written_token": "PlantedWrittenToken4242",
}
PRIVATE_KEY = f"-----BEGIN PRIVATE KEY-----\n{SECRETS['private_key_body']}\nAAAA\n-----END PRIVATE KEY-----\n"


def _first(path: Path, *needles: str) -> dict:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if all(n in line for n in needles):
                return json.loads(line)
    raise AssertionError(f"no line with {needles} in {path}")


def _exec(base: dict, n: int, binary: str, args: str) -> str:
    d = json.loads(json.dumps(base))
    p = d["process_exec"]["process"]
    p["exec_id"] = base64.b64encode(f"planted:{n}".encode()).decode()
    p["pid"] = 90000 + n
    p["binary"], p["arguments"] = binary, args
    return json.dumps(d, separators=(",", ":"))


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Path:
    """A small capture: real lines of the tiefighter pod, with every kind of secret planted."""
    root = tmp_path_factory.mktemp("planted")
    exports = root / "exports"
    (exports / "node").mkdir(parents=True)
    base = _first(DEATHSTAR / "kind-worker" / "tetragon.log", '"process_exec"', POD)
    lines = [json.dumps(base, separators=(",", ":")),
             _exec(base, 1, "/usr/bin/mysql", f"-uroot -p{SECRETS['mysql']} prod"),
             _exec(base, 2, "/bin/sh", f"-c PGPASSWORD={SECRETS['pgpassword']} psql -h db; "
                                       f"export AWS_SECRET_ACCESS_KEY={SECRETS['aws_secret']}"),
             _exec(base, 3, "/usr/bin/app", f"--password={SECRETS['password_flag']} --key {SECRETS['aws_key']}"),
             _exec(base, 4, "/usr/bin/curl", f"-H \"Authorization: Bearer {JWT}\" https://kubernetes.default/api "
                                             f"-d key={SECRETS['gcp_api_key']}"),
             _exec(base, 5, "/bin/echo", json.dumps({"type": "service_account", "private_key": PRIVATE_KEY}))]
    # a write() of a secret, as a kprobe's buffer argument (base64)
    hook = _first(DEATHSTAR / "kind-worker" / "tetragon.log", '"process_kprobe"', POD)
    written = f"export GITHUB_TOKEN={SECRETS['written_token']}\n".encode()
    hook["process_kprobe"]["args"].append({"bytes_arg": base64.b64encode(written).decode()})
    lines.append(json.dumps(hook, separators=(",", ":")))
    (exports / "node" / "tetragon.log").write_text("\n".join(lines) + "\n")

    flow = _first(DEATHSTAR / "kind-worker" / "hubble-flows.json", '"http"', '"source":{', "tiefighter")
    http = flow["flow"]["l7"]["http"]
    http["url"] = f"http://deathstar.default.svc.cluster.local/v1/request-landing?access_token={SECRETS['url_token']}"
    http["headers"] = [{"key": "Authorization", "value": f"Basic {SECRETS['auth_header']}"},
                       {"key": "Cookie", "value": f"session={SECRETS['cookie']}"},
                       {"key": "User-Agent", "value": "curl/8.0"}]
    (exports / "node" / "hubble-flows.json").write_text(json.dumps(flow) + "\n")

    alert = _first(DEATHSTAR / "kind-worker" / "falco.json", POD)
    cmd = f"sh -c API_KEY={SECRETS['api_key_env']} curl -H 'Authorization: Bearer {SECRETS['falco_bearer']}'"
    alert["output"] = alert["output"] + f" command={cmd}"
    alert["output_fields"]["proc.cmdline"] = cmd
    (exports / "node" / "falco.json").write_text(json.dumps(alert) + "\n")

    case = kn.open_case(root / "case.duckdb")
    report = case.load(exports, progress=False)
    assert report.total("quarantined") == 0 and report.total("loaded") == 9
    case.close()
    return root


def _forms(secret: str) -> list[bytes]:
    raw = secret.encode()
    return [raw, json.dumps(secret)[1:-1].encode(), json.dumps(secret, ensure_ascii=True)[1:-1].encode(),
            base64.b64encode(raw), base64.urlsafe_b64encode(raw).rstrip(b"=")]


def _bytes_of(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _buffers(folder: Path) -> list[str]:
    """The base64 buffer arguments (``bytes_arg``) of every line written in ``folder``."""
    found: list[str] = []

    def walk(o):
        if isinstance(o, dict):
            found.extend(v for k, v in o.items() if k == "bytes_arg")
            [walk(v) for v in o.values()]
        elif isinstance(o, list):
            [walk(v) for v in o]
    for p in folder.rglob("*.ndjson"):
        for line in p.read_text().splitlines():
            walk(json.loads(line))
    return found


def _all_text(case) -> str:
    """Every value of every table of a case, as text (the DuckDB file compresses strings, so its
    bytes alone do not prove a secret is absent)."""
    out = []
    for t in case.tables()["table"]:
        rows = case.con.execute(f"SELECT CAST(r AS VARCHAR) FROM {t} AS r").fetchall()  # noqa: S608
        out += [r[0] for r in rows]
    return "\n".join(out)


@pytest.fixture(scope="module")
def bundle(planted, tmp_path_factory):
    out = tmp_path_factory.mktemp("b") / "bundle"
    with kn.open_case(planted / "case.duckdb", read_only=True) as case:
        result = case.share(out, pods=["tiefighter"])
    return out, result


def test_no_planted_secret_in_any_byte_of_the_bundle(bundle):
    out, result = bundle
    files = _bytes_of(out)
    assert {p.name for p in files} >= {"case.duckdb", "manifest.json", "tetragon.log.ndjson",
                                       "hubble-flows.json.ndjson", "falco.json.ndjson"}
    for name, secret in SECRETS.items():
        for path, data in files.items():
            for form in _forms(secret):
                assert form not in data, f"{name} found in {path.name}"
    buffers = [base64.b64decode(b) for b in _buffers(out / "exports")]
    assert buffers and all(b.startswith(b"export GITHUB_TOKEN=[REDACTED:") for b in buffers)
    with kn.open_case(out / "case.duckdb", read_only=True) as b:
        text = _all_text(b)
    for name, secret in SECRETS.items():
        assert secret not in text, f"{name} in a column of the bundle case"
        assert not any(secret.encode() in buf for buf in buffers), f"{name} in a kprobe's buffer"
    assert set(result.replacements) >= {"token", "password", "secret-setting", "cloud-key", "private-key", "header"}


def test_redact_none_keeps_the_secrets(planted, tmp_path):
    with kn.open_case(planted / "case.duckdb", read_only=True) as case:
        result = case.share(tmp_path / "b", pods=["tiefighter"], redact="none")
    data = b"".join(p.read_bytes() for p in (tmp_path / "b" / "exports").rglob("*.ndjson"))
    buffers = b"".join(base64.b64decode(b) for b in _buffers(tmp_path / "b" / "exports"))
    for name, secret in SECRETS.items():
        assert json.dumps(secret)[1:-1].encode() in data + buffers, name
    assert result.replacements == {}


def test_accounting_adds_up_and_raw_lines_read_back(bundle, planted):
    out, result = bundle
    assert result.selected == result.lines_written == result.loaded + result.duplicates + result.quarantined
    assert result.quarantined == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["lines"]) == result.lines_written
    with kn.open_case(planted / "case.duckdb", read_only=True) as case:
        original = set(case.sql("SELECT event_id FROM events")["event_id"])
    assert {e["event_id"] for e in manifest["lines"]} <= original
    with kn.open_case(out / "case.duckdb", read_only=True) as b:
        files = b.files()
        assert (files["lines"] == files["loaded"] + files["duplicates"] + files["quarantined"] + files["blank"]).all()
        assert not any(p.startswith("/") for p in files["path"])  # the folder can be moved
        assert b.sql("SELECT count(*) AS n FROM events")["n"][0] == result.loaded
        for e in manifest["lines"]:
            text = b.raw(e["bundle_event_id"])  # checked against the bundle's hash
            assert json.loads(text)
    redacted = {(r["file"], r["line"]) for r in manifest["replacements"]}
    for e in manifest["lines"]:  # a line with nothing to redact keeps its bytes, so its event_id
        assert (e["event_id"] == e["bundle_event_id"]) == ((e["file"], e["line"]) not in redacted)
    for r in manifest["replacements"]:
        assert set(r) >= {"file", "line", "path", "kind", "rule"} and r["path"].startswith("$")


def test_bundle_is_a_case_that_moves(bundle, tmp_path):
    import shutil

    out, _ = bundle
    moved = tmp_path / "elsewhere"
    shutil.copytree(out, moved)
    with kn.open_case(moved / "case.duckdb", read_only=True) as b:
        eid = b.sql("SELECT event_id FROM events WHERE kind = 'alert'")["event_id"][0]
        assert "[REDACTED:" in b.raw(eid)
        args = b.processes(binary="mysql$")["args"][0]
        assert args == "-uroot -p[REDACTED:password] prod"


@pytest.fixture(scope="module")
def incident(tmp_path_factory, bundled_case):
    """The bundled capture and a bundle of its first incident (``case.findings()``: its pods and window)."""
    root = tmp_path_factory.mktemp("incident")
    case = bundled_case  # DEATHSTAR, loaded once per session
    want = case.findings().incidents[0]
    result = case.share(root / "b", incident=1)
    total = case.sql("SELECT count(*) AS n FROM events")["n"][0]
    return root / "b", result, want, total


def test_findings_and_process_tree_run_on_a_bundle_of_the_incident(incident):
    out, result, want, total = incident
    assert 0 < result.selected < total
    with kn.open_case(out / "case.duckdb", read_only=True) as b:
        got = b.findings().incidents[0]
        assert got.pod == want.pod == POD
        assert got.key_command is not None and want.key_command is not None
        assert (got.key_command.binary, got.key_command.args) == (want.key_command.binary, want.key_command.args)
        assert got.chain == want.chain
        assert b.ancestry(got.key_command.exec_id)["exec_id"].to_list()[-len(got.chain):] == got.chain
        # the pod it entered and the pods it reached, nothing else
        reached = {r.pod for r in want.reached if r.pod}
        assert reached and POD not in reached
        # (flows to and from those pods bring their peers' flows, not their processes)
        procs = set(b.sql("SELECT DISTINCT pod FROM process_events")["pod"].drop_nulls())
        assert POD in procs and procs <= {POD} | reached
        assert reached <= set(b.sql("SELECT DISTINCT pod FROM events")["pod"].drop_nulls())


def test_an_incident_number_past_the_findings_is_a_clear_error(tmp_path, bundled_case):
    case = bundled_case  # DEATHSTAR, loaded once per session
    n = len(case.findings().incidents)
    with pytest.raises(ShareError, match=f"incident {n + 1}: the findings have {n} incident"):
        case.share(tmp_path / "x", incident=n + 1)


@pytest.mark.slow
def test_report_renders_from_the_bundle(incident):
    from kernelsec_nb import report

    out, _, want, _ = incident
    notebook = Path(__file__).resolve().parents[2] / "notebooks" / "postmortem-template.ipynb"
    result = report.render(out / "case.duckdb", notebook, out.parent / "report.html")
    assert not result.get("errors")
    assert result["findings"]["incidents"][0]["pod"] == POD
    assert want.key_command.binary in (out.parent / "report.html").read_text()


def test_notes_on_bundled_rows_are_kept(planted, tmp_path):
    """When the case has an annotations table, notes on rows in the bundle follow them (their
    event targets renamed to the bundle's event_id), redacted."""
    import shutil

    src = tmp_path / "case.duckdb"
    shutil.copy(planted / "case.duckdb", src)
    with kn.open_case(src) as case:
        case.con.execute("CREATE TABLE IF NOT EXISTS annotations (id VARCHAR, target_kind VARCHAR, target VARCHAR, "
                         "tag VARCHAR, note VARCHAR, author VARCHAR, created TIMESTAMPTZ)")
        eid = case.sql("SELECT event_id FROM process_events WHERE \"binary\" = '/usr/bin/mysql'")["event_id"][0]
        case.con.execute("INSERT INTO annotations VALUES ('a', 'event', ?, 'creds', ?, 'ana', now()), "
                         "('b', 'event', 'not-in-bundle', 'x', 'y', 'ana', now())",
                         [eid, f"used password --password={SECRETS['mysql']}"])
        result = case.share(tmp_path / "b", pods=["tiefighter"])
    assert result.notes == 1
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    new_id = next(e["bundle_event_id"] for e in manifest["lines"] if e["event_id"] == eid)
    with kn.open_case(tmp_path / "b" / "case.duckdb", read_only=True) as b:
        notes = b.sql("SELECT * FROM annotations")
    assert notes["target"].to_list() == [new_id] and new_id != eid
    assert notes["note"][0] == "used password --password=[REDACTED:password]"


def test_user_rules_file(planted, tmp_path):
    rules = tmp_path / "rules.yml"
    rules.write_text("- name: pod-name\n  kind: pod\n  pattern: 'tiefighter-[a-z0-9]+-[a-z0-9]+'\n")
    with kn.open_case(planted / "case.duckdb", read_only=True) as case:
        result = case.share(tmp_path / "b", pods=["tiefighter"], redact=rules)
    assert result.replacements.get("pod", 0) > 0
    data = b"".join(p.read_bytes() for p in (tmp_path / "b" / "exports").rglob("*.ndjson"))
    assert POD.encode() not in data and SECRETS["mysql"].encode() in data  # a list replaces the defaults
    manifest = (tmp_path / "b" / "manifest.json").read_text()
    assert "tiefighter-[a-z0-9]" not in manifest  # a user's pattern is not copied into the bundle


def test_refusals(planted, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with kn.open_case(planted / "case.duckdb", read_only=True) as case:
        with pytest.raises(ShareError, match="not an empty folder"):
            case.share(tmp_path / "full", pods=["tiefighter"])
        with pytest.raises(ShareError, match="nothing selected"):
            case.share(tmp_path / "none", pods=["no-such-pod"])
        with pytest.raises(ShareError, match="either an incident"):
            case.share(tmp_path / "x", incident=1, pods=["a"])


def test_cli_share_and_hostile_text(planted, tmp_path, capsys):
    rc = cli.main(["share", str(planted / "case.duckdb"), "--out", str(tmp_path / "b"), "--pods", "tiefighter",
                   "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["selected"] == out["loaded"] + out["duplicates"] + out["quarantined"]
    rc = cli.main(["share", str(planted / "case.duckdb"), "--out", str(tmp_path / "c"), "--pods", "evil\x1b[2J\u202e"])
    err = capsys.readouterr().err
    assert rc == 2 and "\x1b" not in err and "\u202e" not in err and "␛" in err
    rc = cli.main(["share", str(planted / "case.duckdb"), "--out", str(tmp_path / "d"), "--redact", "missing.yml"])
    assert rc == 2 and "no rules file" in capsys.readouterr().err


def test_pretty_printed_records_and_a_changed_file(tmp_path):
    """A pretty-printed export's records are written one per line (marked ``reformatted``); an export
    changed since the load is refused, naming the line, before anything is written."""
    base = _first(DEATHSTAR / "kind-worker" / "tetragon.log", '"process_exec"', POD)
    exports = tmp_path / "exports"
    exports.mkdir()
    docs = [json.loads(_exec(base, n, "/bin/sh", f"-c TOKEN=PrettySecret{n}x run")) for n in (1, 2)]
    (exports / "pretty.json").write_text("\n".join(json.dumps(d, indent=2) for d in docs) + "\n")
    with kn.open_case(tmp_path / "case.duckdb") as case:
        assert case.load(exports, progress=False).total("loaded") == 2
        result = case.share(tmp_path / "b", pods=["tiefighter"])
        assert result.loaded == 2
        manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
        assert all(e.get("reformatted") for e in manifest["lines"])
        data = (tmp_path / "b" / "exports" / "pretty.json.ndjson").read_text()
        assert "PrettySecret" not in data and len(data.splitlines()) == 2
        (exports / "pretty.json").write_text((exports / "pretty.json").read_text().replace("/bin/sh", "/bin/zz"))
        with pytest.raises(kn.CaseError, match="changed since it was loaded"):
            case.share(tmp_path / "c", pods=["tiefighter"])
        with pytest.raises(kn.CaseError, match="changed since it was loaded"):  # found while writing
            case.share(tmp_path / "d", pods=["tiefighter"], redact="none")
        assert not (tmp_path / "c").exists() and not (tmp_path / "d").exists()


def test_redact_none_keeps_the_team_notes_as_written(planted, tmp_path):
    """``redact="none"`` on a case with notes copies the notes unchanged (it used to parse the raw
    note as JSON and fail with 'Expecting value')."""
    import shutil

    src = tmp_path / "case.duckdb"
    shutil.copy(planted / "case.duckdb", src)
    with kn.open_case(src) as case:
        eid = case.sql("SELECT event_id FROM process_events WHERE \"binary\" = '/usr/bin/mysql'")["event_id"][0]
        case.tag(eid, ["creds"], note=f"used password --password={SECRETS['mysql']}", author="ana")
        result = case.share(tmp_path / "b", pods=["tiefighter"], redact="none")
    assert result.notes == 1
    with kn.open_case(tmp_path / "b" / "case.duckdb", read_only=True) as b:
        notes = b.notes()
    assert notes["note"].to_list() == [f"used password --password={SECRETS['mysql']}"]


def test_an_incident_bundle_holds_its_processes_on_the_host_too(tmp_path, public_dir):
    """An escape's key command ran on the node's host (no pod): the bundle of the incident holds
    it, and an incident that entered on a host is shared from its own processes alone."""
    events = public_dir / "tetragon" / "security-observability-with-ebpf" / "03_security_observability_events"
    with kn.open_case(tmp_path / "c.duckdb") as case:
        case.load(events, progress=False)
        incidents = case.findings().incidents
        escape = next(n for n, i in enumerate(incidents, 1) if any(r.pod is None for r in i.reached))
        want = incidents[escape - 1].key_command
        host = next(n for n, i in enumerate(incidents, 1) if i.pod is None)
        case.share(tmp_path / "escape", incident=escape)
        result = case.share(tmp_path / "host", incident=host)
        host_exec = incidents[host - 1].key_command.exec_id
        pods_seen = case.sql("SELECT count(DISTINCT pod) AS n FROM events WHERE pod IS NOT NULL")["n"][0]
    with kn.open_case(tmp_path / "escape" / "case.duckdb", read_only=True) as b:
        got = b.sql("SELECT count(*) AS n FROM processes WHERE exec_id = ? AND pod IS NULL", [want.exec_id])
        assert got["n"][0] == 1  # the host process is in the bundle
    with kn.open_case(tmp_path / "host" / "case.duckdb", read_only=True) as b:
        assert b.sql("SELECT count(*) AS n FROM processes WHERE exec_id = ?", [host_exec])["n"][0] == 1
        # its own processes, not every pod of the case (an empty pod list is no pod, not all)
        assert b.sql("SELECT count(DISTINCT pod) AS n FROM events WHERE pod IS NOT NULL")["n"][0] < pods_seen
    assert result.selected > 0
