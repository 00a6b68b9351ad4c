"""``_pod_ips.resolve_sql`` against a brute-force oracle of its rule, on small random captures
where pod IPs are reused by several pods over time and requests fall on the boundaries."""

from __future__ import annotations

import random

import duckdb
import pytest

from kernelsec_nb.sources._pod_ips import BUILD_SQL, resolve_sql

IPS = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "127.0.0.1", "::1"]
PODS = [("shop", "api-1"), ("shop", "api-2"), ("web", "api-1"), (None, "bare")]


def capture(rng: random.Random) -> tuple[list[tuple], list[tuple]]:
    """Sightings ``(ip, namespace, pod, workload, time)`` as flows' endpoints and hooks' addresses."""
    flows, hooks = [], []
    for _ in range(rng.randrange(1, 25)):
        ip, (ns, pod), t = rng.choice(IPS), rng.choice(PODS), rng.randrange(0, 100)
        where = rng.randrange(3)
        if where == 0:
            flows.append((ip, ns, pod, pod + "-wl", None, None, None, None, t))
        elif where == 1:
            flows.append((None, None, None, None, ip, ns, pod, pod + "-wl", t))
        else:
            hooks.append((ip, ns, pod, pod + "-wl", t))
    return flows, hooks


def oracle(flows: list[tuple], hooks: list[tuple], keys: list[tuple]) -> dict[int, tuple]:
    """The rule of ``resolve_sql`` written out: per (ip, pod) its first/last sighting; per rid the
    lowest prio whose IP is known, the pod nearest t (distance to [first, last]); a tie names none."""
    seen: dict[tuple, list[int]] = {}
    for f in flows:
        for ip, ns, pod, t in ((f[0], f[1], f[2], f[8]), (f[4], f[5], f[6], f[8])):
            if pod is not None:
                seen.setdefault((ip, ns, pod), []).append(t)
    for ip, ns, pod, _wl, t in hooks:
        seen.setdefault((ip, ns, pod), []).append(t)
    spans = {k: (min(v), max(v)) for k, v in seen.items() if not (k[0].startswith("127.") or k[0] == "::1")}
    out = {}
    for rid in {k[0] for k in keys}:
        cands = []
        for _rid, t, ip, prio in (k for k in keys if k[0] == rid):
            for (sip, ns, pod), (first, last) in spans.items():
                if sip == ip:
                    dist = None if t is None else max(first - t, t - last, 0)
                    cands.append(((prio, float("inf") if dist is None else dist), (ns, pod)))
        if not cands:
            continue
        best = min(c[0] for c in cands)
        pods = {c[1] for c in cands if c[0] == best}
        if len(pods) == 1:
            out[rid] = next(iter(pods))
    return out


@pytest.mark.parametrize("one_per_rid", [False, True])
@pytest.mark.parametrize("seed", range(40))
def test_resolve_matches_the_brute_force_rule(seed, one_per_rid):
    rng = random.Random(seed)
    flows, hooks = capture(rng)
    times = sorted({f[8] for f in flows} | {h[4] for h in hooks})
    keys = []
    for rid in range(12):
        for prio in rng.sample([1, 2, 3], 1 if one_per_rid else rng.randrange(1, 3)):
            # on a sighting (a first/last boundary), just beside it, anywhere, or unknown
            t = rng.choice([rng.choice(times) + rng.choice([-1, 0, 1]), rng.randrange(-10, 110), None])
            keys.append((rid, t, rng.choice([*IPS, "10.9.9.9"]), prio))
    con = duckdb.connect()
    con.execute("CREATE TABLE flows (src_ip VARCHAR, src_namespace VARCHAR, src_pod VARCHAR, src_workload VARCHAR, "
                "dst_ip VARCHAR, dst_namespace VARCHAR, dst_pod VARCHAR, dst_workload VARCHAR, time_ns BIGINT)")
    con.execute("CREATE TABLE kprobes (saddr VARCHAR, namespace VARCHAR, pod VARCHAR, workload VARCHAR, "
                "time_ns BIGINT)")
    con.execute("CREATE TABLE keys (rid INTEGER, t BIGINT, ip VARCHAR, prio INTEGER)")
    if flows:
        con.executemany("INSERT INTO flows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", flows)
    if hooks:
        con.executemany("INSERT INTO kprobes VALUES (?, ?, ?, ?, ?)", hooks)
    con.executemany("INSERT INTO keys VALUES (?, ?, ?, ?)", keys)
    con.execute(BUILD_SQL)  # the derived table (built at load)
    got = {rid: (ns, pod) for rid, ns, pod, _wl in con.execute(resolve_sql("SELECT * FROM keys", one_per_rid=one_per_rid)).fetchall()}
    assert got == oracle(flows, hooks, keys)
