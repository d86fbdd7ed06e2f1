"""Sweep seeds from the shell: python -m zkeeper.sim --voters 5 --seeds 0-999 --profile stormy.

Prints one line per failing seed (and its replay line), then a summary; exit 1 on any.
"""

from __future__ import annotations

import argparse
import sys
import time

from .checks import InvariantViolation
from .cluster import PROFILES, SimConfig, run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m zkeeper.sim", description=__doc__)
    ap.add_argument("--voters", type=int, default=3)
    ap.add_argument("--observers", type=int, default=-1, help="default: seed % 3")
    ap.add_argument("--seeds", default="0-199", help="N or FIRST-LAST")
    ap.add_argument("--profile", choices=sorted(PROFILES), default="lan")
    args = ap.parse_args(argv)
    first, _, last = args.seeds.partition("-")
    seeds = range(int(first), int(last or first) + 1)
    failed = 0
    t0 = time.monotonic()
    for seed in seeds:
        observers = seed % 3 if args.observers < 0 else args.observers
        cfg = SimConfig(seed=seed, voters=args.voters, observers=observers, **PROFILES[args.profile])  # type: ignore[arg-type]
        try:
            run(cfg)
        except InvariantViolation as e:
            failed += 1
            head, replay = str(e).split("\n")[:2]
            print(f"seed {seed}: {head}\n  {replay}")
    print(f"{len(seeds) - failed}/{len(seeds)} seeds passed in {time.monotonic() - t0:.1f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
