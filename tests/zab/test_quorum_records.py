"""The jute records of the quorum port (zookeeper.jute, module server.quorum)."""

from __future__ import annotations

from zkeeper.jute import Id
from zkeeper.jute.quorum import LearnerInfo, PacketType, QuorumAuthPacket, QuorumPacket
from zkeeper.jute.schema import decode, encode


def test_quorum_packet_layout() -> None:
    ping = QuorumPacket(PacketType.PING, 0x100000000, None, None)
    assert encode(ping) == bytes.fromhex("00000005" "0000000100000000" "ffffffff" "ffffffff")
    assert decode(QuorumPacket, encode(ping)) == ping
    full = QuorumPacket(PacketType.REQUEST, 7, b"\x01\x02", [Id("digest", "u:p")])
    assert encode(full) == bytes.fromhex("00000001" "0000000000000007" "00000002" "0102" "00000001"
                                         "00000006") + b"digest" + bytes.fromhex("00000003") + b"u:p"
    assert decode(QuorumPacket, encode(full)) == full


def test_learner_info_layout() -> None:
    li = LearnerInfo(3, 0x10000, 0x100000000)
    assert encode(li) == bytes.fromhex("0000000000000003" "00010000" "0000000100000000")
    assert decode(LearnerInfo, encode(li)) == li


def test_auth_packet_round_trip() -> None:
    p = QuorumAuthPacket(0xDEADBEEF, 0, b"token")
    assert decode(QuorumAuthPacket, encode(p)) == p


def test_packet_type_codes() -> None:
    assert (PacketType.PROPOSAL, PacketType.NEWLEADER, PacketType.LEADERINFO, PacketType.ACKEPOCH) == (2, 10, 17, 18)
