"""Compiling Sigma rules for a case and running them: one query per log source, all rules at once.

The rules of one log source run together (:func:`_batch`): over the distinct combinations of
the columns they read, in one query; the view's rows of the matching combinations are the hits,
one per (rule, row), fetched by a second query when anything matched.  Should that query fail (DuckDB's RE2 refuses a regex with a
look-ahead, say), the source's rules run one by one and each failing rule is reported as
unsupported with DuckDB's message.

Examples
--------
>>> import kernelsec_nb as kn
>>> from kernelsec_nb.hunt._runner import compile_rules, run_rules
>>> ruleset = compile_rules(kn.hunt.bundled_rules())
>>> run_rules(kn.open_case(), ruleset).height
0
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import duckdb
import polars as pl
from sigma.exceptions import SigmaError

from kernelsec_nb.findings.detections import DETECTION_SCHEMA, LEVELS  # noqa: F401 - LEVELS: the package exports it
from kernelsec_nb.hunt._backend import DuckDBBackend
from kernelsec_nb.hunt._pipeline import pipeline
from kernelsec_nb.hunt._rules import RuleInput, Unsupported, attack_tags, read_rules
from kernelsec_nb.hunt._sources import SOURCES, Source, source_for
from kernelsec_nb.hunt._sources import _ip4 as ip4_sql

#: The columns of a hits table, in order (Sigma hits, Falco alerts and Tetragon actions alike):
#: the findings engine's detections, one table for both.
HIT_SCHEMA: dict[str, Any] = DETECTION_SCHEMA


@dataclass(frozen=True)
class CompiledRule:
    """One rule as DuckDB SQL: its condition over ``source``'s view and the parameters."""

    rule_id: str
    title: str
    level: str
    techniques: tuple[str, ...]
    tactics: tuple[str, ...]
    source: Source
    sql: str
    params: dict[str, Any]
    origin: str
    columns: frozenset[str] = frozenset()


@dataclass
class RuleSet:
    """Compiled rules and the ones that were not (each with its reason)."""

    rules: list[CompiledRule] = field(default_factory=list)
    unsupported: list[Unsupported] = field(default_factory=list)

    def unsupported_frame(self) -> pl.DataFrame:
        """The unsupported rules as a DataFrame: rule_id, title, origin, reason."""
        return pl.DataFrame([u.to_dict() for u in self.unsupported],
                            schema={"rule_id": pl.String, "title": pl.String,
                                    "origin": pl.String, "reason": pl.String})


def compile_rules(rules: RuleInput | RuleSet) -> RuleSet:
    """Read and compile ``rules`` (see :func:`kernelsec_nb.hunt._rules.read_rules`)."""
    if isinstance(rules, RuleSet):
        return rules
    read, bad = read_rules(rules)
    out = RuleSet(unsupported=list(bad))
    backend = DuckDBBackend(pipeline())
    for i, (rule, origin) in enumerate(read):
        rid, title = str(rule.id or rule.name or f"rule-{i}"), str(rule.title or "")
        try:
            ls = rule.logsource
            source = source_for(ls.category, ls.product, ls.service)
            sql, params = backend.to_sql(rule, f"r{i}", source.columns, source.numeric, source.ip4)
        except (SigmaError, ValueError, NotImplementedError, TypeError) as e:
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            out.unsupported.append(Unsupported(rid, title, origin, reason))
            continue
        techniques, tactics = attack_tags(rule.tags or [])
        level = str(rule.level.name).lower() if rule.level is not None else "medium"
        out.rules.append(CompiledRule(rid, title, level, tuple(techniques), tuple(tactics),
                                      source, sql, params, origin, frozenset(backend.used)))
    return out


#: What a hit's ``detail`` says, per kind of view (over the view ``v``), and the columns it reads.
_DETAIL = {
    "process_creation": ("v.command_line", ("command_line",)),
    "file": ("coalesce(v.file_path, '') || coalesce(' (' || v.access || ')', '')", ("file_path", "access")),
    "api": ("concat_ws(' ', v.verb, concat_ws('/', v.resource, v.subresource), "
            "nullif(concat_ws('/', v.object_namespace, v.object_name), ''), 'by ' || v.\"user\", '(' || v.code || ')')",
            ("verb", "resource", "subresource", "object_namespace", "object_name", "user", "code")),
    "net": ("concat_ws(' ', v.protocol, coalesce(v.src_ip, '') || coalesce(':' || v.src_port, ''), '→', "
            "coalesce(v.dst_hostname || ' ', '') || coalesce(v.dst_ip, '') || coalesce(':' || v.dst_port, ''))",
            ("protocol", "src_ip", "src_port", "dst_hostname", "dst_ip", "dst_port")),
}


@dataclass(frozen=True)
class _Batch:
    """The two queries of one source's rules (see :func:`_batch`)."""

    matches: str  # the matching combinations of the rules' columns, with the rule's number
    rows: str  # the view's rows of the combinations in the relation named ``{m}``
    params: dict[str, Any]


def _batch(source: Source, rules: list[CompiledRule]) -> _Batch:
    """The queries for the rules of one source, numbered by the rule's position (``_rule``).

    A rule is a function of the columns it reads: it runs over their *distinct combinations* (a
    capture repeats its command lines, destinations and files: 97k processes of a big case are
    ~100 combinations, aggregated per table before any join: :meth:`Source.combinations`; every
    (combination, rule) pair is filtered by one ``CASE`` on the rule's number, which evaluates
    each rule on its own pairs only and stops an ``AND`` at its first false part), and
    the view's rows of the matching combinations are the hits (joined with
    ``IS NOT DISTINCT FROM``: a missing field is a value too).  The second query runs only when
    a combination matched.  The view has only the columns the rules and the hits read."""
    kind = ("api" if "verb" in source.columns else "file" if "file_path" in source.columns else
            "net" if "dst_ip" in source.columns else "process_creation")
    binary = 'v."binary"' if "binary" in source.columns else "NULL::VARCHAR"
    detail, detail_cols = _DETAIL[kind]
    rule_cols = sorted({c for r in rules for c in r.columns})
    # an IPv4 integer twin is a function of its address: computed on the combinations only
    ip4 = [c for c in rule_cols if c.endswith("4") and c[:-1] in source.ip4]
    base = sorted((set(rule_cols) - set(ip4)) | {c[:-1] for c in ip4})
    quoted = ", ".join(f'"{c}"' for c in base)
    twins = "".join(f', {ip4_sql(chr(34) + c[:-1] + chr(34))} AS "{c}"' for c in ip4)
    # one filter over (combination × rule number): CASE evaluates each rule only on its own rows
    # (a UNION ALL of one WHERE per rule costs a plan per rule; a boolean column per rule
    # evaluates every rule to its end)
    whens = "\n    ".join(f"WHEN {i} THEN ({r.sql})" for i, r in enumerate(rules))
    selects = (f"SELECT n.range AS _rule{', ' + ', '.join('d.' + chr(34) + c + chr(34) for c in base) if base else ''}\n"
               f"FROM d CROSS JOIN range({len(rules)}) n\nWHERE CASE n.range\n    {whens}\n  END")
    # OFFSET 0: otherwise DuckDB pushes every rule's WHERE, OR-ed, back into the view's rows
    matches = (f"WITH v AS ({source.combinations(base)}),\n"  # noqa: S608 - values are parameters
               f"d AS MATERIALIZED (SELECT *{twins} FROM (SELECT DISTINCT {quoted or '1 AS _one'} FROM v OFFSET 0))\n"
               f"{selects}")
    needed = [*(["binary"] if "binary" in source.columns else []), *detail_cols, *base]
    on = " AND ".join(f'v."{c}" IS NOT DISTINCT FROM m."{c}"' for c in base) or "true"
    rows = (f"WITH v AS ({source.sql(needed)})\n"  # noqa: S608 - our views; {{m}} is our relation
            f"SELECT m._rule, v._entity, v._exec_id, v._event_id, v._time_ns, v.node, v.namespace, v.pod,\n"
            f"       v.workload, {binary} AS _binary, {detail} AS _detail\n"
            f"FROM v JOIN {{m}} m ON {on}")
    return _Batch(matches, rows, {k: v for r in rules for k, v in r.params.items()})


def _run_batch(con: Any, source: Source, rules: list[CompiledRule]) -> pl.DataFrame:
    # a view without rows (no file hooks in the case, say) has no hits: its joins are not built
    if not con.sql(f"SELECT 1 FROM ({source.combinations([])}) LIMIT 1").fetchall():  # noqa: S608
        return pl.DataFrame()
    batch = _batch(source, rules)
    matched = con.sql(batch.matches, params=batch.params).to_arrow_table()
    if matched.num_rows == 0:
        return pl.DataFrame()
    name = f"_kn_hunt_{uuid.uuid4().hex}"
    con.register(name, matched)
    try:
        frame = _fetch(con, batch.rows.replace("{m}", name), None)
    finally:
        con.unregister(name)
    meta = pl.DataFrame({
        "_rule": list(range(len(rules))), "rule_id": [r.rule_id for r in rules],
        "title": [r.title for r in rules], "level": [r.level for r in rules],
        "techniques": [list(r.techniques) for r in rules], "tactics": [list(r.tactics) for r in rules],
    }, schema_overrides={"_rule": frame.schema["_rule"], "techniques": pl.List(pl.String),
                         "tactics": pl.List(pl.String)})
    return frame.join(meta, on="_rule").drop("_rule")


def run_rules(case: Any, ruleset: RuleSet) -> pl.DataFrame:
    """Run compiled rules over a case; the hits, rules that failed at run time go to
    ``ruleset.unsupported``."""
    con = case.con
    parts: list[pl.DataFrame] = []
    by_source: dict[str, list[CompiledRule]] = {}
    for r in ruleset.rules:
        by_source.setdefault(r.source.category, []).append(r)
    failed: list[CompiledRule] = []
    for name, rules in by_source.items():
        source = SOURCES[name]
        try:
            parts.append(_run_batch(con, source, rules))
            continue
        except duckdb.Error:  # find the rule(s) at fault one by one
            pass
        for r in rules:
            try:
                parts.append(_run_batch(con, source, [r]))
            except duckdb.Error as e:  # DuckDB's message is the reason
                ruleset.unsupported.append(Unsupported(r.rule_id, r.title, r.origin,
                                                       f"fails in DuckDB: {str(e).splitlines()[0]}"))
                failed.append(r)
    if failed:
        ruleset.rules = [r for r in ruleset.rules if r not in failed]
    parts = [p for p in parts if p.height]
    if not parts:
        return empty_hits()
    hits = pl.concat(parts, how="diagonal_relaxed")
    return hits.select(
        pl.lit("sigma").alias("source"), "rule_id", "title", "level", "techniques", "tactics",
        pl.col("_entity").alias("entity"), pl.col("_exec_id").alias("exec_id"),
        pl.col("_event_id").alias("event_id"),
        pl.from_epoch(pl.col("_time_ns"), "ns").dt.cast_time_unit("us").dt.replace_time_zone("UTC").alias("time"),
        pl.col("_time_ns").alias("time_ns"), "node", "namespace", "pod", "workload",
        pl.col("_binary").alias("binary"), pl.col("_detail").alias("detail"),
    ).cast(HIT_SCHEMA).sort("time_ns", "rule_id", "event_id", nulls_last=True)  # type: ignore[arg-type]


def _fetch(con: Any, sql: str, params: Any) -> pl.DataFrame:
    frame = pl.from_arrow(con.sql(sql, params=params).to_arrow_table())
    assert isinstance(frame, pl.DataFrame)
    return frame


def empty_hits() -> pl.DataFrame:
    """A hits table without rows (its columns: :data:`HIT_SCHEMA`)."""
    return pl.DataFrame(schema=HIT_SCHEMA)
