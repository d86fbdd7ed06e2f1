"""Quorum-port bytes: QuorumPacket framing on a stream and the payload of each packet type.

On the quorum port ZooKeeper writes QuorumPackets back to back with no length prefix
(BinaryOutputArchive.writeRecord): int type, long zxid, buffer data, vector<Id> authinfo.
`PacketParser` cuts them out of a byte stream. The `data` payloads are
DataOutputStream layouts from Learner/LearnerHandler:
    REQUEST     long sessionId, int cxid, int type, the request body
    PING        (learner -> leader) per touched session: long sessionId, int timeout
    REVALIDATE  request: long sessionId, int timeout; reply: long sessionId, bool valid
    LEADERINFO  int protocol version;  ACKEPOCH  int current epoch (-1: epoch already accepted)
    PROPOSAL    TxnHeader + txn (+ digest), as a log entry (SerializeUtils.serializeRequest)
Pure: bytes in, values out.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from ..jute import Id, TxnHeader
from ..jute.io import JuteError, Reader
from ..jute.quorum import PacketType, QuorumPacket
from ..jute.schema import encode
from ..storage.errors import CorruptSnapshotError
from ..storage.format import decode_txn_entry, encode_txn_entry
from ..storage.transfer import SnapshotStreamScanner

_HEAD = struct.Struct(">iqi")  # type, zxid, data length
_INT = struct.Struct(">i")
_LONG_INT = struct.Struct(">qi")
_LONG_BOOL = struct.Struct(">q?")
_REQUEST_HEAD = struct.Struct(">qii")

# Packets are small (a txn, a session list); a bigger claim is garbage. A SNAP's tree
# is not in the packet: it follows it on the stream (see PacketParser).
MAX_PACKET_DATA = 1 << 30


class PacketError(ValueError):
    """The peer sent bytes that are not a QuorumPacket: drop the connection."""


def packet(type_: int, zxid: int = 0, data: bytes | None = None, auth: list[Id] | None = None) -> bytes:
    return encode(QuorumPacket(type_, zxid, data, auth))


class PacketParser:
    """Incremental: feed bytes, get whole packets.

    LearnerHandler writes a SNAP packet with no data and then the snapshot itself
    (sessions, ACLs, nodes, "BenWasHere") straight onto the stream. The parser hands
    that on as one SNAP packet whose `data` is the stream, as if it had been inside.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._snap: tuple[QuorumPacket, SnapshotStreamScanner] | None = None

    def feed(self, data: bytes) -> list[QuorumPacket]:
        buf = self._buf
        buf += data
        out: list[QuorumPacket] = []
        pos = 0
        while True:
            if self._snap is not None:
                snap, scanner = self._snap
                try:
                    end = scanner.end(buf)
                except CorruptSnapshotError as e:
                    raise PacketError(f"malformed SNAP stream: {e}") from None
                if end is None:
                    break
                out.append(QuorumPacket(snap.type, snap.zxid, bytes(buf[pos:end]), snap.authinfo))
                self._snap, pos = None, end
                continue
            end = _packet_end(buf, pos)
            if end is None:
                break
            try:
                qp = QuorumPacket.read(Reader(buf, pos, end))  # type: ignore[attr-defined]
            except (JuteError, IndexError, UnicodeDecodeError) as e:
                raise PacketError(f"malformed quorum packet: {e}") from None
            pos = end
            if qp.type == PacketType.SNAP:
                # Scanner offsets are into `buf`; drop what is parsed so they start at 0.
                del buf[:pos]
                pos = 0
                self._snap = (qp, SnapshotStreamScanner(0))
                continue
            out.append(qp)
        if pos:
            del buf[:pos]
            if self._snap is not None:
                self._snap[1].pos -= pos
        return out


def _packet_end(buf: bytearray, pos: int) -> int | None:
    """Where the packet starting at `pos` ends, or None if it is not all here yet."""
    if len(buf) - pos < _HEAD.size:
        return None
    _type, _zxid, n = _HEAD.unpack_from(buf, pos)
    if n > MAX_PACKET_DATA:
        raise PacketError(f"quorum packet claims {n} bytes of data")
    p = pos + _HEAD.size + max(n, 0)
    if len(buf) < p + 4:
        return None
    (count,) = _INT.unpack_from(buf, p)
    p += 4
    for _ in range(max(count, 0) * 2):  # each Id is two strings: scheme, id
        if len(buf) < p + 4:
            return None
        (n,) = _INT.unpack_from(buf, p)
        if n > MAX_PACKET_DATA:
            raise PacketError(f"quorum packet auth string claims {n} bytes")
        p += 4 + max(n, 0)
    return p if len(buf) >= p else None


# ---- payloads --------------------------------------------------------------------------


def int_data(value: int) -> bytes:
    return _INT.pack(value)


def read_int_data(data: bytes | None) -> int:
    if data is None or len(data) < 4:
        raise PacketError("expected a 4-byte int payload")
    return int(_INT.unpack_from(data)[0])


@dataclass(frozen=True, slots=True)
class ForwardedRequest:
    session_id: int
    cxid: int
    type: int
    body: bytes


def request_data(session_id: int, cxid: int, type_: int, body: bytes) -> bytes:
    return _REQUEST_HEAD.pack(session_id, cxid, type_) + body


def read_request_data(data: bytes | None) -> ForwardedRequest:
    if data is None or len(data) < _REQUEST_HEAD.size:
        raise PacketError("REQUEST packet without session, cxid and type")
    sid, cxid, type_ = _REQUEST_HEAD.unpack_from(data)
    return ForwardedRequest(sid, cxid, type_, bytes(data[_REQUEST_HEAD.size:]))


def session_list_data(touched: dict[int, int]) -> bytes:
    return b"".join(_LONG_INT.pack(sid, timeout) for sid, timeout in touched.items())


def read_session_list_data(data: bytes | None) -> dict[int, int]:
    if not data:
        return {}
    if len(data) % _LONG_INT.size:
        raise PacketError(f"PING payload of {len(data)} bytes is not a list of (session, timeout)")
    return dict(_LONG_INT.iter_unpack(data))


def revalidate_request_data(session_id: int, timeout: int) -> bytes:
    return _LONG_INT.pack(session_id, timeout)


def read_revalidate_request(data: bytes | None) -> tuple[int, int]:
    if data is None or len(data) < _LONG_INT.size:
        raise PacketError("REVALIDATE request without session and timeout")
    sid, timeout = _LONG_INT.unpack_from(data)
    return int(sid), int(timeout)


def revalidate_reply_data(session_id: int, valid: bool) -> bytes:
    return _LONG_BOOL.pack(session_id, valid)


def read_revalidate_reply(data: bytes | None) -> tuple[int, bool]:
    if data is None or len(data) < _LONG_BOOL.size:
        raise PacketError("REVALIDATE reply without session and verdict")
    sid, valid = _LONG_BOOL.unpack_from(data)
    return int(sid), bool(valid)


def proposal_data(hdr: TxnHeader, txn: Any) -> bytes:
    return encode_txn_entry(hdr, txn)


def read_proposal_data(data: bytes | None) -> tuple[TxnHeader, Any]:
    if not data:
        raise PacketError("PROPOSAL without a transaction")
    try:
        entry = decode_txn_entry(data)
    except (JuteError, IndexError, ValueError) as e:
        raise PacketError(f"PROPOSAL with a malformed transaction: {e}") from None
    return entry.hdr, entry.txn
