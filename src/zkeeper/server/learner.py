"""The following and observing roles: connect to the leader, sync, then serve.

Learner.follow() is ZooKeeper's Learner/Follower/Observer: FOLLOWERINFO (OBSERVERINFO)
with the accepted epoch, LEADERINFO with the new epoch (accepted and written to
`acceptedEpoch`), ACKEPOCH with our current epoch and last zxid, then the sync the
leader chose: DIFF (committed txns we lack, applied and logged), TRUNC (cut our log back
to a zxid the leader has, reload) or SNAP (replace the tree, write it as a snapshot).
NEWLEADER: log what the sync gave, write `currentEpoch`, ack. UPTODATE: serve clients.

FollowerServer then answers reads from its own tree and forwards writes, sync and
session create/close to the leader in REQUEST packets. Proposals are logged and acked
once fsynced; a COMMIT applies the txn, and if one of our clients sent it, answers it.
A session's requests are answered in its own order: a read waits only behind that
session's writes and syncs still at the leader (CommitProcessor's rule), so a client
always sees its own writes and one client's write does not hold up another's reads.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from ..jute import TxnHeader
from ..jute.quorum import LEARNER_PROTOCOL_VERSION, LearnerInfo, PacketType, QuorumPacket
from ..jute.schema import encode
from ..proto.server import Request as RequestEvent
from ..storage import TxnLogWriter, write_snapshot
from ..storage.epochs import ACCEPTED_EPOCH, CURRENT_EPOCH, write_epoch
from ..storage.transfer import decode_snapshot_stream
from ..storage.replay import track_session
from ..storage.truncate import truncate_log
from ..tree.datatree import DataTree
from ..txn.request import Prepared, Request
from ..types import OpCode
from ..zab.packets import (
    int_data,
    packet,
    read_proposal_data,
    read_revalidate_reply,
    request_data,
    revalidate_request_data,
    session_list_data,
)
from ..zab.zxid import epoch_of, make_zxid
from .connection import ClientConnection
from .host import Host, clock_s
from .persistence import recover_state
from .quorum_link import QuorumLink, packet_name
from .standalone import ZooKeeperServer

log = logging.getLogger("zkeeper.server.learner")

State = tuple[DataTree, dict[int, int], int]
_HEADER = 8  # a request frame's RequestHeader (xid, type); the body follows


class LearnerFailed(Exception):
    pass


class Learner:
    def __init__(self, peer: Any, leader_sid: int, state: State, accepted_epoch: int,
                 current_epoch: int, observer: bool) -> None:
        self.peer = peer
        self.config = peer.config
        self.my_id: int = peer.my_id
        self.stats = peer.stats
        self.host: Host = peer.host
        self.leader_sid = leader_sid
        self.state = state
        self.accepted_epoch = accepted_epoch
        self.current_epoch = current_epoch
        self.observer = observer
        tick_s = self.config.tick_time / 1000
        self.init_timeout = tick_s * (self.config.init_limit or 10)
        self.sync_timeout = tick_s * (self.config.sync_limit or 5)
        self.link: QuorumLink | None = None
        self.server: FollowerServer | None = None
        self._failed: str | None = None

    def send(self, data: bytes) -> None:
        if self.link is not None:
            self.link.send(data)

    def fail(self, why: str) -> None:
        if self._failed is None:
            self._failed = why
            if self.link is not None:
                self.link.close()

    async def follow(self) -> None:
        link = self.link = await self._connect()
        kind = PacketType.OBSERVERINFO if self.observer else PacketType.FOLLOWERINFO
        info = encode(LearnerInfo(self.my_id, LEARNER_PROTOCOL_VERSION, 0))
        link.send(packet(kind, make_zxid(self.accepted_epoch, 0), info))
        qp = await link.read(self.init_timeout)
        if qp.type != PacketType.LEADERINFO:
            raise LearnerFailed(f"First packet from the leader should have been LEADERINFO, not {packet_name(qp.type)}")
        new_epoch = epoch_of(qp.zxid)
        if new_epoch > self.accepted_epoch:
            write_epoch(self.config.data_dir, ACCEPTED_EPOCH, new_epoch)
            self.accepted_epoch, ack = new_epoch, self.current_epoch
        elif new_epoch == self.accepted_epoch:
            ack = -1  # this epoch was accepted before: the ack does not count again
        else:
            raise LearnerFailed(f"Leaders epoch, {new_epoch}, is less than accepted epoch, {self.accepted_epoch}")
        link.send(packet(PacketType.ACKEPOCH, self.state[2], int_data(ack)))
        early = await self._sync(link, new_epoch)
        assert self.server is not None
        server = self.server
        self.peer.election.update_peer_epoch(new_epoch)
        self.peer.now_serving(server)
        for qp in early:
            server.handle_packet(qp)
        while self._failed is None:
            server.handle_packet(await link.read(self.sync_timeout))
        raise LearnerFailed(self._failed)

    async def _connect(self) -> QuorumLink:
        spec = self.config.servers[self.leader_sid]
        deadline = clock_s() + self.init_timeout
        while True:
            try:
                return await QuorumLink.connect(self.host, spec.host, spec.quorum_port, max(self.init_timeout / 5, 0.5))
            except (OSError, asyncio.TimeoutError) as e:
                if clock_s() > deadline:
                    raise LearnerFailed(f"could not connect to leader {self.leader_sid} at "
                                        f"{spec.host}:{spec.quorum_port}: {e}") from None
                await asyncio.sleep(0.05)

    async def _sync(self, link: QuorumLink, new_epoch: int) -> list[QuorumPacket]:
        """Up to UPTODATE; returns what came after NEWLEADER (proposals in flight)."""
        tree, sessions, last = self.state
        diff: list[tuple[TxnHeader, Any]] = []
        proposed: dict[int, tuple[TxnHeader, Any]] = {}
        early: list[QuorumPacket] = []
        acked_newleader = False
        while True:
            qp = await link.read(self.init_timeout)
            t = qp.type
            if acked_newleader:
                if t == PacketType.UPTODATE:
                    break
                early.append(qp)
            elif t == PacketType.DIFF:
                log.info("Getting a diff from the leader 0x%x", qp.zxid)
            elif t == PacketType.TRUNC:
                log.warning("Truncating log to get in sync with the leader 0x%x", qp.zxid)
                await self.host.blocking(truncate_log, self.config.data_log_dir, qp.zxid)
                tree, sessions, last = await self.host.blocking(recover_state, self.config)
            elif t == PacketType.SNAP:
                log.info("Getting a snapshot from leader 0x%x", qp.zxid)
                tree, sessions = decode_snapshot_stream(qp.data or b"", qp.zxid)
                tree.last_processed_zxid = last = qp.zxid
                await self.host.blocking(self._install_snapshot, tree, sessions, qp.zxid)
            elif t == PacketType.PROPOSAL:
                hdr, txn = read_proposal_data(qp.data)
                proposed[hdr.zxid] = (hdr, txn)
            elif t == PacketType.COMMIT:
                entry = proposed.pop(qp.zxid, None)
                if entry is None:
                    raise LearnerFailed(f"COMMIT of 0x{qp.zxid:x} without its proposal")
                tree.apply(*entry)
                track_session(sessions, *entry)
                last = entry[0].zxid
                diff.append(entry)
            elif t == PacketType.NEWLEADER:
                await self.host.blocking(self._log_txns, diff, last)
                write_epoch(self.config.data_dir, CURRENT_EPOCH, new_epoch)
                self.current_epoch = new_epoch
                link.send(packet(PacketType.ACK, qp.zxid))
                acked_newleader = True
            else:
                log.warning("Unexpected %s while syncing with the leader", packet_name(t))
        link.send(packet(PacketType.ACK, make_zxid(new_epoch, 0)))
        self.server = FollowerServer(self, (tree, sessions, last))
        return early

    def _install_snapshot(self, tree: DataTree, sessions: dict[int, int], zxid: int) -> None:
        # Whatever we logged after the leader's snapshot point was never committed.
        truncate_log(self.config.data_log_dir, zxid)
        write_snapshot(tree, sessions, zxid, self.config.data_dir)

    def _log_txns(self, txns: list[tuple[TxnHeader, Any]], last: int) -> None:
        if not txns:
            return
        cfg = self.config
        with TxnLogWriter(cfg.data_log_dir, prealloc_size=cfg.pre_alloc_size_kb * 1024,
                          force_sync=cfg.force_sync) as writer:
            for hdr, txn in txns:
                writer.append(hdr, txn)
            writer.flush_and_sync()

    async def shutdown(self) -> None:
        if self.link is not None:
            self.link.close()
        if self.server is not None:
            await self.server.durable.drain()
            await self.server.stop()


class FollowerServer(ZooKeeperServer):
    """Serves clients on a follower or observer: local reads, writes through the leader."""

    def __init__(self, learner: Learner, state: State) -> None:
        super().__init__(learner.config, state, server_id=learner.my_id, stats=learner.stats, host=learner.host)
        self.learner = learner
        self.mode = "observer" if learner.observer else "follower"
        self.proposals: dict[int, tuple[TxnHeader, Any]] = {}
        self.unacked: deque[int] = deque()
        self.touched: dict[int, int] = {}
        self.revalidating: dict[int, tuple[ClientConnection, int]] = {}
        # Per session, its requests not yet answered, in arrival order (True: waiting on
        # the leader). A request waits only behind its own session's forwarded writes and
        # syncs, as CommitProcessor orders them: one client's write in flight does not
        # hold up other clients' reads.
        self._waiting: dict[int, deque[tuple[Prepared, float, bool]]] = {}
        self._syncs: deque[int] = deque()  # sessions of forwarded syncs: SYNCs come back in order
        self._frame = b""

    def role_metrics(self) -> list[tuple[str, object]]:
        return super().role_metrics() + [("zk_election_time", int(self.learner.peer.last_election_ms))]

    # ---- from clients -----------------------------------------------------------------

    def handle_request(self, conn: ClientConnection, ev: RequestEvent) -> None:
        self.touched[conn.session_id] = conn.session_timeout
        self._frame = ev.frame
        super().handle_request(conn, ev)

    def submit(self, req: Request) -> None:
        forward = req.is_write or req.type == OpCode.SYNC
        if forward:
            if req.type == OpCode.CREATE_SESSION:
                body = int_data(req.record)
            else:
                body = self._frame[_HEADER:]
            self.learner.send(packet(PacketType.REQUEST, -1, request_data(req.session_id, req.cxid, req.type, body),
                                     req.auth))
            if req.type == OpCode.SYNC:
                self._syncs.append(req.session_id)
        queue = self._waiting.get(req.session_id)
        if queue is None:
            if not forward:
                self._finish_safely(Prepared(req), clock_s())
                return
            queue = self._waiting[req.session_id] = deque()
        queue.append((Prepared(req), clock_s(), forward))

    def resume_session(self, conn: ClientConnection, sid: int, timeout: int) -> None:
        """The leader owns sessions: ask it whether this one is still live (REVALIDATE)."""
        self.revalidating[sid] = (conn, timeout)
        self.learner.send(packet(PacketType.REVALIDATE, -1, revalidate_request_data(sid, timeout)))

    def _drain(self, session_id: int) -> None:
        """Answer the session's reads that were waiting behind what just completed."""
        queue = self._waiting.get(session_id)
        if queue is None:
            return
        while queue and not queue[0][2]:
            p, started, _ = queue.popleft()
            self._finish_safely(p, started)
        if not queue:
            del self._waiting[session_id]

    # ---- from the leader --------------------------------------------------------------

    def handle_packet(self, qp: QuorumPacket) -> None:
        t = qp.type
        if t == PacketType.PROPOSAL:
            hdr, txn = read_proposal_data(qp.data)
            self.proposals[hdr.zxid] = (hdr, txn)
            self.unacked.append(hdr.zxid)
            self.durable.append(hdr, txn, qp.data)
        elif t == PacketType.COMMIT:
            entry = self.proposals.pop(qp.zxid, None)
            if entry is None:
                self.learner.fail(f"COMMIT of 0x{qp.zxid:x} without its proposal")
                return
            self._committed(*entry)
        elif t == PacketType.INFORM:
            hdr, txn = read_proposal_data(qp.data)
            self.durable.append(hdr, txn, qp.data)
            self._committed(hdr, txn)
        elif t == PacketType.PING:
            self.learner.send(packet(PacketType.PING, qp.zxid, session_list_data(self.touched)))
            self.touched = {}
        elif t == PacketType.SYNC:
            self._sync_done()
        elif t == PacketType.REVALIDATE:
            self._revalidated(*read_revalidate_reply(qp.data))
        else:
            log.warning("Unexpected %s from the leader", packet_name(t))

    def _committed(self, hdr: TxnHeader, txn: Any) -> None:
        started = clock_s()
        mine: Prepared | None = None
        queue = self._waiting.get(hdr.clientId)
        if queue:
            p, started, forwarded = queue[0]
            req = p.request
            if forwarded and req.type != OpCode.SYNC and req.cxid == hdr.cxid:
                queue.popleft()
                p.hdr, p.txn = hdr, txn
                mine = p
        if mine is None:
            mine = Prepared(Request(hdr.clientId, hdr.cxid, hdr.type, None), hdr, txn)
            started = clock_s()
        self._finish_safely(mine, started)
        self.durable.applied(1, self._take_snapshot)
        self._drain(hdr.clientId)

    def _sync_done(self) -> None:
        session_id = self._syncs.popleft() if self._syncs else None
        queue = self._waiting.get(session_id) if session_id is not None else None
        if not queue or queue[0][0].request.type != OpCode.SYNC:
            log.warning("SYNC from the leader with no sync waiting")
            return
        p, started, _ = queue.popleft()
        self._finish_safely(p, started)
        self._drain(p.request.session_id)

    def _revalidated(self, sid: int, valid: bool) -> None:
        entry = self.revalidating.pop(sid, None)
        if entry is None:
            return
        conn, timeout = entry
        if conn.closed:
            return
        if valid:
            conn.session_id = sid
            self._bind(conn, sid)
        self._finish_session(conn, valid=valid)

    # ---- the log ----------------------------------------------------------------------

    def _on_synced(self, zxid: int) -> None:
        if self.learner.observer:
            self.unacked.clear()
            return
        while self.unacked and self.unacked[0] <= zxid:
            self.learner.send(packet(PacketType.ACK, self.unacked.popleft()))

    def _on_write_failed(self, durable_zxid: int, error: Any) -> None:
        log.error("Cannot write the txn log (%s): leaving the ensemble until the disk works", error)
        self.learner.fail("txn log write failed")
