"""case.dns(): the DNS lookups of Hubble, Inspektor Gadget and Tracee in one frame, each with what
its source knows (the process for the eBPF tools, the answer for Hubble)."""

from __future__ import annotations

import json

import polars as pl
import pytest

import kernelsec_nb as kn

_IG_DNS = {"timestamp": "2021-10-04T11:22:27.000000000Z",
           "k8s": {"node": "node-1", "namespace": "shop", "podName": "web-0", "containerName": "web"},
           "runtime": {"containerId": "1ccee3e25641f6825fe269628b2fb15de8e9e11b8dc8d5b01b6373839a140c62"},
           "proc": {"comm": "curl", "pid": 4242, "tid": 4242, "mntns_id": 4026532200,
                    "parent": {"comm": "sh", "pid": 4200}},
           "name": "api.example.com.", "qr": "Q", "qtype": "A", "id": "1a2b"}


@pytest.fixture(scope="module")
def case(public_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dns")
    tracee = public_dir.parent / "public-new-sources" / "tracee" / "v0.20.0_net_packet_dns.ndjson"
    if not tracee.is_file():
        pytest.skip("the Tracee samples are not here")
    (folder / "tracee.ndjson").write_text(tracee.read_text().splitlines()[0] + "\n")
    (folder / "ig.ndjson").write_text(json.dumps(_IG_DNS) + "\n")
    hubble = (public_dir / "hubble" / "basic-sample-5-dns-flows.json").read_text().splitlines()
    (folder / "hubble.json").write_text("\n".join(hubble[:4]) + "\n")
    c = kn.open_case()
    c.load(folder, progress=False)
    return c


def test_every_source_s_lookups(case):
    dns = case.dns()
    assert set(dns["source"]) == {"hubble", "inspektor_gadget", "tracee"}
    ig = dns.filter(dns["source"] == "inspektor_gadget").row(0, named=True)
    assert (ig["query"], ig["exec_id"], ig["pid"], ig["binary"], ig["pod"]) == (
        "api.example.com", "ig:node-1:4242", 4242, "curl", "web-0")
    tr = dns.filter(dns["source"] == "tracee").row(0, named=True)
    assert (tr["query"], tr["binary"], tr["dst_port"]) == ("www.uol.com.br", "isc-net-0000", 53)
    assert tr["exec_id"] == "tracee:rugged:2231131033"  # the exec identity of Tracee's events (entity id)
    hub = dns.filter(dns["source"] == "hubble")
    assert hub.height == case.sql("SELECT count(*) n FROM flows WHERE dns_query IS NOT NULL")["n"][0] > 0
    assert hub["exec_id"].is_null().all() and not hub["query"].str.ends_with(".").any()
    assert dns["time_ns"].is_sorted()


def test_filters(case):
    assert case.dns(fqdn=r"example\.com$")["source"].to_list() == ["inspektor_gadget"]
    assert case.dns(source="tracee").height == 1
    assert case.dns(exec_id="ig:node-1:4242")["query"].to_list() == ["api.example.com"]
    with pytest.raises(TypeError, match="unknown filter"):
        case.dns(nonsense=1)


def test_first_seen_names_the_process_tools_lookups_too(case):
    seen = case.first_seen(by="pod")
    rows = seen.filter(seen["what"] == "dns").select("group", "value").rows()
    assert ("web-0", "api.example.com") in rows


def test_hubble_lookups_carry_the_process_their_flow_is_attributed_to(tmp_path):
    """A Hubble DNS flow whose 5-tuple a socket hook saw gets that exec (as ``case.flows()``
    attributes it); a lookup no hook saw keeps no process; filters apply to the filled rows."""
    from tests.correlate.conftest import CLIENT, MS, P_C1, P_S, SHIM, T0, flow, kprobe, tg, write

    dns_srv = ("10.0.2.2", "kube-system", "coredns-1-x")
    udp = {"sock_arg": {"family": "AF_INET", "type": "SOCK_DGRAM", "protocol": "IPPROTO_UDP",
                        "saddr": CLIENT[0], "daddr": dns_srv[0], "sport": 51000, "dport": 53}}
    files = {
        "n1/tetragon.log": [tg("n1", T0 + 1000 * MS, "process_exec", {"process": P_S, "parent": SHIM}),
                            tg("n1", T0 + 2000 * MS, "process_exec", {"process": P_C1, "parent": P_S}),
                            kprobe(P_C1, P_S, T0 + 2040 * MS, "udp_sendmsg", [udp])],
        "n1/hubble.json": [flow("n1", T0 + 2050 * MS, CLIENT, dns_srv, CLIENT[0], 51000, dns_srv[0], 53, udp=True,
                                dns="api.shop.svc.cluster.local."),
                           flow("n1", T0 + 2060 * MS, CLIENT, dns_srv, CLIENT[0], 51999, "10.0.9.9", 53, udp=True,
                                dns="evil.example.")],
    }
    case = kn.open_case()
    case.load(write(tmp_path, files), progress=False)
    dns = case.dns().select("query", "exec_id", "pid", "binary", "args", "match", "confidence").rows()
    flows = case.flows().filter(pl.col("dns_query").is_not_null()).select("exec_id", "match", "confidence").rows()
    assert flows[0] == ("C1", "5tuple", 1.0)
    assert dns == [("api.shop.svc.cluster.local", "C1", 101, "/usr/bin/curl", "-XPUT api/v1/secret", "5tuple", 1.0),
                   ("evil.example", None, None, None, None, "none", 0.0)]
    assert case.dns(binary="curl")["query"].to_list() == ["api.shop.svc.cluster.local"]
    assert case.dns(exec_id="C1").height == 1
