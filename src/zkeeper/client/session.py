"""The asyncio driver of one client session: sockets, timers, reconnects, dispatch.

It carries out what the pure parts decide: `ClientConnection` speaks the protocol,
`Heartbeat`/`ReconnectDelay` say when, `WatchRegistry` says who hears an event. One
task owns the socket and reads; callers queue requests and await their replies. On a
new connection the session is resumed (id, password, last zxid seen), credentials are
replayed and every watch is re-registered (SetWatches) before any queued request goes
out, so the server sees them in that order.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .connection import (
    DEFAULT_MAX_FRAME,
    NEED_DATA,
    AuthReply,
    ClientConnection,
    Event,
    Notification,
    PeerClosed,
    Pong,
    Reply,
    SessionGranted,
    SessionRefused,
)
from .exceptions import (
    AuthFailedError,
    ConnectionClosedError,
    ConnectionLoss,
    ProtocolError,
    SessionExpiredError,
    ZookeeperError,
    error_for,
)
from .hosts import Address, Chroot, HostRing
from .ops import CloseSession, Op, SetWatchesOp
from .states import State, WatchedEvent, check_move
from .timing import Due, Heartbeat, ReconnectDelay, connect_timeout
from .watchers import Watcher, call_maybe_async
from .watches import WatchRegistry

log = logging.getLogger("zkeeper.client")
_READ_SIZE = 256 * 1024


class _Dropped(Exception):
    """This connection is finished (server closed it, went silent, or broke the protocol)."""


@dataclass(slots=True)
class _Call:
    future: asyncio.Future[Any]
    watcher: Watcher | None = None


class Session:
    def __init__(self, addresses: tuple[Address, ...], chroot: Chroot, timeout: float, *,
                 read_only: bool = False, rng: random.Random | None = None,
                 session: tuple[int, bytes] | None = None, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        rng = rng or random.Random()
        self.chroot = chroot
        self.requested_timeout = timeout
        self.read_only_allowed = read_only
        self._ring = HostRing(addresses, rng)
        self._delay = ReconnectDelay(rng, len(self._ring))
        self._max_frame = max_frame
        self.state = State.CONNECTING
        self.session_id, self.password = session or (0, b"")
        # A session made by a read-only server is local to it: until we have been on a
        # read-write server, each connection asks for a new session (as ClientCnxn does).
        self._seen_rw = session is not None
        self._rw_search: asyncio.Task[None] | None = None
        self.negotiated_timeout: float | None = None
        self.last_zxid = 0
        self.address: Address | None = None  # the server we are connected to
        self.first_address = addresses[0]
        self.registry: WatchRegistry[Watcher] = WatchRegistry()
        self._auths: list[tuple[str, bytes]] = []
        self._listeners: list[Callable[[State], Any]] = []
        self._conn: ClientConnection | None = None  # set while a session is live on it
        self._writer: asyncio.StreamWriter | None = None
        self._heartbeat: Heartbeat | None = None
        self._next_xid = 1
        self._generation = 0  # +1 at each expiry: requests queued before it must fail
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._fatal: ZookeeperError | None = None

    # ---- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="zkeeper-session")

    async def wait_for(self, accept: Callable[[State], bool], timeout: float | None) -> State:
        """Wait until the state satisfies `accept` (or the client closes); return it."""
        async with asyncio.timeout(timeout):
            while not accept(self.state) and self.state is not State.CLOSED:
                await self._changed.wait()
        return self.state

    async def close(self, timeout: float = 2.0) -> None:
        """End the session on the server (its ephemerals go) and stop."""
        if self.state is State.CLOSED:
            return
        if self._closing:  # another close is under way
            await self.wait_for(lambda s: False, None)
            return
        self._closing = True
        conn = self._conn
        if conn is not None and self._writer is not None:
            fut = asyncio.get_running_loop().create_future()
            conn.send(CloseSession(), _Call(fut))
            self._flush()
            try:
                async with asyncio.timeout(timeout):
                    await fut
            except (TimeoutError, ZookeeperError):
                pass  # the server will expire the session instead
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._finish(ConnectionClosedError())

    def _finish(self, error: ZookeeperError) -> None:
        if self.state is not State.CLOSED:
            self._set_state(State.CLOSED)
        self._drop(error)
        for w in self.registry.drain():
            w.end(None)

    # ---- state -----------------------------------------------------------------

    def add_listener(self, fn: Callable[[State], Any]) -> None:
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[State], Any]) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def _set_state(self, new: State) -> None:
        check_move(self.state, new)
        self.state = new
        log.info("session 0x%x: %s", self.session_id, new.name)
        for fn in list(self._listeners):
            try:
                call_maybe_async(fn, new)
            except Exception:
                log.exception("state listener %r failed", fn)
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # ---- requests --------------------------------------------------------------

    async def _ready(self) -> ClientConnection:
        """The live connection, waiting for one if we are between connections."""
        generation = self._generation
        while True:
            if self.state is State.CLOSED:
                raise (type(self._fatal) if self._fatal else ConnectionClosedError)()
            if self._generation != generation:
                raise SessionExpiredError()
            if self._conn is not None:
                return self._conn
            await self._changed.wait()

    async def call(self, op: Op[Any], watcher: Watcher | None = None) -> Reply:
        """Send `op` once; the reply (whatever its error code), or ConnectionLoss if the
        connection dropped first, or SessionExpiredError/ConnectionClosedError."""
        conn = await self._ready()
        fut: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        conn.send(op, _Call(fut, watcher))
        self._flush()
        await self._drain()
        return await fut

    async def auth(self, scheme: str, credential: bytes) -> None:
        conn = await self._ready()
        fut: asyncio.Future[AuthReply] = asyncio.get_running_loop().create_future()
        conn.send_auth(scheme, credential, _Call(fut))
        self._flush()
        reply = await fut
        if reply.err:
            raise error_for(reply.err)
        # Remembered only once accepted, and replayed on every new connection.
        self._auths.append((scheme, credential))

    def _flush(self) -> None:
        if self._conn is None or self._writer is None:
            return
        data = self._conn.data_to_send()
        if data:
            self._writer.write(data)
            if self._heartbeat is not None:
                self._heartbeat.sent(asyncio.get_running_loop().time())

    async def _drain(self) -> None:
        # Backpressure: a caller producing faster than the socket drains waits here.
        writer = self._writer
        if writer is not None and writer.transport.get_write_buffer_size() > 1024 * 1024:
            try:
                await writer.drain()
            except ConnectionError:
                pass  # the reader task sees the loss and fails the request

    # ---- the connection loop ---------------------------------------------------

    async def _run(self) -> None:
        try:
            while not self._closing:
                address = self._ring.next()
                expired = False
                try:
                    expired = await self._run_connection(address)
                except (OSError, TimeoutError, ProtocolError, _Dropped) as e:
                    log.info("connection to %s ended: %s", address, e or type(e).__name__)
                self._drop(ConnectionLoss())
                if self._fatal is not None:
                    self._finish(self._fatal)
                    return
                if not self._closing and not expired:  # after an expiry, a new session at once
                    await asyncio.sleep(self._delay.after_failure())
        except asyncio.CancelledError:
            raise
        except BaseException as e:  # a bug: fail loudly, but never leave callers hanging
            log.exception("session driver failed")
            self._fatal = ConnectionClosedError()
            self._fatal.__cause__ = e
            self._finish(self._fatal)

    async def _run_connection(self, address: Address) -> bool:
        """Serve one connection until it fails; True if the server said the session expired."""
        loop = asyncio.get_running_loop()
        limit = connect_timeout(self.negotiated_timeout or self.requested_timeout, len(self._ring))
        async with asyncio.timeout(limit):
            reader, writer = await asyncio.open_connection(address.host, address.port)
        try:
            resume = self.session_id if self._seen_rw else 0
            conn = ClientConnection(
                session_id=resume, password=self.password if resume else b"",
                timeout_ms=int(self.requested_timeout * 1000), last_zxid=self.last_zxid,
                read_only=self.read_only_allowed, chroot=self.chroot, first_xid=self._next_xid,
                max_frame=self._max_frame,
            )
            writer.write(conn.data_to_send())
            async with asyncio.timeout(limit):
                event = await self._next_event(reader, conn)
            if isinstance(event, SessionRefused):
                self._next_xid = conn.next_xid
                self._expire()
                return True
            if not isinstance(event, SessionGranted):
                raise _Dropped(f"handshake answered with {event}")
            self._adopt(event, address, resume)
            self._conn, self._writer = conn, writer
            self._heartbeat = Heartbeat(event.timeout_ms / 1000, loop.time())
            self._prime(conn)
            self._set_state(State.READ_ONLY if event.read_only else State.CONNECTED)
            if event.read_only and len(self._ring) > 1:
                self._rw_search = asyncio.ensure_future(self._seek_read_write_server(address, writer))
            await self._serve(reader, conn, self._heartbeat)
            return False  # not reached: _serve returns only by raising
        finally:
            writer.close()

    async def _next_event(self, reader: asyncio.StreamReader, conn: ClientConnection) -> Event:
        while True:
            event = conn.next_event()
            if event is not NEED_DATA:
                return event  # type: ignore[return-value]
            conn.receive_data(await reader.read(_READ_SIZE))

    def _adopt(self, granted: SessionGranted, address: Address, resumed: int) -> None:
        if resumed and granted.session_id != resumed:
            raise ProtocolError(f"asked to resume 0x{resumed:x}, got 0x{granted.session_id:x}")
        self._seen_rw = self._seen_rw or not granted.read_only
        self.session_id, self.password = granted.session_id, granted.password
        self.negotiated_timeout = granted.timeout_ms / 1000
        self.address = address
        self._delay.reset()

    def _prime(self, conn: ClientConnection) -> None:
        """Replay credentials and watches, ahead of any request waiting to be sent."""
        for scheme, credential in self._auths:
            conn.send_auth(scheme, credential, None)
        for opcode, record in self.registry.set_watches(self.last_zxid):
            conn.send(SetWatchesOp(opcode, record), None)
        self._flush()

    async def _serve(self, reader: asyncio.StreamReader, conn: ClientConnection, hb: Heartbeat) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while (event := conn.next_event()) is not NEED_DATA:
                self._handle(event)  # type: ignore[arg-type]
            now = loop.time()
            due = hb.due(now)
            if due is Due.DEAD:
                raise _Dropped(f"no answer from the server for {now - hb.last_received:.1f}s")
            if due is Due.PING:
                conn.send_ping()
                self._flush()
                continue
            try:
                async with asyncio.timeout(hb.next_deadline() - now):
                    data = await reader.read(_READ_SIZE)
            except TimeoutError:
                continue
            hb.received(loop.time())
            conn.receive_data(data)

    async def _seek_read_write_server(self, current: Address, writer: asyncio.StreamWriter) -> None:
        """While on a read-only server, ask the others (`isro`) until one serves writes,
        then leave for it. Backs off from 0.1 s to 60 s between rounds."""
        pause = 0.1
        while True:
            await asyncio.sleep(pause)
            for _ in range(len(self._ring) - 1):
                candidate = self._ring.next()
                if candidate == current:
                    candidate = self._ring.next()
                try:
                    answer = await four_letter(candidate, "isro", timeout=2.0)
                except (OSError, TimeoutError):
                    continue
                if answer.strip() == "rw":
                    log.info("read-write server found at %s; leaving read-only %s", candidate, current)
                    self._ring.prefer(candidate)
                    writer.transport.abort()  # the reader sees the end and reconnects
                    return
            pause = min(pause * 2, 60.0)

    # ---- what the server says --------------------------------------------------

    def _handle(self, event: Event) -> None:
        if isinstance(event, Reply):
            self._on_reply(event)
        elif isinstance(event, Notification):
            self._on_notification(event)
        elif isinstance(event, AuthReply):
            self._on_auth(event)
        elif isinstance(event, PeerClosed):
            raise _Dropped("the server closed the connection")
        elif not isinstance(event, Pong):
            raise ProtocolError(f"unexpected {event} on an open connection")

    def _on_reply(self, reply: Reply) -> None:
        if reply.zxid > 0:
            self.last_zxid = reply.zxid
        call: _Call | None = reply.token
        if call is None:  # SetWatches: a failure only means fewer events
            if reply.err:
                log.warning("re-registering watches failed: %s", error_for(reply.err))
            return
        if call.watcher is not None:
            kind = reply.op.watch_kind(reply.err)
            if kind is not None:
                self.registry.add(kind, reply.op.path, call.watcher)  # type: ignore[attr-defined]
        if not call.future.done():
            call.future.set_result(reply)

    def _on_notification(self, n: Notification) -> None:
        event = WatchedEvent(n.type, n.state, self.chroot.strip(n.path))
        for watcher in self.registry.materialize(n.type, n.path):
            watcher.notify(event)

    def _on_auth(self, reply: AuthReply) -> None:
        call: _Call | None = reply.token
        if call is not None:
            if not call.future.done():
                call.future.set_result(reply)
            if reply.err:  # the server closes a connection whose credentials it refused
                raise _Dropped("the server refused the credentials")
        elif reply.err:
            # A credential accepted before is now refused: nothing sensible to retry.
            self._fatal = AuthFailedError()
            raise _Dropped("the server refused our credentials")

    # ---- losing a connection or the session ------------------------------------

    def _drop(self, error: ZookeeperError) -> None:
        """Forget the connection; every request in flight fails with `error`."""
        conn, self._conn, self._writer, self._heartbeat = self._conn, None, None, None
        if self._rw_search is not None:
            self._rw_search.cancel()
            self._rw_search = None
        if conn is None:
            return
        self._next_xid = conn.next_xid
        for call in conn.abandon():
            if call is not None and not call.future.done():
                call.future.set_exception(error)
        if self.state.is_connected:
            self._set_state(State.SUSPENDED)

    def _expire(self) -> None:
        log.info("session 0x%x expired", self.session_id)
        self.session_id, self.password, self.last_zxid = 0, b"", 0
        self.negotiated_timeout = None
        self._generation += 1
        self._set_state(State.EXPIRED)
        for w in self.registry.drain():
            w.end(SessionExpiredError())


async def four_letter(address: Address, word: str, timeout: float) -> str:
    """Send a four-letter word on a connection of its own; the server's whole answer."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(address.host, address.port)
        try:
            writer.write(word.encode("ascii"))
            return (await reader.read()).decode("utf-8", "replace")
        finally:
            writer.close()
