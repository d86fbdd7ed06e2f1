"""The leading role of a replicated server: discovery, sync of learners, atomic broadcast.

Leader.lead() runs ZAB's phases as ZooKeeper's Leader does:
  1. discovery: learners send FOLLOWERINFO with their accepted epoch; once a quorum of
     voters (the leader included) is connected the new epoch is max(accepted) + 1,
     sent in LEADERINFO; a quorum answers ACKEPOCH with its (current epoch, last zxid),
     and a follower ahead of the leader makes it give up;
  2. sync: each learner gets a DIFF (the committed txns it lacks), a TRUNC (cut back
     what the leader never committed) or a SNAP (the whole tree), then NEWLEADER; when
     a quorum has acked NEWLEADER the leader serves and each learner gets UPTODATE;
  3. broadcast: every write (local or forwarded in a REQUEST) is prepared here, proposed
     to the followers and logged; once a quorum of voters has acked it (the leader's
     own ack is its fsync) it is committed: COMMIT to followers, INFORM to observers,
     applied and answered here. PINGs carry the learners' session touches back.
The leader gives up (and its server goes back to election) when it has not heard from a
quorum within syncLimit ticks.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from ..jute.io import Reader
from ..jute.quorum import LEARNER_PROTOCOL_VERSION, LearnerInfo, PacketType, QuorumPacket
from ..jute.schema import decode
from ..proto.requests import decode_request
from ..storage.epochs import ACCEPTED_EPOCH, CURRENT_EPOCH, write_epoch
from ..storage.transfer import encode_snapshot_stream
from ..tree.datatree import DataTree
from ..jute import TxnHeader
from ..txn.request import Request
from ..types import OpCode
from ..zab.packets import (
    int_data,
    packet,
    proposal_data,
    read_int_data,
    read_request_data,
    read_revalidate_request,
    read_session_list_data,
    revalidate_reply_data,
)
from ..zab.quorum import QuorumMaj, config_text
from ..zab.zxid import epoch_of, make_zxid
from .host import Host, Listener, clock_ms, clock_s
from .quorum_link import LinkClosed, QuorumLink, packet_name
from .standalone import ZooKeeperServer

log = logging.getLogger("zkeeper.server.leader")

State = tuple[DataTree, dict[int, int], int]
SNAPSHOT_SIZE_FACTOR = 0.33  # zookeeper.snapshotSizeFactor
NODE_OVERHEAD = 80  # bytes a znode adds to a snapshot beyond its path and data (Stat, ACL ref)
MAX_HISTORY = 100_000  # committed txns kept in memory for DIFFs (ZooKeeper keeps 500 + its log)


class LeadershipLost(Exception):
    pass


@dataclass(slots=True)
class Proposal:
    zxid: int
    data: bytes
    acks: set[int] = field(default_factory=set)
    syncs: list[LearnerHandler] = field(default_factory=list)  # learners waiting on a sync


class LeaderServer(ZooKeeperServer):
    """The client-serving side of the leader: prep, propose, commit on a quorum of acks."""

    def __init__(self, leader: Leader, state: State) -> None:
        super().__init__(leader.config, state, server_id=leader.my_id, stats=leader.stats, host=leader.host)
        self.leader = leader
        self.mode = "leader"
        self.committed_zxid = state[2]
        self.outstanding: OrderedDict[int, Proposal] = OrderedDict()
        self.proposal_sizes = [-1, -1, -1]  # last/min/max bytes, as Leader's BufferStats
        self.proposals_sent = 0

    def role_summary(self) -> str:
        return "Proposal sizes last/min/max: {}/{}/{}\n".format(*self.proposal_sizes)

    def role_metrics(self) -> list[tuple[str, object]]:
        handlers = [h for h in self.leader.handlers if h.synced]
        last, low, high = self.proposal_sizes
        return [
            ("zk_last_proposal_size", last),
            ("zk_min_proposal_size", low),
            ("zk_max_proposal_size", high),
            ("zk_learners", len(self.leader.handlers)),
            ("zk_synced_followers", sum(1 for h in handlers if not h.observer)),
            ("zk_synced_non_voting_followers", 0),
            ("zk_synced_observers", sum(1 for h in handlers if h.observer)),
            ("zk_pending_syncs", sum(len(p.syncs) for p in self.outstanding.values())),
            ("zk_proposal_count", self.proposals_sent),
            ("zk_election_time", int(self.leader.peer.last_election_ms)),
        ]

    def _note_proposal(self, size: int) -> None:
        sizes = self.proposal_sizes
        sizes[0] = size
        if sizes[1] == -1 or size < sizes[1]:
            sizes[1] = size
        sizes[2] = max(sizes[2], size)
        self.proposals_sent += 1

    def commit_point(self) -> int:
        return self.committed_zxid

    def _log_txn(self, hdr: TxnHeader, txn: Any) -> None:
        # Encoded once: the same bytes are logged here and proposed to the followers.
        p = Proposal(hdr.zxid, proposal_data(hdr, txn))
        self.durable.append(hdr, txn, p.data)
        self.outstanding[hdr.zxid] = p
        proposal = packet(PacketType.PROPOSAL, hdr.zxid, p.data)
        self._note_proposal(len(proposal))
        self.leader.send_to_followers(proposal)

    def _on_synced(self, zxid: int) -> None:
        for p in self.outstanding.values():
            if p.zxid > zxid:
                break
            p.acks.add(self.leader.my_id)
        self.try_commit()

    def ack(self, sid: int, zxid: int) -> None:
        p = self.outstanding.get(zxid)
        if p is not None:
            p.acks.add(sid)
            self.try_commit()

    def try_commit(self) -> None:
        """Commit, in zxid order, every proposal a quorum of voters has acked."""
        committed = False
        while self.outstanding:
            zxid, p = next(iter(self.outstanding.items()))
            if not self.leader.quorum.contains_quorum(p.acks):
                break
            del self.outstanding[zxid]
            self.committed_zxid = zxid
            self.leader.committed(zxid, p.data)
            for handler in p.syncs:
                handler.send(packet(PacketType.SYNC, zxid))
            committed = True
        if committed:
            self._commit()

    def sync_learner(self, handler: LearnerHandler) -> None:
        """A learner's sync request: answered once what is proposed now is committed."""
        if self.outstanding:
            next(reversed(self.outstanding.values())).syncs.append(handler)
        else:
            handler.send(packet(PacketType.SYNC, self.committed_zxid))

    def _on_write_failed(self, durable_zxid: int, error: Any) -> None:
        # A leader that cannot log cannot ack its own proposals: step down, the
        # ensemble elects another while this one's disk is sick.
        log.error("Leader cannot write its log (%s): giving up leadership", error)
        self.leader.fail("txn log write failed")


class Leader:
    def __init__(self, peer: Any, state: State, accepted_epoch: int, current_epoch: int) -> None:
        self.peer = peer
        self.config = peer.config
        self.my_id: int = peer.my_id
        self.stats = peer.stats
        self.host: Host = peer.host
        self.quorum: QuorumMaj = peer.quorum
        self.tick_s = self.config.tick_time / 1000
        self.init_timeout = self.tick_s * (self.config.init_limit or 10)
        self.sync_timeout = self.tick_s * (self.config.sync_limit or 5)
        self.state = state
        self.last_zxid = state[2]
        self.accepted_epoch = accepted_epoch
        self.current_epoch = current_epoch
        self.epoch: int | None = None
        self._epoch_votes: dict[int, int] = {self.my_id: accepted_epoch}
        self._epoch_decided = asyncio.Event()
        self._epoch_acks: set[int] = {self.my_id}
        self._epoch_acked = asyncio.Event()
        self._newleader_acks: set[int] = {self.my_id}
        self._established = asyncio.Event()
        self._failed: str | None = None
        self._failure = asyncio.Event()
        # In connection order: packets go out to learners in the same order every run.
        self.handlers: dict[LearnerHandler, None] = {}
        self.server: LeaderServer | None = None
        # Committed txns since this leader started, for DIFFs: every txn after
        # `history_floor` is here, in order. Older learners get a SNAP.
        self.history: list[tuple[int, bytes]] = []
        self.history_floor = self.last_zxid
        self._listener: Listener | None = None
        self._tasks: list[asyncio.Task[Any]] = []

    # ---- the phases -------------------------------------------------------------------

    async def lead(self) -> None:
        spec = self.config.servers[self.my_id]
        self._listener = await self.host.listen(spec.host, spec.quorum_port, self._accept)
        log.info("LEADING - leader on quorum port %s:%d, last zxid 0x%x", spec.host, spec.quorum_port,
                 self.last_zxid)
        self._maybe_decide_epoch()
        await self._wait(self._epoch_decided, "Timeout while waiting for epoch from quorum")
        self._maybe_epoch_acked()
        await self._wait(self._epoch_acked, "Timeout while waiting for epoch to be acked by quorum")
        self._maybe_established()
        await self._wait(self._established, "Timeout while waiting for NEWLEADER to be acked by quorum")
        assert self.server is not None and self.epoch is not None
        self.peer.election.update_peer_epoch(self.epoch)
        self.peer.now_serving(self.server)
        log.info("Leader established epoch %d with %s", self.epoch, sorted(self._newleader_acks))
        await self._ping_loop()

    async def _wait(self, event: asyncio.Event, what: str) -> None:
        fail = asyncio.ensure_future(self._failure.wait())
        done = asyncio.ensure_future(event.wait())
        try:
            finished, _ = await asyncio.wait({fail, done}, timeout=self.init_timeout,
                                             return_when=asyncio.FIRST_COMPLETED)
        finally:
            fail.cancel()
            done.cancel()
        if self._failed is not None:
            raise LeadershipLost(self._failed)
        if not event.is_set():
            raise LeadershipLost(what)

    async def _ping_loop(self) -> None:
        """Every half tick: ping the learners; give up without a quorum heard from lately."""
        while True:
            try:
                await asyncio.wait_for(self._failure.wait(), self.tick_s / 2)
            except asyncio.TimeoutError:
                pass
            if self._failed is not None:
                raise LeadershipLost(self._failed)
            now = clock_s()
            alive = {self.my_id}
            for h in list(self.handlers):
                if h.synced:
                    h.send(packet(PacketType.PING, self.server.committed_zxid if self.server else 0))
                    if now - h.last_heard <= self.sync_timeout:
                        alive.add(h.sid)
            if not self.quorum.contains_quorum(alive):
                raise LeadershipLost(f"Not sufficient followers synced, only synced with sids: {sorted(alive)}")

    def fail(self, why: str) -> None:
        if self._failed is None:
            self._failed = why
            self._failure.set()

    async def shutdown(self) -> None:
        if self._listener is not None:
            self._listener.close()
        for h in list(self.handlers):
            h.close()
        for t in self._tasks:
            t.cancel()
        if self.server is not None:
            await self.server.durable.drain()
            await self.server.stop()

    # ---- discovery ---------------------------------------------------------------------

    def learner_info(self, sid: int, accepted_epoch: int, observer: bool) -> None:
        if self.epoch is None and not observer:
            self._epoch_votes[sid] = accepted_epoch
            self._maybe_decide_epoch()

    def _maybe_decide_epoch(self) -> None:
        if self.epoch is None and self.quorum.contains_quorum(self._epoch_votes):
            self.epoch = max(self._epoch_votes.values()) + 1
            self.accepted_epoch = self.epoch
            write_epoch(self.config.data_dir, ACCEPTED_EPOCH, self.epoch)
            log.info("New epoch %d from the accepted epochs of %s", self.epoch, sorted(self._epoch_votes))
            self._epoch_decided.set()

    def epoch_ack(self, sid: int, current_epoch: int, last_zxid: int, observer: bool) -> None:
        if current_epoch != -1 and (current_epoch, last_zxid) > (self.current_epoch, self.last_zxid):
            self.fail(f"Follower {sid} is ahead of the leader: epoch {current_epoch}, zxid 0x{last_zxid:x}")
            return
        if not observer:
            self._epoch_acks.add(sid)
            self._maybe_epoch_acked()

    def _maybe_epoch_acked(self) -> None:
        if self.epoch is not None and self.quorum.contains_quorum(self._epoch_acks):
            if self.server is None:
                # As Leader.lead: the epoch is current once a quorum has acked it.
                self.current_epoch = self.epoch
                write_epoch(self.config.data_dir, CURRENT_EPOCH, self.epoch)
                self._create_server()
            self._epoch_acked.set()

    def _create_server(self) -> None:
        assert self.epoch is not None
        self.server = LeaderServer(self, self.state)
        self.server.prep.last_zxid = make_zxid(self.epoch, 0)

    def newleader_ack(self, sid: int, observer: bool) -> None:
        if not observer:
            self._newleader_acks.add(sid)
        self._maybe_established()

    def _maybe_established(self) -> None:
        if self._established.is_set() or self.server is None or self.epoch is None:
            return
        if self.quorum.contains_quorum(self._newleader_acks):
            self.server.start_background_tasks()
            self._established.set()

    @property
    def established(self) -> bool:
        return self._established.is_set()

    # ---- sync ---------------------------------------------------------------------------

    def sync_packets(self, peer_zxid: int) -> list[bytes]:
        """DIFF, TRUNC(+DIFF) or SNAP for a learner whose last logged zxid is `peer_zxid`."""
        assert self.server is not None
        last = self.server.committed_zxid
        if peer_zxid == last:
            return [packet(PacketType.DIFF, last)]
        if peer_zxid > last:
            return [packet(PacketType.TRUNC, last)]
        if peer_zxid >= self.history_floor:
            zxids = [z for z, _ in self.history]
            # The newest txn both have: everything the learner logged after it is
            # something no quorum committed (a dead leader's proposal): cut it off.
            common = max((z for z in zxids if z <= peer_zxid), default=self.history_floor)
            missing = [(z, d) for z, d in self.history if z > common]
            if sum(len(d) for _, d in missing) <= self._diff_size_limit():
                out = [packet(PacketType.DIFF, last)] if common == peer_zxid else [packet(PacketType.TRUNC, common)]
                for zxid, data in missing:
                    out.append(packet(PacketType.PROPOSAL, zxid, data))
                    out.append(packet(PacketType.COMMIT, zxid))
                return out
        server = self.server
        sessions = {s.id: s.timeout for s in server.sessions.sessions.values()}
        snap = encode_snapshot_stream(server.tree, sessions)
        log.info("Sending SNAP of 0x%x (%d bytes) to a learner at 0x%x", last, len(snap), peer_zxid)
        return [packet(PacketType.SNAP, last) + snap]  # the stream follows the packet

    def _diff_size_limit(self) -> int:
        """ZooKeeper's snapshotSizeFactor rule: replaying txns is worth it only while they
        add up to less than a third of a snapshot (estimated from the tree's size)."""
        assert self.server is not None
        tree = self.server.tree
        return int(SNAPSHOT_SIZE_FACTOR * (tree.approximate_data_size + NODE_OVERHEAD * len(tree.nodes)))

    def start_forwarding(self, handler: LearnerHandler) -> list[bytes]:
        """From now on the learner gets every proposal: first those still in flight."""
        assert self.server is not None and self.epoch is not None
        out = [packet(PacketType.NEWLEADER, make_zxid(self.epoch, 0),
                      config_text(self.config.servers).encode())]
        if not handler.observer:
            for p in self.server.outstanding.values():
                out.append(packet(PacketType.PROPOSAL, p.zxid, p.data))
        self.handlers[handler] = None
        return out

    # ---- broadcast ---------------------------------------------------------------------

    def send_to_followers(self, data: bytes) -> None:
        for h in self.handlers:
            if not h.observer:
                h.send(data)

    def committed(self, zxid: int, data: bytes) -> None:
        self.history.append((zxid, data))
        if len(self.history) > MAX_HISTORY:
            # Learners further behind than this get a SNAP instead of a DIFF.
            drop = len(self.history) - MAX_HISTORY // 2
            self.history_floor = self.history[drop - 1][0]
            del self.history[:drop]
        commit = packet(PacketType.COMMIT, zxid)
        inform: bytes | None = None
        for h in self.handlers:
            if h.observer:
                inform = inform or packet(PacketType.INFORM, zxid, data)
                h.send(inform)
            else:
                h.send(commit)

    # ---- learners ---------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = LearnerHandler(self, QuorumLink(reader, writer))
        try:
            await handler.run()
        except LinkClosed as e:
            log.info("Learner %s gone: %s", handler.name, e)
        except LeadershipLost:
            pass
        except Exception:
            log.exception("Learner handler %s failed", handler.name)
        finally:
            handler.close()


class LearnerHandler:
    def __init__(self, leader: Leader, link: QuorumLink) -> None:
        self.leader = leader
        self.link = link
        self.sid = -1
        self.observer = False
        self.synced = False
        self.last_heard = clock_s()

    @property
    def name(self) -> str:
        return f"sid:{self.sid}" if self.sid >= 0 else self.link.peer

    def send(self, data: bytes) -> None:
        self.link.send(data)

    def close(self) -> None:
        self.leader.handlers.pop(self, None)
        self.link.close()

    async def _read(self, timeout: float) -> QuorumPacket:
        qp = await self.link.read(timeout)
        self.last_heard = clock_s()
        return qp

    async def run(self) -> None:
        leader = self.leader
        qp = await self._read(leader.init_timeout)
        if qp.type not in (PacketType.FOLLOWERINFO, PacketType.OBSERVERINFO):
            raise LinkClosed(f"first packet is {packet_name(qp.type)}, not FOLLOWERINFO or OBSERVERINFO")
        info = decode(LearnerInfo, qp.data or b"")
        self.sid = info.serverid
        self.observer = qp.type == PacketType.OBSERVERINFO
        log.info("Follower sid: %d (%s) connected", self.sid, "observer" if self.observer else "participant")
        leader.learner_info(self.sid, epoch_of(qp.zxid), self.observer)
        await leader._wait(leader._epoch_decided, "Timeout while waiting for epoch from quorum")
        assert leader.epoch is not None
        self.send(packet(PacketType.LEADERINFO, make_zxid(leader.epoch, 0), int_data(LEARNER_PROTOCOL_VERSION)))
        qp = await self._read(leader.init_timeout)
        if qp.type != PacketType.ACKEPOCH:
            raise LinkClosed(f"expected ACKEPOCH, got {packet_name(qp.type)}")
        peer_zxid = qp.zxid
        leader.epoch_ack(self.sid, read_int_data(qp.data), peer_zxid, self.observer)
        await leader._wait(leader._epoch_acked, "Timeout while waiting for epoch to be acked by quorum")
        # One loop turn: the sync packets and the start of forwarding see the same state.
        for data in leader.sync_packets(peer_zxid) + leader.start_forwarding(self):
            self.send(data)
        qp = await self._read(leader.init_timeout)
        if qp.type != PacketType.ACK:
            raise LinkClosed(f"expected ACK of NEWLEADER, got {packet_name(qp.type)}")
        leader.newleader_ack(self.sid, self.observer)
        await leader._wait(leader._established, "Timeout while waiting for NEWLEADER to be acked by quorum")
        self.send(packet(PacketType.UPTODATE, 0))
        self.synced = True
        while True:
            self._handle(await self._read(leader.sync_timeout))

    def _handle(self, qp: QuorumPacket) -> None:
        server = self.leader.server
        assert server is not None
        t = qp.type
        if t == PacketType.ACK:
            if qp.zxid & 0xFFFFFFFF:  # counter 0: the ack of NEWLEADER/UPTODATE
                server.ack(self.sid, qp.zxid)
        elif t == PacketType.PING:
            now = clock_ms()
            for sid in read_session_list_data(qp.data):
                server.sessions.touch(sid, now)
        elif t == PacketType.REQUEST:
            self._request(server, qp)
        elif t == PacketType.REVALIDATE:
            sid, timeout = read_revalidate_request(qp.data)
            valid = server.sessions.touch(sid, clock_ms())
            if valid:
                server.sessions.sessions[sid].timeout = timeout
            self.send(packet(PacketType.REVALIDATE, qp.zxid, revalidate_reply_data(sid, valid)))
        else:
            log.warning("Learner %s sent unexpected %s", self.name, packet_name(t))

    def _request(self, server: LeaderServer, qp: QuorumPacket) -> None:
        fwd = read_request_data(qp.data)
        auth = list(qp.authinfo or [])
        if fwd.type == OpCode.SYNC:
            server.sync_learner(self)
            return
        if fwd.type == OpCode.CREATE_SESSION:
            timeout = read_int_data(fwd.body)
            server.sessions.add(fwd.session_id, timeout, clock_ms())
            record: Any = timeout
        elif fwd.type == OpCode.CLOSE_SESSION:
            record = None
        else:
            record = decode_request(fwd.type, Reader(fwd.body))
        server.submit(Request(fwd.session_id, fwd.cxid, fwd.type, record, auth, self))


__all__ = ["Leader", "LeaderServer", "LeadershipLost"]
