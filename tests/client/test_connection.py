"""The sans-IO client connection, paired in memory with the server's sans-IO connection."""

from __future__ import annotations

import pytest

from zkeeper.client.acl import OPEN_ACL_UNSAFE
from zkeeper.client.connection import (
    NEED_DATA,
    AuthReply,
    ClientConnection,
    Notification,
    PeerClosed,
    Pong,
    Reply,
    SessionGranted,
    SessionRefused,
)
from zkeeper.client.exceptions import ProtocolError
from zkeeper.client.hosts import Chroot
from zkeeper.client.ops import Create, GetData, Multi, SetData, SetWatchesOp
from zkeeper.client.stat import ZnodeStat
from zkeeper.jute import (
    ConnectResponse,
    Create2Response,
    ErrorResponse,
    GetDataResponse,
    ReplyHeader,
    SetWatches,
    Stat,
    WatcherEvent,
)
from zkeeper.jute.multi import MultiResponse
from zkeeper.proto.server import Connect, Request, ServerConnection, encode_connect_response, encode_reply
from zkeeper.types import AUTH_XID, NOTIFICATION_XID, PING_XID, SET_WATCHES_XID, EventType, KeeperState, OpCode

STAT = Stat(1, 2, 3, 4, 5, 6, 7, 0, 9, 10, 11)


def pair(chroot: str | None = None, **kw: object) -> tuple[ClientConnection, ServerConnection]:
    args = dict(session_id=0, password=b"", timeout_ms=5000, last_zxid=7, read_only=False,
                chroot=Chroot(chroot))
    args.update(kw)
    return ClientConnection(**args), ServerConnection(max_frame=1 << 20)  # type: ignore[arg-type]


def handshake(client: ClientConnection, server: ServerConnection) -> None:
    [connect] = server.receive_data(client.data_to_send())
    assert isinstance(connect, Connect)
    client.receive_data(encode_connect_response(ConnectResponse(0, 4000, 0x1234, b"p" * 16, False)))
    assert client.next_event() == SessionGranted(0x1234, b"p" * 16, 4000, False)


def events(client: ClientConnection) -> list[object]:
    out = []
    while (ev := client.next_event()) is not NEED_DATA:
        out.append(ev)
    return out


def test_connect_request_carries_the_session_to_resume() -> None:
    client, server = pair(session_id=0x42, password=b"s" * 16, last_zxid=99, read_only=True)
    [connect] = server.receive_data(client.data_to_send())
    req = connect.request  # type: ignore[attr-defined]
    assert (req.sessionId, req.passwd, req.lastZxidSeen, req.timeOut, req.readOnly) == (0x42, b"s" * 16, 99, 5000, True)


def test_refused_session_means_expired() -> None:
    client, _ = pair(session_id=0x42, password=b"s" * 16)
    client.receive_data(encode_connect_response(ConnectResponse(0, 0, 0, bytes(16), False)))
    assert isinstance(client.next_event(), SessionRefused)


def test_requests_get_xids_and_replies_match_in_order() -> None:
    client, server = pair(first_xid=41)
    handshake(client, server)
    client.send(Create("/a", b"x", OPEN_ACL_UNSAFE), "first")
    client.send(GetData("/a", watch=True), "second")
    reqs = server.receive_data(client.data_to_send())
    assert [(r.xid, r.type) for r in reqs] == [(41, OpCode.CREATE2), (42, OpCode.GET_DATA)]  # type: ignore[union-attr]
    assert reqs[1].record.watch is True  # type: ignore[union-attr]
    # Delivered one byte at a time: framing must not care.
    data = encode_reply(ReplyHeader(41, 100, 0), Create2Response("/a", STAT)) + encode_reply(
        ReplyHeader(42, 100, 0), GetDataResponse(b"x", STAT))
    got = []
    for i in range(len(data)):
        client.receive_data(data[i:i + 1])
        got += events(client)
    first, second = got
    assert isinstance(first, Reply) and first.token == "first" and first.result[0] == "/a"
    assert isinstance(first.result[1], ZnodeStat)
    assert isinstance(second, Reply) and second.token == "second" and second.result[0] == b"x"
    assert client.next_xid == 43


def test_error_reply_has_no_result() -> None:
    client, server = pair()
    handshake(client, server)
    client.send(SetData("/a", b"", 3), "t")
    client.receive_data(encode_reply(ReplyHeader(1, 5, -103)))
    [reply] = events(client)
    assert isinstance(reply, Reply) and reply.err == -103 and reply.result is None


def test_out_of_order_reply_is_a_protocol_error() -> None:
    client, server = pair()
    handshake(client, server)
    client.send(GetData("/a"), "t")
    client.receive_data(encode_reply(ReplyHeader(77, 5, 0), GetDataResponse(b"", STAT)))
    with pytest.raises(ProtocolError):
        client.next_event()


def test_special_xids() -> None:
    client, server = pair(chroot="/app")
    handshake(client, server)
    client.send_ping()
    client.send_auth("digest", b"u:p", "auth-token")
    client.send(SetWatchesOp(OpCode.SET_WATCHES, SetWatches(7, ["/app/a"], [], [])), None)
    reqs = server.receive_data(client.data_to_send())
    assert [(r.xid, r.type) for r in reqs] == [  # type: ignore[union-attr]
        (PING_XID, OpCode.PING), (AUTH_XID, OpCode.AUTH), (SET_WATCHES_XID, OpCode.SET_WATCHES)]
    client.receive_data(
        encode_reply(ReplyHeader(NOTIFICATION_XID, 9, 0), WatcherEvent(3, 3, "/app/a"))
        + encode_reply(ReplyHeader(PING_XID, 9, 0))
        + encode_reply(ReplyHeader(AUTH_XID, 0, -115))
        + encode_reply(ReplyHeader(SET_WATCHES_XID, 9, 0)))
    note, pong, auth, set_watches = events(client)
    # Notifications keep the server's path; the session strips the chroot when it delivers.
    assert note == Notification(EventType.NODE_DATA_CHANGED, KeeperState.SYNC_CONNECTED, "/app/a", 9)
    assert pong == Pong(9)
    assert auth == AuthReply("auth-token", -115)
    assert isinstance(set_watches, Reply) and set_watches.token is None


def test_chroot_is_stripped_from_reply_paths() -> None:
    client, server = pair(chroot="/app")
    handshake(client, server)
    client.send(Create("/app/x", b"", OPEN_ACL_UNSAFE), None)
    client.receive_data(encode_reply(ReplyHeader(1, 1, 0), Create2Response("/app/x", STAT)))
    [reply] = events(client)
    assert reply.result[0] == "/x"  # type: ignore[union-attr]


def test_failed_multi_lists_every_outcome() -> None:
    client, server = pair()
    handshake(client, server)
    multi = Multi((Create("/a", b"", OPEN_ACL_UNSAFE, with_stat=False), SetData("/b", b"", 4)))
    client.send(multi, None)
    [req] = server.receive_data(client.data_to_send())
    assert [op for op, _ in req.record.ops] == [OpCode.CREATE, OpCode.SET_DATA]  # type: ignore[union-attr]
    body = MultiResponse([(-1, 0, ErrorResponse(0)), (-1, -103, ErrorResponse(-103))])
    client.receive_data(encode_reply(ReplyHeader(1, 3, 0), body))
    [reply] = events(client)
    rolled_back, bad_version = reply.result  # type: ignore[union-attr]
    assert type(rolled_back).__name__ == "RolledBackError" and rolled_back.path == "/a"
    assert type(bad_version).__name__ == "BadVersionError" and bad_version.path == "/b"


def test_oversized_frame_is_refused() -> None:
    client, server = pair(max_frame=1000)
    handshake(client, server)
    client.receive_data((5000).to_bytes(4, "big"))
    with pytest.raises(ProtocolError):
        client.next_event()


def test_abandon_returns_every_pending_token_and_eof_is_an_event() -> None:
    client, server = pair()
    handshake(client, server)
    client.send(GetData("/a"), "a")
    client.send_auth("digest", b"x", "auth")
    client.send(GetData("/b"), "b")
    assert client.in_flight == 3
    client.receive_data(b"")
    assert isinstance(client.next_event(), PeerClosed)
    assert client.abandon() == ["a", "b", "auth"]
    with pytest.raises(RuntimeError):
        client.send(GetData("/c"), "c")
