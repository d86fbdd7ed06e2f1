"""Txn log files: the append-only writer (group commit, fsync, preallocation, rollback on
a failed write) and a bounds-checked reader.

Like ZooKeeper's FileTxnLog, a writer never appends to a file written by an earlier
process: the first append after start (or after `roll()`) creates `log.<zxid>`.
"""

from __future__ import annotations

import errno as errno_mod
import logging
import mmap
import os
import struct
import threading
import time
import zlib
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple, NoReturn

from ..jute import TxnDigest, TxnHeader
from .errors import CorruptLogError, DiskFullError, LogWriteError, StorageError, WriterClosedError
from .files import fsync_dir, fsync_file, version_dir
from .format import _TXN_HEADER_SIZE, _ZXID_AT  # what entry_zxid needs of an entry
from .format import (
    DEFAULT_PREALLOC_SIZE, LOG_HEADER, LOG_MAGIC, RECORD_HEAD, FileHeader, FormatError, Scan, ScanResult,
    TxnEntry, decode_txn_entry, encode_record, encode_txn_entry, entry_zxid, log_name, padded_size,
    plausible_entry, scan_record,
)

log = logging.getLogger("zkeeper.storage.txnlog")

_FULL = {errno_mod.ENOSPC, getattr(errno_mod, "EDQUOT", errno_mod.ENOSPC)}
_LEN_AT = struct.Struct(">i")
# Looking for valid records after a damaged spot costs a Python loop per byte; past
# this many non-zero bytes we refuse instead of guessing (the data is kept, not cut).
MAX_RESYNC_SCAN = 16 * 1024 * 1024
_BLOCK = 1 << 20
_ZEROS = bytes(_BLOCK)
_SMALLEST_RECORD = RECORD_HEAD.size + _TXN_HEADER_SIZE  # plus the end marker


# ---- writing --------------------------------------------------------------------------


class TxnLogWriter:
    """Appends txns to `dataLogDir/version-2/log.<zxid>`; `flush_and_sync()` makes them durable.

    `append` only encodes into memory; one `flush_and_sync` writes the whole batch and
    fsyncs once (group commit). If writing or syncing fails, the file is cut back to the
    end of the last synced batch (or removed, if it never held a synced batch) and
    DiskFullError / LogWriteError is raised: every txn appended since the last
    successful sync has failed and none of it can reappear after a restart.

    Methods are serialised by a lock, but the intended use is ZooKeeper's: one thread
    appends and syncs (its SyncRequestProcessor).
    """

    def __init__(self, data_log_dir: str | os.PathLike[str], *, prealloc_size: int = DEFAULT_PREALLOC_SIZE,
                 force_sync: bool = True, fsync_warning_ms: float = 1000.0, size_limit: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.dir = version_dir(data_log_dir, create=True)
        self.prealloc_size = prealloc_size
        self.force_sync = force_sync
        self.fsync_warning_ms = fsync_warning_ms
        self.size_limit = size_limit  # zookeeper.txnLogSizeLimitInKb, in bytes; None = off
        self._clock = clock
        self._lock = threading.RLock()
        self._fd: int | None = None
        self._path: Path | None = None
        self._buf = bytearray()
        self._written = 0  # bytes of the current file written to the OS
        self._synced = 0  # bytes of the current file known durable
        self._alloc = 0  # size of the current file including zero padding
        self._dir_synced = True  # whether the current file's directory entry is durable
        self._closed = False
        self._broken: BaseException | None = None
        self.last_zxid = 0  # highest zxid appended
        self.last_synced_zxid = 0  # highest zxid made durable
        self.fsync_elapsed_ms = -1.0  # duration of the last fsync
        self.fsync_threshold_exceeded = 0  # fsyncs slower than fsync_warning_ms
        self.prior_logs_size = 0  # bytes of the files this writer rolled away from

    @property
    def current_path(self) -> Path | None:
        return self._path

    @property
    def current_size(self) -> int:
        """Bytes written to the current file (not counting padding or unflushed txns)."""
        return self._written

    @property
    def pending(self) -> int:
        """Bytes appended but not yet written."""
        return len(self._buf)

    def append(self, hdr: TxnHeader, txn: Any, digest: TxnDigest | None = None, *,
               entry: bytes | None = None) -> None:
        """`entry`: the txn already encoded (a proposal as it came off the wire), if at hand."""
        record = encode_record(entry if entry is not None else encode_txn_entry(hdr, txn, digest))
        with self._lock:
            self._check_usable()
            if self._fd is None:
                self._open(hdr.zxid)
            if hdr.zxid <= self.last_zxid:
                log.warning("Current zxid %#x is <= %#x for type %d", hdr.zxid, self.last_zxid, hdr.type)
            else:
                self.last_zxid = hdr.zxid
            self._buf += record

    def flush_and_sync(self) -> None:
        """Write everything appended and fsync it (unless forceSync=no)."""
        with self._lock:
            self._check_usable()
            if self._fd is None:
                return
            fd = self._fd
            if self._buf:
                end = self._written + len(self._buf)
                try:
                    # Grow the file in big zeroed blocks so an fsync rarely has to
                    # persist a new file size (FilePadding); sparse, like ZooKeeper's.
                    size = padded_size(end, self._alloc, self.prealloc_size)
                    if size > self._alloc:
                        os.ftruncate(fd, size)
                        self._alloc = size
                    _pwrite_all(fd, self._buf, self._written)
                except OSError as e:
                    self._rollback(e, "write")
                self._written = end
                self._buf = bytearray()
            if self._synced == self._written and self._dir_synced:
                return
            if self.force_sync:
                start = self._clock()
                try:
                    fsync_file(fd)
                    if not self._dir_synced:
                        fsync_dir(self.dir)
                except OSError as e:
                    self._rollback(e, "fsync")
                self._note_fsync_time((self._clock() - start) * 1000.0)
            self._synced = self._written
            self._dir_synced = True
            self.last_synced_zxid = self.last_zxid
            if self.size_limit is not None and self._written > self.size_limit:
                self._close_file()

    def roll(self) -> None:
        """Start a new log file with the next append (ZooKeeper rolls after a snapshot).

        Anything appended is synced into the current file first."""
        with self._lock:
            self._check_usable()
            if self._fd is None:
                return
            self.flush_and_sync()
            self._close_file()

    def close(self) -> None:
        """Sync what was appended and close; the writer cannot be used afterwards."""
        with self._lock:
            if self._closed:
                return
            try:
                if self._fd is not None and self._broken is None:
                    self.flush_and_sync()
            finally:
                self._closed = True
                if self._fd is not None:
                    self._close_file()

    def __enter__(self) -> TxnLogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- internals -------------------------------------------------------------------

    def _check_usable(self) -> None:
        if self._closed:
            raise WriterClosedError("txn log writer is closed")
        if self._broken is not None:
            raise WriterClosedError(f"txn log writer is unusable after a failed rollback: {self._broken}")

    def _open(self, zxid: int) -> None:
        path = self.dir / log_name(zxid)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        try:
            try:
                fd = os.open(path, flags, 0o644)
            except FileExistsError:
                # Only a file without a single valid record may be replaced (recovery
                # can leave a log cut back to its header); anything else is data.
                if _holds_records(path):
                    raise StorageError(f"{path} already exists and holds txns; refusing to overwrite it") from None
                log.info("Replacing empty txn log %s", path)
                fd = os.open(path, (flags & ~os.O_EXCL) | os.O_TRUNC, 0o644)
        except OSError as e:  # e.g. no inode left: the txn fails like a failed write
            cls = DiskFullError if e.errno in _FULL else LogWriteError
            raise cls(path, f"cannot create log file: {e.strerror or e}", e.errno) from e
        log.info("Creating new log file: %s", path.name)
        self._fd = fd
        self._path = path
        self._buf = bytearray(LOG_HEADER.encode())
        self._written = self._synced = self._alloc = 0
        self._dir_synced = False

    def _close_file(self) -> None:
        fd, self._fd = self._fd, None
        self.prior_logs_size += self._written
        self._path = None
        self._buf = bytearray()
        self._written = self._synced = self._alloc = 0
        if fd is not None:
            os.close(fd)

    def _note_fsync_time(self, ms: float) -> None:
        self.fsync_elapsed_ms = ms
        if ms > self.fsync_warning_ms:
            self.fsync_threshold_exceeded += 1
            log.warning(
                "fsync-ing the write ahead log took %.0fms which will adversely effect operation latency. "
                "File size is %d bytes. See the ZooKeeper troubleshooting guide", ms, self._alloc)

    def _rollback(self, err: OSError, what: str) -> NoReturn:
        """Undo the batch since the last sync, then raise the typed error for `err`."""
        fd, path = self._fd, self._path
        assert fd is not None and path is not None
        self._buf = bytearray()
        self.last_zxid = self.last_synced_zxid
        try:
            if self._synced == 0:
                # Nothing of this file was ever durable: remove it, so no reader (ours or
                # ZooKeeper's, which fails on a log without a header) ever sees it.
                self._fd = self._path = None
                os.close(fd)
                path.unlink(missing_ok=True)
                self._written = self._alloc = 0
                self._dir_synced = True
            else:
                os.ftruncate(fd, self._synced)
                self._written = self._alloc = self._synced
                if self.force_sync:
                    fsync_file(fd)
        except OSError as e2:
            self._broken = e2
            log.error("Could not undo the failed %s of %s: %s", what, path, e2)
        cls = DiskFullError if err.errno in _FULL else LogWriteError
        log.error("Txn log %s of %s failed (%s); cut back to %d bytes", what, path, err, self._synced)
        raise cls(path, f"{what} failed: {err.strerror or err}", err.errno) from err


def _pwrite_all(fd: int, data: bytes | bytearray, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        if n <= 0:
            raise OSError(errno_mod.EIO, "short write")
        offset += n
        view = view[n:]


# ---- reading --------------------------------------------------------------------------


class LogRecord(NamedTuple):
    offset: int
    end: int
    zxid: int
    entry: bytes  # TxnHeader + txn [+ digest], checksum verified

    def decode(self) -> TxnEntry:
        return decode_txn_entry(self.entry)


class LogReader:
    """A read-only, memory-mapped log file.

    `records()` yields valid records in order and stops at the first position that is
    not one; `stop` then says why (clean END, TORN or BAD_CHECKSUM) and where.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._file = open(self.path, "rb")
        self.size = os.fstat(self._file.fileno()).st_size
        self._map: Any = b""
        if self.size:
            self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        self.header: FileHeader | None = None
        self.stop = ScanResult(Scan.END, 0, 0)
        if self.size >= FileHeader.SIZE:
            hdr = FileHeader.decode(self._map[: FileHeader.SIZE])
            if hdr.magic != LOG_MAGIC:
                if any(self._map[: FileHeader.SIZE]) or self.last_nonzero(0) > 0:
                    self.close()
                    raise CorruptLogError(self.path, 0, f"bad magic {hdr.magic:#x}, expected ZKLG")
            else:
                self.header = hdr

    @property
    def blank(self) -> bool:
        """No header was ever written (empty, short or all zeros): the file holds nothing."""
        return self.header is None

    def records(self) -> Iterator[LogRecord]:
        if self.header is None:
            self.stop = ScanResult(Scan.END, 0, 0)
            return
        buf, end = self._map, self.size
        pos = FileHeader.SIZE
        unpack_head = RECORD_HEAD.unpack_from
        unpack_zxid = _ZXID_AT.unpack_from
        adler32 = zlib.adler32
        record = LogRecord
        while True:
            # A whole record with its marker and a good checksum, long enough to hold a
            # TxnHeader: what scan_record and entry_zxid accept, checked inline (a
            # recovery reads millions); anything else is left to them, for the same verdict.
            if end - pos > _SMALLEST_RECORD:
                crc, length = unpack_head(buf, pos)
                after = pos + 12 + length
                if length >= _TXN_HEADER_SIZE and after < end and buf[after] == 0x42:
                    entry = buf[pos + 12 : after]
                    if adler32(entry) == crc:  # a stored value with high bits set never matches
                        yield record(pos, after + 1, unpack_zxid(entry, 12)[0], entry)
                        pos = after + 1
                        continue
            r = scan_record(buf, pos, end)
            if r.status is not Scan.OK:
                self.stop = r
                return
            try:
                zxid = entry_zxid(r.entry)
            except FormatError as e:
                self.stop = ScanResult(Scan.BAD_CHECKSUM, pos, pos, r.entry, str(e))
                return
            yield LogRecord(pos, r.end, zxid, r.entry)
            pos = r.end

    def last_nonzero(self, start: int) -> int:
        """Offset after the last non-zero byte at or after `start` (== start if none).

        Preallocated logs are mostly a sparse hole of zeros: SEEK_DATA/SEEK_HOLE let us
        skip it without reading 64 MB, and allocated ranges are compared in big blocks.
        """
        buf = self._map
        for lo, hi in reversed(self._data_ranges(start)):
            while hi > lo:
                base = max(lo, hi - _BLOCK)
                chunk = buf[base:hi]
                if chunk != _ZEROS[: hi - base]:
                    return base + len(chunk.rstrip(b"\0"))
                hi = base
        return start

    def _data_ranges(self, start: int) -> list[tuple[int, int]]:
        """The allocated ranges of the file from `start` (the whole span if unknown)."""
        end = self.size
        if start >= end:
            return []
        seek_data, seek_hole = getattr(os, "SEEK_DATA", None), getattr(os, "SEEK_HOLE", None)
        if seek_data is None or seek_hole is None:
            return [(start, end)]
        fd = self._file.fileno()
        ranges = []
        pos = start
        try:
            while pos < end:
                try:
                    lo = os.lseek(fd, pos, seek_data)
                except OSError as e:
                    if e.errno == errno_mod.ENXIO:  # only a hole remains
                        break
                    raise
                hi = min(os.lseek(fd, lo, seek_hole), end)
                ranges.append((lo, hi))
                pos = hi
        except OSError:
            return [(start, end)]
        return ranges

    def valid_record_after(self, offset: int) -> int | None:
        """The offset of a valid, decodable record past `offset`, if there is any.

        This tells a torn tail (nothing valid after the damage) from damage in the middle
        (valid records follow). Raises CorruptLogError when too much unreadable data
        follows to check: we would rather refuse than cut off data we cannot vouch for.
        """
        buf, end = self._map, self.size
        stop = self.last_nonzero(offset + 1)
        if stop <= offset + 1:
            return None
        if stop - offset > MAX_RESYNC_SCAN:
            raise CorruptLogError(self.path, offset,
                                  f"unreadable record followed by {stop - offset} bytes of data")
        unpack = _LEN_AT.unpack_from
        head = RECORD_HEAD.size
        for p in range(offset + 1, stop):
            if p + head + 1 > end:
                break
            length = unpack(buf, p + 8)[0]
            if length <= 0 or p + head + length >= end or buf[p + head + length] != 0x42:
                continue
            r = scan_record(buf, p, end)
            if r.status is Scan.OK and plausible_entry(r.entry):
                return p
        return None

    def close(self) -> None:
        if not isinstance(self._map, bytes):
            self._map.close()
        self._file.close()

    def __enter__(self) -> LogReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _holds_records(path: Path) -> bool:
    try:
        with LogReader(path) as r:
            for _ in r.records():
                return True
    except CorruptLogError:
        return True  # unknown content counts as data
    return False


def read_log(path: str | os.PathLike[str]) -> Iterator[tuple[LogRecord, TxnEntry]]:
    """Every valid record of one log file, decoded, stopping where the valid data ends."""
    with LogReader(path) as r:
        for rec in r.records():
            yield rec, rec.decode()


def truncate_file(path: Path, size: int) -> None:
    """Cut `path` to `size` bytes durably."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, size)
        fsync_file(fd)
    finally:
        os.close(fd)
