"""The server side of one client connection, sans-IO.

Feed it bytes with `receive_data`; it returns events: a four-letter word, the connect
handshake, then requests. Frames are length-prefixed; a length < 0 or above
`max_frame` (jute.maxbuffer) and any malformed record raise ProtocolError, after
which the connection must be closed. Bytes are buffered only up to one frame.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Union

from ..jute import ConnectRequest, ConnectResponse, JuteError, Reader, ReplyHeader, RequestHeader, Writer
from .requests import decode_request, is_known

FOUR_LETTER_WORDS = frozenset({
    "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "ruok", "stmk", "srvr",
    "srst", "stat", "wchc", "wchp", "wchs", "mntr", "isro", "hash",
})
_LEN = struct.Struct(">i")


class ProtocolError(Exception):
    """The peer sent something we can't accept; close this connection (only)."""


@dataclass(frozen=True, slots=True)
class FourLetterWord:
    word: str


@dataclass(frozen=True, slots=True)
class Connect:
    request: ConnectRequest


@dataclass(frozen=True, slots=True)
class Request:
    xid: int
    type: int
    record: Any
    known: bool = True  # False: an opcode we don't serve (answer UNIMPLEMENTED, close)
    frame: bytes = b""  # the whole frame (header + body), for a follower to forward as is


Event = Union[FourLetterWord, Connect, Request]


class ServerConnection:
    def __init__(self, max_frame: int) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()
        self._handshake_done = False
        self._first_bytes = True
        self.failure: str | None = None  # set once the stream is unusable

    def receive_data(self, data: bytes) -> list[Event]:
        if self.failure is not None:
            raise ProtocolError(self.failure)
        self._buf += data
        events: list[Event] = []
        buf = self._buf
        pos = 0
        while len(buf) - pos >= 4:
            if self._first_bytes:
                self._first_bytes = False
                word = bytes(buf[pos:pos + 4])
                if word.isascii() and word.decode() in FOUR_LETTER_WORDS:
                    del buf[:]
                    return [FourLetterWord(word.decode())]
            (length,) = _LEN.unpack_from(buf, pos)
            if length < 0 or length > self.max_frame:
                self.failure = f"Len error {length} (jute.maxbuffer is {self.max_frame})"
                break
            if len(buf) - pos - 4 < length:
                break
            start = pos + 4
            pos = start + length
            try:
                events.append(self._frame(bytes(buf[start:pos])))
            except ProtocolError as e:
                self.failure = str(e)
                break
        del buf[:pos]
        if self.failure is not None:
            if not events:
                raise ProtocolError(self.failure)
            # What came before the bad frame is served first, as ZooKeeper reads
            # frame by frame; the next call reports the failure.
            buf.clear()
        return events

    def _frame(self, frame: bytes) -> Event:
        r = Reader(frame)
        try:
            if not self._handshake_done:
                self._handshake_done = True
                return Connect(ConnectRequest.read(r))
            hdr = RequestHeader.read(r)  # type: ignore[attr-defined]
        except (JuteError, IndexError, ValueError, UnicodeDecodeError) as e:
            raise ProtocolError(f"malformed frame: {e}") from None
        if not is_known(hdr.type):
            return Request(hdr.xid, hdr.type, None, known=False)
        # A bad body is the request's problem, not the connection's (MARSHALLINGERROR).
        return Request(hdr.xid, hdr.type, decode_request(hdr.type, r), True, frame)


def frame(parts: bytes) -> bytes:
    return _LEN.pack(len(parts)) + parts


def encode_reply(header: ReplyHeader, body: Any = None) -> bytes:
    w = Writer()
    w.int(0)  # length placeholder
    header.write(w)  # type: ignore[attr-defined]
    if body is not None:
        body.write(w)
    out = w.parts
    _LEN.pack_into(out, 0, len(out) - 4)
    return bytes(out)


def encode_connect_response(resp: ConnectResponse) -> bytes:
    w = Writer()
    resp.write(w)
    return frame(w.getvalue())
