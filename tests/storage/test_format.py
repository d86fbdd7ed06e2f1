"""The pure byte formats: names, txn entries, record framing, padding arithmetic."""

from __future__ import annotations

import struct
import zlib

import pytest

from zkeeper.jute import (
    ACL, CloseSessionTxn, CreateSessionTxn, CreateTxn, DeleteTxn, ErrorTxn, Id, MultiTxn, SetDataTxn, Txn,
    TxnDigest, TxnHeader, Writer,
)
from zkeeper.jute.schema import encode
from zkeeper.storage.format import (
    FileHeader, FormatError, LOG_HEADER, LOG_MAGIC, SNAP_MAGIC, Scan, checksum, decode_txn_entry, encode_record,
    encode_txn_entry, entry_zxid, log_name, padded_size, scan_record, snapshot_name, zxid_from_name,
)
from zkeeper.types import OpCode

from .helpers import Scenario, build_mixed

OPEN = [ACL(31, Id("world", "anyone"))]


def test_magics_and_header() -> None:
    assert LOG_MAGIC.to_bytes(4, "big") == b"ZKLG"
    assert SNAP_MAGIC.to_bytes(4, "big") == b"ZKSN"
    assert LOG_HEADER.encode() == b"ZKLG" + struct.pack(">iq", 2, 0)
    assert FileHeader.decode(LOG_HEADER.encode()) == LOG_HEADER
    with pytest.raises(FormatError):
        FileHeader.decode(b"ZKLG")


def test_file_names_round_trip_like_zookeeper() -> None:
    assert log_name(0x100000001) == "log.100000001"
    assert snapshot_name(0) == "snapshot.0"
    assert zxid_from_name("log.1a", "log") == 0x1A
    assert zxid_from_name("snapshot.ff.gz", "snapshot") == 0xFF
    for bad in ("log", "log.", "log.xyz", "snapshot.1", "logs.1", ".snapshot.1.tmp"):
        assert zxid_from_name(bad, "log") == -1


def test_checksum_is_java_adler32() -> None:
    # java.util.zip.Adler32 over "Wikipedia" is 0x11E60398.
    assert checksum(b"Wikipedia") == 0x11E60398
    assert checksum(b"") == 1


def test_every_logged_txn_round_trips() -> None:
    sc = Scenario(with_digests=True)
    build_mixed(sc)
    types = {entry.hdr.type for entry in sc.logged}
    assert {OpCode.CREATE_SESSION, OpCode.CLOSE_SESSION, OpCode.CREATE, OpCode.CREATE2, OpCode.CREATE_TTL,
            OpCode.CREATE_CONTAINER, OpCode.DELETE, OpCode.SET_DATA, OpCode.SET_ACL, OpCode.MULTI,
            OpCode.ERROR} <= types
    for entry in sc.logged:
        raw = encode_txn_entry(entry.hdr, entry.txn, entry.digest)
        back = decode_txn_entry(raw)
        assert (back.hdr, back.txn, back.digest) == (entry.hdr, entry.txn, entry.digest)
        assert entry_zxid(raw) == entry.hdr.zxid
        plain = decode_txn_entry(encode_txn_entry(entry.hdr, entry.txn))
        assert plain.digest is None and plain.txn == entry.txn


def test_layout_matches_zookeeper_bytes() -> None:
    """The first record of a real ZooKeeper 3.8 log (createSession with digest)."""
    hdr = TxnHeader(0x100001562150000, 0, 1, 0x1A21311180EC, OpCode.CREATE_SESSION)
    entry = encode_txn_entry(hdr, CreateSessionTxn(10000), TxnDigest(2, 0x51C6D660))
    assert len(entry) == 48
    rec = encode_record(entry)
    assert rec[8:12] == b"\x00\x00\x00\x30" and rec[-1:] == b"B"
    assert struct.unpack(">q", rec[:8])[0] == zlib.adler32(entry)


def test_old_formats_still_decode() -> None:
    hdr = TxnHeader(5, 1, 7, 1000, OpCode.CLOSE_SESSION)
    assert decode_txn_entry(encode(hdr)).txn is None  # closeSession before 3.6 had no body
    # CreateTxn of ZooKeeper <= 3.3: no parentCVersion; -1 lets the tree derive it.
    w = Writer()
    TxnHeader(5, 1, 8, 1000, OpCode.CREATE).write(w)
    w.ustring("/old")
    w.buffer(b"d")
    w.int(1)
    OPEN[0].write(w)
    w.bool(False)
    txn = decode_txn_entry(w.getvalue()).txn
    assert txn == CreateTxn("/old", b"d", OPEN, False, -1)


def test_undecodable_entries_are_format_errors() -> None:
    with pytest.raises(FormatError):
        decode_txn_entry(b"\x00" * 10)
    with pytest.raises(FormatError, match="unsupported txn type"):
        decode_txn_entry(encode(TxnHeader(1, 1, 1, 1, 99)))
    with pytest.raises(FormatError):
        decode_txn_entry(encode(TxnHeader(1, 1, 1, 1, OpCode.SET_DATA)) + b"\x00\x00")


def _log(*entries: bytes) -> bytes:
    return LOG_HEADER.encode() + b"".join(encode_record(e) for e in entries)


def test_scan_statuses() -> None:
    e1 = encode_txn_entry(TxnHeader(1, 1, 1, 1, OpCode.DELETE), DeleteTxn("/a"))
    e2 = encode_txn_entry(TxnHeader(1, 2, 2, 1, OpCode.SET_DATA), SetDataTxn("/a", b"x", 1))
    buf = _log(e1, e2)
    r1 = scan_record(buf, 16, len(buf))
    assert r1.status is Scan.OK and r1.entry == e1
    r2 = scan_record(buf, r1.end, len(buf))
    assert r2.status is Scan.OK and r2.end == len(buf)
    assert scan_record(buf, len(buf), len(buf)).status is Scan.END
    padded = buf + bytes(100)
    assert scan_record(padded, len(buf), len(padded)).status is Scan.END  # zero length = end
    for cut in range(r1.end + 1, len(buf)):
        assert scan_record(buf[:cut], r1.end, cut).status is Scan.TORN
    no_marker = bytearray(buf)
    no_marker[-1] = 0
    assert scan_record(bytes(no_marker), r1.end, len(buf)).status is Scan.TORN
    flipped = bytearray(buf)
    flipped[r1.end + 20] ^= 0x01
    assert scan_record(bytes(flipped), r1.end, len(buf)).status is Scan.BAD_CHECKSUM
    huge = bytearray(buf)
    huge[r1.end + 8 : r1.end + 12] = struct.pack(">i", 1 << 30)
    assert scan_record(bytes(huge), r1.end, len(buf)).status is Scan.TORN


def test_multi_sub_txns_survive() -> None:
    multi = MultiTxn([Txn(OpCode.CREATE, encode(CreateTxn("/m", b"", OPEN, False, 1))),
                      Txn(OpCode.ERROR, encode(ErrorTxn(-101)))])
    hdr = TxnHeader(9, 3, 4, 5, OpCode.MULTI)
    assert decode_txn_entry(encode_txn_entry(hdr, multi)).txn == multi
    close = TxnHeader(9, 4, 5, 5, OpCode.CLOSE_SESSION)
    assert decode_txn_entry(encode_txn_entry(close, CloseSessionTxn(["/e"]))).txn == CloseSessionTxn(["/e"])


@pytest.mark.parametrize(("position", "size", "prealloc", "expected"), [
    (1, 0, 10, 10),  # past the end: jump to the next multiple
    (5, 10, 10, 20),  # within 4 KB of the end: grow by a block
    (15, 10, 10, 20),
    (5, 10, 0, 10),  # preallocation off
    (100, 100_000, 65536, 100_000),  # far from the end: unchanged
    (16, 16, 64 * 1024 * 1024, 16 + 64 * 1024 * 1024),  # a new log: 64 MB after the header
])
def test_padding_formula(position: int, size: int, prealloc: int, expected: int) -> None:
    assert padded_size(position, size, prealloc) == expected
