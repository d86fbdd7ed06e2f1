"""The sans-IO server connection: framing, 4lw detection, bounds, malformed input."""

from __future__ import annotations

import struct

import pytest

from zkeeper.jute import ConnectRequest, CreateRequest, CreateTTLRequest, GetDataRequest, RequestHeader, Writer
from zkeeper.jute.multi import MultiRequest
from zkeeper.proto.requests import Malformed
from zkeeper.proto.server import Connect, FourLetterWord, ProtocolError, Request, ServerConnection, frame
from zkeeper.types import OpCode


def enc(*records) -> bytes:
    w = Writer()
    for r in records:
        r.write(w)
    return frame(w.getvalue())


def handshake(read_only: bool = True) -> bytes:
    return enc(ConnectRequest(0, 0, 30000, 0, bytes(16), False, read_only))


def test_four_letter_word_is_detected_on_a_fresh_connection_only():
    assert ServerConnection(1000).receive_data(b"ruok") == [FourLetterWord("ruok")]
    conn = ServerConnection(1000)
    conn.receive_data(handshake())
    with pytest.raises(ProtocolError):
        conn.receive_data(b"ruok")  # now just a (huge) length


def test_handshake_with_and_without_the_read_only_byte():
    (ev,) = ServerConnection(1000).receive_data(handshake(True))
    assert isinstance(ev, Connect) and ev.request.has_read_only
    (ev,) = ServerConnection(1000).receive_data(handshake(False))
    assert isinstance(ev, Connect) and not ev.request.has_read_only


def test_requests_split_and_coalesced_across_reads():
    data = handshake() + enc(RequestHeader(1, OpCode.GET_DATA), GetDataRequest("/a", True)) + enc(
        RequestHeader(2, OpCode.CREATE), CreateRequest("/b", b"x", [], 0))
    conn = ServerConnection(1000)
    events = []
    for i in range(len(data)):
        events += conn.receive_data(data[i:i + 1])
    assert [type(e) for e in events] == [Connect, Request, Request]
    assert events[1].record == GetDataRequest("/a", True)
    assert events[2].type == OpCode.CREATE and events[2].record.path == "/b"


def test_multi_is_decoded_into_ops():
    conn = ServerConnection(1000)
    conn.receive_data(handshake())
    multi = MultiRequest([(OpCode.CREATE, CreateRequest("/m", b"", [], 0))])
    (ev,) = conn.receive_data(enc(RequestHeader(3, OpCode.MULTI), multi))
    assert ev.record == multi


def test_oversized_and_negative_lengths_are_refused():
    with pytest.raises(ProtocolError, match="Len error"):
        ServerConnection(100).receive_data(struct.pack(">i", 101))
    with pytest.raises(ProtocolError):
        ServerConnection(100).receive_data(struct.pack(">i", -5))


def test_malformed_body_is_the_requests_problem_but_a_bad_header_is_the_connections():
    conn = ServerConnection(1000)
    conn.receive_data(handshake())
    w = Writer()
    RequestHeader(1, OpCode.GET_DATA).write(w)
    w.int(50)  # string length beyond the frame
    (ev,) = conn.receive_data(frame(w.getvalue()))
    # ZooKeeper answers such a request MARSHALLINGERROR and keeps the connection.
    assert isinstance(ev.record, Malformed)
    with pytest.raises(ProtocolError, match="malformed"):
        conn.receive_data(frame(b"\x00\x00\x01"))  # not even a RequestHeader


def test_multi_ops_are_retyped_as_zookeeper_rebuilds_them():
    conn = ServerConnection(1000)
    conn.receive_data(handshake())
    multi = MultiRequest([
        (OpCode.CREATE2, CreateRequest("/a", b"", [], 0)),
        (OpCode.CREATE, CreateRequest("/c", b"", [], 4)),
        (OpCode.CREATE_TTL, CreateTTLRequest("/t", b"", [], 0, 5)),
    ])
    (ev,) = conn.receive_data(enc(RequestHeader(3, OpCode.MULTI), multi))
    assert [t for t, _ in ev.record.ops] == [OpCode.CREATE, OpCode.CREATE_CONTAINER, OpCode.CREATE]
    mixed = MultiRequest([(OpCode.CREATE, CreateRequest("/a", b"", [], 0)), (OpCode.GET_DATA, GetDataRequest("/a", True))])
    (ev,) = conn.receive_data(enc(RequestHeader(4, OpCode.MULTI), mixed))
    assert isinstance(ev.record, Malformed)


def test_unknown_opcode_is_reported_not_decoded():
    conn = ServerConnection(1000)
    conn.receive_data(handshake())
    (ev,) = conn.receive_data(enc(RequestHeader(9, 999)))
    assert isinstance(ev, Request) and not ev.known
