"""A stand-in for ZAB discovery, sync and broadcast: just enough to put elections under load.

Not the protocol the server will run (that comes with zab/leader.py and zab/follower.py);
it keeps what elections depend on, with Leader/Learner's rules: once a quorum has
connected the leader proposes epoch max(acceptedEpoch) + 1; a learner accepts only a
newer epoch (equal: a non-counting ack; older: give up); until the epoch is settled a
learner whose history is newer than the leader's is cut off; a quorum must ack the epoch
and then NEWLEADER; both sides give up after initLimit ticks while syncing and syncLimit ticks of
silence after. Histories are lists of zxids; sync copies the leader's.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol

from ..zab.quorum import QuorumMaj
from ..zab.zxid import make_zxid
from .network import Conn


@dataclass(slots=True)
class Durable:
    """What a server keeps on disk across crashes (acceptedEpoch, currentEpoch, the log)."""

    accepted_epoch: int = 0
    current_epoch: int = 0
    history: list[int] = field(default_factory=list)

    @property
    def last_zxid(self) -> int:
        return self.history[-1] if self.history else 0


# ---- messages (the quorum port) --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FollowerInfo:
    sid: int
    accepted_epoch: int
    observer: bool


@dataclass(frozen=True, slots=True)
class LeaderInfo:
    epoch: int


@dataclass(frozen=True, slots=True)
class AckEpoch:
    current_epoch: int  # -1: this epoch was accepted before, so the ack does not count
    last_zxid: int


@dataclass(frozen=True, slots=True)
class NewLeader:
    epoch: int
    history: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class AckNewLeader:
    pass


@dataclass(frozen=True, slots=True)
class UpToDate:
    pass


@dataclass(frozen=True, slots=True)
class Proposal:
    zxid: int


@dataclass(frozen=True, slots=True)
class Ack:
    zxid: int


@dataclass(frozen=True, slots=True)
class Inform:
    zxid: int  # a committed txn, for observers


@dataclass(frozen=True, slots=True)
class Ping:
    pass


@dataclass(frozen=True, slots=True)
class PingReply:
    pass


Message = (FollowerInfo | LeaderInfo | AckEpoch | NewLeader | AckNewLeader | UpToDate | Proposal | Ack
           | Inform | Ping | PingReply)


class Env(Protocol):
    """What a stub needs from the simulated server that hosts it."""

    my_id: int
    quorum: QuorumMaj
    durable: Durable
    tick_time: int
    init_limit: int
    sync_limit: int

    @property
    def now(self) -> int: ...
    def connect(self, to: int) -> Conn: ...
    def send(self, conn: Conn, msg: Message) -> None: ...
    def close(self, conn: Conn) -> None: ...
    def give_up(self, reason: str) -> None: ...
    def update_peer_epoch(self, epoch: int) -> None: ...
    def wants_proposal(self) -> bool: ...
    def durable_changed(self) -> None: ...
    def epoch_established(self, epoch: int) -> None: ...
    def serving(self, epoch: int) -> None: ...
    def committed(self, zxid: int) -> None: ...


class Phase(enum.IntEnum):
    DISCOVERY = 0  # leader: waiting for a quorum to connect / learner: waiting for LEADERINFO
    EPOCH_ACK = 1  # leader: waiting for a quorum of ACKEPOCH
    SYNC = 2  # waiting for a quorum of NEWLEADER acks / learner: waiting for NEWLEADER, UPTODATE
    BROADCAST = 3


@dataclass(slots=True, eq=False)
class _LearnerView:
    sid: int
    observer: bool
    last_heard: int
    acked_epoch: bool = False
    sent_newleader: bool = False
    acked_newleader: bool = False


class LeaderStub:
    def __init__(self, env: Env) -> None:
        self.env = env
        self.phase = Phase.DISCOVERY
        self.epoch: int | None = None
        self.deadline = env.now + env.tick_time * env.init_limit
        self.learners: dict[Conn, _LearnerView] = {}
        self._max_accepted = env.durable.accepted_epoch
        self._connecting = {env.my_id}
        self._epoch_ackers = {env.my_id}
        self._newleader_ackers = {env.my_id}
        self._pending: dict[int, set[int]] = {}  # proposed zxid -> voters that logged it
        self._counter = 0

    def on_message(self, conn: Conn, msg: Message) -> None:
        env = self.env
        if isinstance(msg, FollowerInfo):
            self._on_follower_info(conn, msg)
            return
        view = self.learners.get(conn)
        if view is None:
            return
        view.last_heard = env.now
        voter = env.quorum.is_voter(view.sid)
        if isinstance(msg, AckEpoch):
            if self.phase >= Phase.SYNC:
                view.acked_epoch = True  # the epoch is settled: no more checks, just sync
                self._sync(conn, view)
                return
            if msg.current_epoch != -1:
                mine = (env.durable.current_epoch, env.durable.last_zxid)
                if (msg.current_epoch, msg.last_zxid) > mine:
                    # Leader.waitForEpochAck throws in that learner's handler: it is cut
                    # off, the leader carries on.
                    del self.learners[conn]
                    env.close(conn)
                    return
                if voter:
                    self._epoch_ackers.add(view.sid)
            view.acked_epoch = True
            self._maybe_establish()
        elif isinstance(msg, AckNewLeader):
            view.acked_newleader = True
            if voter:
                self._newleader_ackers.add(view.sid)
            if self.phase == Phase.SYNC:
                self._maybe_serve()
            elif self.phase == Phase.BROADCAST:
                env.send(conn, UpToDate())
        elif isinstance(msg, Ack):
            if voter and msg.zxid in self._pending:
                self._pending[msg.zxid].add(view.sid)
                self._maybe_commit(msg.zxid)

    def _on_follower_info(self, conn: Conn, msg: FollowerInfo) -> None:
        env = self.env
        self.learners[conn] = _LearnerView(msg.sid, msg.observer, env.now)
        if self.epoch is not None:
            env.send(conn, LeaderInfo(self.epoch))
            return
        self._max_accepted = max(self._max_accepted, msg.accepted_epoch)
        if env.quorum.is_voter(msg.sid):
            self._connecting.add(msg.sid)
        if env.quorum.contains_quorum(self._connecting):
            self.epoch = self._max_accepted + 1
            env.durable.accepted_epoch = self.epoch
            env.durable_changed()
            self._enter(Phase.EPOCH_ACK)
            for c in self.learners:
                env.send(c, LeaderInfo(self.epoch))
            self._maybe_establish()  # a one-voter ensemble needs no acks

    def _maybe_establish(self) -> None:
        env = self.env
        assert self.phase == Phase.EPOCH_ACK, self.phase
        if not env.quorum.contains_quorum(self._epoch_ackers):
            return
        assert self.epoch is not None
        env.durable.current_epoch = self.epoch
        env.durable_changed()
        env.epoch_established(self.epoch)
        self._enter(Phase.SYNC)
        for c, v in self.learners.items():
            if v.acked_epoch:
                self._sync(c, v)
        self._maybe_serve()

    def _sync(self, conn: Conn, view: _LearnerView) -> None:
        assert self.epoch is not None
        if not view.sent_newleader:
            view.sent_newleader = True
            self.env.send(conn, NewLeader(self.epoch, tuple(self.env.durable.history)))

    def _maybe_serve(self) -> None:
        env = self.env
        if not env.quorum.contains_quorum(self._newleader_ackers):
            return
        assert self.epoch is not None
        self._enter(Phase.BROADCAST)
        env.update_peer_epoch(self.epoch)
        env.serving(self.epoch)
        for c, v in self.learners.items():
            if v.acked_newleader:
                env.send(c, UpToDate())

    def _enter(self, phase: Phase) -> None:
        self.phase = phase
        self.deadline = self.env.now + self.env.tick_time * self.env.init_limit

    def tick(self) -> None:
        env = self.env
        now = env.now
        if self.phase != Phase.BROADCAST:
            if now >= self.deadline:
                env.give_up(f"no quorum within initLimit in {self.phase.name}")
            return
        horizon = now - env.tick_time * env.sync_limit
        alive = {env.my_id} | {v.sid for v in self.learners.values()
                               if v.acked_newleader and v.last_heard >= horizon}
        if not env.quorum.contains_quorum(alive):
            env.give_up("not sufficient followers synced")
            return
        for c, v in self.learners.items():
            if v.sent_newleader:
                env.send(c, Ping())
        if len(self._pending) < 3 and env.wants_proposal():
            self._propose()

    def _propose(self) -> None:
        env = self.env
        assert self.epoch is not None
        self._counter += 1
        zxid = make_zxid(self.epoch, self._counter)
        env.durable.history.append(zxid)
        env.durable_changed()
        self._pending[zxid] = {env.my_id}
        for c, v in self.learners.items():
            if v.sent_newleader and not v.observer:
                env.send(c, Proposal(zxid))
        self._maybe_commit(zxid)

    def _maybe_commit(self, zxid: int) -> None:
        env = self.env
        if not env.quorum.contains_quorum(self._pending[zxid]):
            return
        # Learners log in order, so a quorum for this one is a quorum for those before it.
        for z in sorted(z for z in self._pending if z <= zxid):
            del self._pending[z]
            env.committed(z)
            for c, v in self.learners.items():
                if v.sent_newleader and v.observer:
                    env.send(c, Inform(z))

    def close(self) -> None:
        for c in self.learners:
            self.env.close(c)


class LearnerStub:
    def __init__(self, env: Env, leader: int, observer: bool) -> None:
        self.env = env
        self.leader = leader
        self.observer = observer
        self.phase = Phase.DISCOVERY
        self.deadline = env.now + env.tick_time * env.init_limit
        self.conn = self._connect()
        self._next_retry = env.now + 1000  # Learner.connectToLeader sleeps 1 s between tries

    def _connect(self) -> Conn:
        env = self.env
        conn = env.connect(self.leader)
        env.send(conn, FollowerInfo(env.my_id, env.durable.accepted_epoch, self.observer))
        return conn

    def on_message(self, conn: Conn, msg: Message) -> None:
        if conn is not self.conn:
            return
        env = self.env
        d = env.durable
        if isinstance(msg, LeaderInfo):
            if msg.epoch > d.accepted_epoch:
                env.send(conn, AckEpoch(d.current_epoch, d.last_zxid))
                d.accepted_epoch = msg.epoch
                env.durable_changed()
            elif msg.epoch == d.accepted_epoch:
                env.send(conn, AckEpoch(-1, d.last_zxid))
            else:
                env.give_up(f"leader epoch {msg.epoch} is older than accepted epoch {d.accepted_epoch}")
                return
            self.phase = Phase.SYNC
        elif isinstance(msg, NewLeader):
            assert msg.epoch == d.accepted_epoch, (msg.epoch, d.accepted_epoch)
            d.history = list(msg.history)
            d.current_epoch = msg.epoch
            env.durable_changed()
            env.send(conn, AckNewLeader())
        elif isinstance(msg, UpToDate):
            self.phase = Phase.BROADCAST
            env.update_peer_epoch(d.current_epoch)
        elif isinstance(msg, Inform) and msg.zxid <= d.last_zxid:
            pass  # NEWLEADER already carried it, uncommitted then
        elif isinstance(msg, (Proposal, Inform)):
            assert msg.zxid > d.last_zxid, f"zxid 0x{msg.zxid:x} after 0x{d.last_zxid:x}"
            d.history.append(msg.zxid)
            env.durable_changed()
            if isinstance(msg, Proposal):
                env.send(conn, Ack(msg.zxid))
        elif isinstance(msg, Ping):
            env.send(conn, PingReply())
        limit = env.sync_limit if self.phase == Phase.BROADCAST else env.init_limit
        self.deadline = env.now + env.tick_time * limit

    def tick(self) -> None:
        env = self.env
        if env.now >= self.deadline:
            env.give_up(f"leader {self.leader} silent in {self.phase.name}")
        elif self.phase == Phase.DISCOVERY and env.now >= self._next_retry:
            env.close(self.conn)
            self.conn = self._connect()
            self._next_retry = env.now + 1000

    def close(self) -> None:
        self.env.close(self.conn)
