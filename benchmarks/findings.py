"""Score table of the findings engine on the labelled corpus (a script, not a test).

Builds every scenario of :mod:`kernelsec_nb.synth.scenarios` (attacks and benign clusters, each
with its ``TRUTH.json``) into a temporary folder (or ``--cache DIR``, reused when its truth has
the same scenario and seed), loads each into a fresh case (timed), runs the findings engine on it
(timed) and prints one row per capture, scored by :func:`kernelsec_nb.synth.scoring.score`:

* attacks: entry pod, node and key command right (✓/✗), reached pods found/expected, C2 named,
  endpoints and ATT&CK techniques found/expected;
* benign captures: incidents raised (the target is 0) and leads;
* for both, the findings time as a ratio of the load time of the same capture.

``--scale N`` adds the timing capture: the Death Star generator's 24 h run at ``--scale N``
(≥ 800k events at 4), loaded and searched once; only its findings/load ratio is printed (target
≤ 0.25).  On this busy 2-core machine that adds about 6 minutes (generating 842k events
~4 min with ~3 GB RSS, loading ~2 min; see benchmarks/RESULTS.md); with ``--cache`` the capture
is generated once.

Usage::

    python benchmarks/findings.py                      # the corpus, ~1.5 min
    python benchmarks/findings.py --only web-rce --only benign-debug
    python benchmarks/findings.py --scale 4            # and the 24 h timing capture
    python benchmarks/findings.py --engine module:function   # another engine (case -> findings)
    python benchmarks/findings.py --engine case.findings     # a method of the case (the default)
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import kernelsec_nb as kn  # noqa: E402
from kernelsec_nb.synth.generate import generate  # noqa: E402
from kernelsec_nb.synth.scenarios import SCENARIOS, Scenario, get  # noqa: E402
from kernelsec_nb.synth.scenarios.truth import Truth  # noqa: E402
from kernelsec_nb.synth.scoring import score  # noqa: E402

ENGINE = "case.findings"


def engine(spec: str) -> Callable[[Any], Any]:
    """The findings function named ``module:function``, or ``case.method`` (called on the case)."""
    if spec.startswith("case."):
        return lambda case: getattr(case, spec[5:])()
    mod, _, fn = spec.partition(":")
    return getattr(importlib.import_module(mod), fn)


def built(s: Scenario, root: Path) -> tuple[Path, Truth]:
    """The scenario's capture under ``root`` (built unless a matching truth is there)."""
    out = root / s.name
    try:
        t = Truth.read(out)
        if t.scenario == s.name and t.seed == s.seed:
            return out, t
    except (OSError, ValueError, KeyError, TypeError):
        pass
    shutil.rmtree(out, ignore_errors=True)
    return out, s.build(out)


def measure(path: Path, truth_events: int | None, find: Callable[[Any], Any],
            work: Path) -> tuple[Any, float, float, int]:
    """Load ``path`` into a new case, run ``find`` on it: (findings, load s, find s, events)."""
    db = work / f"{path.name}.duckdb"
    db.unlink(missing_ok=True)
    case = kn.open_case(db)
    try:
        t0 = time.perf_counter()
        rep = case.load(path, progress=False)
        load_s = time.perf_counter() - t0
        events = int(rep.total("loaded"))
        if truth_events is not None and events != truth_events:
            print(f"  note: {path.name} loaded {events} events, its truth says {truth_events}")
        t0 = time.perf_counter()
        findings = find(case)
        find_s = time.perf_counter() - t0
    finally:
        case.close()
        db.unlink(missing_ok=True)
    return findings, load_s, find_s, events


def mark(v: Any) -> str:
    return "✓" if v is True else "✗" if v is False else "–"


def table(rows: list[dict[str, Any]]) -> str:
    """The score table as Markdown."""
    head = ("| scenario | kind | events | entry pod | node | key command | reached | C2 named "
            "| endpoints | techniques | incidents | leads | findings/load |")
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        attack = r["kind"] == "attack"
        lines.append("| " + " | ".join([
            r["scenario"], r["kind"], str(r["events"]),
            mark(r.get("entry")) if attack else "",
            mark(r.get("node")) if attack else "",
            mark(r.get("key")) if attack else "",
            f"{r['reached']}/{r['reached_expected']}" if attack else "",
            mark(r.get("c2")) if attack else "",
            f"{r['endpoints']}/{r['endpoints_expected']}" if attack else "",
            f"{r['techniques']}/{r['techniques_expected']}" if attack else "",
            str(r["incidents"]) + ("" if attack else (" ✓" if r["incidents"] == 0 else " ✗")),
            str(r["leads"]),
            f"{r['ratio']:.2f} ({r['find_s']:.1f}/{r['load_s']:.1f} s)",
        ]) + " |")
    passed = sum(r["passed"] for r in rows)
    lines.append("")
    lines.append(f"passed {passed} of {len(rows)} (attack: entry pod, node and key command right, "
                 "every reached pod and the C2 named; benign: no incident)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, help="build the captures here and reuse them")
    ap.add_argument("--only", action="append", help="a scenario name (repeatable)")
    ap.add_argument("--engine", default=ENGINE, help=f"module:function or case.method (default {ENGINE})")
    ap.add_argument("--scale", type=float, default=0,
                    help="also time the generator's 24 h run at this scale (4: >= 800k events)")
    ap.add_argument("--hours", type=float, default=24, help="hours of the --scale capture")
    ap.add_argument("--json", type=Path, help="also write the rows to this file")
    args = ap.parse_args(argv)
    find = engine(args.engine)
    scenarios = [get(n) for n in args.only] if args.only else SCENARIOS
    tmp = Path(tempfile.mkdtemp(prefix="kn-findings-"))
    root = args.cache or tmp
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        for s in scenarios:
            t0 = time.perf_counter()
            path, truth = built(s, root)
            build_s = time.perf_counter() - t0
            findings, load_s, find_s, events = measure(path, truth.events, find, tmp)
            row = score(findings, truth)
            row.update(events=events, build_s=build_s, load_s=load_s, find_s=find_s,
                       ratio=find_s / load_s if load_s else float("nan"))
            rows.append(row)
            print(f"  {s.name}: built {build_s:.1f} s, loaded {events} events {load_s:.1f} s, "
                  f"findings {find_s:.1f} s", file=sys.stderr)
        print(table(rows))
        if args.scale:
            out = root / f"deathstar-{args.hours:g}h-x{args.scale:g}"
            t0 = time.perf_counter()
            if not (out / "TRUTH.json").exists():
                generate(out, seed=7, hours=args.hours, scale=args.scale)
            gen_s = time.perf_counter() - t0
            _, load_s, find_s, events = measure(out, None, find, tmp)
            big = {"scenario": out.name, "events": events, "generate_s": gen_s, "load_s": load_s,
                   "find_s": find_s, "ratio": find_s / load_s}
            rows.append(big)
            print(f"\ntiming capture {out.name}: {events} events, generated in {gen_s:.0f} s, "
                  f"loaded in {load_s:.1f} s, findings in {find_s:.1f} s: findings/load = "
                  f"{big['ratio']:.2f} (target <= 0.25)")
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1, default=str) + "\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
