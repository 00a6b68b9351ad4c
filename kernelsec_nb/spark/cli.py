"""``kernelsec-nb spark-load --master MASTER EXPORTS... --lake DIR``: the Spark ingest from the shell."""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys

from kernelsec_nb._text import shown


def missing() -> str | None:
    """Why Spark cannot run here (one line), or None."""
    if importlib.util.find_spec("pyspark") is None:
        return 'pyspark is not installed: pip install -e ".[spark]"'
    java_home = os.environ.get("JAVA_HOME")
    if not shutil.which("java") and not (java_home and os.path.exists(os.path.join(java_home, "bin", "java"))):
        return "no Java runtime (Spark needs Java 17 or later): e.g. apt-get install default-jre-headless"
    return None


def run(args: argparse.Namespace) -> int:
    from kernelsec_nb.lake import LakeError
    from kernelsec_nb.store import CaseError, LoadPathError

    why = missing()
    if why:
        print(f"kernelsec-nb: spark-load: {why}", file=sys.stderr)
        return 2
    from kernelsec_nb.spark.load import load
    from kernelsec_nb.spark.session import LOAD_ONLY, local_session

    spark = local_session(args.master, app="kernelsec-nb spark-load", extra=LOAD_ONLY)
    try:
        report = load(spark, args.paths, args.lake, follow_links=args.follow_links)
    except (LoadPathError, CaseError, LakeError) as exc:
        print(shown(f"kernelsec-nb: {exc}"), file=sys.stderr)
        return 2
    finally:
        spark.stop()
    from kernelsec_nb.cli import _print_load

    return _print_load(args, report)


def add_parser(sub) -> None:  # noqa: ANN001 - argparse's private subparsers type
    p = sub.add_parser("spark-load", help="load exports into a Parquet lake with Apache Spark (the spark extra)",
                       usage="%(prog)s --master MASTER EXPORTS... --lake DIR")
    p.add_argument("paths", nargs="+", help="files, folders (recursive) or glob patterns (paths every executor reads)")
    p.add_argument("--lake", metavar="DIR", required=True, help="the lake folder (new, or one to add the exports to)")
    p.add_argument("--master", default="local[*]",
                   help="Spark master: local[2], spark://host:7077, yarn, k8s://... (default: local[*])")
    p.add_argument("--json", action="store_true", help="print the totals as one JSON object")
    p.add_argument("--per-file", action="store_true", help="with --json: add per-file rows")
    p.add_argument("--follow-links", action="store_true",
                   help="read what links in the folders point to outside them (not followed by default)")
    p.set_defaults(func=run)
