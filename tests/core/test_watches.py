"""Watch semantics of ZooKeeper 3.8: one-shot, persistent, recursive, one event per watcher."""

from __future__ import annotations

from zkeeper.jute import CreateRequest, DeleteRequest, ExistsRequest, GetChildrenRequest, GetDataRequest, SetDataRequest
from zkeeper.jute import AddWatchRequest, CheckWatchesRequest, RemoveWatchesRequest, SetWatches
from zkeeper.errors import Code
from zkeeper.types import EventType, OpCode

from .helpers import Core, open_acl


def events(core: Core) -> list[tuple[object, int, str]]:
    return [(w, e.type, e.path) for w, e, _ in core.tree.take_events()]


def mk(core: Core, sid: int, path: str, data: bytes = b"") -> None:
    assert core.run(sid, OpCode.CREATE, CreateRequest(path, data, open_acl(), 0)).header.err == 0


def test_data_watch_fires_once():
    core, w = Core(), "w"
    sid = core.session()
    mk(core, sid, "/a")
    core.run(sid, OpCode.GET_DATA, GetDataRequest("/a", True), origin=w)
    core.run(sid, OpCode.SET_DATA, SetDataRequest("/a", b"1", -1))
    core.run(sid, OpCode.SET_DATA, SetDataRequest("/a", b"2", -1))
    assert events(core) == [(w, EventType.NODE_DATA_CHANGED, "/a")]


def test_exists_watch_on_missing_node_fires_on_create_then_child_watch_on_parent():
    core, w = Core(), "w"
    sid = core.session()
    core.run(sid, OpCode.EXISTS, ExistsRequest("/n", True), origin=w)
    core.run(sid, OpCode.GET_CHILDREN, GetChildrenRequest("/", True), origin=w)
    mk(core, sid, "/n")
    assert events(core) == [(w, EventType.NODE_CREATED, "/n"), (w, EventType.NODE_CHILDREN_CHANGED, "/")]


def test_delete_notifies_a_watcher_once_even_with_data_and_child_watches():
    core, w = Core(), "w"
    sid = core.session()
    mk(core, sid, "/d")
    core.run(sid, OpCode.GET_DATA, GetDataRequest("/d", True), origin=w)
    core.run(sid, OpCode.GET_CHILDREN, GetChildrenRequest("/d", True), origin=w)
    core.run(sid, OpCode.DELETE, DeleteRequest("/d", -1))
    assert events(core) == [(w, EventType.NODE_DELETED, "/d")]


def test_persistent_watch_stays_and_sees_children_changes():
    core, w = Core(), "w"
    sid = core.session()
    mk(core, sid, "/p")
    core.run(sid, OpCode.ADD_WATCH, AddWatchRequest("/p", 0), origin=w)
    core.run(sid, OpCode.SET_DATA, SetDataRequest("/p", b"1", -1))
    mk(core, sid, "/p/c")
    core.run(sid, OpCode.SET_DATA, SetDataRequest("/p", b"2", -1))
    mk(core, sid, "/p/c/deeper")
    assert events(core) == [
        (w, EventType.NODE_DATA_CHANGED, "/p"),
        (w, EventType.NODE_CHILDREN_CHANGED, "/p"),
        (w, EventType.NODE_DATA_CHANGED, "/p"),
    ]


def test_recursive_watch_sees_the_subtree_but_never_children_changed():
    core, w = Core(), "w"
    sid = core.session()
    mk(core, sid, "/r")
    core.run(sid, OpCode.ADD_WATCH, AddWatchRequest("/r", 1), origin=w)
    mk(core, sid, "/r/a")
    mk(core, sid, "/r/a/b")
    core.run(sid, OpCode.SET_DATA, SetDataRequest("/r/a/b", b"x", -1))
    core.run(sid, OpCode.DELETE, DeleteRequest("/r/a/b", -1))
    assert events(core) == [
        (w, EventType.NODE_CREATED, "/r/a"),
        (w, EventType.NODE_CREATED, "/r/a/b"),
        (w, EventType.NODE_DATA_CHANGED, "/r/a/b"),
        (w, EventType.NODE_DELETED, "/r/a/b"),
    ]


def test_set_watches_fires_what_was_missed_and_rearms_the_rest():
    core, w = Core(), "w"
    sid = core.session()
    mk(core, sid, "/changed")
    mk(core, sid, "/same")
    rel = core.tree.last_processed_zxid
    core.run(sid, OpCode.SET_DATA, SetDataRequest("/changed", b"new", -1))
    mk(core, sid, "/appeared")
    core.run(sid, OpCode.SET_WATCHES, SetWatches(rel, ["/changed", "/same", "/gone"], ["/appeared", "/absent"], ["/"]), origin=w)
    assert events(core) == [
        (w, EventType.NODE_DATA_CHANGED, "/changed"),
        (w, EventType.NODE_DELETED, "/gone"),
        (w, EventType.NODE_CREATED, "/appeared"),
        (w, EventType.NODE_CHILDREN_CHANGED, "/"),
    ]
    core.run(sid, OpCode.SET_DATA, SetDataRequest("/same", b"x", -1))
    mk(core, sid, "/absent")
    assert events(core) == [(w, EventType.NODE_DATA_CHANGED, "/same"), (w, EventType.NODE_CREATED, "/absent")]


def test_remove_watches_and_check_watches():
    core, w = Core(), "w"
    sid = core.session()
    mk(core, sid, "/x")
    assert core.run(sid, OpCode.CHECK_WATCHES, CheckWatchesRequest("/x", 2), origin=w).header.err == Code.NOWATCHER
    core.run(sid, OpCode.GET_DATA, GetDataRequest("/x", True), origin=w)
    assert core.run(sid, OpCode.CHECK_WATCHES, CheckWatchesRequest("/x", 2), origin=w).header.err == 0
    assert core.run(sid, OpCode.REMOVE_WATCHES, RemoveWatchesRequest("/x", 1), origin=w).header.err == Code.NOWATCHER
    assert core.run(sid, OpCode.REMOVE_WATCHES, RemoveWatchesRequest("/x", 3), origin=w).header.err == 0
    core.run(sid, OpCode.SET_DATA, SetDataRequest("/x", b"1", -1))
    assert events(core) == []


def test_closed_connection_loses_its_watches():
    core, w = Core(), "w"
    sid = core.session()
    mk(core, sid, "/y")
    core.run(sid, OpCode.GET_DATA, GetDataRequest("/y", True), origin=w)
    core.tree.remove_watcher(w)
    core.run(sid, OpCode.SET_DATA, SetDataRequest("/y", b"1", -1))
    assert events(core) == []
