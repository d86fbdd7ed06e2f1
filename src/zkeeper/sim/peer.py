"""One simulated server: durable state, a zab.Election, and a ZAB stub once it decides.

It carries out each Ready (sends through the virtual network, schedules the next tick)
and hosts the stub's callbacks; every step is reported to the run's Checker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..zab.election import Election, Ready
from ..zab.vote import ServerState, Vote
from ..zab.wire import decode_notification, encode_notification
from .network import Conn
from .stubzab import Durable, LeaderStub, LearnerStub, Message, Phase

if TYPE_CHECKING:
    from .cluster import Cluster


class SimPeer:
    """One server: durable state, an Election, and a leader or learner stub once decided."""

    def __init__(self, sid: int, cluster: Cluster, durable: Durable) -> None:
        self.my_id = sid
        self.cluster = cluster
        self.quorum = cluster.quorum
        self.durable = durable
        self.tick_time = cluster.cfg.tick_time
        self.init_limit = cluster.cfg.init_limit
        self.sync_limit = cluster.cfg.sync_limit
        self.incarnation = 0
        self.up = False
        self.election: Election | None = None
        self.role: LeaderStub | LearnerStub | None = None
        self._wake_at: int | None = None

    @property
    def now(self) -> int:
        return self.cluster.sched.now

    @property
    def state(self) -> ServerState | None:
        return self.election.state if self.election is not None and self.up else None

    # ---- lifecycle ----------------------------------------------------------------------

    def boot(self) -> None:
        assert not self.up
        self.incarnation += 1
        self.up = True
        self.cluster.net.node_up(self.my_id, self.incarnation)
        d = self.durable
        self.election = Election(self.my_id, self.quorum, last_zxid=d.last_zxid, current_epoch=d.current_epoch,
                                 timing=self.cluster.cfg.timing, config=self.cluster.config_bytes)
        self.cluster.checker.trace.add(f"{self.now:>7} {self.my_id}: boot #{self.incarnation} "
                                       f"epoch={d.current_epoch} zxid=0x{d.last_zxid:x}")
        self._look()
        self._schedule_role_tick()

    def boot_if_down(self) -> None:
        if not self.up:  # a fault may have restarted it already
            self.boot()

    def crash(self) -> None:
        assert self.up
        self.cluster.checker.trace.add(f"{self.now:>7} {self.my_id}: crash")
        self.up = False
        self.cluster.net.node_down(self.my_id)
        self.election = None
        self.role = None
        self._wake_at = None

    def _look(self) -> None:
        e = self.election
        assert e is not None
        d = self.durable
        if e.participant:
            self.cluster.checker.stood_for(Vote(self.my_id, d.last_zxid, d.current_epoch))
        self._apply(e.start(self.now, last_zxid=d.last_zxid, current_epoch=d.current_epoch))

    # ---- election ---------------------------------------------------------------------

    def receive_notification(self, sender: int, body: bytes) -> None:
        if self.election is None:
            return
        self._apply(self.election.step(sender, decode_notification(body), self.now))

    def _apply(self, ready: Ready) -> None:
        e = self.election
        assert e is not None
        c = self.cluster
        for m in ready.messages:
            c.checker.sent(self.my_id, m.to, m.notification, e.init_vote)
            c.net.send(self.my_id, m.to, encode_notification(m.notification), c.peers[m.to].receive_notification)
        if ready.wake_at is not None:
            self._schedule_wake(ready.wake_at)
        if ready.outcome is not None:
            c.checker.decided(self.my_id, ready.outcome, self.now)
            if ready.outcome.state == ServerState.LEADING:
                self.role = LeaderStub(self)
            else:
                self.role = LearnerStub(self, ready.outcome.leader, ready.outcome.state == ServerState.OBSERVING)

    def _schedule_wake(self, when: int) -> None:
        if self._wake_at is not None and self._wake_at <= when:
            return  # an earlier wake is pending; tick then says when to come back
        self._wake_at = when
        inc = self.incarnation

        def wake() -> None:
            if self.incarnation != inc or not self.up or self._wake_at != when:
                return
            self._wake_at = None
            assert self.election is not None
            self._apply(self.election.tick(self.now))

        self.cluster.sched.at(when, wake)

    # ---- the stub's environment ---------------------------------------------------------

    def _schedule_role_tick(self) -> None:
        inc = self.incarnation

        def tick() -> None:
            if self.incarnation != inc or not self.up:
                return
            if self.role is not None:
                self.role.tick()
            self._schedule_role_tick()

        self.cluster.sched.after(self.tick_time // 2, tick)

    def connect(self, to: int) -> Conn:
        return self.cluster.net.connect(self.my_id, to)

    def send(self, conn: Conn, msg: Message) -> None:
        self.cluster.net.send_on(conn, self.my_id, msg, self.cluster.peers[conn.other(self.my_id)].receive_quorum)

    def receive_quorum(self, conn: Conn, msg: Message) -> None:
        if not self.up:
            return
        if isinstance(self.role, LeaderStub) or (self.role is not None and conn is self.role.conn):
            self.role.on_message(conn, msg)

    def close(self, conn: Conn) -> None:
        self.cluster.net.close(conn)

    def give_up(self, reason: str) -> None:
        self.cluster.checker.trace.add(f"{self.now:>7} {self.my_id}: LOOKING again: {reason}")
        assert self.role is not None
        self.role.close()
        self.role = None
        self._look()

    def update_peer_epoch(self, epoch: int) -> None:
        assert self.election is not None
        self.election.update_peer_epoch(epoch)
        self.cluster.checker.stood_for(self.election.current_vote)

    def wants_proposal(self) -> bool:
        return self.cluster.rng.random() < self.cluster.cfg.propose_chance

    def durable_changed(self) -> None:
        d = self.durable
        self.cluster.checker.history(self.my_id, d.history, d.current_epoch, d.accepted_epoch)

    def epoch_established(self, epoch: int) -> None:
        self.cluster.checker.epoch_established(self.my_id, epoch, self.durable.history, self.now)

    def serving(self, epoch: int) -> None:
        self.cluster.checker.trace.add(f"{self.now:>7} {self.my_id}: serving epoch {epoch}")

    def committed(self, zxid: int) -> None:
        self.cluster.checker.committed_txn(self.my_id, zxid)

    def synced_to(self, leader: int, epoch: int) -> bool:
        """Following (or observing) `leader` in `epoch` with the sync done."""
        r = self.role
        return (isinstance(r, LearnerStub) and r.leader == leader and r.phase == Phase.BROADCAST
                and self.durable.current_epoch == epoch)
