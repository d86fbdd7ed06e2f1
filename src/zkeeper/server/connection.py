"""One client TCP connection: feeds bytes to the sans-IO protocol, hands events to the server.

The connection is also the watcher identity: watches registered through it die with
it. Until its session is established, requests that arrive are held back in order
(ZooKeeper stops reading the socket during the handshake).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, cast

from ..jute import ConnectResponse, Id, ReplyHeader, WatcherEvent
from ..proto.server import Connect, Event, FourLetterWord, ProtocolError, ServerConnection
from ..proto.server import Request as RequestEvent
from ..proto.server import encode_connect_response, encode_reply
from ..tree.acl import add_auth_id
from ..types import NOTIFICATION_XID
from .stats import ConnectionStats

if TYPE_CHECKING:
    from .standalone import ZooKeeperServer

log = logging.getLogger("zkeeper.server.connection")


class ClientConnection(asyncio.Protocol):
    def __init__(self, server: ZooKeeperServer) -> None:
        self.server = server
        self.proto = ServerConnection(server.config.jute_max_buffer)
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("", 0)
        self.auth: list[Id] = []
        self.session_id = 0
        self.session_timeout = 0
        self.established = False
        self.closed = False
        self.held: list[Event] = []
        self.packets_received = 0
        self.packets_sent = 0
        self.last_zxid = 0
        self._out: list[bytes] = []
        self._receiving = False
        self.stats = ConnectionStats()
        self.established_ms = 0

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"<conn {self.peer[0]}:{self.peer[1]} session 0x{self.session_id:x}>"

    # ---- asyncio callbacks -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports don't subclass asyncio.Transport but behave like one.
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername") or ("", 0)
        self.peer = (str(peer[0]), int(peer[1]))
        add_auth_id(self.auth, Id("ip", self.peer[0]))
        if not self.server.accept_connection(self):
            self.close()

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            events = self.proto.receive_data(data)
        except ProtocolError as e:
            log.warning("Closing connection from %s:%d: %s", self.peer[0], self.peer[1], e)
            self.close()
            return
        self._receiving = True
        try:
            self._handle(events)
        finally:
            self._receiving = False
        if self.proto.failure is not None and not self.closed and not self.held:
            log.warning("Closing connection from %s:%d: %s", self.peer[0], self.peer[1], self.proto.failure)
            self.close()

    def _handle(self, events: list[Event]) -> None:
        for ev in events:
            if self.closed:
                return
            if isinstance(ev, RequestEvent) and not self.established:
                self.held.append(ev)
                continue
            try:
                self._dispatch(ev)
            except Exception:
                # A bug must not take the server down: drop this connection only.
                log.exception("Internal error handling %r from %s; closing the connection", ev, self)
                self.close()
                return

    def _dispatch(self, ev: Event) -> None:
        if isinstance(ev, RequestEvent):
            self.packets_received += 1
            self.server.handle_request(self, ev)
        elif isinstance(ev, Connect):
            self.packets_received += 1
            self.server.handle_connect(self, ev.request)
        elif isinstance(ev, FourLetterWord):
            # ZooKeeper counts the command as a received packet (srvr shows itself).
            self.packets_received += 1
            self.server.stats.packets_received += 1
            self.server.handle_four_letter_word(self, ev.word)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connection_closed(self)

    def pause_writing(self) -> None:
        # The client reads slower than we answer: stop taking its requests.
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    # ---- called by the server -------------------------------------------------------

    def session_established(self, response: ConnectResponse) -> None:
        self.write(encode_connect_response(response))
        self.established = True
        self.established_ms = int(time.time() * 1000)
        held, self.held = self.held, []
        for ev in held:
            if self.closed:
                return
            self._dispatch(ev)
        # Inside data_received the rest of the batch is still to come; it closes then.
        if self.proto.failure is not None and not self.closed and not self._receiving:
            log.warning("Closing connection from %s:%d: %s", self.peer[0], self.peer[1], self.proto.failure)
            self.close()

    def send_event(self, event: WatcherEvent) -> None:
        self.write(encode_reply(ReplyHeader(NOTIFICATION_XID, -1, 0), event))

    def send_reply(self, header: ReplyHeader, body: Any = None) -> None:
        self.last_zxid = header.zxid
        self.write(encode_reply(header, body))

    def write(self, data: bytes) -> None:
        # Replies are gathered and written once per loop turn: one syscall for all
        # the answers to one read, instead of one per reply.
        if self.transport is not None and not self.closed:
            self.packets_sent += 1
            self.server.stats.packets_sent += 1
            self._out.append(data)
            if len(self._out) == 1:
                asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        if self._out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(self._out) if len(self._out) > 1 else self._out[0])
        self._out.clear()

    def close(self) -> None:
        """Close after flushing what is already written."""
        if self.transport is not None and not self.closed:
            self._flush()
            self.closed = True
            self.transport.close()
            self.server.connection_closed(self)
