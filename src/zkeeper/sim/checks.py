"""Invariants the simulator checks as a run goes, each the way ZooKeeper promises it.

Election: a vote only ever names a real server's (id, zxid, epoch); a leader elected by a
round of votes is at least as recent as every server whose vote elected it. ZAB (through
the stub): one leader per epoch, ever; a leader takes office holding every committed
transaction; every log only grows in zxid order. A violation raises with the seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..zab.election import Outcome
from ..zab.quorum import QuorumMaj
from ..zab.vote import JAVA_LONG_MIN, Notification, ServerState, Vote
from ..zab.zxid import epoch_of


class InvariantViolation(AssertionError):
    """A safety or liveness property failed; the message says how to replay the run."""


@dataclass(slots=True)
class Trace:
    """The last events of a run, printed with a violation."""

    limit: int = 60
    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)
        if len(self.lines) > 2 * self.limit:
            del self.lines[:-self.limit]

    def tail(self) -> str:
        return "\n".join(self.lines[-self.limit:])


class Checker:
    def __init__(self, quorum: QuorumMaj, replay: str) -> None:
        self.quorum = quorum
        self.replay = replay
        self.trace = Trace()
        self.real_votes: set[Vote] = set()  # every (id, zxid, epoch) a server really stood for
        self.announced: set[tuple[int, int, Vote]] = set()  # (sender, round, vote) ever sent
        self.looking_inits: dict[tuple[int, int, Vote], tuple[int, int, int]] = {}
        self.leaders: dict[int, int] = {}  # established epoch -> its leader
        self._taken_office: dict[int, frozenset[int]] = {}  # epoch -> leader's log at that moment
        self.committed: list[int] = []
        self._committed_set: set[int] = set()
        self.decisions = 0
        self._epochs: dict[int, tuple[int, int]] = {}  # sid -> (current, accepted) last seen

    def fail(self, what: str) -> None:
        raise InvariantViolation(f"{what}\nreplay: {self.replay}\nlast events:\n{self.trace.tail()}")

    # ---- election -----------------------------------------------------------------

    def stood_for(self, vote: Vote) -> None:
        """A server starts a round with, or reports after sync, this vote for itself."""
        self.real_votes.add(vote)

    def sent(self, sid: int, to: int, n: Notification, init: Vote) -> None:
        v = n.vote
        if v.leader == JAVA_LONG_MIN:
            return  # an observer's empty vote
        if v not in self.real_votes:
            self.fail(f"server {sid} announced vote {v} that no server ever stood for")
        key = (sid, n.election_epoch, v)
        self.announced.add(key)
        if n.state == ServerState.LOOKING and sid in self.quorum.voters and to in self.quorum.voters:
            # A voter's proposal only grows from its own vote within a round. (What it tells
            # observers is its last settled vote instead, stale by design.)
            low = self.looking_inits.get(key)
            self.looking_inits[key] = init.key if low is None else min(low, init.key)

    def decided(self, sid: int, o: Outcome, now: int) -> None:
        self.decisions += 1
        self.trace.add(f"{now:>7} {sid}: {o.state.name} leader={o.leader} round={o.election_epoch} "
                       f"vote={o.vote} by {sorted(o.supporters)}{' (joined)' if o.joined else ''}")
        if o.leader not in self.quorum.voters:
            self.fail(f"server {sid} follows non-voter {o.leader}")
        if (o.state == ServerState.LEADING) != (o.leader == sid):
            self.fail(f"server {sid} decided {o.state.name} for leader {o.leader}")
        if o.state == ServerState.OBSERVING and sid in self.quorum.voters:
            self.fail(f"participant {sid} decided OBSERVING")
        if not self.quorum.contains_quorum(o.supporters):
            self.fail(f"server {sid} decided with supporters {sorted(o.supporters)}: not a quorum")
        if o.vote not in self.real_votes:
            self.fail(f"server {sid} decided on vote {o.vote} that no server stood for")
        if o.joined:
            return  # settled servers agree on (leader, epoch) only; their zxid and round go stale
        for s in o.supporters - {sid}:
            key = (s, o.election_epoch, o.vote)
            if key not in self.announced:
                self.fail(f"server {sid} counted {s} for {o.vote} in round {o.election_epoch}, "
                          f"but {s} never sent that")
            # The winner is at least as recent as every server that voted for it while
            # looking, measured by what that server held when it voted.
            low = self.looking_inits.get(key)
            if low is not None and o.vote.key < low:
                self.fail(f"server {sid} elected {o.vote}, but supporter {s} voted for it holding {low}")

    # ---- ZAB through the stub ---------------------------------------------------------

    def epoch_established(self, leader: int, epoch: int, history: list[int], now: int) -> None:
        self.trace.add(f"{now:>7} {leader}: established epoch {epoch} with {len(history)} txns")
        if epoch in self.leaders:
            self.fail(f"epoch {epoch} has two leaders: {self.leaders[epoch]} and {leader}")
        self.leaders[epoch] = leader
        self._taken_office[epoch] = frozenset(history)
        missing = self._committed_set.difference(history)
        if missing:
            self.fail(f"leader {leader} of epoch {epoch} lacks committed txns {[hex(z) for z in sorted(missing)]}")

    def committed_txn(self, leader: int, zxid: int) -> None:
        # A quorum logged it before the leader heard so; a leader of a later epoch may
        # have taken office in between, and it must hold this txn too.
        for epoch, log in self._taken_office.items():
            if epoch > epoch_of(zxid) and zxid not in log:
                self.fail(f"txn 0x{zxid:x} committed by {leader}, but leader {self.leaders[epoch]} "
                          f"of later epoch {epoch} took office without it")
        self.committed.append(zxid)
        self._committed_set.add(zxid)

    def history(self, sid: int, history: list[int], current_epoch: int, accepted_epoch: int) -> None:
        if any(b <= a for a, b in zip(history, history[1:])):
            self.fail(f"server {sid} log is not in zxid order: {[hex(z) for z in history]}")
        before = self._epochs.get(sid, (0, 0))
        if current_epoch < before[0] or accepted_epoch < before[1]:
            self.fail(f"server {sid} epochs went back from {before} to {(current_epoch, accepted_epoch)}")
        if current_epoch > accepted_epoch:
            self.fail(f"server {sid} current epoch {current_epoch} is past its accepted epoch {accepted_epoch}")
        self._epochs[sid] = (current_epoch, accepted_epoch)

    def final_leader(self, leader: int, history: list[int]) -> None:
        missing = self._committed_set.difference(history)
        if missing:
            self.fail(f"final leader {leader} lacks committed txns {[hex(z) for z in sorted(missing)]}")
