"""A member of a replicated ensemble: election, then lead or learn, then elect again.

QuorumPeer owns what outlives a role: the client port, the election service and the
epochs on disk. Each round loads the data from disk (so a TRUNC or a crash of the
previous role leaves nothing stale in memory), runs fast leader election, and becomes a
Leader or a Learner until that role ends (lost quorum, dead leader, timeouts). Between
roles, clients are turned away as ZooKeeper does ("not currently serving requests").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from ..jute import ConnectRequest
from ..proto.server import Request as RequestEvent
from ..storage.epochs import ACCEPTED_EPOCH, CURRENT_EPOCH, read_epoch, write_epoch
from ..zab.quorum import QuorumMaj
from ..zab.vote import ServerState
from ..zab.zxid import epoch_of
from .config import OBSERVER, PROMETHEUS_PROVIDER, ServerConfig
from .connection import ClientConnection
from .election_service import ElectionService
from .host import REAL_HOST, Host, clock_ms, clock_s
from .leader import Leader
from .http import HttpServer
from .learner import Learner
from .metrics import metrics_server
from .persistence import recover_state
from .readonly import ReadOnlyServer
from .standalone import ZooKeeperServer
from .stats import ServerStats

log = logging.getLogger("zkeeper.server.quorum")

NOT_SERVING = "This ZooKeeper instance is not currently serving requests\n"
READ_ONLY_DELAY_MS = 2000  # QuorumPeer starts its ReadOnlyZooKeeperServer after this (or a tick)


class NotServing:
    """Stands in for the server between roles: answers four-letter words, refuses sessions."""

    def __init__(self, peer: QuorumPeer) -> None:
        self.peer = peer
        self.config = peer.config
        self.stats = peer.stats
        self.connections: dict[ClientConnection, None] = {}

    def accept_connection(self, conn: ClientConnection) -> bool:
        self.connections[conn] = None
        return True

    def connection_closed(self, conn: ClientConnection) -> None:
        self.connections.pop(conn, None)

    def handle_four_letter_word(self, conn: ClientConnection, word: str) -> None:
        if word == "ruok":
            conn.write(b"imok")
        elif word == "isro":
            conn.write(b"null")
        else:
            conn.write(NOT_SERVING.encode())
        conn.close()

    def handle_connect(self, conn: ClientConnection, req: ConnectRequest) -> None:
        conn.close()

    def handle_request(self, conn: ClientConnection, ev: RequestEvent) -> None:
        conn.close()


class QuorumPeer:
    def __init__(self, config: ServerConfig, host: Host = REAL_HOST, *, serve_clients: bool = True) -> None:
        """`host` is the machine (the simulator passes a virtual one); without
        `serve_clients` no client port is opened (the simulator talks to roles directly)."""
        assert config.myid is not None, "a replicated server needs its myid"
        self.config = config
        self.host = host
        self.serve_clients = serve_clients
        self.my_id: int = config.myid
        self.stats = ServerStats()
        self.quorum = QuorumMaj.from_servers(config.servers)
        self.observer = config.servers[self.my_id].role == OBSERVER
        self.election = ElectionService(self.my_id, config.servers, clock=clock_ms, host=host)
        self.serving: ZooKeeperServer | None = None
        self.idle = NotServing(self)
        self.mode = "looking"
        self.started_at = time.time()
        self.last_election_ms = 0.0
        self._client_server: asyncio.base_events.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._role: Leader | Learner | None = None
        self.metrics: HttpServer | None = None
        # Told of every role this peer starts serving in (the simulator checks epochs).
        self.on_serving: Callable[[QuorumPeer, ZooKeeperServer], None] | None = None

    def _front(self) -> Any:
        return self.serving if self.serving is not None else self.idle

    async def start(self) -> None:
        if self.serve_clients:
            loop = asyncio.get_running_loop()
            self._client_server = await loop.create_server(
                lambda: ClientConnection(self._front()), self.config.client_port_address, self.config.client_port,
                reuse_address=True,
            )
            log.info("binding to port %s:%d", self.config.client_port_address, self.bound_port)
            if self.config.metrics_provider_class == PROMETHEUS_PROVIDER:
                self.metrics = metrics_server(self.config, lambda: self.serving)
                await self.metrics.start()
        await self.election.start()
        self._task = asyncio.create_task(self._run())

    @property
    def bound_port(self) -> int:
        assert self._client_server is not None
        return int(self._client_server.sockets[0].getsockname()[1])

    def now_serving(self, server: ZooKeeperServer) -> None:
        self.serving = server
        self.mode = server.mode
        if self.on_serving is not None:
            self.on_serving(self, server)
        for conn in list(self.idle.connections):
            conn.close()

    async def _run(self) -> None:
        try:
            await self._rounds()
        except asyncio.CancelledError:
            raise
        except BaseException:
            log.exception("The quorum peer stopped")
            raise

    async def _rounds(self) -> None:
        while True:
            state = await self.host.blocking(recover_state, self.config)
            last_zxid = state[2]
            current = self._epoch(CURRENT_EPOCH, last_zxid)
            accepted = self._epoch(ACCEPTED_EPOCH, last_zxid)
            self.mode = "looking"
            started = clock_s()
            read_only = (asyncio.create_task(self._read_only_later(state))
                         if self.config.readonly_mode_enabled else None)
            try:
                outcome = await self.election.look(last_zxid, current)
            finally:
                if read_only is not None:
                    read_only.cancel()
                await self._stop_read_only()
            self.last_election_ms = (clock_s() - started) * 1000
            log.info("Election took %.0f ms: %s, leader %d", self.last_election_ms, outcome.state.name, outcome.leader)
            role: Leader | Learner
            if outcome.state == ServerState.LEADING:
                role = Leader(self, state, accepted, current)
            else:
                role = Learner(self, outcome.leader, state, accepted, current, self.observer)
            self._role = role
            try:
                if isinstance(role, Leader):
                    await role.lead()
                else:
                    await role.follow()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - any end of a role means: elect again
                log.warning("%s ended: %s", type(role).__name__, e)
            finally:
                self.serving = None
                self._role = None
                await role.shutdown()

    def _epoch(self, name: str, last_zxid: int) -> int:
        """An epoch file's value; a missing one starts as the last zxid's epoch (loadDataBase)."""
        value = read_epoch(self.config.data_dir, name)
        if value is None:
            value = epoch_of(last_zxid)
            write_epoch(self.config.data_dir, name, value)
        return value

    async def _read_only_later(self, state: tuple[Any, dict[int, int], int]) -> None:
        """ZooKeeper's read-only manager: after max(2 s, a tick) without a quorum, serve
        the data we have to clients that asked for read-only mode."""
        await asyncio.sleep(max(READ_ONLY_DELAY_MS, self.config.tick_time) / 1000)
        server = ReadOnlyServer(self, state)
        server.start_serving()
        self.now_serving(server)

    async def _stop_read_only(self) -> None:
        server = self.serving
        if isinstance(server, ReadOnlyServer):
            self.serving = None
            await server.stop()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        if self._client_server is not None:
            self._client_server.close()
        if self.metrics is not None:
            await self.metrics.stop()
        for conn in list(self.idle.connections):
            conn.close()
        await self.election.stop()
