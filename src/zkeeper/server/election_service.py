"""The election port: QuorumCnxManager's connections carrying zab.Election's notifications.

A thin asyncio driver; every decision stays in `zkeeper.zab.election.Election` (the
FastLeaderElection core). This module only moves its messages, as QuorumCnxManager
(3.8) does:

- one listener on this server's election port (the host of its `server.N` line);
- at most one connection per peer, and only one going from the higher id to the lower:
  a lower id that calls us is hung up on and called back; when we call a higher id we
  send our initial message and hang up, so that it calls us back;
- every connection opens with the V1 initial message of the calling side, then carries
  length-prefixed frames (1..512 KiB) of one notification each;
- one send slot per peer that keeps only the newest message (SEND_CAPACITY = 1); a
  peer is called when there is something for it, and a fresh connection repeats the
  last message sent when nothing newer waits (SendWorker);
- a lost connection is only logged; a bad initial message or frame length closes that
  connection, an unreadable notification is skipped (WorkerReceiver).

Between rounds the core stays alive and keeps answering LOOKING peers with the settled
leader, so a restarted server finds the ensemble.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..zab.election import Election, ElectionTiming, Outcome, Ready
from ..zab.quorum import QuorumMaj, ServerLine, config_text
from ..zab.wire import (
    OBSERVER_ID,
    InitialMessage,
    WireError,
    decode_initial_message,
    decode_notification,
    encode_initial_message,
    encode_notification,
    frame,
    split_frames,
)
from .host import REAL_HOST, Listener, Network, StreamHandler, clock_ms

__all__ = ["ElectionService", "ElectionStopped", "Listener", "Network", "StreamHandler"]

log = logging.getLogger("zkeeper.server.election")

CONNECT_TIMEOUT = 5.0  # QuorumCnxManager.cnxTO (zookeeper.cnxTimeout), seconds
HANDSHAKE_TIMEOUT = 5.0  # how long a caller may take to send its initial message, seconds
_READ_CHUNK = 65536


class ElectionStopped(RuntimeError):
    """`look` was waiting when the service stopped."""


@dataclass(eq=False)
class _Connection:
    """One live election connection to `sid` (QuorumCnxManager's SendWorker + RecvWorker)."""

    sid: int
    writer: asyncio.StreamWriter
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # set when the send slot fills
    sender: asyncio.Task[None] | None = None
    closed: bool = False


class ElectionService:
    def __init__(self, my_id: int, servers: Mapping[int, ServerLine], *,
                 timing: ElectionTiming = ElectionTiming(),
                 clock: Callable[[], int] = clock_ms, host: Network = REAL_HOST) -> None:
        """`host` supplies the sockets (TCP by default; the simulator passes a virtual one)."""
        if my_id not in servers:
            raise ValueError(f"server {my_id} has no server.{my_id} line")
        self.my_id = my_id
        self._servers = dict(servers)
        self._timing = timing
        self._clock = clock
        self._network = host
        self._quorum = QuorumMaj.from_servers(self._servers)
        self._config = config_text(self._servers).encode()
        self._election: Election | None = None  # made by the first `look`
        self._listener: Listener | None = None
        self._connections: dict[int, _Connection] = {}
        self._connecting: set[int] = set()  # calls in progress (inprogressConnections)
        self._pending: dict[int, bytes] = {}  # the send slot of each peer: newest message only
        self._last_sent: dict[int, bytes] = {}  # lastMessageSent
        self._learned: dict[int, tuple[str, int]] = {}  # addresses of callers not in our config
        self._next_anonymous = -1  # observerCounter: ids for observers that send OBSERVER_ID
        self._tasks: set[asyncio.Task[Any]] = set()
        self._round: asyncio.Future[Outcome] | None = None
        self._ticker_wake = asyncio.Event()
        self._stopped = False

    # ---- the API ----------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on our election port; OSError when it is taken."""
        if self._listener is not None or self._stopped:
            raise RuntimeError("an election service starts once")
        me = self._servers[self.my_id]
        self._listener = await self._network.listen(me.host, me.election_port, self._accept)
        log.info("server %d: election port %s:%d", self.my_id, me.host, self.bound_port)
        self._spawn(self._ticker())

    async def look(self, last_zxid: int, current_epoch: int) -> Outcome:
        """Run one round (FastLeaderElection.lookForLeader) and return what it decides."""
        if self._listener is None or self._stopped:
            raise RuntimeError("the election service is not running")
        if self._round is not None and not self._round.done():
            raise RuntimeError("a round is already running")
        if self._election is None:
            self._election = Election(self.my_id, self._quorum, last_zxid=last_zxid, current_epoch=current_epoch,
                                      timing=self._timing, config=self._config)
        round_: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._round = round_
        log.info("server %d: LOOKING (zxid 0x%x, epoch %d)", self.my_id, last_zxid, current_epoch)
        self._apply(self._election.start(self._clock(), last_zxid=last_zxid, current_epoch=current_epoch))
        outcome = await round_
        log.info("server %d: %s, leader %d (election epoch %d%s)", self.my_id, outcome.state.name, outcome.leader,
                 outcome.election_epoch, ", joined" if outcome.joined else "")
        return outcome

    def update_peer_epoch(self, epoch: int) -> None:
        """Answer LOOKING peers with the settled epoch from now on (QuorumPeer.updateElectionVote)."""
        if self._election is None:
            raise RuntimeError("no round has been run")
        self._election.update_peer_epoch(epoch)

    @property
    def bound_port(self) -> int:
        """The port we listen on (the configured one, unless that was 0 on a real socket)."""
        if self._listener is None:
            raise RuntimeError("the election service is not listening")
        sockets = getattr(self._listener, "sockets", None)  # an asyncio.Server's
        if sockets:
            return int(sockets[0].getsockname()[1])
        return self._servers[self.my_id].election_port

    async def stop(self) -> None:
        """Close the listener and every connection, end every task; a waiting `look` raises."""
        if self._stopped:
            return
        self._stopped = True
        if self._listener is not None:
            self._listener.close()
        for conn in list(self._connections.values()):
            self._finish(conn)
        if self._round is not None and not self._round.done():
            self._round.set_exception(ElectionStopped(f"server {self.my_id}: election service stopped"))
        me = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not me]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
        await asyncio.sleep(0)  # let the closed transports report connection_lost
        log.info("server %d: election service stopped", self.my_id)

    # ---- driving the core ------------------------------------------------------------

    def _apply(self, ready: Ready) -> None:
        for m in ready.messages:
            self._send(m.to, encode_notification(m.notification))
        if ready.outcome is not None and self._round is not None and not self._round.done():
            self._round.set_result(ready.outcome)
        self._ticker_wake.set()  # wake_at may have moved

    def _deliver(self, sid: int, body: bytes) -> None:
        try:
            n = decode_notification(body)
        except WireError as e:
            log.info("server %d: skipping a malformed notification from %d: %s", self.my_id, sid, e)
            return
        if self._election is None or self._stopped:
            log.debug("server %d: no election yet, dropping a notification from %d", self.my_id, sid)
            return
        self._apply(self._election.step(sid, n, self._clock()))

    async def _ticker(self) -> None:
        """Call `tick` when the core asks to (its wake_at); runs until `stop`."""
        while not self._stopped:
            self._ticker_wake.clear()
            election = self._election
            wake_at = election.wake_at if election is not None else None
            if wake_at is None:
                await self._ticker_wake.wait()
                continue
            delay = wake_at - self._clock()
            if delay > 0:
                try:
                    await asyncio.wait_for(self._ticker_wake.wait(), delay / 1000)
                except TimeoutError:
                    pass
                continue
            assert election is not None
            self._apply(election.tick(self._clock()))
            await asyncio.sleep(0)  # never starve the connections, whatever the clock says

    # ---- sending -------------------------------------------------------------------------

    def _send(self, sid: int, body: bytes) -> None:
        """QuorumCnxManager.toSend: fill the peer's slot and call it unless connected."""
        if self._stopped:
            return
        self._pending[sid] = body
        conn = self._connections.get(sid)
        if conn is not None:
            conn.wake.set()
        else:
            self._connect_one(sid)

    async def _send_loop(self, conn: _Connection) -> None:
        """SendWorker: repeat the last message on a new connection, then send what comes."""
        sid, writer = conn.sid, conn.writer
        try:
            last = self._last_sent.get(sid)
            if sid not in self._pending and last is not None:
                writer.write(frame(last))
                await writer.drain()
            while not conn.closed:
                body = self._pending.pop(sid, None)
                if body is None:
                    conn.wake.clear()
                    await conn.wake.wait()
                    continue
                self._last_sent[sid] = body
                writer.write(frame(body))
                await writer.drain()
        except OSError as e:
            log.debug("server %d: sending to %d failed: %s", self.my_id, sid, e)
            self._finish(conn)

    # ---- connections ---------------------------------------------------------------------

    def _connect_one(self, sid: int) -> None:
        if self._stopped or sid in self._connections or sid in self._connecting:
            return
        address = self._address(sid)
        if address is None:
            log.warning("server %d: no election address for server %d", self.my_id, sid)
            self._pending.pop(sid, None)
            return
        self._connecting.add(sid)
        self._spawn(self._initiate(sid, address))

    def _address(self, sid: int) -> tuple[str, int] | None:
        spec = self._servers.get(sid)
        if spec is not None:
            return spec.host, spec.election_port
        return self._learned.get(sid)

    async def _initiate(self, sid: int, address: tuple[str, int]) -> None:
        """initiateConnection + startConnection: call, greet, keep it only if we are higher."""
        try:
            opened = await self._open(sid, address)
        finally:
            self._connecting.discard(sid)
        if opened is None:
            if sid not in self._servers:
                self._forget(sid)
            return
        await self._receive(*opened, bytearray())

    async def _open(self, sid: int, address: tuple[str, int]) -> tuple[_Connection, asyncio.StreamReader] | None:
        try:
            reader, writer = await asyncio.wait_for(self._network.connect(*address), CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as e:
            log.debug("server %d: cannot open channel to %d at %s:%d: %s", self.my_id, sid, *address, e)
            return None
        try:
            me = self._servers[self.my_id]
            writer.write(encode_initial_message(InitialMessage(self.my_id, ((me.host, self.bound_port),))))
        except BaseException:
            writer.close()
            raise
        if sid > self.my_id:
            log.debug("server %d: smaller id, dropping our connection to %d", self.my_id, sid)
            writer.close()  # the greeting is flushed first
            return None
        return self._register(sid, writer), reader

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """The listener's callback; the connection gets a task of ours, which `stop` ends."""
        if self._stopped:
            writer.close()
            return
        self._spawn(self._serve(reader, writer))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """receiveConnection/handleConnection: read the greeting, keep callers higher than us."""
        peer = writer.get_extra_info("peername")
        conn: _Connection | None = None
        try:
            buf = bytearray()
            try:
                greeting = await asyncio.wait_for(self._read_greeting(reader, buf), HANDSHAKE_TIMEOUT)
            except (WireError, OSError, EOFError, TimeoutError) as e:
                log.info("server %d: closing election connection from %s: %s", self.my_id, peer, e)
                return
            sid = greeting.sid
            if sid == OBSERVER_ID:  # an observer without an id of its own
                sid, self._next_anonymous = self._next_anonymous, self._next_anonymous - 1
            if greeting.addresses and sid not in self._servers:
                self._learned[sid] = greeting.addresses[0]
            if sid < self.my_id:
                old = self._connections.get(sid)
                if old is not None:
                    self._finish(old)
                log.debug("server %d: %d called us; calling back", self.my_id, sid)
                writer.close()
                self._connect_one(sid)
                return
            if sid == self.my_id:
                log.warning("server %d: a connection from %s claims our own id", self.my_id, peer)
                return
            conn = self._register(sid, writer)
            await self._receive(conn, reader, buf)
        finally:
            if conn is None:
                writer.close()

    @staticmethod
    async def _read_greeting(reader: asyncio.StreamReader, buf: bytearray) -> InitialMessage:
        while (parsed := decode_initial_message(buf)) is None:  # it asks for at most 2068 bytes
            chunk = await reader.read(4096)
            if not chunk:
                raise EOFError("closed before its initial message")
            buf += chunk
        greeting, used = parsed
        del buf[:used]
        return greeting

    def _register(self, sid: int, writer: asyncio.StreamWriter) -> _Connection:
        old = self._connections.get(sid)
        if old is not None:
            self._finish(old)
        conn = _Connection(sid, writer)
        self._connections[sid] = conn
        conn.sender = self._spawn(self._send_loop(conn))
        log.debug("server %d: connected to %d", self.my_id, sid)
        return conn

    async def _receive(self, conn: _Connection, reader: asyncio.StreamReader, buf: bytearray) -> None:
        """RecvWorker: frames in until the connection ends or sends a bad length."""
        try:
            while not conn.closed:
                for body in split_frames(buf):
                    self._deliver(conn.sid, body)
                chunk = await reader.read(_READ_CHUNK)
                if not chunk:
                    log.debug("server %d: connection to %d closed", self.my_id, conn.sid)
                    break
                buf += chunk
        except WireError as e:
            log.info("server %d: closing the connection to %d: %s", self.my_id, conn.sid, e)
        except OSError as e:
            log.debug("server %d: connection to %d broken: %s", self.my_id, conn.sid, e)
        finally:
            self._finish(conn)

    def _finish(self, conn: _Connection) -> None:
        if conn.closed:
            return
        conn.closed = True
        conn.writer.close()
        if conn.sender is not None and conn.sender is not asyncio.current_task():
            conn.sender.cancel()
        if self._connections.get(conn.sid) is conn:
            del self._connections[conn.sid]
        if conn.sid not in self._servers:
            self._forget(conn.sid)

    def _forget(self, sid: int) -> None:
        """Strangers (ids not in our config) leave nothing behind."""
        self._pending.pop(sid, None)
        self._last_sent.pop(sid, None)
        self._learned.pop(sid, None)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
