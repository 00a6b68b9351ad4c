"""How long a share bundle takes, against loading the same capture (measured in the same run).

    python benchmarks/share.py [--capture data/deathstar] [--pod tiefighter]

Prints the seconds of ``case.load`` of the capture (the baseline), of ``case.share`` of one pod
(default rules) and of the whole case (default rules and ``redact="none"``), each as a ratio of the
load.  A bundle is a load of its written lines plus two redaction passes over them.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import kernelsec_nb as kn


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--capture", default=str(Path(__file__).resolve().parents[1] / "data" / "deathstar"))
    ap.add_argument("--pod", default="tiefighter")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    try:
        with kn.open_case(tmp / "case.duckdb") as case:
            t = time.perf_counter()
            case.load(args.capture, progress=False)
            base = time.perf_counter() - t
            rows = case.sql("SELECT count(*) AS n FROM events")["n"][0]
            print(f"load of the capture ({rows} events): {base:.2f} s (baseline)")
            for label, kw in ((f"share pod={args.pod}", {"pods": [args.pod]}),
                              ("share whole case", {}), ("share whole case, redact=none", {"redact": "none"})):
                out = tmp / label.replace(" ", "_").replace("=", "-")
                t = time.perf_counter()
                result = case.share(out, **kw)
                took = time.perf_counter() - t
                print(f"{label}: {result.selected} rows, {took:.2f} s, {took / base:.2f}x the load")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
