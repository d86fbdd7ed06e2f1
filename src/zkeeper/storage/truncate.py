"""Cutting the txn log back to a zxid (ZAB's TRUNC), and the last zxid on disk.

`truncate_log` is ZooKeeper's FileTxnSnapLog.truncateLog / FileTxnLog.truncate: a
follower whose log runs ahead of the new leader drops the txns the leader does not have.
Unlike ZooKeeper it keeps no record after `zxid` even when `zxid` itself is not in the
log (ZooKeeper then keeps the first later record), and it succeeds when no record after
`zxid` exists (ZooKeeper fails: "No log files found to truncate!"). Where `zxid` is in
the log, the files left are byte for byte the ones ZooKeeper leaves.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .errors import CorruptLogError, StorageError
from .files import fsync_dir, log_files, snapshot_files, version_dir
from .format import Scan
from .snapshot import is_valid_snapshot
from .txnlog import LogReader, truncate_file

log = logging.getLogger("zkeeper.storage.truncate")


def truncate_log(data_log_dir: str | os.PathLike[str], zxid: int, *,
                 data_dir: str | os.PathLike[str] | None = None) -> None:
    """Remove every logged txn with a zxid above `zxid`, durably; txns up to it stay as they are.

    The log file that holds `zxid` (the last one named at or before it) is cut right
    after its last record <= `zxid` (dropping its zero padding and any torn tail), and
    every later log file is deleted. Later files go first, newest first, so that a crash
    part-way leaves the log a prefix of what it was; running it again finishes the job.

    No TxnLogWriter may have a file of this directory open (close it first, as ZooKeeper
    closes its txn log); its next append then starts a new file.

    Damage followed by valid records in the file to cut raises CorruptLogError, and with
    `data_dir` a snapshot newer than `zxid` raises StorageError (recovery would load it
    and bring the removed txns back); both before anything changes.
    """
    log_dir = version_dir(data_log_dir)
    logs = log_files(log_dir)
    holder = [path for start, path in logs if start <= zxid][-1:]
    later = [path for start, path in logs if start > zxid]
    cut = _cut_offset(holder[0], zxid) if holder else None
    if data_dir is not None:
        newer = [p.name for z, p in snapshot_files(version_dir(data_dir)) if z > zxid]
        if newer:
            raise StorageError(f"cannot truncate the txn log to 0x{zxid:x}: snapshot(s) {', '.join(newer)} in "
                               f"{version_dir(data_dir)} hold later txns")
    for path in reversed(later):
        log.warning("Truncating the txn log to 0x%x: removing %s", zxid, path)
        path.unlink()
    if later:
        fsync_dir(log_dir)
    if cut is not None:
        log.warning("Truncating the txn log to 0x%x: cutting %s at offset %d", zxid, holder[0], cut)
        truncate_file(holder[0], cut)


def _cut_offset(path: Path, zxid: int) -> int | None:
    """Where to cut `path`: right after its last record <= `zxid`, as ZooKeeper does
    (which drops its zero padding too); None when it holds nothing to cut."""
    with LogReader(path) as reader:
        if reader.blank:
            return None
        for record in reader.records():
            if record.zxid > zxid:
                return record.offset
        stop = reader.stop
        if stop.status is not Scan.END or reader.last_nonzero(stop.offset) != stop.offset:
            following = reader.valid_record_after(stop.offset)
            if following is not None:
                raise CorruptLogError(path, stop.offset, f"{stop.reason or 'a zero-length record'}, but valid "
                                      f"records follow at offset {following}; cannot tell which txns to keep")
        # The end of the data, or a torn tail (nothing valid after the last record).
        return stop.offset if stop.offset < reader.size else None


def last_logged_zxid(data_dir: str | os.PathLike[str], data_log_dir: str | os.PathLike[str] | None = None) -> int:
    """The highest zxid on disk without loading the tree: the newer of the newest complete
    snapshot's zxid (from its name) and the last valid record of the newest log that has
    one; 0 for an empty database.

    Recovery would end at the same zxid (Recovery.last_zxid) for an intact database. It
    reads only the last log file (ZooKeeper's FileTxnLog.getLastLoggedZxid does the same,
    without the snapshot) and modifies nothing.
    """
    best = 0
    for snap_zxid, path in snapshot_files(version_dir(data_dir)):
        if is_valid_snapshot(path):
            best = snap_zxid
            break
    for _, path in reversed(log_files(version_dir(data_log_dir if data_log_dir is not None else data_dir))):
        last = None
        with LogReader(path) as reader:
            for record in reader.records():
                last = record.zxid
        if last is not None:
            return max(best, last)
    return best
