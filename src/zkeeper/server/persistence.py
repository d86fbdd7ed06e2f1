"""The durable side of the server: recovery at start, group-committed log, snapshots, purge.

Writes are appended to the log as they are prepared and fsynced in batches on a worker
thread: everything that arrives while one fsync runs goes into the next, so throughput
grows with concurrency. A write is applied and answered only once its batch is synced.
Snapshots are taken in a forked child, which sees a consistent copy of the tree without
stopping this process from serving; the log is rolled at the same point, as ZooKeeper does.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import random
import time
from typing import Any, Callable

from ..jute import TxnHeader
from ..storage import StorageError, TxnLogWriter, purge, recover_detailed, write_snapshot
from ..tree.datatree import DataTree
from .config import ServerConfig
from .host import REAL_HOST, Host
from .stats import ServerStats

log = logging.getLogger("zkeeper.server.persistence")


def recover_state(config: ServerConfig) -> tuple[DataTree, dict[int, int], int]:
    """Load the newest snapshot and replay the logs after it (ZooKeeper's loadData)."""
    started = time.monotonic()
    rec = recover_detailed(config.data_dir, config.data_log_dir)
    for path, size in rec.truncated:
        log.warning("Truncated torn tail of %s at offset %d", path, size)
    log.info("Loaded %d znodes, %d sessions, last zxid 0x%x in %.0f ms", len(rec.tree.nodes), len(rec.sessions),
             rec.last_zxid, (time.monotonic() - started) * 1000)
    return rec.tree, rec.sessions, rec.last_zxid


# Below this many znodes the start-up snapshot is written before serving, as ZooKeeper
# does (a few hundred ms at most); above it, in a forked child.
FORK_STARTUP_SNAPSHOT_NODES = 200_000


class DurableLog:
    """Group commit over a TxnLogWriter; `on_synced(zxid)` runs in the loop after each batch,
    `on_failed(zxid, error)` when a batch could not be made durable (nothing past `zxid` is)."""

    def __init__(self, config: ServerConfig, stats: ServerStats, last_zxid: int,
                 on_synced: Callable[[int], None], on_failed: Callable[[int, StorageError], None],
                 rng: random.Random | None = None, host: Host = REAL_HOST) -> None:
        self.config = config
        self.stats = stats
        self.host = host
        self.writer = TxnLogWriter(
            config.data_log_dir, prealloc_size=config.pre_alloc_size_kb * 1024,
            force_sync=config.force_sync, fsync_warning_ms=float(config.fsync_warning_threshold_ms),
        )
        # The writer numbers from what recovery found, so a failure before the first
        # sync of this run rolls back to it, not to zero.
        self.writer.last_zxid = self.writer.last_synced_zxid = last_zxid
        self.synced_zxid = last_zxid
        self.appended_zxid = last_zxid
        # Txns waiting for the next batch. The loop never touches the writer: a batch
        # is encoded, written and fsynced on the worker thread while the loop serves.
        self._pending: list[tuple[TxnHeader, Any, bytes | None]] = []
        self._on_synced = on_synced
        self._on_failed = on_failed
        self._flushing = False
        self._roll_requested = False
        self._rng = rng or random.Random()
        self._txns_since_snapshot = 0
        self._snap_after = self._next_snap_threshold()
        self._snapshot_child: int | None = None
        self.last_snapshot: tuple[int, int] = (0, 0)  # (zxid, unix ms)

    def _next_snap_threshold(self) -> int:
        # ZooKeeper snaps at a random point in [snapCount/2 + 1, snapCount] so that the
        # members of an ensemble don't all snapshot at once.
        half = max(self.config.snap_count // 2, 1)
        return half + self._rng.randint(1, half)

    # ---- the log ---------------------------------------------------------------------

    def append(self, hdr: TxnHeader, txn: Any, entry: bytes | None = None) -> None:
        """`entry`: the txn already encoded, when the caller has it (ZAB proposals)."""
        self._pending.append((hdr, txn, entry))
        self.appended_zxid = hdr.zxid
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                started = time.monotonic()
                try:
                    await self.host.blocking(self._write_batch, batch)
                except StorageError as e:
                    # Nothing past the last sync is durable, and what was prepared
                    # after it assumed those txns: all of it fails.
                    self._pending = []
                    failed_after = self.writer.last_synced_zxid
                    self.appended_zxid = self.synced_zxid = failed_after
                    log.error("Could not make txns after 0x%x durable: %s; failing them", failed_after, e)
                    self._on_failed(failed_after, e)
                    continue
                self.stats.fsync_time.observe((time.monotonic() - started) * 1000)
                self.synced_zxid = self.writer.last_synced_zxid
                self._on_synced(self.synced_zxid)
        finally:
            self._flushing = False

    def _write_batch(self, batch: list[tuple[TxnHeader, Any, bytes | None]]) -> None:
        """Worker thread: encode and append a batch, then one write + fsync for all of it."""
        for hdr, txn, entry in batch:
            self.writer.append(hdr, txn, entry=entry)
        self.writer.flush_and_sync()
        if self._roll_requested:
            self._roll_requested = False
            self.writer.roll()

    async def drain(self) -> None:
        """Wait until everything appended is written and fsynced (or has failed)."""
        while self._flushing or self._pending:
            await asyncio.sleep(0.002)

    def close(self) -> None:
        try:
            self.writer.close()
        except StorageError as e:
            log.warning("Closing the txn log: %s", e)

    # ---- snapshots -------------------------------------------------------------------

    def applied(self, count: int, take_snapshot: Callable[[], None]) -> None:
        """Count applied txns; past the threshold, snapshot and start a new log file."""
        self._txns_since_snapshot += count
        if self._txns_since_snapshot < self._snap_after:
            return
        if self._snapshot_child is not None:
            log.warning("Too busy to snap, skipping")
            return
        self._txns_since_snapshot = 0
        self._snap_after = self._next_snap_threshold()
        self._roll_requested = True
        take_snapshot()

    def snapshot_in_child(self, tree: DataTree, sessions: dict[int, int], zxid: int) -> None:
        """Fork: the child writes the snapshot from its copy-on-write view and exits."""
        if not hasattr(os, "fork"):
            self._snapshot_now(tree, sessions, zxid)
            return
        started = time.monotonic()
        # Everything alive now is long-lived tree state without reference cycles:
        # freezing it keeps the cyclic GC from rescanning millions of znodes, and from
        # touching (and so copying) the child's shared pages.
        gc.freeze()
        pid = os.fork()
        if pid == 0:  # child: never returns
            code = 0
            try:
                write_snapshot(tree, sessions, zxid, self.config.data_dir)
            except BaseException:  # noqa: BLE001 - report through the exit status
                code = 1
            os._exit(code)
        self._snapshot_child = pid
        asyncio.get_running_loop().create_task(self._reap(pid, zxid, started))

    async def _reap(self, pid: int, zxid: int, started: float) -> None:
        _, status = await asyncio.to_thread(os.waitpid, pid, 0)
        self._snapshot_child = None
        if os.waitstatus_to_exitcode(status) == 0:
            self.stats.snapshot_time.observe((time.monotonic() - started) * 1000)
            self.last_snapshot = (zxid, int(time.time() * 1000))
            log.info("Snapshot of 0x%x written in %.0f ms", zxid, (time.monotonic() - started) * 1000)
        else:
            log.error("Snapshot of 0x%x failed (child exit status %d)", zxid, status)

    def _snapshot_now(self, tree: DataTree, sessions: dict[int, int], zxid: int) -> None:
        started = time.monotonic()
        write_snapshot(tree, sessions, zxid, self.config.data_dir)
        self.stats.snapshot_time.observe((time.monotonic() - started) * 1000)
        self.last_snapshot = (zxid, int(time.time() * 1000))

    def startup_snapshot(self, tree: DataTree, sessions: dict[int, int], zxid: int) -> None:
        """ZooKeeper snapshots right after loading, so the next log starts clean. A big tree
        is written by a forked child while the server already serves (1M znodes take
        seconds); a crash before it finishes only means the next start replays the same logs."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            in_loop = False
        else:
            in_loop = True
        if in_loop and len(tree.nodes) >= FORK_STARTUP_SNAPSHOT_NODES:
            self.snapshot_in_child(tree, sessions, zxid)
        else:
            self._snapshot_now(tree, sessions, zxid)

    # ---- purge -----------------------------------------------------------------------

    async def autopurge(self) -> None:
        hours = self.config.autopurge_purge_interval
        if hours <= 0:
            return
        keep = self.config.autopurge_snap_retain_count
        while True:
            await asyncio.sleep(hours * 3600)
            try:
                removed = await asyncio.to_thread(purge, self.config.data_dir, self.config.data_log_dir, keep)
                log.info("Purge task completed: removed %d old files, kept the newest %d snapshots", len(removed), keep)
            except (OSError, StorageError) as e:
                log.error("Purge task failed: %s", e)
