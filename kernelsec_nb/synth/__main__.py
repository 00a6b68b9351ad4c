"""Command line: ``python -m kernelsec_nb.synth --seed 7 --out data/deathstar``."""

from __future__ import annotations

import argparse
import sys
import time

from .bulk import MIXES, write_bulk
from .generate import EXTRA_SOURCES, generate


def _size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().rstrip("B")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the generator.

    Parameters
    ----------
    argv : list of str or None
        Arguments (defaults to ``sys.argv[1:]``).

    Returns
    -------
    int
        Process exit code.
    """
    ap = argparse.ArgumentParser(prog="python -m kernelsec_nb.synth",
                                 description="Generate the synthetic incident capture, or "
                                             "with --target-bytes one bulk NDJSON file.")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default="data/deathstar",
                    help="capture directory, or the bulk file with --target-bytes")
    ap.add_argument("--hours", type=float, default=3.0, help="hours of normal life")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="rate multiplier of background activity")
    ap.add_argument("--target-bytes", type=_size, default=None,
                    help="write one bulk NDJSON file of about this size (e.g. 200M)")
    ap.add_argument("--mix", choices=sorted(MIXES), default="tetragon")
    ap.add_argument("--with", dest="extra", action="append", default=[], choices=EXTRA_SOURCES,
                    help="also write this sensor's output (repeatable): tracee, inspektor_gadget")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    if args.target_bytes:
        n = write_bulk(args.out, target_bytes=args.target_bytes, seed=args.seed, mix=args.mix)
        dt = time.perf_counter() - t0
        print(f"wrote {n} bytes to {args.out} in {dt:.2f}s ({n / dt / 1e6:.1f} MB/s)")
        return 0
    truth = generate(args.out, seed=args.seed, hours=args.hours, scale=args.scale,
                     extra=tuple(args.extra))
    files = truth["files"]
    print(f"wrote {len(files)} files, {sum(f['events'] for f in files.values())} events "
          f"to {args.out} in {time.perf_counter() - t0:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
