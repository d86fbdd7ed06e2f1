"""SyncClient: the same API, blocking, for scripts and threads."""

from __future__ import annotations

import threading

import pytest

from zkeeper.client import BadVersionError, EventType, NodeExistsError, State, SyncClient, ZnodeStat


def test_blocking_calls(hosts: str) -> None:
    with SyncClient(hosts) as zk:
        assert zk.connected and zk.state is State.CONNECTED
        assert zk.create("/a", b"1", makepath=True) == "/a"
        data, stat = zk.get("/a")
        assert data == b"1" and isinstance(stat, ZnodeStat)
        assert zk.set("/a", b"2").version == 1
        assert zk.get_children("/") == ["a"]
        with pytest.raises(NodeExistsError):
            zk.create("/a")
        assert zk.retry(zk.get, "/a")[0] == b"2"
        zk.delete("/a")
        assert zk.exists("/a") is None
    assert zk.state is State.CLOSED


def test_transactions_and_multi_read(hosts: str) -> None:
    with SyncClient(hosts) as zk:
        with zk.transaction() as t:
            t.create("/x", b"x")
            t.create("/y", b"y")
        assert sorted(zk.get_children("/")) == ["x", "y"]
        t = zk.transaction()
        t.set_data("/x", b"new", version=3)
        assert isinstance(t.commit()[0], BadVersionError)
        r = zk.multi_read()
        r.get("/x")
        r.get_children("/")
        (data, _), children = r.commit()
        assert data == b"x" and sorted(children) == ["x", "y"]


def test_watch_callbacks_and_iterators(hosts: str) -> None:
    with SyncClient(hosts) as zk:
        fired = threading.Event()
        zk.exists("/w", watch=lambda event: fired.set())
        with zk.watch_data("/w") as events:
            zk.create("/w")
            assert events.next(timeout=10).type is EventType.NODE_CREATED
            zk.set("/w", b"1")
            assert events.next(timeout=10).type is EventType.NODE_DATA_CHANGED
        assert fired.wait(10)


def test_calls_from_other_threads(hosts: str) -> None:
    with SyncClient(hosts) as zk:
        zk.create("/n")
        errors: list[BaseException] = []

        def work(i: int) -> None:
            try:
                zk.create(f"/n/{i}")
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert not errors
        assert len(zk.get_children("/n")) == 8
