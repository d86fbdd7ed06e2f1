"""Where the files live and the small file-system chores around them.

As ZooKeeper's FileTxnSnapLog, the configured dataDir / dataLogDir each get a
`version-2` subdirectory; snapshots go to dataDir's and logs to dataLogDir's.
"""

from __future__ import annotations

import os
from pathlib import Path

from .format import LOG_PREFIX, SNAP_PREFIX, VERSION_DIR, zxid_from_name


def version_dir(base: str | os.PathLike[str], create: bool = False) -> Path:
    d = Path(base) / VERSION_DIR
    if create:
        d.mkdir(parents=True, exist_ok=True)
    return d


def _sorted(directory: Path, prefix: str, newest_first: bool) -> list[tuple[int, Path]]:
    if not directory.is_dir():
        return []
    found = []
    for entry in os.scandir(directory):
        if not entry.is_file():
            continue
        zxid = zxid_from_name(entry.name, prefix)
        if zxid >= 0:
            found.append((zxid, Path(entry.path)))
    found.sort(key=lambda t: t[0], reverse=newest_first)
    return found


def log_files(log_dir: Path) -> list[tuple[int, Path]]:
    """(first zxid, path) of every `log.<hex>` file, oldest first."""
    return _sorted(log_dir, LOG_PREFIX, newest_first=False)


def snapshot_files(snap_dir: Path) -> list[tuple[int, Path]]:
    """(zxid, path) of every `snapshot.<hex>` file, newest first."""
    return _sorted(snap_dir, SNAP_PREFIX, newest_first=True)


def logs_for_snapshot(logs: list[tuple[int, Path]], snap_zxid: int) -> list[tuple[int, Path]]:
    """The log that starts at or before `snap_zxid` and every later one (FileTxnLog.getLogFiles):
    those are the logs that can hold txns after the snapshot."""
    start = 0
    for zxid, _ in logs:
        if zxid > snap_zxid:
            break
        start = max(start, zxid)
    return [(z, p) for z, p in logs if z >= start]


def fsync_dir(directory: Path) -> None:
    """Make a created, renamed or deleted directory entry durable."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(fd: int) -> None:
    # fdatasync is FileChannel.force(false): data and the metadata needed to read it.
    sync = getattr(os, "fdatasync", os.fsync)
    sync(fd)
