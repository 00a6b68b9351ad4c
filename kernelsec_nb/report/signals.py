"""What each process shows: the patterns and per-process signals the postmortem heuristics weigh.

A process is **suspicious** when a Falco alert is attributed to it, a flow a policy dropped was
matched to it by 5-tuple, its binary runs from a world-writable directory (:data:`WRITABLE_DIRS`:
a payload written at run time) or it is a namespace tool (:data:`ESCAPE_TOOLS`).  Its Tetragon
hooks add weight: files read for credentials (:data:`SENSITIVE_FILES`) and connections out of the
cluster (outside :data:`INTERNAL_IPS`).  A build tool (:data:`BUILD_TOOLS`) and what runs below it
are the build's; a signal tool counts only when something died of it (:func:`killed_something`).
How much each weighs: :data:`EVIDENCE`.

Example
-------
>>> import polars as pl
>>> tree = pl.DataFrame({"exec_id": ["a", "b", "c"], "parent_exec_id": [None, "a", "b"]})
>>> sorted(subtree(children_of(tree), "b"))
['b', 'c']
"""

from __future__ import annotations

from typing import Any

import polars as pl

from kernelsec_nb.correlate._flows import CONNECTION_HOOKS

#: Shells (a session's start).
SHELLS = r"(^|/)(sh|bash|dash|ash|zsh|ksh|mksh|busybox)$"

#: A shell's arguments when it is interactive (no script, no -c).
INTERACTIVE_ARGS = r"^(|-i|-l|-il|-li|--login|-)$"

#: Tools that send signals to other processes.
SIGNAL_TOOLS = r"(^|/)(kill|pkill|killall|skill|tkill)$"

#: Container runtimes and init processes: what starts a container's first process, not a service.
RUNTIMES = r"(^|/)(containerd-shim[-a-z0-9]*|runc|crun|conmon|docker-init|tini|dumb-init|catatonit|pause|init|systemd)$"

#: Programs that run another program for their caller (a shell's helpers): a shell they start is
#: the caller's, not a service's.
LAUNCHERS = (r"(^|/)(nsenter|chroot|unshare|su|sudo|runuser|setsid|env|nohup|timeout|xargs|script|stdbuf|"
             r"nice|ionice|taskset|setpriv|capsh)$")

#: Tools that enter or make other namespaces or root filesystems: from a container, the way to the
#: host (``nsenter -t 1``, ``mount /dev/sda1 /mnt && chroot /mnt``).
ESCAPE_TOOLS = r"(^|/)(nsenter|unshare|chroot|mount)$"

#: Build tools (and ``git``, which fetches the sources): the binaries a build writes to /tmp and
#: runs, its downloads and the keys it reads, and Falco's alerts on the build (drop-and-execute,
#: package management), are the build's, not a payload.
BUILD_TOOLS = (r"(^|/)(go|cargo|rustc|cc|c\+\+|gcc|g\+\+|clang|clang\+\+|ld|make|gmake|cmake|ninja|meson|"
               r"bazel|npm|npx|yarn|pnpm|node-gyp|pip|pip3|uv|poetry|mvn|gradle|javac|dotnet|msbuild|git|"
               r"kaniko/executor|buildah|buildkitd|buildctl)$")
#: Interpreters that run a build tool as their first argument (``node /usr/local/bin/npm ci``).
INTERPRETERS = r"(^|/)(node|nodejs|python[0-9.]*|ruby|perl|java)$"

#: Binaries run from here were written at run time (a dropped payload), not shipped in the image.
WRITABLE_DIRS = r"^/(tmp|var/tmp|dev/shm)/"

#: Files an intruder writes to stay (a hook's file path): cron, systemd units, the dynamic
#: loader's preload list (on the host's root mounted at /host or /mnt too).
PERSISTENCE_FILES = r"^(/mnt|/host)?/(etc/(crontab|cron\.d/|systemd/system/|ld\.so\.preload)|var/spool/cron/)"
#: Files an intruder reads for credentials or writes to stay (a hook's file path): shadow
#: passwords, service-account tokens and other mounted secrets, SSH keys, cloud and registry
#: credentials, other processes' environment or memory; and :data:`PERSISTENCE_FILES`.
SENSITIVE_FILES = (r"^/etc/(shadow|gshadow|sudoers)|/run/secrets/|/\.ssh/|/\.kube/config|/\.aws/credentials|"
                   r"/\.docker/config\.json|^/proc/[0-9]+/(environ|mem)$|" + PERSISTENCE_FILES)

#: Remote-login daemons: a shell one starts is a login session, like an exec'd shell.
LOGIN_DAEMONS = r"(^|/)(sshd|sshd-session|dropbear|telnetd|in\.telnetd|rshd|in\.rshd)$"

#: HTTP clients whose arguments say what their request does (when no L7 flow says it).
HTTP_CLIENTS = r"(^|/)(curl|wget|http|https|xh)$"
#: Arguments of :data:`HTTP_CLIENTS` that send data or a state-changing method (case-insensitive).
SENDS_DATA = (r"(?i)(^|\s)(-X\s*(POST|PUT|PATCH|DELETE)|--request[= ](POST|PUT|PATCH|DELETE)|-d|--data(-binary|-raw|"
              r"-urlencode|-ascii)?|-F|--form|-T|--upload-file|--post-(data|file)|--body-(data|file)|"
              r"--method[= ](POST|PUT|PATCH|DELETE))(\s|=|@|$)")

#: Addresses inside a cluster's networks (RFC 1918, carrier-grade NAT, loopback, link-local,
#: multicast, IPv6 unique-local); any other address is outside.
INTERNAL_IPS = (r"^(::ffff:)?(0\.|10\.|127\.|169\.254\.|192\.168\.|172\.(1[6-9]|2[0-9]|3[01])\.|"
                r"100\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\.|2(2[4-9]|[3-5][0-9])\.)|"
                r"^(::1?|f[cd][0-9a-f]{2}:.*|fe[89ab][0-9a-f]:.*|ff[0-9a-f]{2}:.*)$")


def main_processes(case: Any, exec_ids: list[str]) -> list[str]:
    """Those of ``exec_ids`` that are a container's main process: in its init tree, started by the
    container runtime (or by a parent the capture only names: a main process that started before
    the capture)."""
    return case.sql("""
        SELECT p.exec_id FROM processes p LEFT JOIN processes q ON q.exec_id = p.parent_exec_id
        WHERE p.exec_id IN (SELECT unnest(?::VARCHAR[])) AND p.in_init_tree
          AND (q."binary" IS NULL OR regexp_matches(q."binary", ?))""", [exec_ids, RUNTIMES])["exec_id"].to_list()


def _dropped_by_exec(case: Any) -> pl.DataFrame:
    """Dropped requests per exec, attributed by exact 5-tuple (guesses are not evidence here).

    A destination and port the policy also refused to a container's main process in the same
    namespace is a policy's fault (a misconfigured NetworkPolicy refusing the app itself), not
    evidence against whoever else met it then."""
    fl = case.flows(verdict="DROPPED")
    if fl.is_empty() or "exec_id" not in fl.columns:
        return pl.DataFrame(schema={"exec_id": pl.String, "dropped": pl.Int64})
    fl = fl.filter(pl.col("exec_id").is_not_null() & (pl.col("match") == "5tuple")
                   & ~pl.col("is_reply").fill_null(False)).with_columns(
        pl.coalesce(pl.col("dst_pod"), pl.col("dst_ip")).alias("_dst"))
    key = ["src_namespace", "_dst", "dst_port"]
    systemic = fl.filter(pl.col("exec_id").is_in(main_processes(case, fl["exec_id"].unique().to_list())))
    systemic = systemic.select(key).unique()
    return (fl.join(systemic, on=key, how="anti", nulls_equal=True)
            .group_by("exec_id").agg(pl.len().cast(pl.Int64).alias("dropped")))


#: Falco priorities that are an alarm on their own (Warning and below are often a noisy agent's).
CRITICAL_PRIORITIES = ("EMERGENCY", "ALERT", "CRITICAL")
#: Falco priorities that keep a repeated command from passing as routine (Notice and below are
#: what a routine raises every time: a deploy step contacting the API server).
WARNING_PRIORITIES = (*CRITICAL_PRIORITIES, "ERROR", "WARNING")


#: Falco priorities that are no alarm at all: a rule's debugging output.
MINOR_PRIORITIES = ("DEBUG", "INFORMATIONAL", "INFO")


def _critical_by_exec(case: Any) -> pl.DataFrame:
    """Falco alerts per exec they are attributed to: ``critical`` (of a :data:`CRITICAL_PRIORITIES`
    priority), ``warned`` (of a :data:`WARNING_PRIORITIES` one) and ``minor`` (of a
    :data:`MINOR_PRIORITIES` one: they do not count as alerts)."""
    if not case.sql("SELECT 1 FROM alerts LIMIT 1").height:
        return pl.DataFrame(schema={"exec_id": pl.String, "critical": pl.Int64, "warned": pl.Int64, "minor": pl.Int64})
    priority = pl.col("priority").fill_null("").str.to_uppercase()
    return (case.alerts().filter(pl.col("exec_id").is_not_null())
            .group_by("exec_id").agg(priority.is_in(CRITICAL_PRIORITIES).sum().cast(pl.Int64).alias("critical"),
                                     priority.is_in(WARNING_PRIORITIES).sum().cast(pl.Int64).alias("warned"),
                                     priority.is_in(MINOR_PRIORITIES).sum().cast(pl.Int64).alias("minor")))


def _hook_signals(case: Any) -> pl.DataFrame:
    """Per exec id, from its hook events: ``sensitive`` (files read for credentials or written to
    stay), ``persist`` (of those, the ones to stay: :data:`PERSISTENCE_FILES`) and ``outside``
    (connections to addresses outside the cluster's networks)."""
    return case.sql("""
        SELECT exec_id,
               count(*) FILTER (WHERE regexp_matches(file_path, ?))::BIGINT AS sensitive,
               count(*) FILTER (WHERE regexp_matches(file_path, ?))::BIGINT AS persist,
               count(*) FILTER (WHERE daddr IS NOT NULL AND regexp_matches(coalesce(function_name, kind), ?)
                                AND NOT regexp_matches(daddr, ?))::BIGINT AS outside
        FROM kprobes WHERE exec_id IS NOT NULL AND (file_path IS NOT NULL OR daddr IS NOT NULL)
        GROUP BY exec_id""", [SENSITIVE_FILES, PERSISTENCE_FILES, CONNECTION_HOOKS, INTERNAL_IPS])


def _per_exec(case: Any) -> pl.DataFrame:
    """Drops, hooks and critical alerts per exec id, for the whole case: computed once per state of
    its tables (the findings ask for them for the tree, then for the session)."""
    def build() -> pl.DataFrame:
        return (_dropped_by_exec(case).join(_hook_signals(case), on="exec_id", how="full", coalesce=True)
                .join(_critical_by_exec(case), on="exec_id", how="full", coalesce=True))
    cached = getattr(case, "_cached", None)
    return cached("report_signals", ["flows", "kprobes", "alerts", "processes"], build) if cached else build()


def _build_outputs(t: pl.DataFrame) -> list[str]:
    """The processes of ``t`` run from a writable directory whose binary a build process of the same
    pod named before in its arguments (``go build -o /tmp/build-1/app``, then ``/tmp/build-1/app
    selftest``): the build's output, not a payload."""
    runs = t.filter(pl.col("binary").fill_null("").str.contains(WRITABLE_DIRS) & ~pl.col("build"))
    if runs.is_empty():
        return []
    builds = t.filter(pl.col("build") & pl.col("args").is_not_null()).select("pod", "args", "start_ns")
    out = []
    for r in runs.select("exec_id", "pod", "binary", "start_ns").iter_rows(named=True):
        named = builds.filter(pl.col("pod").eq_missing(r["pod"]) & pl.col("args").str.contains(r["binary"], literal=True)
                              & (pl.col("start_ns").fill_null(0) <= (r["start_ns"] or 0)))
        if named.height:
            out.append(r["exec_id"])
    return out


def with_signals(case: Any, tree: pl.DataFrame) -> pl.DataFrame:
    """The process tree with ``dropped`` (flows), ``written`` (run from a writable directory),
    ``escape`` (a namespace tool), ``sensitive`` and ``outside`` (hooks: credentials read,
    connections out of the cluster), ``signals`` (a signal tool after which something died),
    ``critical`` (alerts of a critical priority), ``warned`` (alerts of priority Warning or above),
    ``build`` (a build tool or below one: its ``written``, ``alerts``, ``critical``, ``warned``,
    ``sensitive`` and ``outside`` are the build's and count 0; a binary a build named as its output
    is not ``written`` either) and ``suspicious`` per process."""
    binary = pl.col("binary").fill_null("")
    children = children_of(tree)
    first_arg = pl.col("args").fill_null("").str.extract(r"^\s*(?:-m\s+)?(\S+)")  # python -m pip
    builders = tree.filter(binary.str.contains(BUILD_TOOLS) | (
        binary.str.contains(INTERPRETERS) & first_arg.fill_null("").str.contains(BUILD_TOOLS)))["exec_id"].to_list()
    build = set().union(*(subtree(children, e) for e in builders)) if builders else set()
    t = tree.join(_per_exec(case), on="exec_id", how="left").with_columns(
        pl.col("dropped").fill_null(0), pl.col("sensitive").fill_null(0), pl.col("outside").fill_null(0),
        pl.col("exec_id").is_in(list(build)).alias("build"),
        binary.str.contains(ESCAPE_TOOLS).cast(pl.Int64).alias("escape"),
        # any target (`kill 1234`, `pkill -9 name`): whether it did something is checked below
        (binary.str.contains(SIGNAL_TOOLS) & (pl.col("args").fill_null("").str.strip_chars() != ""))
        .cast(pl.Int64).alias("signals"))
    t = t.with_columns(
        (binary.str.contains(WRITABLE_DIRS) & ~pl.col("build")
         & ~pl.col("exec_id").is_in(_build_outputs(t))).cast(pl.Int64).alias("written"),
        *(pl.when(pl.col("build")).then(0).otherwise(pl.col(c).fill_null(0)).alias(c)
          for c in ("critical", "warned", "sensitive", "persist", "outside")),
        # a Debug or Informational alert is no alarm
        pl.when(pl.col("build")).then(0).otherwise(
            (pl.col("alerts").fill_null(0) - pl.col("minor").fill_null(0)).clip(lower_bound=0)).alias("alerts"),
        pl.when(pl.col("exec_id").is_in(killed_something(case, t))).then(pl.col("signals")).otherwise(0)
        .alias("signals"))
    return t.with_columns(((pl.col("alerts") > 0) | (pl.col("dropped") > 0)
                           | (pl.col("written") > 0) | (pl.col("escape") > 0)).alias("suspicious"))


def tree_signals(case: Any) -> pl.DataFrame:
    """:func:`with_signals` of the whole process tree, computed once per state of the case's tables
    (the session search, the rollout leads and the fallback without a session all read it)."""
    def build() -> pl.DataFrame:
        return with_signals(case, case.process_tree())
    cached = getattr(case, "_cached", None)
    return cached("report_tree_signals", ["flows", "kprobes", "alerts", "processes"], build) if cached else build()


#: What a process (or a session's sums) shows, and how much each weighs.
EVIDENCE = {"alerts": 4, "critical": 2, "dropped": 3, "written": 3, "escape": 3, "sensitive": 2, "outside": 2}


EVIDENCE_WORDS = {"alerts": "Falco alerts", "critical": "of a critical priority", "dropped": "flows a policy dropped",
                   "written": "run from a writable directory", "escape": "a namespace or root-filesystem tool",
                   "sensitive": "credentials or persistence files", "outside": "connected out of the cluster"}


def evidence() -> pl.Expr:
    """The weighed sum of :data:`EVIDENCE` (each counts once, however many times it was seen)."""
    return pl.sum_horizontal([(pl.col(k).fill_null(0) > 0).cast(pl.Int64) * w for k, w in EVIDENCE.items()])


def evidence_of(row: dict[str, Any]) -> int:
    """:func:`evidence` of one process (a row of :func:`with_signals` as a dict).

    >>> evidence_of({"alerts": 1, "critical": 1, "written": 1})
    9
    """
    return sum(w for k, w in EVIDENCE.items() if (row.get(k) or 0) > 0)


def children_of(tree: pl.DataFrame) -> dict[str, list[str]]:
    """Each exec id's children, from the parent links of ``tree`` (built once per search)."""
    children: dict[str, list[str]] = {}
    for e, p in tree.select("exec_id", "parent_exec_id").iter_rows():
        if p is not None:
            children.setdefault(p, []).append(e)
    return children


def subtree(children: dict[str, list[str]], root: str) -> set[str]:
    """Every exec id at or below ``root``."""
    seen: set[str] = set()
    todo = [root]
    while todo:
        e = todo.pop()
        if e not in seen:
            seen.add(e)
            todo.extend(children.get(e, []))
    return seen


#: A process that died by a signal this soon after a signal tool ran, on its node, died of it.
SIGNAL_EFFECT_NS = 5_000_000_000


_SIGNAL_NUMBERS = {"1": "HUP", "2": "INT", "3": "QUIT", "6": "ABRT", "9": "KILL", "10": "USR1", "12": "USR2",
                   "14": "ALRM", "15": "TERM", "18": "CONT", "19": "STOP"}


def sent_signal(args: str | None) -> str | None:
    """The signal a ``kill``/``pkill``/``killall`` command line sends (``SIGTERM`` unless told),
    ``None`` when it cannot be read.

    >>> [sent_signal(a) for a in ("-9 1234", "-HUP 1", "-s SIGINT 7", "--signal=KILL nginx", "1234", "-l", "-f x")]
    ['SIGKILL', 'SIGHUP', 'SIGINT', 'SIGKILL', 'SIGTERM', None, 'SIGTERM']
    """
    tokens = (args or "").replace("=", " ").split()
    for i, tok in enumerate(tokens):
        if tok in ("-s", "--signal", "-n") and i + 1 < len(tokens):
            name = tokens[i + 1]
        elif tok.startswith("-") and len(tok) > 1 and (tok[1:].isdigit() or tok[1:].isupper()):
            name = tok[1:]
        elif tok in ("-l", "-L", "--list", "--table"):
            return None  # lists signals, sends none
        else:
            continue  # a pid, a name, or a flag that names no signal (pkill -f)
        name = _SIGNAL_NUMBERS.get(name, name).upper()
        return name if name.startswith("SIG") else "SIG" + name
    return "SIGTERM"


def killed_something(case: Any, procs: pl.DataFrame) -> list[str]:
    """The signal-sending processes of ``procs`` (``signals`` > 0) after which another process died
    within :data:`SIGNAL_EFFECT_NS` by the signal it sent, in its pod (on its node when it ran on
    the host): a ``kill`` that was ignored (one aimed at a container's pid 1), or a ``kill -HUP``
    reload while something else was stopped by Ctrl-C, did nothing."""
    tools = procs.filter(pl.col("signals") > 0)
    if tools.is_empty():
        return []
    sent = [sent_signal(a) for a in tools["args"].to_list()]
    return case.sql("""
        SELECT DISTINCT t.exec_id
        FROM (SELECT unnest(?::VARCHAR[]) AS exec_id, unnest(?::VARCHAR[]) AS node, unnest(?::VARCHAR[]) AS pod,
                     unnest(?::BIGINT[]) AS t0, unnest(?::VARCHAR[]) AS sig) t
        JOIN processes p ON p.node = t.node AND p.exec_id <> t.exec_id AND coalesce(p.signal, '') <> ''
         AND (t.pod IS NULL OR p.pod IS NOT DISTINCT FROM t.pod)
         AND (t.sig IS NULL OR upper(p.signal) = t.sig)
         AND p.exit_ns BETWEEN t.t0 AND t.t0 + ?""",
                    [tools["exec_id"].to_list(), tools["node"].to_list(), tools["pod"].to_list(),
                     tools["start_ns"].to_list(), sent, SIGNAL_EFFECT_NS])["exec_id"].to_list()
