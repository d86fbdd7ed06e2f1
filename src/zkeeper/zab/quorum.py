"""Who votes: the majority quorum rule of ZooKeeper's QuorumMaj.

Participants vote and may lead; observers learn the leader but are never counted. A set
is a quorum when it holds more than half of the voters (n // 2 + 1). Pure: it reads the
server list it is given and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

PARTICIPANT = "participant"  # the same words zoo.cfg and zkeeper.server.config use
OBSERVER = "observer"


class Member(Protocol):
    """What the quorum needs from one `server.N` line (zkeeper.server.config.ServerSpec)."""

    @property
    def role(self) -> str: ...


class ServerLine(Member, Protocol):
    """A `server.N` line with addresses, enough to describe the ensemble to peers."""

    @property
    def host(self) -> str: ...
    @property
    def quorum_port(self) -> int: ...
    @property
    def election_port(self) -> int: ...
    @property
    def client_address(self) -> str | None: ...
    @property
    def client_port(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class QuorumMaj:
    voters: frozenset[int]
    observers: frozenset[int] = frozenset()
    version: int = 0  # the dynamic config version; 0 for a static zoo.cfg
    half: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.voters:
            raise ValueError("a quorum needs at least one participant")
        if self.voters & self.observers:
            raise ValueError(f"servers {sorted(self.voters & self.observers)} are both participant and observer")
        object.__setattr__(self, "half", len(self.voters) // 2)

    @classmethod
    def of(cls, voters: Iterable[int], observers: Iterable[int] = (), version: int = 0) -> QuorumMaj:
        return cls(frozenset(voters), frozenset(observers), version)

    @classmethod
    def from_servers(cls, servers: Mapping[int, Member], version: int = 0) -> QuorumMaj:
        """The split of `ServerConfig.servers` into participants and observers."""
        voters = [sid for sid, s in servers.items() if s.role == PARTICIPANT]
        observers = [sid for sid, s in servers.items() if s.role == OBSERVER]
        unknown = set(servers) - set(voters) - set(observers)
        if unknown:
            raise ValueError(f"servers {sorted(unknown)} have a role that is neither participant nor observer")
        return cls.of(voters, observers, version)

    @property
    def members(self) -> frozenset[int]:
        return self.voters | self.observers

    @property
    def quorum_size(self) -> int:
        return self.half + 1

    def is_voter(self, sid: int) -> bool:
        return sid in self.voters

    def contains_quorum(self, sids: Iterable[int]) -> bool:
        """SyncedLearnerTracker + QuorumMaj.containsQuorum: only voters count."""
        return len(self.voters.intersection(sids)) > self.half


def config_text(servers: Mapping[int, ServerLine], version: int = 0) -> str:
    """QuorumMaj.toString(): the ensemble as FastLeaderElection sends it in every notification.

    A peer parses this back with QuorumMaj(Properties) and acts on it only when `version`
    is newer than its own, so a static ensemble (version 0) is informational.
    """
    lines = []
    for sid in sorted(servers):  # Java's HashMap<Long, _> iterates small ids in order
        s = servers[sid]
        role = OBSERVER if s.role == OBSERVER else PARTICIPANT
        value = f"{_bracket(s.host)}:{s.quorum_port}:{s.election_port}:{role}"
        if s.client_port is not None:
            value += f";{_bracket(s.client_address or '0.0.0.0')}:{s.client_port}"
        lines.append(f"server.{sid}={value}\n")
    return "".join(lines) + f"version={version:x}"


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host
