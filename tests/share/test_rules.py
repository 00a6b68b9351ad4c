"""Redaction rules, one case each, and what they must leave alone."""

from __future__ import annotations

import json

import pytest

from kernelsec_nb.share import DEFAULT_RULES, Rule, load_rules, redact_line
from kernelsec_nb.share._rules import resolve


def _red(value: str, key: str = "args") -> tuple[str, list[str]]:
    out = redact_line(json.dumps({key: value}, separators=(",", ":")), DEFAULT_RULES)
    return json.loads(out.text)[key], [r.rule for r in out.replacements]


@pytest.mark.parametrize(("value", "secret", "rule"), [
    ("echo eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.abcdefSIG", "eyJhbGciOiJIUzI1NiJ9", "jwt"),
    ("curl -H 'Authorization: Digest u=1 r=2'", "u=1 r=2", "authorization-header"),
    ("Cookie: sid=abc123456", "sid=abc123456", "cookie-header"),
    ("token is Bearer abcdefgh12345", "abcdefgh12345", "bearer"),
    ("--key ASIAABCDEFGHIJKLMNOP", "ASIAABCDEFGHIJKLMNOP", "aws-access-key"),
    ("k=AIza" + "B" * 35, "AIza" + "B" * 35, "gcp-api-key"),
    ("psql --password s3cretpw", "s3cretpw", "password-flag"),
    ("agent -url https://c2:443 -proto h2 -psk SecurePSK!23@456", "SecurePSK!23@456", "secret-flag"),
    ("app --db-password=hunter22 --port 80", "hunter22", "secret-flag"),
    ("vault login --api-token s.abcdef12", "s.abcdef12", "secret-flag"),
    ("tool --client-secret 'xyz123'", "xyz123", "secret-flag"),
    ("x -----BEGIN EC PRIVATE KEY-----\nabcdef\n-----END EC PRIVATE KEY----- y", "abcdef", "private-key"),
    ("x -----BEGIN OPENSSH PRIVATE KEY-----\nabcdefcut", "abcdefcut", "private-key"),  # cut short
    ("env DB_PASSWORD=hunter22 CLIENT_SECRET='a b c' app", "hunter22", "secret-setting"),
    ("GET /x?api_key=k123456&page=2", "k123456", "secret-setting"),
])
def test_each_default_rule(value, secret, rule):
    new, rules = _red(value)
    assert secret not in new and "[REDACTED:" in new and rule in rules


@pytest.mark.parametrize("value", [
    "mkdir -p /tmp/x", "ssh -p 2222 host", "tar -pcvf a.tar b", "PWD=/root", "cat /etc/passwd",
    "kubectl get secrets", "sleep 30", "--port=8080",
    "docker login --password-stdin", "kubectl --token-file /var/run/t --v 2", "git push --no-token -v",
])
def test_ordinary_commands_are_left_alone(value):
    assert _red(value) == (value, [])


def test_mysql_p_only_with_a_mysql_client_on_the_line():
    line = json.dumps({"binary": "/usr/bin/mysql", "args": "-uroot -pSecretPw1 db"})
    assert json.loads(redact_line(line, DEFAULT_RULES).text)["args"] == "-uroot -p[REDACTED:password] db"
    line = json.dumps({"binary": "/usr/bin/iperf", "args": "-c host -p5201x"})
    assert redact_line(line, DEFAULT_RULES).text == line


def test_header_pairs_and_fields_but_not_a_socket_cookie():
    line = json.dumps({"headers": [{"key": "X-Api-Key", "value": "abc"}, {"key": "Accept", "value": "*/*"}],
                       "env": [{"name": "GITHUB_TOKEN", "value": "ghp_x"}], "password": "pw",
                       "sock_arg": {"cookie": "4656296965296282837"}})
    out = json.loads(redact_line(line, DEFAULT_RULES).text)
    assert out["headers"][0]["value"].startswith("[REDACTED") and out["headers"][1]["value"] == "*/*"
    assert out["env"][0]["value"].startswith("[REDACTED") and out["password"].startswith("[REDACTED")
    assert out["sock_arg"]["cookie"] == "4656296965296282837"  # Tetragon's socket cookie is not a secret


def test_json_stays_valid_and_other_bytes_unchanged():
    line = '{"a": "caf\\u00e9 \\"q\\"",  "args":"--password=p\\\\w\\"x y", "n": 1.50}'
    out = redact_line(line, DEFAULT_RULES)
    assert out.text == '{"a": "caf\\u00e9 \\"q\\"",  "args":"--password=[REDACTED:password] y", "n": 1.50}'
    assert json.loads(out.text)["n"] == 1.5
    assert redact_line('{"x":"nothing here"}', DEFAULT_RULES).text == '{"x":"nothing here"}'


def test_known_secret_replaced_wherever_it_appears():
    from kernelsec_nb.share._redact import known_pattern

    line = json.dumps({"note": "reused Str0ngPass! elsewhere"})
    out = redact_line(line, DEFAULT_RULES, known_pattern({"Str0ngPass!"}))
    assert "Str0ngPass" not in out.text and out.replacements[0].kind == "seen-elsewhere"


def test_manifest_paths_and_kinds_never_the_secret():
    out = redact_line(json.dumps({"l7": {"http": {"headers": [{"key": "Authorization", "value": "Basic zzz"}]}}}),
                      DEFAULT_RULES)
    assert [r.to_dict() for r in out.replacements] == [
        {"path": "$.l7.http.headers[0].value", "kind": "header", "rule": "http-header"}]


def test_rules_files(tmp_path):
    f = tmp_path / "r.json"
    f.write_text(json.dumps({"default": True, "rules": [{"name": "ticket", "kind": "id", "pattern": r"TICK-\d+"}]}))
    rules = load_rules(f)
    assert len(rules) == len(DEFAULT_RULES) + 1 and rules[-1] == Rule("ticket", "id", r"TICK-\d+")
    bad = tmp_path / "bad.yml"
    bad.write_text("- name: x\n  kind: y\n  pattern: '('\n")
    with pytest.raises(ValueError, match="not a regular expression"):
        load_rules(bad)
    bad.write_text("- name: x\n")
    with pytest.raises(ValueError, match="needs name, kind and pattern"):
        load_rules(bad)
    assert resolve("none") == () and resolve("default") == DEFAULT_RULES
