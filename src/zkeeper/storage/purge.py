"""Deleting old snapshots and logs, as ZooKeeper's PurgeTxnLog (autopurge, zkCleanup.sh).

Keep the newest `retain_count` valid snapshots, and every log that recovery from the
oldest kept snapshot needs: the log that starts at or before it and all later ones.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .files import fsync_dir, log_files, logs_for_snapshot, snapshot_files, version_dir
from .snapshot import is_valid_snapshot

log = logging.getLogger("zkeeper.storage.purge")

MIN_RETAIN_COUNT = 3


def purge(data_dir: str | os.PathLike[str], data_log_dir: str | os.PathLike[str] | None = None,
          retain_count: int = MIN_RETAIN_COUNT) -> list[Path]:
    """Delete what recovery no longer needs; return the deleted files, oldest first."""
    if retain_count < MIN_RETAIN_COUNT:
        raise ValueError("count should be greater than or equal to 3")
    snap_dir = version_dir(data_dir)
    log_dir = version_dir(data_log_dir if data_log_dir is not None else data_dir)
    # Only snapshots that look complete count towards the ones we keep: a torn newest
    # snapshot must not push a good older one out.
    kept = [(z, p) for z, p in snapshot_files(snap_dir) if is_valid_snapshot(p)][:retain_count]
    if not kept:
        return []
    least = kept[-1][0]
    logs = log_files(log_dir)
    needed = {p for _, p in logs_for_snapshot(logs, least)}
    doomed = [p for z, p in logs if z < least and p not in needed]
    doomed += [p for z, p in reversed(snapshot_files(snap_dir)) if z < least]
    for p in doomed:
        log.info("Removing file: %s", p)
        try:
            p.unlink()
        except FileNotFoundError:
            pass
    for d in {snap_dir, log_dir}:
        if doomed:
            fsync_dir(d)
    return doomed
