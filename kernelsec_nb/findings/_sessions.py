"""Operator sessions in containers made for them: ``kubectl debug`` and ``kubectl run -it``.

``kubectl exec`` starts a process outside the container's own tree (``in_init_tree`` false): the
engine reads it as a session someone opened from outside (``exec_in`` evidence, ATT&CK T1609), and
what it starts is the session's, not the service's.  ``kubectl debug pod/x`` (an *ephemeral
container* added to a running pod), ``kubectl debug node/x`` and ``kubectl run -it`` (a pod made
for the session) open the same kind of session, but the runtime starts the session's shell as its
container's *main process*: the own tree of a new container.  Read as the pod's own tree, the shell
looks like the pod's service and everything typed into it like commands the service spawned (a
remote code execution).  :func:`session_containers` finds such containers:

* **from the runtime**: a container's main process (of its pod's own tree, its parent a process of
  the node's host the capture has: the runtime, :func:`mains`) that the capture saw start and
  that is a shell or an interpreter given no program — no script, no ``-c``, at most option flags
  (``zsh``, ``sh -l``, ``python3``) — reads its commands from the terminal attached to it: a
  person at a keyboard (a service is given its program);
* **from the audit log**: a container's main process a ``pods/attach`` call names (the log's
  ``linked_exec_id``), that started within :data:`SESSION_WINDOW_NS` after a ``create`` of its pod or a
  ``patch``/``update`` of its pod's ``ephemeralcontainers`` by the same user, and before the attach:
  the container was made to be attached to.

:func:`as_sessions` marks every process of such a container (the main process and what it
started) as outside the container's own tree, like ``kubectl exec``'s: the shell gets ``exec_in``
evidence, its children no ``service_child`` evidence, and the rules that only restate how a
session arrived (a terminal shell) do not speak for what it reached out to.  Everything it *did*
(a kill, a file used later, a connection out) weighs as in any exec'd session — an intruder's
``kubectl debug`` with a stolen kubeconfig is read like an intruder's ``kubectl exec``.

A container made for a session is the creator's own: a critical escape rule firing there
(``chroot /host`` in a node debugger pod that mounts the host) describes what its creator gave it,
not a breakout from somebody's workload.  Such a detection alone does not raise an incident
(:func:`uncaused`: unless a process of the capture made the session, through the API — then the
creator's line is part of it); the session's acts still do, as anywhere.

>>> procs = pl.DataFrame({"exec_id": ["shim", "app", "zsh", "curl"], "parent_exec_id": [None, "shim", "shim", "zsh"],
...     "pod": [None, "web-1", "web-1", "web-1"], "in_init_tree": [None, True, True, True],
...     "binary": ["/shim", "/app", "/bin/zsh", "/usr/bin/curl"], "args": [None, "--port 80", None, "-s x"],
...     "seen_as": ["event", "event", "exec", "exec"], "start_ns": [0, 1, 50, 60]})
>>> session_containers(procs)["exec_id"].to_list()
['zsh']
>>> as_sessions(procs, session_containers(procs))["in_init_tree"].to_list()
[None, True, False, False]
"""

from __future__ import annotations

import polars as pl

from kernelsec_nb.findings._endpoints import INTERPRETER

NS = 1_000_000_000
#: An attach names a session's container when the container started this soon after its pod's
#: create (or its ephemeral container's patch) by the same user: ``kubectl debug -it`` and
#: ``kubectl run -it`` send the two calls back to back.
SESSION_WINDOW_NS = 120 * NS
#: How deep below a session's main process its processes are followed.
_DEPTH = 32
COLUMNS = {"exec_id": pl.String, "how": pl.String}
_RUNTIME_HOW = "an interactive shell started as its container's main process (kubectl debug, kubectl run -it)"


def _col(frame: pl.DataFrame, name: str, dtype: pl.DataType | type[pl.DataType] = pl.String) -> pl.Expr:
    return pl.col(name) if name in frame.columns else pl.lit(None, dtype).alias(name)


def mains(procs: pl.DataFrame) -> pl.DataFrame:
    """The containers' main processes the container runtime started: of a pod's own tree, their
    parent a process of the node's host (no pod) that the capture has."""
    need = {"exec_id", "parent_exec_id", "pod", "in_init_tree"}
    if procs.height == 0 or not need <= set(procs.columns):
        return procs.clear()
    host = procs.filter(pl.col("pod").is_null()).select(pl.col("exec_id").alias("parent_exec_id")).unique()
    return procs.filter(pl.col("pod").is_not_null() & pl.col("in_init_tree").fill_null(False)).join(
        host, on="parent_exec_id", how="semi")


def interactive(binary: pl.Expr, args: pl.Expr) -> pl.Expr:
    """A shell or an interpreter (:data:`~._endpoints.INTERPRETER`) given no program: no argument
    but option flags, and no ``-c`` (its program is read from the terminal).

    >>> pl.select(interactive(pl.lit("/bin/zsh"), pl.lit(None, pl.String))).item()
    True
    >>> pl.select(interactive(pl.lit("/bin/sh"), pl.lit("-c curl x | sh"))).item(), pl.select(
    ...     interactive(pl.lit("/bin/bash"), pl.lit("-l"))).item(), pl.select(
    ...     interactive(pl.lit("/usr/bin/python3"), pl.lit("app.py"))).item()
    (False, True, False)
    """
    name = binary.fill_null("").str.extract(r"([^/]+)$", 1).fill_null("")
    tokens = args.fill_null("").str.strip_chars().str.split(" ").list.eval(pl.element().filter(pl.element() != ""))
    # option flags only; a short-option cluster with ``c`` (``-c``, ``-ec``) gives the program
    flags_only = tokens.list.eval(pl.element().str.starts_with("-") & ~pl.element().str.contains(r"^-[^-]*c")).list.all()
    return name.str.contains(INTERPRETER.pattern) & flags_only.fill_null(True)


def _audited(procs: pl.DataFrame, m: pl.DataFrame, api: pl.DataFrame | None) -> pl.DataFrame:
    """The main processes an attach names, started right after their pod's (or ephemeral container's)
    making by the attaching user (see the module)."""
    need = {"verb", "resource", "subresource", "user", "time_ns", "namespace"}
    if api is None or api.height == 0 or not need <= set(api.columns) or "linked_exec_id" not in api.columns:
        return pl.DataFrame(schema=COLUMNS)
    made = api.filter(
        (pl.col("resource") == "pods") & (pl.col("code").fill_null(200) < 400 if "code" in api.columns else pl.lit(True))
        & (((pl.col("verb") == "create") & pl.col("subresource").is_null())
           | (pl.col("verb").is_in(["patch", "update"]) & (pl.col("subresource") == "ephemeralcontainers")))
    ).select("user", pl.col("namespace").cast(pl.String),
             pl.coalesce(_col(api, "created_name"), _col(api, "name")).alias("pod"),
             pl.col("time_ns").alias("_made"), pl.col("verb").alias("_verb"))
    attach = api.filter((pl.col("resource") == "pods") & (pl.col("subresource") == "attach")
                        & pl.col("linked_exec_id").is_not_null()).select(
        "user", pl.col("namespace").cast(pl.String), pl.col("name").alias("pod"), pl.col("time_ns").alias("_at"),
        pl.col("linked_exec_id").alias("exec_id"))
    ns = _col(m, "namespace").cast(pl.String).alias("namespace")
    hit = attach.join(m.select("exec_id", "start_ns", ns, "pod"), on=["exec_id", "namespace", "pod"], how="inner") \
        .join(made, on=["user", "namespace", "pod"], how="inner").filter(
        (pl.col("_made") <= pl.col("start_ns")) & (pl.col("start_ns") - pl.col("_made") <= SESSION_WINDOW_NS)
        & (pl.col("_made") <= pl.col("_at")) & (pl.col("_at") - pl.col("_made") <= SESSION_WINDOW_NS))
    how = pl.format("{} {} and attached to it (audit log: {}, then pods/attach)", "user",
                    pl.when(pl.col("_verb") == "create").then(pl.lit("created this pod"))
                    .otherwise(pl.lit("added this container to the pod")),
                    pl.when(pl.col("_verb") == "create").then(pl.lit("create pods"))
                    .otherwise(pl.format("{} pods/ephemeralcontainers", "_verb")))
    return hit.select("exec_id", how.alias("how")).unique("exec_id", keep="first", maintain_order=True)


def session_containers(procs: pl.DataFrame, api: pl.DataFrame | None = None) -> pl.DataFrame:
    """The main processes of the containers made for an operator's session (see the module):
    ``exec_id``, ``how``."""
    m = mains(procs)
    if m.height == 0:
        return pl.DataFrame(schema=COLUMNS)
    seen = pl.col("seen_as").fill_null("exec") == "exec" if "seen_as" in m.columns else pl.lit(True)
    runtime = m.filter(seen & interactive(pl.col("binary"), _col(m, "args"))).select(
        "exec_id", pl.lit(_RUNTIME_HOW).alias("how"))
    return pl.concat([_audited(procs, m, api), runtime.cast(COLUMNS)]).unique(  # type: ignore[arg-type]
        "exec_id", keep="first", maintain_order=True)


def session_processes(procs: pl.DataFrame, roots: pl.Series | list[str]) -> pl.Series:
    """``roots`` and every process they started, in the same pod (followed ``_DEPTH`` levels down)."""
    roots = pl.Series(list(roots), dtype=pl.String)
    if procs.height == 0 or roots.len() == 0:
        return roots
    edges = procs.select("exec_id", "parent_exec_id", "pod")
    pod = procs.filter(pl.col("exec_id").is_in(roots.implode())).select("exec_id", "pod")
    member, frontier = pod, pod
    for _ in range(_DEPTH):
        nxt = edges.join(frontier.select(pl.col("exec_id").alias("parent_exec_id"), "pod"),
                         on=["parent_exec_id", "pod"], how="inner").select("exec_id", "pod")
        nxt = nxt.join(member, on="exec_id", how="anti").unique("exec_id")
        if nxt.height == 0:
            break
        member, frontier = pl.concat([member, nxt]), nxt
    return member["exec_id"].unique(maintain_order=True)


def as_sessions(procs: pl.DataFrame, sessions: pl.DataFrame) -> pl.DataFrame:
    """``procs`` with every process of a session's container (``sessions``: the main processes,
    :func:`session_containers`) outside its container's own tree (``in_init_tree`` false), as
    ``kubectl exec``'s are."""
    if procs.height == 0 or "in_init_tree" not in procs.columns or sessions.height == 0:
        return procs
    ids = session_processes(procs, sessions["exec_id"])
    return procs.with_columns(pl.when(pl.col("exec_id").is_in(ids.implode())).then(pl.lit(False))
                              .otherwise(pl.col("in_init_tree")).alias("in_init_tree"))


def uncaused(procs: pl.DataFrame, edge: pl.DataFrame, sessions: pl.DataFrame) -> set[str]:
    """The processes of the sessions' containers (``sessions``, :func:`session_containers`) that
    no process of the capture made: no causal edge but ``spawn`` (an API call, a controller, a
    service connection) leads from a process to the session's main process.  A critical detection
    alone on one of them raises no incident."""
    roots = sessions["exec_id"]
    if roots.len() == 0:
        return set()
    if edge.height:
        into = edge.filter((pl.col("kind") != "spawn") & pl.col("src").str.starts_with("proc:")
                           & pl.col("dst").str.starts_with("proc:"))["dst"].str.slice(5)
        roots = roots.filter(~roots.is_in(into.implode()))
    return set(session_processes(procs, roots).to_list())


def session_texts(ev: pl.DataFrame, sessions: pl.DataFrame) -> pl.DataFrame:
    """``ev`` (evidence rows) with the ``exec_in`` text of a session's main process saying how it
    came: "opened an operator session: <how>" (the runtime did not exec it into a running container).

    >>> ev = pl.DataFrame({"exec_id": ["zsh"], "kind": ["exec_in"], "text": ["/bin/zsh exec'd into pod w"]})
    >>> session_texts(ev, pl.DataFrame({"exec_id": ["zsh"], "how": ["a shell"]}))["text"].to_list()
    ['opened an operator session: a shell']
    """
    if ev.height == 0 or sessions.height == 0:
        return ev
    how = sessions.select("exec_id", pl.col("how").alias("_how"))
    return ev.join(how, on="exec_id", how="left", maintain_order="left").with_columns(
        pl.when((pl.col("kind") == "exec_in") & pl.col("_how").is_not_null())
        .then(pl.lit("opened an operator session: ") + pl.col("_how")).otherwise(pl.col("text")).alias("text")
    ).drop("_how")


__all__ = ["SESSION_WINDOW_NS", "as_sessions", "session_texts", "interactive", "mains", "session_containers", "session_processes",
           "uncaused"]
