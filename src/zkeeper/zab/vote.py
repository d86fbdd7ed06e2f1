"""Votes and the order that decides elections (FastLeaderElection, Vote, QuorumPeer.ServerState).

A vote names a leader together with that leader's (peer epoch, last zxid). Votes are
ordered by (peer epoch, zxid, server id), so the server with the newest history wins
and ties go to the higher id. A `Ballot` is a vote as counted during one election,
with ZooKeeper's peculiar equality (Vote.equals) for servers already out of election.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

NOTIFICATION_VERSION = 2  # Notification.CURRENTVERSION: the format that carries the config
JAVA_LONG_MIN = -(2**63)  # what observers propose: they can never win


class ServerState(enum.IntEnum):
    """QuorumPeer.ServerState; the ordinal is what travels in a notification."""

    LOOKING = 0
    FOLLOWING = 1
    LEADING = 2
    OBSERVING = 3


@dataclass(frozen=True, slots=True, order=False)
class Vote:
    leader: int
    zxid: int
    peer_epoch: int

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.peer_epoch, self.zxid, self.leader)

    def beats(self, other: Vote) -> bool:
        """totalOrderPredicate(new=self, cur=other): strictly newer epoch, then zxid, then id.

        ZooKeeper also refuses a leader of weight 0; with majority quorums every server
        weighs 1 and non-voters are filtered before votes are compared.
        """
        return self.key > other.key

    def __str__(self) -> str:
        return f"({self.leader}, 0x{self.zxid & 0xFFFFFFFFFFFFFFFF:x}, 0x{self.peer_epoch & 0xFFFFFFFFFFFFFFFF:x})"


@dataclass(frozen=True, slots=True)
class Notification:
    """One election message: the sender's state and the vote it currently holds."""

    state: ServerState
    leader: int
    zxid: int
    election_epoch: int
    peer_epoch: int
    version: int = NOTIFICATION_VERSION
    config: bytes = b""

    @property
    def vote(self) -> Vote:
        return Vote(self.leader, self.zxid, self.peer_epoch)


@dataclass(frozen=True, slots=True)
class Ballot:
    """A vote as recorded from one sender: Vote's fields plus round, state and format."""

    vote: Vote
    election_epoch: int
    state: ServerState = ServerState.LOOKING
    version: int = 0

    def agrees(self, other: Ballot) -> bool:
        """Vote.equals. While either side is LOOKING every field must match. Between servers
        out of election only leader and peer epoch count, because their zxid and round go
        stale after they sync (ZOOKEEPER-1805); peers of different formats compare only the
        leader, for mixed-version ensembles (ZOOKEEPER-1732)."""
        a, b = self.vote, other.vote
        if self.state == ServerState.LOOKING or other.state == ServerState.LOOKING:
            return a == b and self.election_epoch == other.election_epoch
        if (self.version > 0) != (other.version > 0):
            return a.leader == b.leader
        return a.leader == b.leader and a.peer_epoch == b.peer_epoch
