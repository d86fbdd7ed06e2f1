"""Sweep seeds from the shell: python -m zkeeper.sim --voters 5 --seeds 0-999 --profile stormy.

`--servers` runs the real replicated servers (zkeeper.sim.ensemble) instead of the
election-only model: python -m zkeeper.sim --servers --voters 5 --seeds 0-499.
Prints one line per failing seed (and how to replay it), then a summary; exit 1 on any.
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
    ap.add_argument("--servers", action="store_true", help="run real zkeeper servers (QuorumPeer) per seed")
    ap.add_argument("--faults-ms", type=int, default=8_000, help="with --servers: virtual ms of faults")
    ap.add_argument("--verbose", action="store_true", help="with --servers: every server's log, tagged")
    args = ap.parse_args(argv)
    first, _, last = args.seeds.partition("-")
    seeds = range(int(first), int(last or first) + 1)
    if args.servers:
        return _servers(args, seeds)
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


def _servers(args: argparse.Namespace, seeds: range) -> int:
    import logging
    import tempfile
    from pathlib import Path

    from .ensemble import EnsembleInvariantViolation, EnsembleSimConfig, NodeLogFilter, run_ensemble

    handler = logging.StreamHandler()
    handler.addFilter(NodeLogFilter())
    handler.setFormatter(logging.Formatter("%(vtime)s %(node)s %(levelname)s [%(name)s] %(message)s"))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.CRITICAL, handlers=[handler])
    failed = 0
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="zkeeper-sim-") as tmp:
        for seed in seeds:
            observers = max(args.observers, 0)
            cfg = EnsembleSimConfig(seed=seed, voters=args.voters, observers=observers, faults_for_ms=args.faults_ms)
            try:
                report = run_ensemble(cfg, Path(tmp) / "run")
            except EnsembleInvariantViolation as e:
                failed += 1
                print(f"{e}\n  replay: python -m zkeeper.sim --servers --voters {args.voters} "
                      f"--observers {observers} --faults-ms {args.faults_ms} --seeds {seed} --verbose")
                continue
            if args.verbose or len(seeds) == 1:
                print(report.summary())
                print("faults:", ", ".join(report.faults))
    print(f"{len(seeds) - failed}/{len(seeds)} seeds passed in {time.monotonic() - t0:.1f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
