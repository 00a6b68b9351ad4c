"""The engine on a few rows: a contact with the cloud instance metadata service is a
credential-access act unless the workload does it all through the capture."""

from __future__ import annotations

from kernelsec_nb.findings import _evidence as E
from kernelsec_nb.findings.engine import find_in
from tests.findings.test_engine import MS, S, flow, frames, proc

IMDS = "169.254.169.254"


def _two_services(web_imds_at=(100 * S, 105 * S, 112 * S)):
    """``cart`` fetches instance credentials every ten minutes (an SDK's refresh); ``web``
    talks to its database all day and, late, reaches the metadata service three times."""
    procs = [proc("web", None, "web-1", "/usr/bin/node", "server.js", -3600 * S, seen="event"),
             proc("cart", None, "cart-1", "/usr/bin/python3", "app.py", -3600 * S, seen="event")]
    flows = [flow(f"w{j}", j * 60 * S, "web", ("a", "web-1"), ("a", "db-0"), 5432) for j in range(-60, 10)]
    flows += [flow(f"c{j}", j * 600 * S, "cart", ("a", "cart-1"), None, 80, dst_ip=IMDS) for j in range(-6, 2)]
    flows += [flow(f"c{j}b", j * 600 * S + 5 * MS, "cart", ("a", "cart-1"), None, 80, dst_ip=IMDS)
              for j in range(-6, 2)]
    flows += [flow(f"m{n}", t, "web", ("a", "web-1"), None, 80, dst_ip=IMDS) for n, t in enumerate(web_imds_at)]
    return frames(procs, flows)


def test_a_service_reaching_the_metadata_service_it_never_uses_is_a_credential_access_lead():
    f = find_in(**_two_services())
    parts = [(i.key_command.exec_id if i.key_command else None, i.why) for i in f.incidents]
    parts += [(x, ld.why) for ld in f.leads for x in ld.exec_ids]
    web = [why for x, why in parts if x == "web"]
    assert web and any("instance metadata" in str(w) for w in web)
    assert not [x for x, _ in parts if x == "cart"]  # its schedule is routine


def test_metadata_evidence_names_the_technique_and_skips_the_workloads_habit():
    fr = _two_services()["flows"]
    conns = fr.select("exec_id", "src_workload", "dst_ip", "dst_port", "time_ns", "event_id")
    from kernelsec_nb.findings.routine import destinations
    ev = E.metadata_contacts(conns, destinations(conns.filter(conns["exec_id"] == "cart")))
    assert ev["exec_id"].to_list() == ["web"]
    assert ev["techniques"].to_list() == [["T1552.005"]] and "instance metadata service 169.254.169.254:80" in ev["text"][0]
