"""Pre-encoded ZooKeeper requests and a tiny blocking client for set-up work.

Request records are encoded once with zkeeper's jute codec; the load generator's hot
loop only glues a 4-byte length and a 4-byte xid in front of the cached bytes
(`frame(xid, tail)`) and reads the 16-byte reply header of each answer. Only
127.0.0.1 is ever dialled and every blocking read has a deadline.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT / "src") not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / "src"))

from zkeeper.jute.io import Writer  # noqa: E402
from zkeeper.jute.records import (  # noqa: E402
    ACL,
    ConnectRequest,
    CreateRequest,
    DeleteRequest,
    ExistsRequest,
    GetChildrenRequest,
    GetDataRequest,
    Id,
    SetDataRequest,
)
from zkeeper.types import OpCode  # noqa: E402

HOST = "127.0.0.1"
SESSION_TIMEOUT_MS = 30_000
OPEN_ACL = [ACL(31, Id("world", "anyone"))]

PREFIX = struct.Struct(">ii")          # frame length, xid
LEN = struct.Struct(">i")
REPLY = struct.Struct(">iqi")          # xid, zxid, err (after the length)
CONNECT_RESP = struct.Struct(">iiq")   # protocolVersion, timeOut, sessionId

NOTIFICATION_XID = -1
PING_XID = -2


def _tail(opcode: int, record: object | None) -> bytes:
    w = Writer()
    w.int(int(opcode))
    if record is not None:
        record.write(w)  # type: ignore[attr-defined]
    return w.getvalue()


# ---- request tails: opcode + body, everything after the xid ----------------------------

def get_data(path: str, watch: bool = False) -> bytes:
    return _tail(OpCode.GET_DATA, GetDataRequest(path, watch))


def set_data(path: str, data: bytes) -> bytes:
    return _tail(OpCode.SET_DATA, SetDataRequest(path, data, -1))


def create(path: str, data: bytes, flags: int = 0) -> bytes:
    return _tail(OpCode.CREATE, CreateRequest(path, data, OPEN_ACL, flags))


def delete(path: str) -> bytes:
    return _tail(OpCode.DELETE, DeleteRequest(path, -1))


def exists(path: str, watch: bool = False) -> bytes:
    return _tail(OpCode.EXISTS, ExistsRequest(path, watch))


def get_children(path: str, watch: bool = False) -> bytes:
    return _tail(OpCode.GET_CHILDREN, GetChildrenRequest(path, watch))


PING_FRAME = PREFIX.pack(8, PING_XID) + _tail(OpCode.PING, None)
CLOSE_TAIL = _tail(OpCode.CLOSE_SESSION, None)


def frame(xid: int, tail: bytes) -> bytes:
    return PREFIX.pack(len(tail) + 4, xid) + tail


def connect_frame(timeout_ms: int = SESSION_TIMEOUT_MS) -> bytes:
    w = Writer()
    ConnectRequest(0, 0, timeout_ms, 0, bytes(16), False).write(w)
    body = w.getvalue()
    return LEN.pack(len(body)) + body


def parse_connect(body: bytes) -> tuple[int, int]:
    """(sessionId, negotiated timeout) of a ConnectResponse body; sessionId 0 = refused."""
    _, timeout, sid = CONNECT_RESP.unpack_from(body, 0)
    return sid, timeout


def raise_nofile() -> int:
    """Raise this process's open-file soft limit to the hard limit; returns the new limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class WireError(Exception):
    pass


class Client:
    """One blocking session for set-up, verification and the storm's single setData."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.xid = 1
        self.sock.sendall(connect_frame())
        body = self._frame(time.monotonic() + timeout)
        self.session_id, _ = parse_connect(body)
        if self.session_id == 0:
            raise WireError("session refused")

    def _frame(self, deadline: float) -> bytes:
        while True:
            if len(self.buf) >= 4:
                (n,) = LEN.unpack_from(self.buf, 0)
                if len(self.buf) - 4 >= n:
                    body, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
                    return body
            left = deadline - time.monotonic()
            if left <= 0:
                raise WireError("reply timeout")
            self.sock.settimeout(left)
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise WireError("connection closed by server")
            self.buf += chunk

    def pipeline(self, tails: list[bytes], window: int = 256) -> list[tuple[int, bytes]]:
        """Send every request with up to `window` in flight; (err, body) per request, in order."""
        out: list[tuple[int, bytes]] = []
        deadline = time.monotonic() + self.timeout + len(tails) * 0.01
        first = self.xid
        sent = 0
        while len(out) < len(tails):
            if sent < len(tails) and sent - len(out) < window:
                stop = min(len(tails), len(out) + window)
                self.sock.sendall(b"".join(frame(first + i, tails[i]) for i in range(sent, stop)))
                sent = stop
            body = self._frame(deadline)
            xid, _, err = REPLY.unpack_from(body, 0)
            if xid < 0:
                continue  # notification or ping reply
            if xid != first + len(out):
                raise WireError(f"reply xid {xid}, expected {first + len(out)}")
            out.append((err, body[16:]))
        self.xid = first + len(tails)
        return out

    def call(self, tail: bytes) -> tuple[int, bytes]:
        return self.pipeline([tail])[0]

    def close(self) -> None:
        try:
            self.pipeline([CLOSE_TAIL])
        except (OSError, WireError):
            pass
        self.sock.close()


def four_letter(port: int, word: str, timeout: float = 2.0) -> str:
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(word.encode())
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks).decode(errors="replace")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def cpu_count() -> int:
    return os.cpu_count() or 1
