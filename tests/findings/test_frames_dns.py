"""The flow frame the findings read from a case keeps what names an endpoint: the DNS answers'
addresses (``dns_ips``), from which an endpoint gets the name its pod looked up."""

from __future__ import annotations

import kernelsec_nb as kn
from kernelsec_nb.findings import _endpoints as X
from kernelsec_nb.findings._frames import case_frames

S = 1_000_000_000


def test_an_endpoint_is_named_by_the_dns_answer_its_pod_got_in_the_case():
    case = kn.open_case()
    case.con.executemany(
        "INSERT INTO flows (event_id, time_ns, node, src_namespace, src_pod, src_ip, dst_namespace, dst_pod, dst_ip, "
        "dst_port, protocol, dns_query, dns_ips, is_reply) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [("q", 10 * S, "n1", "kube-system", "dns-0", "10.0.0.2", "app", "web", "10.0.1.7", 40000, "UDP",
          "files.example.org.", ["198.51.100.9"], True),
         ("c", 11 * S, "n1", "app", "web", "10.0.1.7", None, None, "198.51.100.9", 443, "TCP", None, None, False)])
    flows = case_frames(case)["flows"]
    assert X.name_for(X.dns_answers(flows), "app", "web", "198.51.100.9", 11 * S) == "files.example.org"
