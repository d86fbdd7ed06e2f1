"""A small blocking ZooKeeper wire client for tests, built on `zkeeper.jute`.

It speaks raw frames and hides nothing: the caller picks every xid, sees every reply
header, and gets watch notifications (xid -1) in the order they arrived on the socket.
Only 127.0.0.1 is ever dialled, and every read has a deadline, so a silent or
misbehaving server makes a call fail instead of hang.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

from zkeeper.jute.io import Reader, Writer
from zkeeper.jute.records import (
    AuthPacket,
    ConnectRequest,
    ConnectResponse,
    Create2Response,
    CreateResponse,
    ErrorResponse,
    ExistsResponse,
    GetACLResponse,
    GetAllChildrenNumberResponse,
    GetChildren2Response,
    GetChildrenResponse,
    GetDataResponse,
    GetEphemeralsResponse,
    MultiHeader,
    ReplyHeader,
    RequestHeader,
    SetACLResponse,
    SetDataResponse,
    SyncResponse,
    WatcherEvent,
    WhoAmIResponse,
)
from zkeeper.types import AUTH_XID, NOTIFICATION_XID, PING_XID, SET_WATCHES_XID, OpCode

HOST = "127.0.0.1"
MAX_FRAME = 16 * 1024 * 1024
_LEN = struct.Struct(">i")

# The record that follows a successful reply header, by request opcode (None: no body).
RESPONSE_TYPES: dict[int, Any] = {
    OpCode.CREATE: CreateResponse,
    OpCode.CREATE2: Create2Response,
    OpCode.CREATE_CONTAINER: Create2Response,
    OpCode.CREATE_TTL: Create2Response,
    OpCode.DELETE: None,
    OpCode.EXISTS: ExistsResponse,
    OpCode.GET_DATA: GetDataResponse,
    OpCode.SET_DATA: SetDataResponse,
    OpCode.GET_ACL: GetACLResponse,
    OpCode.SET_ACL: SetACLResponse,
    OpCode.GET_CHILDREN: GetChildrenResponse,
    OpCode.GET_CHILDREN2: GetChildren2Response,
    OpCode.SYNC: SyncResponse,
    OpCode.CHECK_WATCHES: None,
    OpCode.REMOVE_WATCHES: None,
    OpCode.GET_EPHEMERALS: GetEphemeralsResponse,
    OpCode.GET_ALL_CHILDREN_NUMBER: GetAllChildrenNumberResponse,
    OpCode.ADD_WATCH: ErrorResponse,
    OpCode.WHO_AM_I: WhoAmIResponse,
    OpCode.CLOSE_SESSION: None,
    OpCode.SET_WATCHES: None,
    OpCode.SET_WATCHES2: None,
}

# The body after each MultiHeader of a multi/multiRead response, by the header's type.
MULTI_RESULT_TYPES: dict[int, Any] = {
    OpCode.CREATE: CreateResponse,
    OpCode.CREATE2: Create2Response,
    OpCode.CREATE_TTL: Create2Response,
    OpCode.CREATE_CONTAINER: Create2Response,
    OpCode.DELETE: None,
    OpCode.CHECK: None,
    OpCode.SET_DATA: SetDataResponse,
    OpCode.GET_CHILDREN: GetChildrenResponse,
    OpCode.GET_DATA: GetDataResponse,
    OpCode.ERROR: ErrorResponse,
}


def read_record(cls: Any, r: Reader) -> Any:
    """Decode one `cls` record at the reader's position (jute adds `read` at run time)."""
    return cls.read(r)


def write_record(record: Any, w: Writer) -> None:
    record.write(w)


class WireError(Exception):
    """The server did something a well-behaved ZooKeeper server never does."""


class ConnectionClosed(WireError):
    """The server closed the connection (EOF or reset)."""


class ReplyTimeout(WireError):
    """No complete frame arrived before the deadline."""


@dataclass(frozen=True, slots=True)
class Frame:
    header: ReplyHeader
    body: bytes


@dataclass(frozen=True, slots=True)
class Notification:
    zxid: int  # the reply header's zxid (Apache ZooKeeper 3.8 sends -1)
    event: WatcherEvent


@dataclass(frozen=True, slots=True)
class MultiResult:
    type: int
    err: int
    record: Any  # the decoded body, or None for delete/check


@dataclass(frozen=True, slots=True)
class Reply:
    header: ReplyHeader
    record: Any  # decoded body or None; a list[MultiResult] for multi/multiRead
    extra: int  # body bytes left after decoding: a well-formed reply has 0


def encode_multi(ops: list[tuple[int, Any]]) -> bytes:
    """A multi/multiRead request body: (MultiHeader + op) per op, then the done marker."""
    w = Writer()
    for opcode, record in ops:
        write_record(MultiHeader(int(opcode), False, -1), w)
        write_record(record, w)
    write_record(MultiHeader(-1, True, -1), w)
    return w.getvalue()


def decode_multi(body: bytes) -> tuple[list[MultiResult], int]:
    """Per-op results of a multi response and the count of bytes left undecoded."""
    r = Reader(body)
    results: list[MultiResult] = []
    while r.remaining > 0:
        h: MultiHeader = read_record(MultiHeader, r)
        if h.done:
            break
        if h.type not in MULTI_RESULT_TYPES:
            raise WireError(f"multi result of unknown type {h.type}")
        cls = MULTI_RESULT_TYPES[h.type]
        results.append(MultiResult(h.type, h.err, None if cls is None else read_record(cls, r)))
    return results, r.remaining


def decode_reply(opcode: int, frame: Frame) -> Reply:
    """Decode the body that follows a reply header for a request of `opcode`."""
    if opcode in (OpCode.MULTI, OpCode.MULTI_READ) and frame.body:
        results, extra = decode_multi(frame.body)
        return Reply(frame.header, results, extra)
    if frame.header.err != 0 or not frame.body:
        return Reply(frame.header, None, len(frame.body))
    cls = RESPONSE_TYPES.get(opcode)
    if cls is None:
        return Reply(frame.header, None, len(frame.body))
    r = Reader(frame.body)
    return Reply(frame.header, read_record(cls, r), r.remaining)


class WireClient:
    """One TCP connection to a server; at most one session lives on it at a time."""

    def __init__(self, port: int, *, timeout: float = 5.0) -> None:
        self.port = port
        self.timeout = timeout
        try:
            self.sock: socket.socket | None = socket.create_connection((HOST, port), timeout=timeout)
        except OSError as e:
            raise ConnectionClosed(f"cannot connect to {HOST}:{port}: {e}") from None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = bytearray()
        self.notifications: list[Notification] = []
        self.next_xid = 1
        self.last_zxid = 0  # the highest zxid of a request reply, as the Java client tracks it

    # ---- framing ----------------------------------------------------------------

    def send_frame(self, payload: bytes) -> None:
        if self.sock is None:
            raise ConnectionClosed("socket already closed")
        try:
            self.sock.sendall(_LEN.pack(len(payload)) + payload)
        except OSError as e:
            raise ConnectionClosed(f"send failed: {e}") from None

    def read_frame(self, timeout: float | None = None) -> bytes:
        """One length-prefixed frame; raises ReplyTimeout or ConnectionClosed."""
        if self.sock is None:
            raise ConnectionClosed("socket already closed")
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            if len(self._buf) >= 4:
                (n,) = _LEN.unpack_from(self._buf)
                if n < 0 or n > MAX_FRAME:
                    raise WireError(f"bad frame length {n}")
                if len(self._buf) >= 4 + n:
                    frame = bytes(self._buf[4 : 4 + n])
                    del self._buf[: 4 + n]
                    return frame
            left = deadline - time.monotonic()
            if left <= 0:
                raise ReplyTimeout("no reply before the deadline")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise ReplyTimeout("no reply before the deadline") from None
            except OSError as e:
                raise ConnectionClosed(f"recv failed: {e}") from None
            if not chunk:
                raise ConnectionClosed("server closed the connection")
            self._buf += chunk

    def send_request(self, xid: int, opcode: int, body: bytes = b"") -> None:
        w = Writer()
        write_record(RequestHeader(xid, int(opcode)), w)
        self.send_frame(w.getvalue() + body)

    def read_reply(self, timeout: float | None = None) -> Frame:
        data = self.read_frame(timeout)
        r = Reader(data)
        header: ReplyHeader = read_record(ReplyHeader, r)
        return Frame(header, data[r.pos :])

    def await_xid(self, xid: int, timeout: float | None = None) -> Frame:
        """Read frames until the reply for `xid`; notifications on the way are kept in order."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            frame = self.read_reply(max(0.0, deadline - time.monotonic()))
            if frame.header.xid == NOTIFICATION_XID:
                self.notifications.append(Notification(frame.header.zxid, read_record(WatcherEvent, Reader(frame.body))))
                continue
            if frame.header.xid != xid:
                raise WireError(f"expected the reply to xid {xid}, got {frame.header}")
            return frame

    def take_notifications(self) -> list[Notification]:
        out, self.notifications = self.notifications, []
        return out

    # ---- session -----------------------------------------------------------------

    def connect(
        self,
        *,
        timeout_ms: int,
        session_id: int = 0,
        passwd: bytes = b"\x00" * 16,
        last_zxid: int | None = None,
        read_only: bool = False,
    ) -> ConnectResponse:
        seen = self.last_zxid if last_zxid is None else last_zxid
        w = Writer()
        write_record(ConnectRequest(0, seen, timeout_ms, session_id, passwd, read_only), w)
        self.send_frame(w.getvalue())
        return ConnectResponse.read(Reader(self.read_frame()))

    # ---- requests ----------------------------------------------------------------

    def call(self, opcode: int, record: Any = None, *, xid: int | None = None) -> Reply:
        """Send one request and wait for its reply; multi ops are a list of (opcode, record)."""
        if xid is None:
            xid = self.next_xid
            self.next_xid += 1
        if isinstance(record, list):
            body = encode_multi(record)
        elif record is None:
            body = b""
        else:
            w = Writer()
            write_record(record, w)
            body = w.getvalue()
        self.send_request(xid, opcode, body)
        frame = self.await_xid(xid)
        if xid > 0 and frame.header.zxid > 0:
            self.last_zxid = max(self.last_zxid, frame.header.zxid)
        return decode_reply(opcode, frame)

    def ping(self, timeout: float | None = None) -> ReplyHeader:
        self.send_request(PING_XID, OpCode.PING)
        return self.await_xid(PING_XID, timeout).header

    def auth(self, scheme: str, credentials: bytes) -> ReplyHeader:
        w = Writer()
        write_record(AuthPacket(0, scheme, credentials), w)
        self.send_request(AUTH_XID, OpCode.AUTH, w.getvalue())
        return self.await_xid(AUTH_XID).header

    def set_watches(self, opcode: int, record: Any) -> ReplyHeader:
        """SetWatches (101) or SetWatches2 (105), sent with the special xid -8."""
        return self.call(opcode, record, xid=SET_WATCHES_XID).header

    def close_session(self) -> Reply:
        return self.call(OpCode.CLOSE_SESSION)

    def wait_closed(self, timeout: float) -> bool:
        """True once the server closes the connection within `timeout` (frames read meanwhile are dropped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.read_frame(max(0.0, deadline - time.monotonic()))
            except ConnectionClosed:
                return True
            except ReplyTimeout:
                return False
        return False

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def __enter__(self) -> WireClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
