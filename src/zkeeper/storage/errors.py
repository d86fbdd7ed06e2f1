"""Typed storage failures, so the server can tell an operational fault from a bug.

Every error that concerns one file names it (and, for a log, the byte offset), because
the operator's next step is to look at exactly that place.
"""

from __future__ import annotations

from pathlib import Path


class StorageError(Exception):
    """Base class for every failure of the storage layer."""


class CorruptLogError(StorageError):
    """A txn log holds bytes that are not a valid record where valid data must be.

    Raised for damage in the middle of a log (valid records follow the bad spot) or a
    bad file header; never for a torn tail, which recovery truncates instead.
    """

    def __init__(self, path: Path, offset: int, reason: str) -> None:
        super().__init__(f"{path}: corrupt txn log at offset {offset}: {reason}")
        self.path = path
        self.offset = offset
        self.reason = reason


class LogFormatError(StorageError):
    """A record passed its checksum but does not decode (unknown txn type, bad jute)."""

    def __init__(self, path: Path | None, offset: int, reason: str) -> None:
        where = f"{path}: " if path is not None else ""
        super().__init__(f"{where}undecodable txn at offset {offset}: {reason}")
        self.path = path
        self.offset = offset
        self.reason = reason


class CorruptSnapshotError(StorageError):
    """A snapshot file is damaged (bad magic, checksum mismatch, truncated, bad tree)."""

    def __init__(self, path: Path | None, reason: str) -> None:
        where = f"{path}: " if path is not None else ""
        super().__init__(f"{where}{reason}")
        self.path = path
        self.reason = reason


class NoValidSnapshotError(StorageError):
    """Recovery cannot start from any snapshot but data exists that would be lost.

    ZooKeeper refuses to start in this case too ("No snapshot found, but there are log
    entries. Something is broken!"), rather than silently serving an empty tree.
    """


class LogWriteError(StorageError):
    """Writing or syncing the txn log failed; the batch since the last sync is undone.

    After this the file ends at the last record that was durably synced, so nothing of
    the failed batch can reappear after a restart.
    """

    def __init__(self, path: Path, reason: str, errno: int | None = None) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.errno = errno


class DiskFullError(LogWriteError):
    """The device is full (ENOSPC/EDQUOT): the failed batch's requests must be failed."""


class WriterClosedError(StorageError):
    """The log writer was closed, or a failed rollback left it unusable."""


class SnapshotWriteError(StorageError):
    """Writing a snapshot failed; the partial file was removed and older snapshots stand."""

    def __init__(self, path: Path, reason: str, errno: int | None = None) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.errno = errno
