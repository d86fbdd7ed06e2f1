"""Election port bytes, checked against the layouts in FastLeaderElection/QuorumCnxManager 3.8."""

from __future__ import annotations

import struct

import pytest

from zkeeper.zab.vote import Notification, ServerState
from zkeeper.zab.wire import (
    MAX_FRAME,
    PROTOCOL_VERSION_V1,
    PROTOCOL_VERSION_V2,
    InitialMessage,
    WireError,
    decode_initial_message,
    decode_notification,
    encode_initial_message,
    encode_notification,
    frame,
    split_frames,
)

# buildMsg(state=LOOKING, leader=1, zxid=0x100000002, electionEpoch=3, epoch=1, "version=0")
GOLDEN_NOTIFICATION = bytes.fromhex(
    "00000000"  # state: LOOKING
    "0000000000000001"  # leader
    "0000000100000002"  # zxid
    "0000000000000003"  # electionEpoch
    "0000000000000001"  # peerEpoch
    "00000002"  # version
    "00000009"  # config length
) + b"version=0"


def test_notification_layout() -> None:
    n = Notification(ServerState.LOOKING, 1, 0x100000002, 3, 1, config=b"version=0")
    assert encode_notification(n) == GOLDEN_NOTIFICATION
    assert decode_notification(GOLDEN_NOTIFICATION) == n


@pytest.mark.parametrize("state", list(ServerState))
def test_round_trip_every_state(state: ServerState) -> None:
    n = Notification(state, 7, -1, 2**40, 12, config=b"server.1=a:1:2:participant\nversion=100000000")
    assert decode_notification(encode_notification(n)) == n


def test_older_formats() -> None:
    head = struct.pack(">iqqq", 1, 3, 0x500000007, 9)
    # 28 bytes (before ZOOKEEPER-107): the peer epoch is the zxid's epoch.
    assert decode_notification(head) == Notification(ServerState.FOLLOWING, 3, 0x500000007, 9, 5, 0)
    # 40 bytes: a peer epoch, and a trailing int that is not read as a version.
    n40 = decode_notification(head + struct.pack(">qi", 4, 1))
    assert (n40.peer_epoch, n40.version, n40.config) == (4, 0, b"")
    # Version 1 (3.4.6+, before reconfig) has no config.
    n1 = decode_notification(head + struct.pack(">qi", 4, 1) + b"\0\0\0\0")
    assert (n1.peer_epoch, n1.version) == (4, 1)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        GOLDEN_NOTIFICATION[:27],  # shorter than any format
        struct.pack(">iqqq", 7, 1, 1, 1),  # no such state
        GOLDEN_NOTIFICATION[:42],  # version 2, config length cut short
        GOLDEN_NOTIFICATION[:40] + struct.pack(">i", 100) + b"short",  # config longer than the message
        GOLDEN_NOTIFICATION[:40] + struct.pack(">i", -1),
    ],
    ids=["empty", "27 bytes", "bad state", "cut length", "long config", "negative config"],
)
def test_malformed_notifications(body: bytes) -> None:
    with pytest.raises(WireError):
        decode_notification(body)


def test_frames() -> None:
    buf = bytearray(frame(b"abc") + frame(b"de") + frame(b"xyz")[:5])
    assert split_frames(buf) == [b"abc", b"de"]
    assert bytes(buf) == frame(b"xyz")[:5]
    buf += frame(b"xyz")[5:]
    assert split_frames(buf) == [b"xyz"] and not buf
    for bad in (0, -1, MAX_FRAME + 1):
        with pytest.raises(WireError):
            split_frames(bytearray(struct.pack(">i", bad)))


def test_initial_message_layout() -> None:
    msg = InitialMessage(2, (("10.0.0.2", 3888),))
    raw = encode_initial_message(msg)
    assert raw == (struct.pack(">qqi", PROTOCOL_VERSION_V1, 2, 13) + b"10.0.0.2:3888")
    assert raw[:8] == bytes.fromhex("ffffffffffff0000")
    assert decode_initial_message(raw) == (msg, len(raw))


def test_initial_message_incremental_and_variants() -> None:
    raw = encode_initial_message(InitialMessage(5, (("::1", 3888), ("h", 1)), PROTOCOL_VERSION_V2))
    assert raw.endswith(b"[::1]:3888|h:1")
    for cut in range(len(raw)):
        assert decode_initial_message(raw[:cut]) is None
    msg, used = decode_initial_message(raw + b"trailing")  # type: ignore[misc]
    assert used == len(raw) and msg.addresses == (("::1", 3888), ("h", 1))
    # V1 sends only the first address; a wildcard address is not an address to call back.
    v1, _ = decode_initial_message(encode_initial_message(InitialMessage(5, (("0.0.0.0", 1), ("h", 2)))))  # type: ignore[misc]
    assert v1.addresses == ()
    # Before 3.5 the first long was the sid itself.
    assert decode_initial_message(struct.pack(">q", 3)) == (InitialMessage(3, (), 3), 8)


@pytest.mark.parametrize(
    "raw",
    [
        struct.pack(">qqi", -7, 1, 3) + b"a:1",  # unknown protocol version
        struct.pack(">qqi", PROTOCOL_VERSION_V1, 1, 0),  # empty address
        struct.pack(">qqi", PROTOCOL_VERSION_V1, 1, 4096) + b"x" * 4096,  # over maxBuffer
        struct.pack(">qqi", PROTOCOL_VERSION_V1, 1, 4) + b"host",  # no port
        struct.pack(">qqi", PROTOCOL_VERSION_V1, 1, 6) + b"host:p",  # bad port
    ],
)
def test_malformed_initial_messages(raw: bytes) -> None:
    with pytest.raises(WireError):
        decode_initial_message(raw)
