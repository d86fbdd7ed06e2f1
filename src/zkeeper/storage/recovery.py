"""Rebuilding the tree at startup: newest good snapshot + every later logged txn.

Mirrors ZooKeeper's FileTxnSnapLog.restore and ZooKeeperServer.loadData, with one
deliberate difference: damage is never skipped silently. A torn tail (what a crash
leaves) is cut off with a log line; damage followed by valid records raises
CorruptLogError naming the file and offset, for an operator to decide.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..tree.datatree import DataTree
from .digest import ZxidDigest
from .errors import CorruptLogError, CorruptSnapshotError, LogFormatError, NoValidSnapshotError, StorageError
from .files import log_files, logs_for_snapshot, snapshot_files, version_dir
from .format import FormatError, Scan
from .replay import Replayer
from .snapformat import gc_paused
from .snapshot import is_valid_snapshot, load_snapshot, write_snapshot
from .txnlog import LogReader, truncate_file

log = logging.getLogger("zkeeper.storage.recovery")


@dataclass
class Recovery:
    tree: DataTree
    sessions: dict[int, int]  # session id -> timeout (ms), as the last txn left them
    last_zxid: int  # highest zxid in the snapshot or the replayed logs
    snapshot: Path | None = None  # the snapshot the tree was built from
    snapshot_zxid: int = 0
    skipped_snapshots: list[tuple[Path, str]] = field(default_factory=list)  # newer but unusable
    logs_read: list[Path] = field(default_factory=list)
    txns_replayed: int = 0
    truncated: list[tuple[Path, int]] = field(default_factory=list)  # (log, new size) cut at a torn tail
    removed: list[Path] = field(default_factory=list)  # logs that never got a header
    digests_checked: int = 0
    digest_mismatches: list[int] = field(default_factory=list)  # zxids where ZooKeeper's digest differed
    orphan_sessions: list[int] = field(default_factory=list)  # owners of ephemerals without a session
    initial_snapshot: Path | None = None  # snapshot.0 written for an empty database


def recover(data_dir: str | os.PathLike[str], data_log_dir: str | os.PathLike[str] | None = None,
            **options: bool) -> tuple[DataTree, dict[int, int], int]:
    """(tree, sessions, last_zxid) recovered from disk; see `recover_detailed` for options."""
    r = recover_detailed(data_dir, data_log_dir, **options)
    return r.tree, r.sessions, r.last_zxid


def recover_detailed(data_dir: str | os.PathLike[str], data_log_dir: str | os.PathLike[str] | None = None, *,
                     verify_digests: bool = True, repair: bool = True, trust_empty_snapshot: bool = False,
                     write_initial_snapshot: bool = True, kill_orphan_ephemerals: bool = True) -> Recovery:
    """Load the newest valid snapshot, then replay every later txn from the logs.

    repair: cut a torn log tail back to the last valid record (and remove logs that
        never got a header); without it they are only reported.
    verify_digests: compare the tree digests ZooKeeper logs with the replayed tree; a
        mismatch is logged and listed, as ZooKeeper does, not fatal.
    trust_empty_snapshot: replay logs even though no snapshot exists (ZooKeeper's
        zookeeper.snapshot.trust.empty); otherwise that raises NoValidSnapshotError.
    write_initial_snapshot: for an empty database write snapshot.0, as ZooKeeper does,
        so that later logs always have a snapshot to start from.
    kill_orphan_ephemerals: drop ephemerals whose session is not in the session table
        (ZooKeeperServer.loadData "Clean up dead sessions").

    The cyclic GC is paused throughout (snapformat.gc_paused): the tree and the
    replayed txns are millions of new objects that collections would walk again and again.
    """
    with gc_paused():
        return _recover(data_dir, data_log_dir, verify_digests=verify_digests, repair=repair,
                        trust_empty_snapshot=trust_empty_snapshot, write_initial_snapshot=write_initial_snapshot,
                        kill_orphan_ephemerals=kill_orphan_ephemerals)


def _recover(data_dir: str | os.PathLike[str], data_log_dir: str | os.PathLike[str] | None, *,
             verify_digests: bool, repair: bool, trust_empty_snapshot: bool, write_initial_snapshot: bool,
             kill_orphan_ephemerals: bool) -> Recovery:
    snap_dir = version_dir(data_dir, create=True)
    log_dir = version_dir(data_log_dir if data_log_dir is not None else data_dir, create=True)
    if snap_dir.resolve() != log_dir.resolve():
        _check_separate_dirs(snap_dir, log_dir)
    logs = log_files(log_dir)

    rec, snap_digest, loaded_digest = _load_newest_snapshot(snap_dir)
    if rec is None:
        if logs and not trust_empty_snapshot:
            raise NoValidSnapshotError(
                f"No snapshot found in {snap_dir}, but there are log entries in {log_dir}. Something is broken!")
        rec = Recovery(DataTree(), {}, 0)
    replayer = Replayer(rec.tree, rec.sessions, verify_digests=verify_digests, snapshot_digest=snap_digest,
                        tree_digest=loaded_digest)
    _replay_logs(rec, replayer, logs, repair)
    if replayer.pending is not None:
        log.warning("Highest txn zxid 0x%x is not covering the snapshot digest zxid 0x%x, "
                    "which might lead to inconsistent state", rec.last_zxid, replayer.pending.zxid)
    rec.digests_checked = replayer.check.checked
    rec.digest_mismatches = replayer.check.mismatches
    if rec.digest_mismatches:
        log.error("Tree digest differs from the logged digest at %d txn(s), first at zxid 0x%x",
                  len(rec.digest_mismatches), rec.digest_mismatches[0])
    if kill_orphan_ephemerals:
        for sid in [s for s in rec.tree.ephemerals if s not in rec.sessions]:
            rec.tree.kill_session(sid, rec.tree.last_processed_zxid, None)
            rec.orphan_sessions.append(sid)
    if rec.snapshot is None and write_initial_snapshot and rec.last_zxid == 0 and not logs:
        rec.initial_snapshot = write_snapshot(rec.tree, rec.sessions, 0, data_dir)
    log.info("Recovered to zxid 0x%x from %s and %d txn(s) in %d log(s)", rec.last_zxid,
             rec.snapshot.name if rec.snapshot else "no snapshot", rec.txns_replayed, len(rec.logs_read))
    return rec


# ---- snapshots ------------------------------------------------------------------------


def _check_separate_dirs(snap_dir: Path, log_dir: Path) -> None:
    """ZOOKEEPER-2967: swapped dataDir/dataLogDir would otherwise start an empty server."""
    if any(p.name.startswith("snapshot.") for p in log_dir.iterdir()):
        raise StorageError(f"Log directory {log_dir} has snapshot files. "
                           "Check if dataLogDir and dataDir configuration is correct.")
    if any(p.name.startswith("log.") for p in snap_dir.iterdir()):
        raise StorageError(f"Snapshot directory {snap_dir} has log files. "
                           "Check if dataLogDir and dataDir configuration is correct.")


def _load_newest_snapshot(snap_dir: Path) -> tuple[Recovery | None, ZxidDigest | None, int | None]:
    """The newest loadable snapshot as a Recovery, its trailer digest, and the digest of
    its tree if the loader computed it."""
    skipped: list[tuple[Path, str]] = []
    for zxid, path in snapshot_files(snap_dir):
        if not is_valid_snapshot(path):
            skipped.append((path, "incomplete (no end marker)"))
            log.warning("Invalid snapshot %s: incomplete, trying an older one", path)
            continue
        try:
            loaded = load_snapshot(path)
        except CorruptSnapshotError as e:
            skipped.append((path, e.reason))
            log.warning("Problem reading snap file %s: %s; trying an older one", path, e.reason)
            continue
        log.info("Loaded snapshot %s (%d nodes, %d sessions)", path.name, len(loaded.tree.nodes),
                 len(loaded.sessions))
        rec = Recovery(loaded.tree, loaded.sessions, zxid, snapshot=path, snapshot_zxid=zxid,
                       skipped_snapshots=skipped)
        return rec, loaded.digest, loaded.tree_digest
    if any(z > 0 for z, _ in snapshot_files(snap_dir)):
        raise NoValidSnapshotError(f"Not able to find valid snapshots in {snap_dir}: "
                                   + "; ".join(f"{p.name}: {why}" for p, why in skipped))
    return None, None, None


# ---- logs -----------------------------------------------------------------------------


def _replay_logs(rec: Recovery, replayer: Replayer, logs: list[tuple[int, Path]], repair: bool) -> None:
    highest = rec.snapshot_zxid
    for _, path in logs_for_snapshot(logs, rec.snapshot_zxid):
        rec.logs_read.append(path)
        with LogReader(path) as reader:
            if reader.blank:
                _blank_log(rec, path, repair)
                continue
            for record in reader.records():
                if record.zxid <= highest:
                    if record.zxid > rec.snapshot_zxid:
                        log.error("%s: txn 0x%x at offset %d is not after 0x%x; skipped",
                                  path, record.zxid, record.offset, highest)
                    continue
                try:
                    entry = record.decode()
                    replayer.replay(entry.hdr, entry.txn, entry.digest)
                except FormatError as e:
                    raise LogFormatError(path, record.offset, str(e)) from None
                highest = record.zxid
                rec.txns_replayed += 1
            _check_end(rec, reader, repair)
    rec.last_zxid = max(highest, rec.tree.last_processed_zxid)


def _blank_log(rec: Recovery, path: Path, repair: bool) -> None:
    # A crash right after creating the file: it holds nothing. ZooKeeper would fail to
    # start on it (it cannot read a header), so it goes.
    if repair:
        log.warning("Removing txn log %s: it has no header (crash right after creating it)", path)
        path.unlink()
        rec.removed.append(path)
    else:
        log.warning("Txn log %s has no header", path)


def _check_end(rec: Recovery, reader: LogReader, repair: bool) -> None:
    """Decide what the first non-record in a log means: the end, a torn tail, or damage."""
    stop, path = reader.stop, reader.path
    if stop.status is Scan.END and reader.last_nonzero(stop.offset) == stop.offset:
        return  # end of file or preallocated zeros: the normal end of a log
    following = reader.valid_record_after(stop.offset)
    if following is not None:
        what = stop.reason or "a zero-length record"
        raise CorruptLogError(path, stop.offset, f"{what}, but valid records follow at offset {following}")
    reason = stop.reason or "garbage after the last record"
    if repair:
        log.warning("Txn log %s has a torn tail at offset %d (%s): truncating it there", path, stop.offset, reason)
        reader.close()
        truncate_file(path, stop.offset)
        rec.truncated.append((path, stop.offset))
    else:
        log.warning("Txn log %s has a torn tail at offset %d (%s)", path, stop.offset, reason)
