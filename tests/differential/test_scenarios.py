"""Hand-written differential scenarios for behaviour that random runs reach only by luck.

Each scenario runs in lock-step on Apache ZooKeeper and the candidate (all observations
must match, as in the random runs) and then pins down what the reference did, so the
scenario also documents the behaviour.
"""

from __future__ import annotations

from typing import Any

import pytest

from zkeeper.jute.records import (
    ACL,
    AddWatchRequest,
    CheckVersionRequest,
    CreateRequest,
    DeleteRequest,
    ExistsRequest,
    GetACLRequest,
    GetChildrenRequest,
    GetDataRequest,
    GetEphemeralsRequest,
    Id,
    SetDataRequest,
)
from zkeeper.types import OpCode

from .conftest import ServerPair
from .generator import OPEN_ACL, digest_id
from .steps import AddAuth, Close, Disconnect, Entry, Expire, Open, Reconnect, Request, Resume, Together

pytestmark = pytest.mark.differential

LONG = 10_000
SHORT = 400
EPHEMERAL = 1


def create(slot: int, path: str, data: bytes = b"", flags: int = 0, acl: list[ACL] | None = None) -> Request:
    return Request(slot, OpCode.CREATE, CreateRequest(path, data, OPEN_ACL if acl is None else acl, flags))


def set_data(slot: int, path: str, data: bytes, version: int = -1) -> Request:
    return Request(slot, OpCode.SET_DATA, SetDataRequest(path, data, version))


def get_data(slot: int, path: str, watch: bool = False) -> Request:
    return Request(slot, OpCode.GET_DATA, GetDataRequest(path, watch))


def exists(slot: int, path: str, watch: bool = False) -> Request:
    return Request(slot, OpCode.EXISTS, ExistsRequest(path, watch))


def get_children(slot: int, path: str, watch: bool = False) -> Request:
    return Request(slot, OpCode.GET_CHILDREN, GetChildrenRequest(path, watch))


def seen(entries: list[Entry], slot: int, *kinds: str) -> list[Entry]:
    return [e for e in entries if e.slot == slot and (not kinds or e.kind in kinds)]


def events(entries: list[Entry], slot: int) -> list[tuple[str, str]]:
    return [(e.data["type"], e.data["path"]) for e in seen(entries, slot, "event")]


def reply(entries: list[Entry], slot: int) -> dict[str, Any]:
    replies = seen(entries, slot, "reply")
    assert len(replies) == 1, replies
    return replies[0].data


def run(server_pair: ServerPair, name: str, steps: list[Any]) -> list[list[Entry]]:
    lockstep = server_pair.run(context=f"scenario {name}")
    try:
        return [lockstep.step(s) for s in steps]
    finally:
        lockstep.close()


def test_watch_event_arrives_before_the_reply_to_a_later_read(server_pair: ServerPair) -> None:
    out = run(server_pair, "event-before-read", [
        Open(0, LONG),
        Open(1, LONG),
        create(0, "/w", b"v1"),
        get_data(1, "/w", watch=True),
        Together((set_data(0, "/w", b"v2"), get_data(1, "/w"))),
    ])
    last = out[-1]
    assert [e.kind for e in seen(last, 1)] == ["event", "reply", "ping"]
    assert events(last, 1) == [("NODE_DATA_CHANGED", "/w")]
    assert reply(last, 1)["data"] == b"v2"


def test_set_watches_after_reconnect_fires_the_events_missed_while_away(server_pair: ServerPair) -> None:
    out = run(server_pair, "set-watches", [
        Open(0, LONG),
        Open(1, LONG),
        create(0, "/x", b"1"),
        create(0, "/y"),
        create(0, "/quiet"),
        get_data(1, "/x", watch=True),
        exists(1, "/z", watch=True),
        get_children(1, "/y", watch=True),
        get_data(1, "/quiet", watch=True),
        Disconnect(1),
        set_data(0, "/x", b"2"),
        create(0, "/z"),
        create(0, "/y/child"),
        Reconnect(1),
        set_data(0, "/quiet", b"now"),
    ])
    resumed = out[-2]
    connect = seen(resumed, 1, "connect")[0].data
    assert connect["session"] == "s1" and connect["timeOut"] == LONG
    # SetWatches fires data, then exist, then child watches, before its own reply.
    assert events(resumed, 1) == [("NODE_DATA_CHANGED", "/x"), ("NODE_CREATED", "/z"), ("NODE_CHILDREN_CHANGED", "/y")]
    assert [e.kind for e in seen(resumed, 1)] == ["connect", "event", "event", "event", "setWatch", "ping"]
    # The watch on the unchanged node was re-registered and fires later.
    assert events(out[-1], 1) == [("NODE_DATA_CHANGED", "/quiet")]


def test_failed_multi_reports_every_op_and_changes_nothing(server_pair: ServerPair) -> None:
    out = run(server_pair, "failed-multi", [
        Open(0, LONG),
        create(0, "/m", b"0"),
        Request(0, OpCode.MULTI, [
            (OpCode.CREATE, CreateRequest("/m/a", b"", OPEN_ACL, 0)),
            (OpCode.CHECK, CheckVersionRequest("/m", 0)),
            (OpCode.CREATE, CreateRequest("/m", b"", OPEN_ACL, 0)),
            (OpCode.SET_DATA, SetDataRequest("/m", b"1", -1)),
        ]),
        exists(0, "/m/a"),
        Request(0, OpCode.MULTI, [
            (OpCode.CHECK, CheckVersionRequest("/m", 0)),
            (OpCode.SET_DATA, SetDataRequest("/m", b"1", 0)),
            (OpCode.CHECK, CheckVersionRequest("/m", 0)),
        ]),
    ])
    failed = reply(out[2], 0)
    assert failed["err"] == "OK"  # the header says OK; the per-op results carry the failure
    assert [(r["type"], r["err"]) for r in failed["results"]] == [
        ("error", "OK"), ("error", "OK"), ("error", "NODEEXISTS"), ("error", "RUNTIMEINCONSISTENCY")]
    assert reply(out[3], 0)["err"] == "NONODE"
    # A version check after a setData in the same multi sees the new version.
    late_check = reply(out[4], 0)["results"]
    assert [(r["type"], r["err"]) for r in late_check] == [("error", "OK"), ("error", "OK"), ("error", "BADVERSION")]


def test_versions_must_match_for_conditional_updates(server_pair: ServerPair) -> None:
    out = run(server_pair, "versions", [
        Open(0, LONG),
        create(0, "/v"),
        set_data(0, "/v", b"a", version=0),
        set_data(0, "/v", b"b", version=0),
        Request(0, OpCode.DELETE, DeleteRequest("/v", 0)),
        Request(0, OpCode.DELETE, DeleteRequest("/v", 1)),
    ])
    assert [reply(o, 0)["err"] for o in out[2:]] == ["OK", "BADVERSION", "BADVERSION", "OK"]
    assert reply(out[2], 0)["stat"]["version"] == 1


def test_expiry_removes_ephemerals_and_notifies_watchers(server_pair: ServerPair) -> None:
    out = run(server_pair, "expiry", [
        Open(0, LONG),
        Open(1, SHORT),
        create(1, "/p"),
        create(1, "/p/e1", flags=EPHEMERAL),
        create(1, "/p/e2", flags=EPHEMERAL),
        exists(0, "/p/e1", watch=True),
        get_children(0, "/p", watch=True),
        Request(1, OpCode.GET_EPHEMERALS, GetEphemeralsRequest("/")),
        Expire(1),
        get_children(0, "/p"),
        Resume(1),
    ])
    assert reply(out[7], 1)["ephemerals"] == ["/p/e1", "/p/e2"]
    expired = out[8]
    assert seen(expired, 1) == [Entry(1, "expired", {"observed": True})]
    assert sorted(events(expired, 0)) == [("NODE_CHILDREN_CHANGED", "/p"), ("NODE_DELETED", "/p/e1")]
    assert reply(out[9], 0)["children"] == []
    refused = seen(out[10], 1, "connect")[0].data
    assert (refused["session"], refused["timeOut"], refused["passwd"]) == ("0", 0, "16 bytes, zero")
    assert refused["server_closed"] is True


def test_close_session_removes_ephemerals_before_replying(server_pair: ServerPair) -> None:
    out = run(server_pair, "close", [
        Open(0, LONG),
        Open(1, LONG),
        create(1, "/mine", flags=EPHEMERAL),
        exists(1, "/mine", watch=True),
        exists(0, "/mine", watch=True),
        Close(1),
        exists(0, "/mine"),
    ])
    closed = out[5]
    assert events(closed, 1) == [("NODE_DELETED", "/mine")]
    assert reply(closed, 1)["server_closed"] is True
    assert events(closed, 0) == [("NODE_DELETED", "/mine")]
    assert reply(out[6], 0)["err"] == "NONODE"


def test_digest_acl_needs_the_right_credentials(server_pair: ServerPair) -> None:
    u1 = Id("digest", digest_id("u1", "p1"))
    out = run(server_pair, "acl", [
        Open(0, LONG),
        Open(1, LONG),
        AddAuth(0, "digest", b"u1:p1"),
        create(0, "/secret", b"s", acl=[ACL(31, u1), ACL(1, Id("world", "anyone"))]),
        create(0, "/mine", b"m", acl=[ACL(31, Id("auth", ""))]),
        set_data(1, "/secret", b"x"),
        get_data(1, "/mine"),
        Request(1, OpCode.GET_ACL, GetACLRequest("/secret")),
        AddAuth(1, "digest", b"u1:wrong"),
        get_data(1, "/mine"),
        AddAuth(1, "digest", b"u1:p1"),
        get_data(1, "/mine"),
        Request(1, OpCode.GET_ACL, GetACLRequest("/mine")),
        Request(1, OpCode.WHO_AM_I),
    ])
    assert [reply(out[i], 1)["err"] for i in (5, 6, 9, 11)] == ["NOAUTH", "NOAUTH", "NOAUTH", "OK"]
    assert reply(out[4], 0)["err"] == "OK"  # "auth" expands to the session's digest identity
    # Without ADMIN permission the digest hash is masked.
    assert reply(out[7], 1)["acl"] == [(31, "digest", "u1:x"), (1, "world", "anyone")]
    assert reply(out[12], 1)["acl"] == [(31, "digest", u1.id)]
    assert reply(out[13], 1)["clientInfo"] == [("digest", "u1"), ("digest", "u1"), ("ip", "127.0.0.1")]


def test_persistent_recursive_watch_sees_the_subtree_but_no_child_events(server_pair: ServerPair) -> None:
    out = run(server_pair, "recursive-watch", [
        Open(0, LONG),
        Open(1, LONG),
        create(0, "/r"),
        Request(1, OpCode.ADD_WATCH, AddWatchRequest("/r", 1)),
        create(0, "/r/a"),
        create(0, "/r/a/b"),
        set_data(0, "/r/a/b", b"x"),
        Request(0, OpCode.DELETE, DeleteRequest("/r/a/b", -1)),
        set_data(0, "/r", b"y"),
    ])
    assert [events(o, 1) for o in out[4:]] == [
        [("NODE_CREATED", "/r/a")],
        [("NODE_CREATED", "/r/a/b")],
        [("NODE_DATA_CHANGED", "/r/a/b")],
        [("NODE_DELETED", "/r/a/b")],
        [("NODE_DATA_CHANGED", "/r")],
    ]


def test_persistent_watch_sees_its_node_and_children_and_replaces_a_recursive_one(server_pair: ServerPair) -> None:
    out = run(server_pair, "persistent-watch", [
        Open(0, LONG),
        Open(1, LONG),
        create(0, "/p"),
        Request(1, OpCode.ADD_WATCH, AddWatchRequest("/p", 1)),
        Request(1, OpCode.ADD_WATCH, AddWatchRequest("/p", 0)),
        create(0, "/p/a"),
        create(0, "/p/a/b"),
        set_data(0, "/p", b"x"),
        set_data(0, "/p", b"y"),
        Request(0, OpCode.DELETE, DeleteRequest("/p/a/b", -1)),
    ])
    # The second addWatch on the same path switched the watch to plain persistent.
    assert [events(o, 1) for o in out[5:]] == [
        [("NODE_CHILDREN_CHANGED", "/p")],
        [],
        [("NODE_DATA_CHANGED", "/p")],
        [("NODE_DATA_CHANGED", "/p")],
        [],
    ]
