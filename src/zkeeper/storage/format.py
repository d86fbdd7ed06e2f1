"""ZooKeeper's on-disk byte formats for txn logs (pure: bytes in, values out).

A log file (`log.<first zxid in hex>`) is a FileHeader {int magic "ZKLG", int version 2,
long dbid 0} followed by records. A record is

    long  adler32 of the entry      (Java writes Adler32.getValue(): unsigned 32 bits)
    int   entry length
    bytes entry = TxnHeader + txn record [+ TxnDigest]
    byte  0x42 ('B', end of record)

and files are preallocated with zeros, so a zero length marks the end of the data,
as in ZooKeeper's FileTxnLog. Nothing here touches files; `txnlog.py` does.
"""

from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from ..jute.txntypes import TXN_RECORD_TYPES
from ..jute import (
    ACL, CreateTxn, JuteError, Reader, TxnDigest,
    TxnHeader, Writer,
)
from ..types import OpCode

LOG_MAGIC = int.from_bytes(b"ZKLG", "big")
SNAP_MAGIC = int.from_bytes(b"ZKSN", "big")
FORMAT_VERSION = 2
LOG_DBID = 0  # FileTxnLog never sets its dbId
SNAP_DBID = -1  # FileSnap writes a constant -1
VERSION_DIR = f"version-{FORMAT_VERSION}"
LOG_PREFIX = "log"
SNAP_PREFIX = "snapshot"

# FilePadding's default: 64 MB (zoo.cfg preAllocSize is in KB).
DEFAULT_PREALLOC_SIZE = 65536 * 1024
# ZooKeeper extends the file when the write position comes within 4 KB of its end.
PREALLOC_SLACK = 4096
# Digest version of ZooKeeper 3.6+ (DigestCalculator.DIGEST_VERSION).
DIGEST_VERSION = 2

FILE_HEADER = struct.Struct(">iiq")
RECORD_HEAD = struct.Struct(">qi")  # checksum, entry length
END_OF_RECORD = 0x42
_TXN_HEADER_SIZE = 32  # long clientId, int cxid, long zxid, long time, int type
_ZXID_AT = struct.Struct(">q")  # the zxid sits at offset 12 of a TxnHeader



class FormatError(ValueError):
    """Bytes that do not follow the format; callers add the file and offset."""


# ---- file names -----------------------------------------------------------------


def log_name(zxid: int) -> str:
    return f"{LOG_PREFIX}.{zxid:x}"


def snapshot_name(zxid: int) -> str:
    return f"{SNAP_PREFIX}.{zxid:x}"


def zxid_from_name(name: str, prefix: str) -> int:
    """The zxid in `prefix.<hex>[.ext]`, or -1, as ZooKeeper's Util.getZxidFromName."""
    parts = name.split(".")
    if len(parts) < 2 or parts[0] != prefix:
        return -1
    try:
        zxid = int(parts[1], 16)
    except ValueError:
        return -1
    return zxid if -(1 << 63) <= zxid < (1 << 63) else -1


# ---- headers and checksums ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileHeader:
    magic: int
    version: int
    dbid: int

    SIZE = FILE_HEADER.size

    def encode(self) -> bytes:
        return FILE_HEADER.pack(self.magic, self.version, self.dbid)

    @classmethod
    def decode(cls, buf: bytes | memoryview) -> FileHeader:
        if len(buf) < FILE_HEADER.size:
            raise FormatError(f"file header needs {FILE_HEADER.size} bytes, have {len(buf)}")
        return cls(*FILE_HEADER.unpack_from(buf, 0))


LOG_HEADER = FileHeader(LOG_MAGIC, FORMAT_VERSION, LOG_DBID)


def checksum(data: bytes | bytearray | memoryview, start: int = 1) -> int:
    """Adler32, as java.util.zip.Adler32 (the log and snapshot checksum)."""
    return zlib.adler32(data, start) & 0xFFFFFFFF


# ---- txn entries ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TxnEntry:
    hdr: TxnHeader
    txn: Any  # the record of TXN_RECORD_TYPES[hdr.type]; None for an old closeSession
    digest: TxnDigest | None = None


def encode_txn_entry(hdr: TxnHeader, txn: Any, digest: TxnDigest | None = None) -> bytes:
    w = Writer()
    hdr.write(w)
    if txn is not None:
        txn.write(w)
    if digest is not None:
        digest.write(w)
    return w.getvalue()


def entry_zxid(entry: bytes | memoryview) -> int:
    """The zxid of an encoded entry without decoding the rest (for fast-forwarding)."""
    if len(entry) < _TXN_HEADER_SIZE:
        raise FormatError(f"txn entry of {len(entry)} bytes is shorter than a TxnHeader")
    return int(_ZXID_AT.unpack_from(entry, 12)[0])


def decode_txn_entry(entry: bytes | memoryview) -> TxnEntry:
    r = Reader(entry)
    try:
        hdr = TxnHeader.read(r)
    except JuteError as e:
        raise FormatError(f"bad TxnHeader: {e}") from None
    cls = TXN_RECORD_TYPES.get(hdr.type)
    if cls is None:
        raise FormatError(f"unsupported txn type {hdr.type}")
    txn: Any = None
    start = r.pos
    try:
        if hdr.type == OpCode.CLOSE_SESSION and r.remaining == 0:
            txn = None  # written before CloseSessionTxn existed (ZooKeeper < 3.6)
        else:
            txn = cls.read(r)  # type: ignore[attr-defined]
    except JuteError as e:
        if hdr.type != OpCode.CREATE:
            raise FormatError(f"bad {cls.__name__}: {e}") from None
        r.pos = start
        txn = _read_create_v0(r)
    digest = None
    # ZooKeeper 3.6+ appends a TxnDigest when digests are enabled (the default);
    # older writers (and zkeeper without a digest) end the entry after the txn.
    if r.remaining >= 12:
        try:
            digest = TxnDigest.read(r)
        except JuteError:
            digest = None
    return TxnEntry(hdr, txn, digest)


def _read_create_v0(r: Reader) -> CreateTxn:
    """A CreateTxn of ZooKeeper 3.3 and earlier, without parentCVersion; -1 makes the
    tree derive it, as ZooKeeper's SerializeUtils does."""
    try:
        path = r.ustring()
        data = r.buffer()
        n = r.count()
        acl = [ACL.read(r) for _ in range(max(n, 0))]
        ephemeral = r.bool()
    except JuteError as e:
        raise FormatError(f"bad CreateTxn: {e}") from None
    return CreateTxn(path or "", data, acl, ephemeral, -1)


# ---- records ------------------------------------------------------------------------


def encode_record(entry: bytes) -> bytes:
    if not entry:
        raise ValueError("an empty entry would read back as the end of the log")
    return RECORD_HEAD.pack(checksum(entry), len(entry)) + entry + b"\x42"


class Scan(enum.Enum):
    OK = "ok"
    END = "end"  # clean end: end of file, or zero length (preallocated zeros)
    TORN = "torn"  # a record that does not fit, or lacks its end marker
    BAD_CHECKSUM = "bad checksum"


@dataclass(frozen=True, slots=True)
class ScanResult:
    status: Scan
    offset: int
    end: int  # offset after the record (== offset unless OK)
    entry: bytes = b""
    reason: str = ""


def scan_record(buf: bytes | memoryview | Any, pos: int, end: int) -> ScanResult:
    """Read the record at `pos`: what ZooKeeper's FileTxnIterator.next() would see.

    `buf` is anything sliceable to bytes (bytes, mmap). Lengths are checked against the
    bytes that are left, so garbage cannot make us allocate or read out of bounds.
    """
    left = end - pos
    if left == 0:
        return ScanResult(Scan.END, pos, pos)
    if left < RECORD_HEAD.size:
        return ScanResult(Scan.TORN, pos, pos, reason=f"{left} bytes left, a record head needs 12")
    crc, length = RECORD_HEAD.unpack(buf[pos : pos + RECORD_HEAD.size])
    if length == 0:
        return ScanResult(Scan.END, pos, pos)
    if length < 0 or length > left - RECORD_HEAD.size - 1:
        return ScanResult(Scan.TORN, pos, pos, reason=f"entry length {length} does not fit in {left} bytes")
    body_at = pos + RECORD_HEAD.size
    after = body_at + length
    if buf[after : after + 1] != b"\x42":
        return ScanResult(Scan.TORN, pos, pos, reason="no end-of-record marker (partial write)")
    entry = bytes(buf[body_at:after])
    # Compared as Java longs: a stored value with high bits set never matches.
    if checksum(entry) != crc:
        return ScanResult(Scan.BAD_CHECKSUM, pos, pos, entry, reason="checksum mismatch")
    return ScanResult(Scan.OK, pos, after + 1, entry)


def plausible_entry(entry: bytes) -> bool:
    """A checksum-valid entry that also decodes: used to tell data from noise."""
    try:
        decode_txn_entry(entry)
    except FormatError:
        return False
    return True


# ---- preallocation ----------------------------------------------------------------


def padded_size(position: int, file_size: int, prealloc: int) -> int:
    """The size to extend the file to before writing up to `position`.

    FilePadding.calculateFileSizeWithPadding: grow by a whole `prealloc` block when
    the write position comes within 4 KB of the end; jump ahead when it is already past.
    """
    if prealloc > 0 and position + PREALLOC_SLACK >= file_size:
        if position > file_size:
            file_size = position + prealloc
            file_size -= file_size % prealloc
        else:
            file_size += prealloc
    return file_size
