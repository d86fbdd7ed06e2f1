"""One TCP connection to a ZooKeeper server, as a sans-IO state machine (after h11).

Bytes in through `receive_data`, events out through `next_event`; requests in through
`send*`, bytes out through `data_to_send`. No sockets, clocks or tasks: the driver owns
those. Replies to ordinary requests arrive in the order the requests were sent, so a
FIFO matches them; pings, auth answers and notifications have their own special xids.
A reply that breaks these rules raises ProtocolError and the connection is useless.
"""

from __future__ import annotations

import enum
import struct
from collections import deque
from dataclasses import dataclass
from typing import Any

from ..jute.io import JuteError, Reader, Writer
from ..jute.records import AuthPacket, ConnectRequest, ConnectResponse, ReplyHeader, RequestHeader, WatcherEvent
from ..types import AUTH_XID, NOTIFICATION_XID, PING_XID, SET_WATCHES_XID, EventType, KeeperState, OpCode
from .codec import get, put
from .exceptions import ProtocolError
from .hosts import Chroot
from .ops import Multi, Op, SetWatchesOp

_LEN = struct.Struct(">i")
DEFAULT_MAX_FRAME = 4 * 1024 * 1024  # incoming replies; the server's own limit is ~1 MB
_MAX_XID = 0x7FFFFFFF


class Phase(enum.Enum):
    HANDSHAKE = "handshake"  # ConnectRequest sent, waiting for ConnectResponse
    OPEN = "open"
    CLOSED = "closed"  # the session was refused, or the peer closed


@dataclass(frozen=True, slots=True)
class SessionGranted:
    session_id: int
    password: bytes
    timeout_ms: int
    read_only: bool


@dataclass(frozen=True, slots=True)
class SessionRefused:
    """The server does not know the session (it expired): timeout 0 in the handshake."""


@dataclass(frozen=True, slots=True)
class Reply:
    token: Any  # what the caller passed to send()
    op: Op[Any]
    zxid: int
    err: int
    result: Any  # the parsed reply when it carries one, else None


@dataclass(frozen=True, slots=True)
class Notification:
    type: EventType
    state: KeeperState
    path: str  # the server's path (chroot not removed)
    zxid: int


@dataclass(frozen=True, slots=True)
class AuthReply:
    token: Any
    err: int


@dataclass(frozen=True, slots=True)
class Pong:
    zxid: int


@dataclass(frozen=True, slots=True)
class PeerClosed:
    """The server closed the connection (EOF)."""


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()
Event = SessionGranted | SessionRefused | Reply | Notification | AuthReply | Pong | PeerClosed


def _frame(*records: Any, body: Op[Any] | None = None) -> bytes:
    w = Writer()
    w.int(0)  # length placeholder
    for rec in records:
        put(w, rec)
    if body is not None:
        body.write(w)
    out = w.parts
    out[0:4] = _LEN.pack(len(out) - 4)
    return bytes(out)


class ClientConnection:
    def __init__(self, *, session_id: int, password: bytes, timeout_ms: int, last_zxid: int,
                 read_only: bool, chroot: Chroot, first_xid: int = 1,
                 max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.phase = Phase.HANDSHAKE
        self.chroot = chroot
        self.max_frame = max_frame
        self._next_xid = first_xid
        self._inbuf = bytearray()
        self._outbuf = bytearray()
        self._pending: deque[tuple[int, Op[Any], Any]] = deque()
        self._auths: deque[Any] = deque()
        self._eof = False
        req = ConnectRequest(0, last_zxid, timeout_ms, session_id, password or bytes(16), read_only)
        self._outbuf += _frame(req)

    # ---- outgoing ------------------------------------------------------------

    @property
    def next_xid(self) -> int:
        """The xid the next request gets; a new connection of the same session goes on from it."""
        return self._next_xid

    def _take_xid(self) -> int:
        xid = self._next_xid
        self._next_xid = xid + 1 if xid < _MAX_XID else 1
        return xid

    def _require_open(self) -> None:
        if self.phase is not Phase.OPEN:
            raise RuntimeError(f"cannot send on a connection in phase {self.phase.value}")

    def send(self, op: Op[Any], token: Any) -> int:
        """Queue `op`; its Reply will carry `token`. Returns the xid used."""
        self._require_open()
        xid = SET_WATCHES_XID if isinstance(op, SetWatchesOp) else self._take_xid()
        self._outbuf += _frame(RequestHeader(xid, int(op.opcode)), body=op)
        self._pending.append((xid, op, token))
        return xid

    def send_auth(self, scheme: str, credential: bytes, token: Any) -> None:
        self._require_open()
        self._outbuf += _frame(RequestHeader(AUTH_XID, OpCode.AUTH), AuthPacket(0, scheme, credential))
        self._auths.append(token)

    def send_ping(self) -> None:
        self._require_open()
        self._outbuf += _frame(RequestHeader(PING_XID, OpCode.PING))

    def data_to_send(self) -> bytes:
        out = bytes(self._outbuf)
        self._outbuf.clear()
        return out

    def abandon(self) -> list[Any]:
        """Close; return the tokens of every request still waiting for its reply, in order."""
        self.phase = Phase.CLOSED
        tokens = [t for _, _, t in self._pending] + list(self._auths)
        self._pending.clear()
        self._auths.clear()
        return tokens

    @property
    def in_flight(self) -> int:
        return len(self._pending) + len(self._auths)

    # ---- incoming ------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the socket; b"" means the server closed it."""
        if data:
            self._inbuf += data
        else:
            self._eof = True

    def next_event(self) -> Event | _NeedData:
        frame = self._next_frame()
        if frame is None:
            if self._eof and self.phase is not Phase.CLOSED:
                self.phase = Phase.CLOSED
                return PeerClosed()
            return NEED_DATA
        try:
            if self.phase is Phase.HANDSHAKE:
                return self._handshake(frame)
            return self._reply(Reader(frame))
        except JuteError as e:
            raise ProtocolError(f"malformed reply: {e}") from None

    def _next_frame(self) -> memoryview | None:
        buf = self._inbuf
        if len(buf) < 4:
            return None
        (n,) = _LEN.unpack_from(buf)
        if n < 0 or n > self.max_frame:
            raise ProtocolError(f"reply length {n} outside 0..{self.max_frame}")
        if len(buf) < 4 + n:
            return None
        frame = bytes(buf[4 : 4 + n])
        del buf[: 4 + n]
        return memoryview(frame)

    def _handshake(self, frame: memoryview) -> SessionGranted | SessionRefused:
        resp = get(ConnectResponse, Reader(frame))
        if resp.timeOut <= 0:
            self.phase = Phase.CLOSED
            return SessionRefused()
        self.phase = Phase.OPEN
        return SessionGranted(resp.sessionId, resp.passwd, resp.timeOut, resp.readOnly)

    def _reply(self, r: Reader) -> Event:
        h = get(ReplyHeader, r)
        if h.xid == NOTIFICATION_XID:
            ev = get(WatcherEvent, r)
            return Notification(EventType(ev.type), KeeperState(ev.state), ev.path or "", h.zxid)
        if h.xid == PING_XID:
            return Pong(h.zxid)
        if h.xid == AUTH_XID:
            if not self._auths:
                raise ProtocolError("auth reply without an auth request")
            return AuthReply(self._auths.popleft(), h.err)
        if not self._pending:
            raise ProtocolError(f"reply xid {h.xid} with no request outstanding")
        xid, op, token = self._pending.popleft()
        if h.xid != xid:
            raise ProtocolError(f"reply xid {h.xid} out of order, expected {xid}")
        result = None
        # A failed multi still lists every op's outcome after its header.
        if h.err == 0 or (isinstance(op, Multi) and r.remaining > 0):
            result = op.parse(r, self.chroot)
        return Reply(token, op, h.zxid, h.err, result)
