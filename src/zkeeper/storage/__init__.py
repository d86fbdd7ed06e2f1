"""Durable storage in ZooKeeper's own on-disk format: txn logs, snapshots, recovery, purge.

Files are byte-compatible with Apache ZooKeeper 3.8 (`dataDir/version-2/snapshot.<zxid>`,
`dataLogDir/version-2/log.<zxid>`), so either server can start from the other's data.
Pure byte formats live in `format`, `snapformat`, `digest` and `replay`; file I/O in
`txnlog`, `snapshot`, `recovery` and `purge`.
"""

from .digest import ZxidDigest, node_digest, tree_digest
from .errors import (
    CorruptLogError, CorruptSnapshotError, DiskFullError, LogFormatError, LogWriteError, NoValidSnapshotError,
    SnapshotWriteError, StorageError, WriterClosedError,
)
from .format import DEFAULT_PREALLOC_SIZE, TxnEntry
from .purge import purge
from .recovery import Recovery, recover, recover_detailed
from .snapshot import LoadedSnapshot, is_valid_snapshot, load_snapshot, write_snapshot
from .txnlog import LogReader, TxnLogWriter, read_log

__all__ = [
    "DEFAULT_PREALLOC_SIZE", "CorruptLogError", "CorruptSnapshotError", "DiskFullError", "LoadedSnapshot",
    "LogFormatError", "LogReader", "LogWriteError", "NoValidSnapshotError", "Recovery", "SnapshotWriteError",
    "StorageError", "TxnEntry", "TxnLogWriter", "WriterClosedError", "ZxidDigest", "is_valid_snapshot",
    "load_snapshot", "node_digest", "purge", "read_log", "recover", "recover_detailed", "tree_digest",
    "write_snapshot",
]
