"""An exec'd shell's connection out, told apart from an engineer's outbound check by what the
engine knows of the session: a probing credential's audited exec (``_api_exec``) or an address
the command line spells out (``_typed_address``)."""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings.engine import find_in
from tests.findings.test_benign_mechanisms import _hit
from tests.findings.test_engine import MS, S, _hits, flow, frames, proc

OUT = "203.0.113.5"
SA = "system:serviceaccount:shop:deployer"


def _shell(args: str):
    """A shell exec'd into db-0 (its rule only says it arrived), a child that connects out."""
    procs = [proc("sh", "shim", "db-0", "/bin/bash", "", 100 * S, init=False),
             proc("up", "sh", "db-0", "/usr/bin/perl", args, 110 * S, init=False)]
    flows = [flow("f", 110 * S + MS, "up", ("a", "db-0"), None, 8443, dst_ip=OUT)]
    return frames(procs, flows, hits=_hits([_hit("sh", "shell", "high", ("T1609", "T1059.004"), 100 * S)]))


def _api(probe: bool):
    rows = [(SA, "198.51.100.7", "create", "selfsubjectrulesreviews" if probe else "namespaces", None, 50 * S, 201,
             None),
            (SA, "198.51.100.7", "create", "pods", "exec", 100 * S - 100 * MS, 101, "sh")]
    cols = ["user", "src_ip", "verb", "resource", "subresource", "time_ns", "code", "linked_exec_id"]
    return pl.DataFrame([dict(zip(cols, r, strict=True)) for r in rows],
                        schema_overrides={"subresource": pl.String, "linked_exec_id": pl.String}).with_columns(
        pl.lit("a").alias("namespace"), pl.lit("db-0").alias("name"), pl.lit(None, pl.String).alias("exec_id"),
        pl.format("a{}", pl.int_range(pl.len())).alias("event_id"))


def test_an_outbound_check_by_name_from_an_exec_d_shell_stays_a_lead():
    f = find_in(**_shell("-MLWP::Simple -e 'get(\"https://mirror.example/x\")'"))
    assert f.incidents == []


def test_a_one_liner_to_an_address_it_spells_out_is_an_incident():
    (i,) = find_in(**_shell(f"-MIO::Socket::INET -e '$s=IO::Socket::INET->new(PeerAddr=>\"{OUT}:8443\")'")).incidents
    assert i.key_command.exec_id == "up"


def test_the_exec_of_a_credential_that_probed_its_rights_makes_its_shells_connection_an_incident():
    args = "-MLWP::Simple -e 'get(\"https://mirror.example/x\")'"
    assert find_in(**_shell(args), api=_api(probe=False)).incidents == []
    (i,) = find_in(**_shell(args), api=_api(probe=True)).incidents
    assert i.pod == "db-0" and i.key_command.exec_id == "up"
    assert {"T1078", "T1609"} <= set(i.techniques)
