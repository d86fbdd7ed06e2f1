"""Fast Leader Election (ZooKeeper 3.8) as a pure state machine: step/tick in, Ready out.

One `Election` lives as long as the peer, like FastLeaderElection plus its receiver
thread: `start` begins a round (lookForLeader), `step` takes one notification, `tick`
fires the finalize wait and the resend backoff. Each call returns a `Ready`: messages
to send, the outcome once decided, and when to tick next. Once decided it keeps
answering LOOKING peers with its vote, which is how late peers find the leader.
No clock, no socket: `now` is milliseconds chosen by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

from .quorum import QuorumMaj
from .vote import JAVA_LONG_MIN, Ballot, Notification, ServerState, Vote

__all__ = ["Election", "ElectionTiming", "Outcome", "Ready", "Send", "ServerState", "Notification", "Vote"]


@dataclass(frozen=True, slots=True)
class ElectionTiming:
    """FastLeaderElection's waits, in ms (zookeeper.fastleader.* system properties)."""

    finalize_wait: int = 200  # quiet time after a quorum agrees before deciding
    min_notification_interval: int = 200  # first resend when nothing arrives
    max_notification_interval: int = 60_000  # the resend backoff stops doubling here


@dataclass(frozen=True, slots=True)
class Send:
    to: int
    notification: Notification


@dataclass(frozen=True, slots=True)
class Outcome:
    """The end of a round: what this server becomes and whom it follows (the end vote)."""

    state: ServerState  # LEADING, FOLLOWING or OBSERVING
    leader: int
    zxid: int
    election_epoch: int
    peer_epoch: int
    supporters: frozenset[int]  # the voters whose agreeing votes decided it (leadingVoteSet)
    joined: bool  # decided from servers already FOLLOWING/LEADING, not by a round of votes

    @property
    def vote(self) -> Vote:
        return Vote(self.leader, self.zxid, self.peer_epoch)


@dataclass(frozen=True, slots=True)
class Ready:
    messages: tuple[Send, ...] = ()
    outcome: Outcome | None = None
    wake_at: int | None = None  # call tick(now) no later than this; None: nothing pending


class Election:
    def __init__(self, my_id: int, quorum: QuorumMaj, *, last_zxid: int, current_epoch: int,
                 timing: ElectionTiming = ElectionTiming(), config: bytes = b"") -> None:
        """`config` is this server's QuorumMaj.toString() bytes, sent in every notification."""
        if my_id not in quorum.members:
            raise ValueError(f"server {my_id} is neither a participant nor an observer")
        self.my_id = my_id
        self.quorum = quorum
        self.timing = timing
        self.config = config
        self.participant = quorum.is_voter(my_id)
        self.last_zxid = last_zxid
        self.current_epoch = current_epoch
        self.state = ServerState.LOOKING
        self.logical_clock = 0  # the election round; not persisted, as in ZooKeeper
        self.proposal = Vote(-1, -1, -1)
        # QuorumPeer.currentVote: what we answer with while not in a round of our own.
        self._current = Ballot(Vote(my_id, last_zxid, current_epoch), -1)
        self._in_round = False
        self._recvset: dict[int, Ballot] = {}  # votes of this round
        self._outofelection: dict[int, Ballot] = {}  # votes of servers already settled
        self._not_timeout = timing.min_notification_interval
        self._resend_at: int | None = None
        self._finalize_at: int | None = None
        self._out: list[Send] = []
        self._outcome: Outcome | None = None
        self._decided_now: Outcome | None = None
        self._last_now = -(2**63)

    # ---- inputs ---------------------------------------------------------------------

    def start(self, now: int, *, last_zxid: int | None = None, current_epoch: int | None = None) -> Ready:
        """Go LOOKING and begin a new round; pass the data's current zxid and epoch when
        they changed since the last round (they always do after leading or following)."""
        self._begin(now)
        if last_zxid is not None:
            self.last_zxid = last_zxid
        if current_epoch is not None:
            self.current_epoch = current_epoch
        self.state = ServerState.LOOKING
        self._outcome = None
        self._in_round = True
        self.logical_clock += 1
        self.proposal = self._init_vote()
        self._recvset.clear()
        self._outofelection.clear()
        self._finalize_at = None
        self._not_timeout = self.timing.min_notification_interval
        self._send_notifications()
        self._resend_at = now + self._not_timeout
        self._check_round_quorum(now)  # a one-voter ensemble agrees with itself
        return self._ready()

    def step(self, sender: int, n: Notification, now: int) -> Ready:
        """One notification from `sender` (never ourselves: our own vote counts directly)."""
        assert sender != self.my_id, "a server's own notifications are counted without a network"
        self._begin(now)
        if not self.quorum.is_voter(sender):
            # Observers (and strangers) get our current vote at once and never count.
            self._send(sender, self._current_vote_notification(self.logical_clock))
        elif self.state == ServerState.LOOKING:
            if self._in_round:
                self._receive(sender, n, now)
            if n.state == ServerState.LOOKING and n.election_epoch < self.logical_clock:
                # A peer in an old round: tell it where we are so it catches up.
                p = self.proposal
                self._send(sender, Notification(self.state, p.leader, p.zxid, self.logical_clock,
                                                p.peer_epoch, config=self.config))
        elif n.state == ServerState.LOOKING:
            # Settled already: answer a looking peer with the leader we settled on.
            self._send(sender, self._current_vote_notification(self._current.election_epoch))
        return self._ready()

    def tick(self, now: int) -> Ready:
        self._begin(now)
        if self.state == ServerState.LOOKING and self._in_round:
            if self._finalize_at is not None:
                if now >= self._finalize_at:
                    target = Ballot(self.proposal, self.logical_clock)
                    self._decide(self.proposal, self.logical_clock, self._agreeing(self._recvset, target), False)
            elif self._resend_at is not None and now >= self._resend_at:
                # Nothing arrived for a while: say it again, and back off.
                self._send_notifications()
                self._not_timeout = min(2 * self._not_timeout, self.timing.max_notification_interval)
                self._resend_at = now + self._not_timeout
        return self._ready()

    def update_peer_epoch(self, epoch: int) -> None:
        """QuorumPeer.updateElectionVote: once the new epoch is settled, answer with it, so
        that a server restarting later sees every settled peer agree (ZOOKEEPER-1732)."""
        assert self.state != ServerState.LOOKING, "only a settled server has an epoch to report"
        v = self._current.vote
        self._current = Ballot(Vote(v.leader, v.zxid, epoch), self._current.election_epoch)

    # ---- views ------------------------------------------------------------------------

    @property
    def current_vote(self) -> Vote:
        return self._current.vote

    @property
    def outcome(self) -> Outcome | None:
        """The decision of the last round, until a new round starts."""
        return self._outcome

    @property
    def wake_at(self) -> int | None:
        """When `tick` has something to do: the end of the finalize wait, else the next resend."""
        if self._finalize_at is not None:
            return self._finalize_at
        if self.state == ServerState.LOOKING and self._in_round:
            return self._resend_at
        return None

    @property
    def init_vote(self) -> Vote:
        """What this server votes for when a round starts: itself, unless it is an observer."""
        return self._init_vote()

    @property
    def in_round(self) -> bool:
        return self._in_round

    @property
    def finalizing(self) -> bool:
        return self._finalize_at is not None

    # ---- lookForLeader, one notification at a time -----------------------------------

    def _receive(self, sender: int, n: Notification, now: int) -> None:
        if self._finalize_at is not None:
            if not n.vote.beats(self.proposal):
                # ZooKeeper drops it and waits finalize_wait again from now.
                self._finalize_at = now + self.timing.finalize_wait
                return
            self._finalize_at = None  # a better vote reopens the round
        self._resend_at = now + self._not_timeout
        if not self.quorum.is_voter(n.leader):
            return
        if n.state == ServerState.LOOKING:
            self._on_looking(sender, n, now)
        elif n.state in (ServerState.FOLLOWING, ServerState.LEADING):
            self._on_settled(sender, n)
        # OBSERVING: observers do not vote.

    def _on_looking(self, sender: int, n: Notification, now: int) -> None:
        if self._init_vote().zxid == -1 or n.zxid == -1:
            return  # a server that has not loaded its data takes no part
        if n.election_epoch > self.logical_clock:
            # A newer round: join it, starting again from the better of its vote and ours.
            self.logical_clock = n.election_epoch
            self._recvset.clear()
            init = self._init_vote()
            self.proposal = n.vote if n.vote.beats(init) else init
            self._send_notifications()
        elif n.election_epoch < self.logical_clock:
            return
        elif n.vote.beats(self.proposal):
            self.proposal = n.vote
            self._send_notifications()
        self._recvset[sender] = Ballot(n.vote, n.election_epoch)
        self._check_round_quorum(now)

    def _on_settled(self, sender: int, n: Notification) -> None:
        """A FOLLOWING/LEADING peer: follow its leader once a quorum says so and the leader
        itself says LEADING, so a crashed leader is not elected over and over."""
        ballot = Ballot(n.vote, n.election_epoch, n.state, n.version)
        if n.election_epoch == self.logical_clock:
            # ZooKeeper records these without the format version (so only leaders compare).
            self._recvset[sender] = Ballot(n.vote, n.election_epoch, n.state)
            supporters = self._agreeing(self._recvset, ballot)
            if self.quorum.contains_quorum(supporters) and self._leader_confirmed(self._recvset, n):
                self._decide(n.vote, n.election_epoch, supporters, True)
                return
        # Votes from any round: a late server joins an ensemble that is already running.
        self._outofelection[sender] = ballot
        supporters = self._agreeing(self._outofelection, ballot)
        if self.quorum.contains_quorum(supporters) and self._leader_confirmed(self._outofelection, n):
            self.logical_clock = n.election_epoch
            self._decide(n.vote, n.election_epoch, supporters, True)

    def _check_round_quorum(self, now: int) -> None:
        target = Ballot(self.proposal, self.logical_clock)
        if self._finalize_at is None and self.quorum.contains_quorum(self._agreeing(self._recvset, target)):
            self._finalize_at = now + self.timing.finalize_wait

    def _agreeing(self, votes: dict[int, Ballot], target: Ballot) -> frozenset[int]:
        """getVoteTracker: the voters whose recorded vote equals `target`."""
        return frozenset(sid for sid, b in votes.items() if target.agrees(b) and self.quorum.is_voter(sid))

    def _leader_confirmed(self, votes: dict[int, Ballot], n: Notification) -> bool:
        """checkLeader: someone else must have told us it is LEADING; if everyone says we
        lead, we do, provided it is about this round."""
        if n.leader != self.my_id:
            b = votes.get(n.leader)
            return b is not None and b.state == ServerState.LEADING
        return self.logical_clock == n.election_epoch

    def _decide(self, vote: Vote, election_epoch: int, supporters: frozenset[int], joined: bool) -> None:
        if vote.leader == self.my_id:
            state = ServerState.LEADING
        else:
            state = ServerState.FOLLOWING if self.participant else ServerState.OBSERVING
        assert self.quorum.is_voter(vote.leader), f"elected non-voter {vote.leader}"
        assert state != ServerState.LEADING or self.participant, "an observer cannot lead"
        self.state = state
        self._current = Ballot(vote, election_epoch)
        assert self.quorum.contains_quorum(supporters), f"decided without a quorum: {sorted(supporters)}"
        self._outcome = Outcome(state, vote.leader, vote.zxid, election_epoch, vote.peer_epoch, supporters, joined)
        self._decided_now = self._outcome
        self._in_round = False
        self._recvset.clear()
        self._outofelection.clear()
        self._finalize_at = None
        self._resend_at = None

    # ---- helpers ---------------------------------------------------------------------

    def _begin(self, now: int) -> None:
        assert now >= self._last_now, f"time went back from {self._last_now} to {now}"
        self._last_now = now
        self._out = []

    def _init_vote(self) -> Vote:
        if self.participant:
            return Vote(self.my_id, self.last_zxid, self.current_epoch)
        return Vote(JAVA_LONG_MIN, JAVA_LONG_MIN, JAVA_LONG_MIN)  # never beats anyone

    def _send_notifications(self) -> None:
        p = self.proposal
        assert not self.participant or not self._init_vote().beats(p), f"proposal {p} below our own vote"
        n = Notification(ServerState.LOOKING, p.leader, p.zxid, self.logical_clock, p.peer_epoch,
                         config=self.config)
        for sid in sorted(self.quorum.voters):
            if sid != self.my_id:
                self._send(sid, n)
            elif self._init_vote().zxid != -1 and p.zxid != -1:
                # ZooKeeper loops this message back through its own queue; counting it
                # here is the same as that loopback arriving at once.
                self._recvset[sid] = Ballot(p, self.logical_clock)

    def _current_vote_notification(self, election_epoch: int) -> Notification:
        v = self._current.vote
        return Notification(self.state, v.leader, v.zxid, election_epoch, v.peer_epoch, config=self.config)

    def _send(self, to: int, n: Notification) -> None:
        self._out.append(Send(to, n))

    def _ready(self) -> Ready:
        outcome, self._decided_now = self._decided_now, None  # reported once, by the deciding call
        return Ready(tuple(self._out), outcome, self.wake_at)
