"""The standalone server: wires the pure cores (prep, tree, sessions) to connections.

Requests flow prep -> [log] -> apply -> reply, strictly in arrival order, so a reply
never overtakes an earlier write and watch events go out before the reply of any
request that comes after the change. Until the durable log lands, `_log_append` is
where a transaction would be written and fsynced before being applied.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

from ..errors import Code
from ..jute import AuthPacket, ConnectRequest, ConnectResponse, Id, ReplyHeader, TxnHeader
from ..proto.server import Request as RequestEvent
from ..proto.server import encode_connect_response
from ..proto.requests import Malformed
from ..session.ids import session_password
from ..session.tracker import SessionTracker
from ..tree.acl import SUPER_ID, add_auth_id, generate_digest, may_read
from ..storage import StorageError
from ..txn.changes import OutstandingChanges
from ..txn.final import Final
from ..txn.prep import Prep
from ..txn.request import Prepared, Request
from ..types import OpCode, ttl_of_owner
from .admin import admin_server
from .config import PROMETHEUS_PROVIDER, ServerConfig
from .connection import ClientConnection
from .fourlw import run_four_letter_word
from .host import REAL_HOST, Host, clock_ms
from .http import HttpServer
from .persistence import DurableLog, recover_state
from .metrics import metrics_server
from .stats import ServerStats
from ..tree.datatree import DataTree

log = logging.getLogger("zkeeper.server")

STANDALONE_SERVER_ID = 1  # ZooKeeperServer's createSessionTrackerServerId
DEFAULT_CONTAINER_CHECK_MS = 60_000


def _wall_ms() -> int:
    return int(time.time() * 1000)


class ZooKeeperServer:
    def __init__(self, config: ServerConfig, state: tuple[DataTree, dict[int, int], int] | None = None, *,
                 server_id: int = STANDALONE_SERVER_ID, stats: ServerStats | None = None,
                 host: Host = REAL_HOST) -> None:
        """`state` is (tree, sessions, last zxid) already loaded from disk; without it the
        server recovers from its dataDir. A replicated role passes its own server id."""
        self.config = config
        self.stats = stats or ServerStats()
        self.tree, restored, last_zxid = state if state is not None else recover_state(config)
        self.server_id = server_id
        self.sessions = SessionTracker(config.tick_time, server_id, clock_ms(), id_clock_ms=_wall_ms())
        for sid, timeout in restored.items():
            # Restored sessions get a full timeout to reconnect before they expire.
            self.sessions.add(sid, timeout, clock_ms())
        self.changes = OutstandingChanges(self.tree)
        self.prep = Prep(self.changes, self.sessions, last_zxid=last_zxid,
                         extended_types=config.extended_types_enabled, skip_acl=config.skip_acl)
        self.final = Final(self.tree, self.changes, skip_acl=config.skip_acl)
        self.durable = DurableLog(config, self.stats, last_zxid, self._on_synced, self._on_write_failed, host=host)
        if last_zxid > 0 and state is None:
            self.durable.startup_snapshot(self.tree, restored, last_zxid)
        # Insertion-ordered (not a set of id-hashed objects): closing them all, and the
        # lists cons/stat print, come out in the same order every run.
        self.connections: dict[ClientConnection, None] = {}
        self.by_session: dict[int, ClientConnection] = {}
        self._queue: deque[tuple[Prepared, float]] = deque()
        self._server: asyncio.base_events.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.started_at = time.time()
        self.mode = "standalone"
        self.read_only = False  # a ReadOnlyServer's sessions say so in their ConnectResponse
        self.trace_mask = 306  # ZooTrace's default mask, reported by gtmk
        self.admin: HttpServer | None = None
        self.metrics: HttpServer | None = None

    # ---- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: ClientConnection(self), self.config.client_port_address, self.config.client_port,
            reuse_address=True,
        )
        await self._start_http()
        self.start_background_tasks()
        log.info("binding to port %s:%d", self.config.client_port_address, self.bound_port)

    def start_background_tasks(self) -> None:
        """Session expiry, container cleanup and autopurge: the leader's (or standalone's) chores."""
        self._tasks.append(asyncio.create_task(self._expire_sessions()))
        self._tasks.append(asyncio.create_task(self._clean_containers()))
        self._tasks.append(asyncio.create_task(self.durable.autopurge()))

    async def _start_http(self) -> None:
        cfg = self.config
        if cfg.admin_enable_server:
            self.admin = admin_server(self)
            try:
                await self.admin.start()
            except OSError as e:
                # As ZooKeeper: a busy admin port is logged, the server still serves.
                log.warning("Problem starting AdminServer on %s:%d: %s", cfg.admin_server_address,
                            cfg.admin_server_port, e)
                self.admin = None
        if cfg.metrics_provider_class == PROMETHEUS_PROVIDER:
            self.metrics = metrics_server(cfg, lambda: self)
            await self.metrics.start()

    def role_summary(self) -> str:
        """Lines `srvr`/`stat` add for this server's role (a leader's proposal sizes)."""
        return ""

    def role_metrics(self) -> list[tuple[str, object]]:
        """`mntr` keys that depend on the role, after the common ones."""
        return [("zk_last_proposal_size", -1)]

    def uptime_ms(self) -> int:
        return int((time.time() - self.started_at) * 1000)

    @property
    def bound_port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for http in (self.admin, self.metrics):
            if http is not None:
                await http.stop()
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.close()
        if self._server is not None:
            await self._server.wait_closed()
        self.durable.close()

    # ---- connections -----------------------------------------------------------------

    def accept_connection(self, conn: ClientConnection) -> bool:
        limit = self.config.max_client_cnxns
        if limit > 0:
            same_ip = sum(1 for c in self.connections if c.peer[0] == conn.peer[0])
            if same_ip >= limit:
                log.warning("Too many connections from %s - max is %d", conn.peer[0], limit)
                return False
        if self.config.max_cnxns > 0 and len(self.connections) >= self.config.max_cnxns:
            log.warning("Too many connections - max is %d", self.config.max_cnxns)
            return False
        self.connections[conn] = None
        return True

    def connection_closed(self, conn: ClientConnection) -> None:
        if conn not in self.connections:
            return
        self.connections.pop(conn, None)
        if self.by_session.get(conn.session_id) is conn:
            del self.by_session[conn.session_id]
        self.tree.remove_watcher(conn)

    def handle_four_letter_word(self, conn: ClientConnection, word: str) -> None:
        conn.write(run_four_letter_word(self, word).encode("utf-8"))
        conn.close()

    # ---- handshake -------------------------------------------------------------------

    def handle_connect(self, conn: ClientConnection, req: ConnectRequest) -> None:
        last = self.tree.last_processed_zxid
        if req.lastZxidSeen > last:
            log.info("Refusing session request for client %s as it has seen zxid 0x%x our last zxid "
                     "is 0x%x client must try another server", conn.peer[0], req.lastZxidSeen, last)
            conn.close()
            return
        cfg = self.config
        timeout = min(max(req.timeOut, cfg.min_session_timeout), cfg.max_session_timeout)
        conn.session_timeout = timeout
        conn.wants_read_only_flag = req.has_read_only  # type: ignore[attr-defined]
        if req.sessionId == 0:
            sid = self.sessions.new_session_id()
            conn.session_id = sid
            self.sessions.add(sid, timeout, clock_ms())
            self._bind(conn, sid)
            self.submit(Request(sid, 0, OpCode.CREATE_SESSION, timeout, conn.auth, conn))
            return
        sid = req.sessionId
        other = self.by_session.get(sid)
        if other is not None and other is not conn:
            log.info("Closing previous connection of session 0x%x: client reconnected", sid)
            other.close()
        if req.passwd != session_password(sid):
            self._finish_session(conn, valid=False)
            return
        self.resume_session(conn, sid, timeout)

    def resume_session(self, conn: ClientConnection, sid: int, timeout: int) -> None:
        """A client reconnecting to a session (password already checked): is it still live?"""
        if not self.sessions.touch(sid, clock_ms()):
            self._finish_session(conn, valid=False)
            return
        self.sessions.sessions[sid].timeout = timeout
        conn.session_id = sid
        self._bind(conn, sid)
        self._finish_session(conn, valid=True)

    def _bind(self, conn: ClientConnection, sid: int) -> None:
        self.by_session[sid] = conn

    def _finish_session(self, conn: ClientConnection, valid: bool) -> None:
        flag = getattr(conn, "wants_read_only_flag", True)
        if valid:
            sid = conn.session_id
            resp = ConnectResponse(0, conn.session_timeout, sid, session_password(sid), self.read_only, flag)
            log.info("Established session 0x%x with negotiated timeout %d for client %s",
                     sid, conn.session_timeout, conn.peer[0])
            conn.session_established(resp)
        else:
            log.info("Invalid session 0x%x for client %s, probably expired", conn.session_id, conn.peer[0])
            conn.write(encode_connect_response(ConnectResponse(0, 0, 0, bytes(16), False, flag)))
            conn.close()

    # ---- requests --------------------------------------------------------------------

    def handle_request(self, conn: ClientConnection, ev: RequestEvent) -> None:
        self.stats.packets_received += 1
        self.sessions.touch(conn.session_id, clock_ms())
        if not ev.known:
            log.warning("Received packet at server of unknown type %d", ev.type)
            # ZooKeeper answers with the request's unset zxid, -1.
            conn.send_reply(ReplyHeader(ev.xid, -1, Code.UNIMPLEMENTED))
            conn.close()
            return
        if ev.type == OpCode.AUTH:
            if isinstance(ev.record, Malformed):
                log.warning("Closing connection %r: malformed auth packet: %s", conn, ev.record.reason)
                conn.close()
                return
            self._authenticate(conn, ev.xid, ev.record)
            return
        if ev.type == OpCode.SASL:
            log.warning("Closing connection %r: SASL is not configured", conn)
            conn.close()
            return
        self.submit(Request(conn.session_id, ev.xid, ev.type, ev.record, conn.auth, conn))

    def _authenticate(self, conn: ClientConnection, xid: int, packet: AuthPacket) -> None:
        scheme = packet.scheme
        ids: list[Id] = []
        if scheme == "digest":
            digest = generate_digest((packet.auth or b"").decode("utf-8", "replace"))
            if self.config.super_digest is not None and digest == self.config.super_digest:
                ids.append(SUPER_ID)
            ids.append(Id("digest", digest))
        elif scheme == "ip":
            ids.append(Id("ip", conn.peer[0]))
        else:
            log.warning("No authentication provider for scheme: %s has [ip, digest]", scheme)
            conn.send_reply(ReplyHeader(xid, 0, Code.AUTHFAILED))
            conn.close()
            return
        for i in ids:
            add_auth_id(conn.auth, i)
        log.info("Session 0x%x: auth success for scheme %s and address %s", conn.session_id, scheme, conn.peer[0])
        conn.send_reply(ReplyHeader(xid, 0, Code.OK))

    def submit(self, req: Request) -> None:
        prepared = self.prep.prepare(req, _wall_ms())
        self.stats.outstanding += 1
        self._queue.append((prepared, time.monotonic()))
        if prepared.hdr is not None:
            self._log_txn(prepared.hdr, prepared.txn)
        self._commit()

    def _log_txn(self, hdr: TxnHeader, txn: Any) -> None:
        """A prepared write goes to the log (a leader also proposes it to its followers)."""
        self.durable.append(hdr, txn)

    def _on_synced(self, zxid: int) -> None:
        self._commit()

    def commit_point(self) -> int:
        """The highest zxid that may be applied: durable here; acked by a quorum on a leader."""
        return self.durable.synced_zxid

    def _commit(self) -> None:
        """Apply and answer, in order, everything up to the first write not yet committed."""
        synced = self.commit_point()
        applied = 0
        while self._queue:
            prepared, started = self._queue[0]
            if prepared.hdr is not None:
                if prepared.hdr.zxid > synced:
                    break
                applied += 1
            self._queue.popleft()
            self.stats.outstanding -= 1
            self._finish_safely(prepared, started)
        if applied:
            self.durable.applied(applied, self._take_snapshot)

    def _finish_safely(self, p: Prepared, started: float) -> None:
        try:
            self._finish(p, started)
        except Exception:
            # A bug in one request must not stall the pipeline or the server.
            log.exception("Internal error finishing %r", p.request)
            origin = p.request.origin
            if isinstance(origin, ClientConnection):
                origin.close()
        self.stats.record_latency((time.monotonic() - started) * 1000, p.hdr is not None)

    def _take_snapshot(self) -> None:
        sessions = {s.id: s.timeout for s in self.sessions.sessions.values()}
        self.durable.snapshot_in_child(self.tree, sessions, self.tree.last_processed_zxid)

    def _on_write_failed(self, durable_zxid: int, error: StorageError) -> None:
        """Txns past `durable_zxid` never reached the disk: undo their prep, drop the
        requests (their clients see a connection loss, so the outcome is theirs to
        check), and carry on serving reads; writes work again once the disk does."""
        self.prep.last_zxid = durable_zxid
        self.changes.forget_after(durable_zxid)
        kept: deque[tuple[Prepared, float]] = deque()
        for prepared, started in self._queue:
            if prepared.hdr is None or prepared.hdr.zxid <= durable_zxid:
                kept.append((prepared, started))
                continue
            self.stats.outstanding -= 1
            req = prepared.request
            if req.type == OpCode.CLOSE_SESSION:
                session = self.sessions.sessions.get(req.session_id)
                if session is not None:
                    session.closing = False
            elif req.type == OpCode.CREATE_SESSION:
                self.sessions.remove(req.session_id)
            conn = req.origin
            if isinstance(conn, ClientConnection):
                log.warning("Closing %r: its write could not be logged (%s)", conn, error)
                conn.close()
        self._queue = kept
        self._commit()

    def _finish(self, p: Prepared, started: float) -> None:
        rc = self.final.apply(p)
        req = p.request
        conn = req.origin
        live = isinstance(conn, ClientConnection) and not conn.closed
        # Answering a read can raise events too (setWatches): build the reply first,
        # then send every event before it, as ZooKeeper does.
        session_created = p.hdr is not None and p.hdr.type == OpCode.CREATE_SESSION
        reply = self.final.reply(p, rc) if live and not session_created else None
        for watcher, event, acl in self.tree.take_events() if self.tree.events else ():
            if acl is None or may_read(acl, watcher.auth, self.config.skip_acl):  # type: ignore[attr-defined]
                watcher.send_event(event)  # type: ignore[attr-defined]
        if session_created:
            if live:
                self._finish_session(conn, valid=True)  # type: ignore[arg-type]
            return
        if req.type == OpCode.CLOSE_SESSION and p.hdr is not None and p.hdr.type == OpCode.CLOSE_SESSION:
            self.sessions.remove(req.session_id)
            owner = self.by_session.pop(req.session_id, None)
            if conn is None and owner is not None:
                owner.close()
        if reply is not None and not conn.closed:  # type: ignore[union-attr]
            conn.send_reply(reply.header, reply.body)  # type: ignore[union-attr]
            conn.stats.record(req.type, req.cxid, reply.header.zxid, _wall_ms(),  # type: ignore[union-attr]
                              int((time.monotonic() - started) * 1000))
            if req.type == OpCode.CLOSE_SESSION:
                conn.close()  # type: ignore[union-attr]

    # ---- periodic work ---------------------------------------------------------------

    async def _expire_sessions(self) -> None:
        while True:
            delay = (self.sessions.next_expiry_ms() - clock_ms()) / 1000
            await asyncio.sleep(max(delay, 0.001))
            for s in self.sessions.expire(clock_ms()):
                log.info("Expiring session 0x%x, timeout of %dms exceeded", s.id, s.timeout)
                self.submit(Request(s.id, 0, OpCode.CLOSE_SESSION, None))

    async def _clean_containers(self) -> None:
        interval = int(self.config.unknown.get("znode.container.checkIntervalMs", DEFAULT_CONTAINER_CHECK_MS))
        while True:
            await asyncio.sleep(interval / 1000)
            for path in self._container_candidates(_wall_ms()):
                self.submit(Request(0, 0, OpCode.DELETE_CONTAINER, path))

    def _container_candidates(self, now_ms: int) -> list[str]:
        """Empty containers that once had children, and empty TTL nodes past their TTL."""
        out = []
        for path in sorted(self.tree.containers):
            node = self.tree.get(path)
            if node is not None and not node.children and node.cversion > 0:
                out.append(path)
        for path in sorted(self.tree.ttls):
            node = self.tree.get(path)
            if node is not None and not node.children:
                ttl = ttl_of_owner(node.ephemeral_owner)
                if ttl and now_ms - node.mtime > ttl:
                    out.append(path)
        return out

