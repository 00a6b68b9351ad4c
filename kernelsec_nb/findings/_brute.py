"""Password guessing (ATT&CK T1110): a burst of refused logins, then one let in, from one client.

What a server answered is in the capture twice over: Hubble's L7 HTTP flows (the code on the
*reply* flow, server → client) and the sidecars' access logs (``case.http_requests()``: the
code, and the client named by ``X-Forwarded-For`` behind a proxy).  :func:`answers` puts both
in one frame (server pod, path, client, code, time); :func:`login_bursts` finds, per server pod,
path and client, a run of refusals (401/403: the server's own word that the credentials were
wrong — no list of login paths) with no pause longer than ``window_ns``, followed within
``window_ns`` by an answer that let the same client in (2xx/3xx).

**The client.**  Behind an ingress proxy Hubble sees the proxy pod as the client (the outside
address is only in a header it does not keep); a request whose proxy had exactly one outside
address connecting to it within ``proxy_slack_ns`` of the answer (either side: the nodes'
clocks differ by a little) is that address's (:func:`outside_clients`); else the proxy pod stays the client (every user of the proxy mixed).

**The threshold** is relative to the capture: a burst counts from ``min_failures`` refusals
and from ``factor`` times the longest run of refusals any other client got on that path in the
capture (a login page users mistype all day needs a longer run).

**What it does**: nothing on its own — no incident, no weight.  An incident whose entry started
in the guessed server pod within ``after_ns`` of the success gets technique T1110 (rule
:data:`RULE`), a line of its ``why`` and the success in its evidence (:func:`guessed_logins`).

Examples
--------
>>> f = pl.DataFrame({"event_id": [f"r{i}" for i in range(7)], "time_ns": [i * NS for i in range(7)],
...     "src_namespace": ["a"] * 7, "src_pod": ["web-1"] * 7, "src_ip": ["10.0.0.5"] * 7,
...     "dst_namespace": [None] * 7, "dst_pod": [None] * 7, "dst_ip": ["6.6.6.6"] * 7,
...     "http_method": ["POST"] * 7, "http_path": ["/login"] * 7, "http_code": [401] * 6 + [302],
...     "is_reply": [True] * 7})
>>> login_bursts(answers(f)).select("pod", "path", "client", "failures").rows()
[('web-1', '/login', '6.6.6.6', 6)]
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import polars as pl

from kernelsec_nb.findings._evidence import is_internal

NS = 1_000_000_000
#: The rule id of the technique's evidence.
RULE = "engine:brute_force"
TECHNIQUE = "T1110"
REFUSED = (401, 403)
_ANSWERS = {"event_id": pl.String, "time_ns": pl.Int64, "namespace": pl.String, "pod": pl.String,
            "path": pl.String, "method": pl.String, "code": pl.Int64, "client": pl.String,
            "client_namespace": pl.String, "client_pod": pl.String}
BURST_SCHEMA = {"namespace": pl.String, "pod": pl.String, "path": pl.String, "method": pl.String,
                "client": pl.String, "failures": pl.UInt32, "first_ns": pl.Int64, "last_ns": pl.Int64,
                "success_ns": pl.Int64, "event_id": pl.String}


@dataclass(frozen=True)
class BruteSettings:
    """The burst's shape (README, "findings": brute force)."""

    #: refusals of one client this close together are one run; the success comes this soon after
    window_ns: int = 120 * NS
    #: a run counts from this many refusals (OWASP's lockout advice: 3 to 10)
    min_failures: int = 5
    #: ... and from this many times the longest run any other client had on that path
    factor: float = 3.0
    #: an incident whose entry started in the guessed pod this soon after the success was let in by it
    after_ns: int = 1800 * NS
    #: a proxy's request is the outside address that alone connected to the proxy this close to it
    proxy_slack_ns: int = 2 * NS


DEFAULT = BruteSettings()


def _col(f: pl.DataFrame, c: str, dtype: Any = pl.String) -> pl.Expr:
    return pl.col(c).cast(dtype) if c in f.columns else pl.lit(None, dtype)


def answers(flows: pl.DataFrame, requests: pl.DataFrame | None = None) -> pl.DataFrame:
    """The HTTP answers of ``flows`` (Hubble: rows with a code; a reply runs server → client) and
    of ``requests`` (access logs: inbound rows; the client is the first ``X-Forwarded-For``
    address, else the downstream address): one row each, :data:`_ANSWERS` columns."""
    parts = []
    if flows.height and {"http_code", "time_ns"} <= set(flows.columns):
        f = flows.filter(pl.col("http_code").is_not_null())
        reply = _col(f, "is_reply", pl.Boolean).fill_null(False)

        def side(server: str, client: str) -> pl.Expr:
            return pl.when(reply).then(_col(f, server)).otherwise(_col(f, client))
        path = _col(f, "http_path") if "http_path" in f.columns else _col(f, "http_url")
        parts.append(f.select(
            _col(f, "event_id"), pl.col("time_ns").cast(pl.Int64), side("src_namespace", "dst_namespace").alias("namespace"),
            side("src_pod", "dst_pod").alias("pod"), path.alias("path"), _col(f, "http_method").alias("method"),
            pl.col("http_code").cast(pl.Int64).alias("code"), side("dst_ip", "src_ip").alias("client"),
            side("dst_namespace", "src_namespace").alias("client_namespace"),
            side("dst_pod", "src_pod").alias("client_pod")))
    if requests is not None and requests.height and {"response_code", "pod"} <= set(requests.columns):
        r = requests.filter((_col(requests, "direction").fill_null("inbound") == "inbound")
                            & pl.col("response_code").is_not_null())
        xff = _col(r, "x_forwarded_for").str.split(",").list.first().str.strip_chars()
        parts.append(r.select(
            _col(r, "event_id"), pl.col("time_ns").cast(pl.Int64), _col(r, "namespace"), _col(r, "pod"),
            _col(r, "path").str.replace(r"\?.*$", "").alias("path"), _col(r, "method"),
            pl.col("response_code").cast(pl.Int64).alias("code"),
            pl.coalesce(pl.when(xff != "").then(xff), _col(r, "downstream_remote_ip")).alias("client"),
            _col(r, "client_namespace"), _col(r, "client_pod")))
    if not parts:
        return pl.DataFrame(schema=_ANSWERS)
    return pl.concat([p.cast(_ANSWERS) for p in parts]).filter(pl.col("pod").is_not_null())  # type: ignore[arg-type]


def outside_clients(ans: pl.DataFrame, flows: pl.DataFrame, s: BruteSettings = DEFAULT) -> pl.DataFrame:
    """``ans`` with the client of each answer to a pod client (a proxy) replaced by the outside
    address that alone connected to that proxy within ``proxy_slack_ns`` of it."""
    need = {"src_ip", "dst_pod", "time_ns"}
    proxied = ans.filter(pl.col("client_pod").is_not_null())
    if proxied.height == 0 or flows.height == 0 or not need <= set(flows.columns):
        return ans
    into = flows.filter(pl.col("dst_pod").is_in(proxied["client_pod"].unique().implode())
                        & ~_col(flows, "is_reply", pl.Boolean).fill_null(False))
    ips = into["src_ip"].drop_nulls().unique().to_list()
    outside = [ip for ip in ips if not is_internal(ip)]
    into = into.filter(pl.col("src_ip").is_in(outside)).select(
        pl.col("dst_pod").alias("client_pod"), _col(into, "dst_namespace").alias("client_namespace"),
        pl.col("time_ns").cast(pl.Int64).alias("_t"), pl.col("src_ip").alias("_ip"))
    if into.height == 0:
        return ans
    one = (proxied.select("event_id", "time_ns", "client_pod", "client_namespace")
           .join(into, on=["client_pod", "client_namespace"], how="inner", nulls_equal=True)
           .filter((pl.col("_t") - pl.col("time_ns")).abs() <= s.proxy_slack_ns)
           .group_by("event_id").agg(pl.col("_ip").unique().alias("_ips"))
           .filter(pl.col("_ips").list.len() == 1).select("event_id", pl.col("_ips").list.first().alias("_ip")))
    return ans.join(one, on="event_id", how="left").with_columns(
        pl.coalesce("_ip", "client").alias("client")).drop("_ip")


def login_bursts(ans: pl.DataFrame, s: BruteSettings = DEFAULT) -> pl.DataFrame:
    """Runs of refusals (:data:`REFUSED`) of one client on one path of one pod, then a success
    (:data:`BURST_SCHEMA`: the run's size, first and last refusal, the success and its event)."""
    if ans.height == 0:
        return pl.DataFrame(schema=BURST_SCHEMA)
    key = ["namespace", "pod", "path", "client"]
    a = ans.filter(pl.col("client").is_not_null() & pl.col("path").is_not_null()).sort([*key, "time_ns"])
    refused = a.filter(pl.col("code").is_in(list(REFUSED)))
    if refused.height == 0:
        return pl.DataFrame(schema=BURST_SCHEMA)
    gap = pl.col("time_ns").diff().over(key)
    runs = (refused.with_columns((gap.is_null() | (gap > s.window_ns)).cum_sum().over(key).alias("_run"))
            .group_by([*key, "_run"]).agg(pl.len().alias("failures"), pl.col("time_ns").min().alias("first_ns"),
                                          pl.col("time_ns").max().alias("last_ns"), pl.col("method").first()))
    # the longest run of any other client on the same path: the capture's own measure of mistyping
    longest = runs.group_by(["namespace", "pod", "path", "client"]).agg(pl.col("failures").max().alias("_mine"))
    others = longest.join(longest, on=["namespace", "pod", "path"], how="inner", nulls_equal=True, suffix="_o") \
        .filter(pl.col("client") != pl.col("client_o")) \
        .group_by(["namespace", "pod", "path", "client"]).agg(pl.col("_mine_o").max().alias("_other"))
    runs = runs.join(others, on=key, how="left", nulls_equal=True).filter(
        (pl.col("failures") >= s.min_failures)
        & (pl.col("failures") >= s.factor * pl.col("_other").fill_null(0)))
    ok = a.filter((pl.col("code") >= 200) & (pl.col("code") < 400)).select(
        *key, pl.col("time_ns").alias("success_ns"), "event_id")
    found = (runs.join(ok, on=key, how="inner", nulls_equal=True)
             .filter((pl.col("success_ns") > pl.col("last_ns")) & (pl.col("success_ns") <= pl.col("last_ns") + s.window_ns))
             .sort("success_ns").unique([*key, "_run"], keep="first"))
    return found.select(list(BURST_SCHEMA)).cast(BURST_SCHEMA).sort("success_ns")  # type: ignore[arg-type]


def bursts_of(flows: pl.DataFrame, requests: pl.DataFrame | None, s: BruteSettings = DEFAULT) -> pl.DataFrame:
    """The login bursts of a case's flows and access-log requests (:func:`answers`,
    :func:`outside_clients`, :func:`login_bursts`)."""
    ans = answers(flows, requests)
    if ans.height == 0 or not ans["code"].is_in(list(REFUSED)).any():
        return pl.DataFrame(schema=BURST_SCHEMA)
    return login_bursts(outside_clients(ans, flows, s), s)


def guessed_logins(incidents: list, bursts: pl.DataFrame, starts: dict[str, int], s: BruteSettings = DEFAULT) -> list:
    """``incidents`` (``Incident`` records), each whose entry (start time in ``starts``, exec id →
    ns) began in a pod of ``bursts`` within ``after_ns`` of a success there with T1110 (rule
    :data:`RULE`), the burst in its ``why`` and the success's event in its evidence."""
    if not incidents or bursts.height == 0:
        return incidents
    out = []
    for i in incidents:
        t = starts.get(i.entry.exec_id) if i.entry is not None else None
        hit = bursts.filter((pl.col("pod") == (i.pod or "")) & (pl.col("namespace").fill_null("") == (i.namespace or ""))
                            & pl.col("success_ns").is_between((t or 0) - s.after_ns, t or 0))
        if t is None or hit.height == 0:
            out.append(i)
            continue
        b = hit.row(-1, named=True)
        secs = (b["last_ns"] - b["first_ns"]) / NS
        why = (f"+ {b['failures']} logins refused (401/403) on {b['method'] or ''} {b['path']} from {b['client']} "
               f"in {secs:.0f} s, then one let in, {(t - b['success_ns']) / NS:.0f} s before the entry (T1110)")
        ev = i.evidence
        if ev is not None and "event_id" in ev.columns and b["event_id"] is not None:
            row = {c: None for c in ev.columns} | {"event_id": b["event_id"]}
            if "kind" in ev.columns:
                row["kind"] = "brute_force"
            if "text" in ev.columns:
                row["text"] = why[2:]
            if "exec_id" in ev.columns:
                row["exec_id"] = i.entry.exec_id
            ev = pl.concat([ev, pl.DataFrame([row], schema=ev.schema)])
        tech = {**i.techniques, TECHNIQUE: [*i.techniques.get(TECHNIQUE, []), RULE]}
        out.append(dataclasses.replace(i, why=[*i.why, why], techniques=tech, evidence=ev))
    return out


__all__ = ["BURST_SCHEMA", "DEFAULT", "REFUSED", "RULE", "TECHNIQUE", "BruteSettings", "answers", "bursts_of",
           "guessed_logins", "login_bursts", "outside_clients"]
