"""``kernelsec-nb``: load exports into a case, render a postmortem, run the demo.

Examples
--------
kernelsec-nb load incident.duckdb exports/ --json
kernelsec-nb load --lake lake/ exports/          # a Parquet lake instead (kn.open_case("lake/") reads it)
kernelsec-nb spark-load --master local[2] exports/ --lake lake/   # the same lake, built by Apache Spark
kernelsec-nb report incident.duckdb --notebook notebooks/postmortem-template.ipynb --out report.html
kernelsec-nb hunt incident.duckdb my-rules/ --alerts --json
kernelsec-nb findings incident.duckdb --json   # the findings engine's incidents and leads
kernelsec-nb share incident.duckdb --out bundle/ --pods tiefighter --since 2024-05-14T08:20Z
kernelsec-nb demo            # bundled capture → out/postmortem.html and the three-line answer
kernelsec-nb queries incident.duckdb --json
kernelsec-nb export incident.duckdb --format timesketch --out timeline.jsonl --filter namespace=default
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from kernelsec_nb._text import shown


def _load(args: argparse.Namespace) -> int:
    from kernelsec_nb.store import CaseError, LoadPathError, open_case

    if args.lake is not None:
        return _load_lake(args)
    if args.case is None:
        print("kernelsec-nb: load: give the case file and the exports (or --lake DIR and the exports)",
              file=sys.stderr)
        return 2
    new = not Path(args.case).exists()
    try:
        with open_case(args.case) as case:
            report = case.load(args.paths, progress=not args.no_progress and not args.json,
                               follow_links=args.follow_links)
    except (LoadPathError, CaseError) as exc:
        if new and isinstance(exc, LoadPathError):  # a typo in a path leaves no empty case behind
            for made in (Path(args.case), Path(args.case + ".wal")):
                made.unlink(missing_ok=True)
        print(shown(f"kernelsec-nb: {exc}"), file=sys.stderr)
        return 2
    return _print_load(args, report)


def _print_load(args: argparse.Namespace, report) -> int:  # type: ignore[no-untyped-def]
    if args.json:
        out = report.to_dict()
        if not args.per_file:
            out.pop("per_file")
        print(json.dumps(out, indent=2))
    else:
        print(report)
    return 1 if report.errors else 0


def _load_lake(args: argparse.Namespace) -> int:
    """``load --lake DIR EXPORTS...``: every positional argument is an export."""
    from kernelsec_nb.lake import LakeError, load_lake
    from kernelsec_nb.store import CaseError, LoadPathError

    exports = ([args.case] if args.case is not None else []) + list(args.paths)
    try:
        report = load_lake(args.lake, exports, progress=not args.no_progress and not args.json,
                           follow_links=args.follow_links)
    except (LoadPathError, CaseError, LakeError) as exc:
        print(shown(f"kernelsec-nb: {exc}"), file=sys.stderr)
        return 2
    return _print_load(args, report)


def _report(args: argparse.Namespace) -> int:
    from kernelsec_nb import report

    if not args.exports and not Path(args.case).is_file() and not _is_lake(args.case):  # a typo: an empty case
        print(shown(f"kernelsec-nb: no case file at {args.case}: make it with `kernelsec-nb load {args.case} "
                    "<exports>`, or pass --exports"), file=sys.stderr)
        return 2
    if not args.exports:  # the notebook opens it read-only: a case a crash left unclean is refused there
        from kernelsec_nb.store import CaseError, open_case

        try:
            open_case(args.case, read_only=True).close()
        except CaseError as exc:
            print(shown(f"kernelsec-nb: {exc}"), file=sys.stderr)
            return 2
    try:
        result = report.render(args.case, args.notebook, args.out, exports=args.exports)
    except (FileNotFoundError, ValueError) as exc:  # e.g. no such notebook: one line, no traceback
        print(shown(f"kernelsec-nb: {exc}"), file=sys.stderr)
        return 2
    errors = result.get("errors") or []
    print(f"report written to {result['html']}" + (f" (with {len(errors)} failed cell(s))" if errors else ""))
    for err in errors:
        print(shown(f"kernelsec-nb: a notebook cell failed: {err}"), file=sys.stderr)
    return 1 if errors else 0


def _hunt(args: argparse.Namespace) -> int:
    from kernelsec_nb.hunt import bundled_rules, compile_rules, run_rules
    from kernelsec_nb.hunt._alerts import falco_hits, tetragon_hits
    from kernelsec_nb.store import CaseError

    try:
        with _open_read_only(args.case) as case:
            ruleset = compile_rules(args.rules or bundled_rules())
            hits = run_rules(case, ruleset)
            if args.alerts:
                import polars as pl

                hits = pl.concat([hits, falco_hits(case), tetragon_hits(case)], how="vertical_relaxed")
                hits = hits.sort("time_ns", "rule_id", "event_id", nulls_last=True)
    except (FileNotFoundError, CaseError) as exc:
        print(shown(f"kernelsec-nb: {exc}"), file=sys.stderr)
        return 2
    if args.json:
        rows = hits.with_columns(hits["time"].dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")).to_dicts()
        print(json.dumps({"rules": len(ruleset.rules), "hits": rows,
                          "unsupported": [u.to_dict() for u in ruleset.unsupported]}, indent=2))
    else:
        for r in hits.iter_rows(named=True):
            techniques = ",".join(r["techniques"] or [])
            print(shown(f"{r['time']:%Y-%m-%dT%H:%M:%S}Z  {r['level']:<8} {r['title']}  [{techniques}]  "
                        f"{r['entity']} {r['namespace'] or '-'}/{r['pod'] or '-'} {r['detail'] or ''}"))
        print(f"{hits.height} hit(s) of {len(ruleset.rules)} rule(s)")
    for u in ruleset.unsupported:
        print(shown(f"kernelsec-nb: rule not run: {u.title or u.origin}: {u.reason}"), file=sys.stderr)
    return 0


def _findings(args: argparse.Namespace) -> int:
    from kernelsec_nb.store import CaseError

    try:
        with _open_read_only(args.case) as case:
            found = case.findings()
    except CaseError as exc:
        print(shown(f"kernelsec-nb: {exc}"), file=sys.stderr)
        return 2
    if args.json:
        print(found.to_json(indent=2))  # control characters escaped, the exported text kept
    else:
        for line in found.summary():
            print(shown(line))
    return 0


def _share(args: argparse.Namespace) -> int:
    from kernelsec_nb.share import ShareError
    from kernelsec_nb.store import CaseError

    try:
        with _open_read_only(args.case) as case:
            result = case.share(args.out, pods=args.pods, since=args.since, until=args.until,
                                incident=args.incident, redact=args.redact)
    except (ShareError, CaseError, FileNotFoundError, ValueError, TypeError) as exc:
        print(shown(f"kernelsec-nb: {exc}"), file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(shown(str(result)))
        print(shown(f"report: kernelsec-nb report {result.case} --notebook notebooks/postmortem-template.ipynb "
                    f"--out {Path(result.out_dir) / 'report.html'}"))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from kernelsec_nb import report

    try:
        result = report.main_job(args.out)
    except FileNotFoundError as exc:  # installed without a clone: no bundled capture or notebook
        print(f"kernelsec-nb: {exc}", file=sys.stderr)
        return 2
    print(f"postmortem written to {result['html']}")
    for line in report.render_module.answer_lines(result.get("findings", {})):  # pod, node, key command
        print(shown(line))
    notebooks = report.bundled_capture().parent.parent / "notebooks"
    print(f"Explore it in JupyterLab:  jupyter lab {notebooks / '02-deathstar-postmortem.ipynb'}")
    return 0


def _open_read_only(path: str):  # type: ignore[no-untyped-def]
    """The case a read-only command works on; a missing file is a CaseError saying how to make it
    (one place for hunt, findings, share, queries and export)."""
    from kernelsec_nb.store import CaseError, open_case

    if not Path(path).is_file() and not _is_lake(path):
        raise CaseError(f"no case file at {path}: make it with `kernelsec-nb load {path} <exports>`")
    return open_case(path, read_only=True)


def _is_lake(path: str) -> bool:
    """Whether ``path`` is a lake folder (``load --lake``): the read-only commands take it as a case."""
    from kernelsec_nb.lake import is_lake

    return Path(path).is_dir() and is_lake(path)


def _queries(args: argparse.Namespace) -> int:
    from kernelsec_nb.store import CaseError

    try:
        with _open_read_only(args.case) as case:
            saved = case.queries()
    except CaseError as exc:
        print(shown(f"kernelsec-nb: {exc}"), file=sys.stderr)
        return 2
    if args.json:
        rows = [{**r, "filters": json.loads(r["filters"]), "created": r["created"].isoformat()}
                for r in saved.iter_rows(named=True)]
        print(json.dumps(rows, indent=2, ensure_ascii=True))  # \u escapes: nothing to obey in a terminal
    elif not saved.height:
        print("no saved queries in this case (case.save_query(name, method, **filters) keeps one)")
    else:
        for r in saved.iter_rows(named=True):
            print(shown(f"{r['name']}\t{r['method']}\t{r['filters']}\t{r['author']}\t"
                        f"{r['created'].isoformat(timespec='seconds')}"))
    return 0


def _filter_args(items: Sequence[str]) -> dict[str, object]:
    """``KEY=VALUE`` pairs; a key given twice means any of its values."""
    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--filter {item!r}: write KEY=VALUE, e.g. namespace=default")
        if key in out:
            prev = out[key]
            out[key] = [*(prev if isinstance(prev, list) else [prev]), value]
        else:
            out[key] = value
    return out


def _export(args: argparse.Namespace) -> int:
    from kernelsec_nb.store import CaseError

    try:
        flt = _filter_args(args.filter or [])
        with _open_read_only(args.case) as case:
            result = case.export(args.out, args.format, table=args.table, method=args.method,
                                 query=args.query, **flt)
    except (CaseError, ValueError, TypeError, KeyError) as exc:
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(shown(f"kernelsec-nb: {text}"), file=sys.stderr)
        return 2
    skipped = result.get("without_time")
    print(shown(f"{result['rows']} rows written as {args.format} to {result['path']}"
                + (f" ({skipped} rows without a time left out)" if skipped else "")))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from kernelsec_nb.sources import titles

    parser = argparse.ArgumentParser(
        prog="kernelsec-nb", description=f"Load {titles()} exports (any mix) into a case file, find the incidents, "
        "render a postmortem, share a redacted bundle, run the demo.", epilog="Exit status: 0 done, 1 done with errors (a load's file errors, a report's failed "
        "cells), 2 a command that could not be carried out (a missing path, a locked case).")
    from kernelsec_nb import __version__

    parser.add_argument("--version", action="version", version=f"kernelsec-nb {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("load", help="load export files/folders/globs into a case file (or a Parquet lake)",
                       usage="%(prog)s [options] CASE EXPORTS... | %(prog)s [options] --lake DIR EXPORTS...")
    p.add_argument("case", nargs="?", help="case file (created if missing); with --lake, the first export")
    p.add_argument("paths", nargs="+", help="files, folders (recursive) or glob patterns")
    p.add_argument("--lake", metavar="DIR", default=None,
                   help="write a Parquet lake in DIR (new, or one to add the exports to) instead of a case file")
    p.add_argument("--json", action="store_true", help="print the totals as one JSON object")
    p.add_argument("--per-file", action="store_true", help="with --json: add per-file rows")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--follow-links", action="store_true",
                   help="read what links in the folders point to outside them (not followed by default)")
    p.set_defaults(func=_load)

    p = sub.add_parser("report", help="execute a postmortem notebook and write standalone HTML")
    p.add_argument("case", help="case file (made by `load`, or new with --exports)")
    p.add_argument("--notebook", required=True,
                   help="the notebook to run, e.g. notebooks/postmortem-template.ipynb of a clone")
    p.add_argument("--out", required=True, help="the HTML file to write")
    p.add_argument("--exports", default=None, help="exports to load first (optional)")
    p.set_defaults(func=_report)

    p = sub.add_parser("hunt", help="run Sigma rules over a case (the bundled pack when none are given)")
    p.add_argument("case", help="case file (made by `load`)")
    p.add_argument("rules", nargs="*", help="Sigma rule files or folders (default: the bundled pack)")
    p.add_argument("--alerts", action="store_true", help="add Falco alerts and Tetragon policy actions")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: rules, hits, unsupported (rules not run and why)")
    p.set_defaults(func=_hunt)

    p = sub.add_parser("findings", help="incidents, leads and notes of a case (the findings engine)")
    p.add_argument("case", help="case file (made by `load`)")
    p.add_argument("--json", action="store_true", help="print Findings.to_dict() as JSON")
    p.set_defaults(func=_findings)

    p = sub.add_parser("queries", help="list the queries saved in a case (case.save_query)")
    p.add_argument("case", help="case file")
    p.add_argument("--json", action="store_true", help="print them as a JSON list")
    p.set_defaults(func=_queries)

    from kernelsec_nb.export import EXPORTERS

    p = sub.add_parser("export", help="write a case for Timesketch, Elastic (ECS), as CSV or Parquet")
    p.add_argument("case", help="case file")
    p.add_argument("--format", required=True, choices=sorted(EXPORTERS),
                   help="; ".join(f"{e.name}: {e.describe}" for e in EXPORTERS.values()))
    p.add_argument("--out", required=True, help="the file to write (a folder for parquet)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--table", default=None, help="a table of the case (default: events)")
    what.add_argument("--method", default=None, help="a query method: events, processes, flows, alerts, …")
    what.add_argument("--query", default=None, help="a saved query (kernelsec-nb queries CASE)")
    p.add_argument("--filter", action="append", metavar="KEY=VALUE",
                   help="a filter of the query methods (repeat it; a key twice means any of), "
                   "e.g. --filter namespace=default --filter tag=star --filter since=2024-05-14T08:20Z")
    p.set_defaults(func=_export)

    p = sub.add_parser("share", help="write a redacted share bundle: the selected rows, their raw lines, a manifest")
    p.add_argument("case", help="case file (made by `load`)")
    p.add_argument("--out", required=True, help="the bundle folder to write (new or empty)")
    p.add_argument("--incident", type=int, default=None,
                   help="incident N of the findings (1: the top-ranked): its pods from 5 min before its entry process, "
                        "and its own processes and evidence wherever they ran")
    p.add_argument("--pods", nargs="+", default=None, help="pod names (prefixes, as the pod filter)")
    p.add_argument("--since", default=None, help="start time (ISO 8601, naive = UTC)")
    p.add_argument("--until", default=None, help="end time (ISO 8601, naive = UTC)")
    p.add_argument("--redact", default="default",
                   help="default (the bundled rules), none, or a YAML/JSON rules file")
    p.add_argument("--json", action="store_true", help="print the accounting as one JSON object")
    p.set_defaults(func=_share)

    from kernelsec_nb.spark.cli import add_parser as add_spark_load

    add_spark_load(sub)

    p = sub.add_parser("demo", help="load the bundled incident and render its postmortem")
    p.add_argument("--out", default="out", help="output folder (default: out/)")
    p.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("kernelsec-nb: interrupted; the file being loaded was rolled back", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
