"""zkCleanup: keep the newest N snapshots (N >= 3) and the logs they need; delete the rest.

`zkCleanup -n 3 [zoo.cfg]` takes the directories from the config (default conf/zoo.cfg),
as zkCleanup.sh does; `zkCleanup dataLogDir [snapDir] -n 3` names them directly, as
ZooKeeper's PurgeTxnLog does.
"""

from __future__ import annotations

import argparse
import sys

from ..server.config import ConfigError
from ..storage import StorageError, purge
from .zkserver import resolve_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zkCleanup", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", help="zoo.cfg, or dataLogDir [snapDir]")
    parser.add_argument("-n", "--count", type=int, default=3, help="snapshots to keep (at least 3)")
    args = parser.parse_args(argv)
    if args.count < 3:
        print("count should be greater than or equal to 3", file=sys.stderr)
        return 2
    if len(args.paths) <= 1 and (not args.paths or args.paths[0].endswith(".cfg")):
        try:
            config = resolve_config(args.paths[0] if args.paths else None)
        except ConfigError as e:
            print(f"Invalid config: {e}", file=sys.stderr)
            return 2
        log_dir, snap_dir = config.data_log_dir, config.data_dir
    else:
        log_dir = args.paths[0]
        snap_dir = args.paths[1] if len(args.paths) > 1 else log_dir
    try:
        removed = purge(snap_dir, log_dir, args.count)
    except (OSError, StorageError) as e:
        print(f"zkCleanup failed: {e}", file=sys.stderr)
        return 1
    for path in removed:
        print(f"Removing file: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
