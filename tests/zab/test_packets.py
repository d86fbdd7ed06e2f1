"""Quorum-port framing: packets back to back, a SNAP's stream after its packet, any chunking."""

from __future__ import annotations

import random

import pytest

from zkeeper.jute import Id, TxnHeader
from zkeeper.jute.quorum import PacketType
from zkeeper.jute.records import CreateSessionTxn
from zkeeper.storage.transfer import decode_snapshot_stream, encode_snapshot_stream
from zkeeper.tree.datatree import DataTree
from zkeeper.types import OpCode
from zkeeper.zab.packets import (
    PacketError,
    PacketParser,
    packet,
    proposal_data,
    read_proposal_data,
    read_request_data,
    read_revalidate_reply,
    read_session_list_data,
    request_data,
    revalidate_reply_data,
    session_list_data,
)


def _stream() -> tuple[bytes, bytes]:
    tree = DataTree()
    hdr = TxnHeader(0x77, 0, 1, 1000, OpCode.CREATE_SESSION)
    tree.apply(hdr, CreateSessionTxn(4000))
    snap = encode_snapshot_stream(tree, {0x77: 4000})
    wire = (packet(PacketType.DIFF, 5)
            + packet(PacketType.SNAP, 9) + snap
            + packet(PacketType.PROPOSAL, 10, proposal_data(hdr, CreateSessionTxn(4000)), [Id("digest", "u:x")])
            + packet(PacketType.UPTODATE))
    return wire, snap


@pytest.mark.parametrize("seed", range(20))
def test_any_chunking_gives_the_same_packets(seed: int) -> None:
    wire, snap = _stream()
    rng = random.Random(seed)
    parser, got, pos = PacketParser(), [], 0
    while pos < len(wire):
        step = rng.randint(1, 40)
        got += parser.feed(wire[pos:pos + step])
        pos += step
    assert [p.type for p in got] == [PacketType.DIFF, PacketType.SNAP, PacketType.PROPOSAL, PacketType.UPTODATE]
    assert got[1].zxid == 9 and got[1].data == snap
    tree, sessions = decode_snapshot_stream(got[1].data, got[1].zxid)
    assert sessions == {0x77: 4000}
    hdr, txn = read_proposal_data(got[2].data)
    assert (hdr.zxid, txn.timeOut, got[2].authinfo) == (1, 4000, [Id("digest", "u:x")])


def test_garbage_is_an_error_not_a_hang() -> None:
    with pytest.raises(PacketError):
        PacketParser().feed(b"\x00\x00\x00\x02" + b"\x00" * 8 + b"\x7f\xff\xff\xff")
    with pytest.raises(PacketError):
        PacketParser().feed(packet(PacketType.SNAP, 1) + b"\xff\xff\xff\xfe")


def test_payload_layouts_round_trip() -> None:
    fwd = read_request_data(request_data(0x1234, 7, OpCode.CREATE, b"body"))
    assert (fwd.session_id, fwd.cxid, fwd.type, fwd.body) == (0x1234, 7, OpCode.CREATE, b"body")
    assert read_session_list_data(session_list_data({1: 4000, 2: 6000})) == {1: 4000, 2: 6000}
    assert read_revalidate_reply(revalidate_reply_data(5, True)) == (5, True)
    with pytest.raises(PacketError):
        read_session_list_data(b"\x00" * 5)
