"""The records of zookeeper.jute's `org.apache.zookeeper.server.quorum` module.

These travel on the quorum port between leader and learners (ZAB discovery, sync and
broadcast). Field order and types are the wire layout; the packet type codes are
Leader.java's constants. Leader election does not use jute: see `zkeeper.zab.wire`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .records import Id
from .schema import Vec, jute

_R = dict(frozen=True, slots=True)


@jute("long", "int", "long")
@dataclass(**_R)
class LearnerInfo:
    """Payload of FOLLOWERINFO/OBSERVERINFO: who the learner is and what it speaks."""

    serverid: int
    protocolVersion: int
    configVersion: int


@jute("int", "long", "buffer", Vec(Id))
@dataclass(**_R)
class QuorumPacket:
    type: int
    zxid: int
    data: bytes | None
    authinfo: list[Id] | None


@jute("long", "int", "buffer")
@dataclass(**_R)
class QuorumAuthPacket:
    """Quorum SASL handshake (quorum.auth.enableSasl); unused unless that is on."""

    magic: int
    status: int
    token: bytes | None


class PacketType(enum.IntEnum):
    """QuorumPacket.type values (Leader.java)."""

    REQUEST = 1
    PROPOSAL = 2
    ACK = 3
    COMMIT = 4
    PING = 5
    REVALIDATE = 6
    SYNC = 7
    INFORM = 8
    COMMITANDACTIVATE = 9
    NEWLEADER = 10
    FOLLOWERINFO = 11
    UPTODATE = 12
    DIFF = 13
    TRUNC = 14
    SNAP = 15
    OBSERVERINFO = 16
    LEADERINFO = 17
    ACKEPOCH = 18
    INFORMANDACTIVATE = 19


# Learner.java sends this in LearnerInfo and LEADERINFO carries it back (0x10000 since 3.4).
LEARNER_PROTOCOL_VERSION = 0x10000

__all__ = ["LearnerInfo", "QuorumPacket", "QuorumAuthPacket", "PacketType", "LEARNER_PROTOCOL_VERSION"]
