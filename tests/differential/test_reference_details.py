"""Details of the reference (Debian's ZooKeeper 3.8.0) that a reimplementation easily misses.

Each was first found by a random differential run and is pinned here as a small
scenario: all observations must still match the candidate's, and the assertions say
what the reference does.
"""

from __future__ import annotations

import pytest

from zkeeper.jute.records import (
    ACL,
    AddWatchRequest,
    CheckWatchesRequest,
    CreateRequest,
    CreateTTLRequest,
    ExistsRequest,
    GetACLRequest,
    GetChildrenRequest,
    GetDataRequest,
    GetEphemeralsRequest,
    Id,
    RemoveWatchesRequest,
)
from zkeeper.types import OpCode

from .conftest import ServerPair
from .generator import OPEN_ACL, digest_id
from .steps import AddAuth, Open, Request
from .test_scenarios import LONG, create, events, exists, get_data, reply, run, set_data

pytestmark = pytest.mark.differential


def test_container_and_ttl_nodes_show_no_ephemeral_owner(server_pair: ServerPair) -> None:
    """The owner field encodes the node type on the server, but clients are shown 0."""
    out = run(server_pair, "extended-owner", [
        Open(0, LONG),
        Request(0, OpCode.CREATE_CONTAINER, CreateRequest("/box", b"", OPEN_ACL, 4)),
        Request(0, OpCode.CREATE_TTL, CreateTTLRequest("/ttl", b"", OPEN_ACL, 5, 60_000)),
        exists(0, "/box"),
        exists(0, "/ttl"),
    ])
    assert [reply(o, 0)["stat"]["ephemeralOwner"] for o in out[1:]] == [0, 0, 0, 0]


def test_watch_events_are_only_delivered_with_read_permission(server_pair: ServerPair) -> None:
    """Debian's 3.8.0 carries the CVE-2024-23944 fix: an event for a node the watcher
    may not read is dropped, and the one-shot watch is used up all the same."""
    u2_only = [ACL(31, Id("digest", digest_id("u2", "p2")))]
    out = run(server_pair, "watch-acl", [
        Open(0, LONG),
        Open(1, LONG),
        create(1, "/hidden", acl=u2_only),
        exists(0, "/hidden", watch=True),
        AddAuth(1, "digest", b"u2:p2"),
        set_data(1, "/hidden", b"x"),
        AddAuth(0, "digest", b"u2:p2"),
        set_data(1, "/hidden", b"y"),
        exists(0, "/hidden", watch=True),
        set_data(1, "/hidden", b"z"),
    ])
    assert events(out[5], 0) == []
    assert events(out[7], 0) == []  # the watch was consumed by the filtered event
    assert events(out[9], 0) == [("NODE_DATA_CHANGED", "/hidden")]


def test_multi_read_ignores_watch_flags(server_pair: ServerPair) -> None:
    out = run(server_pair, "multi-read-watch", [
        Open(0, LONG),
        create(0, "/n"),
        Request(0, OpCode.MULTI_READ, [(OpCode.GET_DATA, GetDataRequest("/n", True)),
                                       (OpCode.GET_CHILDREN, GetChildrenRequest("/n", True))]),
        create(0, "/n/child"),
        set_data(0, "/n", b"changed"),
    ])
    assert events(out[3], 0) == [] and events(out[4], 0) == []


def test_a_one_shot_watch_on_the_same_path_replaces_a_persistent_one(server_pair: ServerPair) -> None:
    """3.8 keeps one watch mode per session and path: the last watch set wins."""
    out = run(server_pair, "watch-modes", [
        Open(0, LONG),
        Open(1, LONG),
        create(0, "/m"),
        Request(1, OpCode.ADD_WATCH, AddWatchRequest("/m", 1)),
        get_data(1, "/m", watch=True),
        set_data(0, "/m", b"1"),
        set_data(0, "/m", b"2"),
    ])
    assert events(out[5], 1) == [("NODE_DATA_CHANGED", "/m")]
    assert events(out[6], 1) == []


def test_null_data_reads_back_as_null(server_pair: ServerPair) -> None:
    out = run(server_pair, "null-data", [
        Open(0, LONG),
        Request(0, OpCode.CREATE, CreateRequest("/null", None, OPEN_ACL, 0)),
        get_data(0, "/null"),
        Request(0, OpCode.MULTI_READ, [(OpCode.GET_DATA, GetDataRequest("/null", False))]),
    ])
    assert reply(out[2], 0)["data"] is None
    assert reply(out[3], 0)["results"][0]["data"] is None


def test_empty_path_reads_the_root(server_pair: ServerPair) -> None:
    out = run(server_pair, "empty-path", [
        Open(0, LONG),
        Request(0, OpCode.EXISTS, ExistsRequest("", False)),
        get_data(0, ""),
        Request(0, OpCode.GET_CHILDREN, GetChildrenRequest("", False)),
        Request(0, OpCode.GET_ACL, GetACLRequest("")),
    ])
    assert [reply(o, 0)["err"] for o in out[1:]] == ["OK"] * 4
    # The root reports cversion 2*0 - 1 = -1: ZooKeeper derives cversion from a create
    # count and the number of children, and /zookeeper was never "created".
    assert reply(out[1], 0)["stat"]["cversion"] == -1
    assert reply(out[3], 0)["children"] == ["zookeeper"]


def test_who_am_i_lists_digest_users_by_name_before_the_ip(server_pair: ServerPair) -> None:
    out = run(server_pair, "who-am-i", [
        Open(0, LONG),
        AddAuth(0, "digest", b"u1:p1"),
        Request(0, OpCode.WHO_AM_I),
    ])
    assert reply(out[2], 0)["clientInfo"] == [("digest", "u1"), ("ip", "127.0.0.1")]


def test_unknown_watch_kinds_are_marshalling_errors(server_pair: ServerPair) -> None:
    """3.8 knows watcher types 1-3 only; decoding failures surface as MARSHALLINGERROR."""
    out = run(server_pair, "watch-kinds", [
        Open(0, LONG),
        create(0, "/k"),
        Request(0, OpCode.CHECK_WATCHES, CheckWatchesRequest("/k", 4)),
        Request(0, OpCode.REMOVE_WATCHES, RemoveWatchesRequest("/k", 5)),
        Request(0, OpCode.ADD_WATCH, AddWatchRequest("/k", 2)),
    ])
    assert [reply(o, 0)["err"] for o in out[2:]] == ["MARSHALLINGERROR"] * 3


def test_multi_decodes_create_variants_by_their_flags(server_pair: ServerPair) -> None:
    """Inside a multi, create2 answers like create (path only), createContainer and
    createTTL answer like create2, createTTL with non-TTL flags is a plain create, and
    TTL flags without a TTL make the whole request a marshalling error."""
    out = run(server_pair, "multi-creates", [
        Open(0, LONG),
        Request(0, OpCode.MULTI, [
            (OpCode.CREATE2, CreateRequest("/c2", b"", OPEN_ACL, 0)),
            (OpCode.CREATE_CONTAINER, CreateRequest("/cc", b"", OPEN_ACL, 4)),
            (OpCode.CREATE_TTL, CreateTTLRequest("/ct", b"", OPEN_ACL, 5, 1000)),
            (OpCode.CREATE_TTL, CreateTTLRequest("/cp", b"", OPEN_ACL, 0, 1000)),
        ]),
        Request(0, OpCode.MULTI, [(OpCode.CREATE, CreateRequest("/bad", b"", OPEN_ACL, 5))]),
    ])
    results = reply(out[1], 0)["results"]
    assert [(r["type"], r["path"], "stat" in r) for r in results] == [
        ("create", "/c2", False), ("create2", "/cc", True), ("create2", "/ct", True), ("create", "/cp", False)]
    assert reply(out[2], 0)["err"] == "MARSHALLINGERROR"
    assert "results" not in reply(out[2], 0)


def test_get_ephemerals_matches_a_string_prefix_after_a_java_trim(server_pair: ServerPair) -> None:
    """The prefix is compared as a plain string ("/a" matches "/ab"), and a prefix that
    String.trim() reduces to "" or "/" (it strips every char <= U+0020) means all."""
    def ephemerals(prefix: str) -> Request:
        return Request(0, OpCode.GET_EPHEMERALS, GetEphemeralsRequest(prefix))

    out = run(server_pair, "get-ephemerals", [
        Open(0, LONG),
        create(0, "/a"),
        create(0, "/a/x", flags=1),
        create(0, "/ab", flags=1),
        create(0, "/b", flags=1),
        ephemerals("/a"),
        ephemerals("/a/"),
        ephemerals("/\x01"),
        ephemerals(" "),
        ephemerals(" /a"),
    ])
    assert [reply(o, 0)["ephemerals"] for o in out[5:]] == [
        ["/a/x", "/ab"], ["/a/x"], ["/a/x", "/ab", "/b"], ["/a/x", "/ab", "/b"], []]
