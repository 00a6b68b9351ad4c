"""case.dns(): the DNS lookups of Hubble, Inspektor Gadget and Tracee in one frame, each with what
its source knows (the process for the eBPF tools, the answer for Hubble)."""

from __future__ import annotations

import json

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
