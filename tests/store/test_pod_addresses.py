"""``pod_addresses``: which pod held which IP over which interval, a derived table built at load
(:mod:`kernelsec_nb.sources._pod_ips`, :mod:`kernelsec_nb.store._derived`)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

import kernelsec_nb as kn
from kernelsec_nb.sources._pod_ips import POD_IPS_SQL, resolve_sql
from kernelsec_nb.store import _derived
from tests.conftest import BUNDLED

_FLOW = ("INSERT INTO flows (event_id, time_ns, src_ip, src_namespace, src_pod, src_workload, dst_ip, "
         "dst_namespace, dst_pod, dst_workload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_HOOK = "INSERT INTO kprobes (event_id, time_ns, saddr, namespace, pod, workload) VALUES (?, ?, ?, ?, ?, ?)"


def table(case: kn.Case) -> list[tuple]:
    return case.con.execute("SELECT ip, namespace, pod, workload, first_ns, last_ns FROM pod_addresses "
                            "ORDER BY ALL").fetchall()


@pytest.fixture
def case() -> kn.Case:
    """A few sightings: 10.0.0.5 held by api-1 then, after it went, by web-1 (reused over time);
    the node's 172.18.0.2 by a host-network pod and a normal pod's hook at the same time; db-0
    only ever a flow's destination; loopback and pod-less endpoints, which name no pod."""
    c = kn.open_case()
    c.con.executemany(_FLOW, [
        ("f1", 100, "10.0.0.5", "shop", "api-1", "api", "10.0.0.9", "shop", "db-0", "db"),
        ("f2", 200, "10.0.0.5", "shop", "api-1", "api", "10.0.0.9", "shop", "db-0", "db"),
        ("f3", 900, "10.0.0.5", "web", "web-1", "web", "10.0.0.9", "shop", "db-0", "db"),
        ("f4", 300, "172.18.0.2", "kube-system", "kube-proxy-x", "kube-proxy", "1.1.1.1", None, None, None),
        ("f5", 400, "127.0.0.1", "shop", "api-1", "api", None, None, None, None),
    ])
    c.con.executemany(_HOOK, [
        ("k1", 950, "10.0.0.5", "web", "web-1", "web"),
        ("k2", 310, "172.18.0.2", "monitoring", "node-exporter-y", "node-exporter"),
        ("k3", 320, None, "shop", "api-1", "api"),
    ])
    _derived.rebuild(c.con)  # what every load does
    return c


def test_one_row_per_ip_and_pod_with_when(case):
    assert table(case) == [
        ("10.0.0.5", "shop", "api-1", "api", 100, 200),
        ("10.0.0.5", "web", "web-1", "web", 900, 950),
        ("10.0.0.9", "shop", "db-0", "db", 100, 900),  # only a flow's destination
        ("172.18.0.2", "kube-system", "kube-proxy-x", "kube-proxy", 300, 300),
        ("172.18.0.2", "monitoring", "node-exporter-y", "node-exporter", 310, 310),
    ]


def test_an_address_resolves_at_a_time(case):
    keys = ("SELECT *, 1 AS prio FROM (VALUES (1, 150, '10.0.0.5'), (2, 920, '10.0.0.5'), (3, 500, '10.0.0.5'), "
            "(4, 305, '172.18.0.2'), (5, 5000, '10.0.0.9'), (6, 100, '127.0.0.1'), (7, 100, '10.9.9.9')) "
            "t(rid, t, ip)")
    got = {r[0]: r[1:3] for r in case.con.execute(resolve_sql(keys, one_per_rid=True)).fetchall()}
    # 500 is 300 after api-1's last and 400 before web-1's first; the node's address is shared
    assert got == {1: ("shop", "api-1"), 2: ("web", "web-1"), 3: ("shop", "api-1"), 5: ("shop", "db-0")}


def test_rebuilt_by_the_load_that_brings_new_sightings(tmp_path):
    from tests.correlate.conftest import scenario, write

    c = kn.open_case(tmp_path / "c.duckdb")
    assert table(c) == []  # a new case has it, empty
    c.load(write(tmp_path / "capture", scenario()), progress=False)
    assert table(c) == c.con.execute("SELECT ip, namespace, pod, workload, first_ns, last_ns FROM ("  # noqa: S608
                                        + POD_IPS_SQL + ") ORDER BY ALL").fetchall()
    assert len(table(c)) > 0
    c.close()


@pytest.fixture(scope="module")
def old_case(tmp_path_factory) -> tuple[Path, list[tuple], list]:
    """A case of the bundled capture as a version before ``pod_addresses`` left it, with the
    table and the requests' client pods the current version gives."""
    path = tmp_path_factory.mktemp("old") / "old.duckdb"
    with kn.open_case(path) as c:
        c.load(BUNDLED, progress=False)
        want = table(c)
        clients = c.http_requests().select("event_id", "client_namespace", "client_pod").sort("event_id").rows()
    con = duckdb.connect(str(path))
    con.execute("DROP TABLE pod_addresses")
    con.close()
    return path, want, clients


def test_a_case_made_before_the_table_computes_it_read_only(old_case):
    path, want, clients = old_case
    with kn.open_case(path, read_only=True) as c:
        got = c.http_requests().select("event_id", "client_namespace", "client_pod").sort("event_id").rows()
        assert got == clients and any(p for _, _, p in clients)
        assert table(c) == want  # the session's own (temporary) table
    con = duckdb.connect(str(path), read_only=True)  # the file is not touched
    assert not con.execute("SELECT 1 FROM duckdb_tables() WHERE table_name = 'pod_addresses'").fetchall()
    con.close()


def test_a_case_made_before_the_table_gains_it_on_its_next_open_for_writing(old_case, tmp_path):
    path, want, clients = old_case
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(path.read_bytes())
    with kn.open_case(copy) as c:
        assert table(c) == want
        got = c.http_requests().select("event_id", "client_namespace", "client_pod").sort("event_id").rows()
        assert got == clients
    con = duckdb.connect(str(copy), read_only=True)  # stored, and the case is not stale
    assert con.execute("SELECT count(*) FROM pod_addresses").fetchall()[0][0] == len(want)
    assert not _derived.stale(con)
    con.close()
