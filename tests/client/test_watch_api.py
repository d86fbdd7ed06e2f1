"""Watches as callbacks and as async iterators, one-shot, persistent and recursive."""

from __future__ import annotations

import asyncio

import pytest

from tests.client.harness import Events, next_event
from zkeeper.client import Client, EventType, NoWatcherError, WatcherType
from zkeeper.types import AddWatchMode, KeeperState


async def test_data_watch_fires_once(hosts: str) -> None:
    async with Client(hosts) as c:
        await c.create("/w", b"0")
        events = Events()
        await c.get("/w", watch=events)
        await c.set("/w", b"1")
        ev = await events.next()
        assert (ev.type, ev.state, ev.path) == (EventType.NODE_DATA_CHANGED, KeeperState.SYNC_CONNECTED, "/w")
        await c.set("/w", b"2")
        assert await events.none_within(0.3)


async def test_exists_watch_on_missing_node_fires_on_create(hosts: str) -> None:
    async with Client(hosts) as c:
        events = Events()
        assert await c.exists("/later", watch=events) is None
        await c.create("/later")
        assert (await events.next()).type is EventType.NODE_CREATED


async def test_child_watch_and_delete(hosts: str) -> None:
    async with Client(hosts) as c:
        await c.create("/parent")
        children_events, data_events = Events(), Events()
        await c.get_children("/parent", watch=children_events)
        await c.create("/parent/kid")
        ev = await children_events.next()
        assert (ev.type, ev.path) == (EventType.NODE_CHILDREN_CHANGED, "/parent")
        await c.delete("/parent/kid")
        await c.get_children("/parent", watch=children_events)
        await c.get("/parent", watch=data_events)
        await c.delete("/parent")
        assert (await children_events.next()).type is EventType.NODE_DELETED
        assert (await data_events.next()).type is EventType.NODE_DELETED


async def test_same_callback_on_one_path_fires_once(hosts: str) -> None:
    async with Client(hosts) as c:
        await c.create("/d")
        events = Events()
        await c.get("/d", watch=events)
        await c.exists("/d", watch=events)
        await c.set("/d", b"x")
        await events.next()
        assert await events.none_within(0.3)


async def test_coroutine_callbacks_run(hosts: str) -> None:
    async with Client(hosts) as c:
        got: asyncio.Queue = asyncio.Queue()

        async def on_event(event):  # noqa: ANN001, ANN202
            await got.put(event.type)

        await c.exists("/co", watch=on_event)
        await c.create("/co")
        assert await asyncio.wait_for(got.get(), 10) is EventType.NODE_CREATED


async def test_watch_data_iterator_follows_every_change(hosts: str) -> None:
    async with Client(hosts) as c:
        async with c.watch_data("/node") as events:
            await c.create("/node", b"a")
            assert (await next_event(events)).type is EventType.NODE_CREATED
            for i in range(3):
                await c.set("/node", str(i).encode())
                assert (await next_event(events)).type is EventType.NODE_DATA_CHANGED
            await c.delete("/node")
            assert (await next_event(events)).type is EventType.NODE_DELETED
            await c.create("/node")
            assert (await next_event(events)).type is EventType.NODE_CREATED


async def test_watch_data_reads_after_event_see_no_stale_gap(hosts: str) -> None:
    """The watch is set again before an event is handed out, so a change made while the
    program handles the event produces another event."""
    async with Client(hosts) as c, Client(hosts) as writer:
        await c.create("/g", b"0")
        async with c.watch_data("/g") as events:
            await writer.set("/g", b"1")
            await next_event(events)
            await writer.set("/g", b"2")  # while "handling" the first event
            await next_event(events)
            assert (await c.get("/g"))[0] == b"2"


async def test_watch_children_iterator_ends_with_the_node(hosts: str) -> None:
    async with Client(hosts) as c:
        await c.create("/kids")
        seen = []

        async def consume() -> None:
            async for event in c.watch_children("/kids"):
                seen.append(event.type)

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.2)
        await c.create("/kids/a")
        await asyncio.sleep(0.2)
        await c.delete("/kids", recursive=True)
        await asyncio.wait_for(task, 10)
        assert seen[0] is EventType.NODE_CHILDREN_CHANGED
        assert seen[-1] is EventType.NODE_DELETED


async def test_persistent_watch_stays(hosts: str) -> None:
    async with Client(hosts) as c:
        await c.create("/p")
        async with c.watch_persistent("/p") as events:
            await c.set("/p", b"1")
            await c.set("/p", b"2")
            await c.create("/p/child")
            kinds = [(await next_event(events)).type for _ in range(3)]
            assert kinds == [EventType.NODE_DATA_CHANGED, EventType.NODE_DATA_CHANGED,
                             EventType.NODE_CHILDREN_CHANGED]
        # Leaving the block removed the watch on the server too.
        events2 = Events()
        await c.exists("/p", watch=events2)
        await c.set("/p", b"3")
        await events2.next()


async def test_recursive_watch_sees_the_subtree_but_no_child_events(hosts: str) -> None:
    async with Client(hosts) as c:
        await c.create("/tree")
        async with c.watch_persistent("/tree", recursive=True) as events:
            await c.create("/tree/a", b"")
            await c.create("/tree/a/b", b"")
            await c.set("/tree/a/b", b"x")
            await c.delete("/tree/a/b")
            got = [(e.type, e.path) for e in [await next_event(events) for _ in range(4)]]
            assert got == [
                (EventType.NODE_CREATED, "/tree/a"),
                (EventType.NODE_CREATED, "/tree/a/b"),
                (EventType.NODE_DATA_CHANGED, "/tree/a/b"),
                (EventType.NODE_DELETED, "/tree/a/b"),
            ]


async def test_add_watch_callback_and_remove_all(hosts: str) -> None:
    async with Client(hosts) as c:
        await c.create("/aw")
        events = Events()
        await c.add_watch("/aw", events, AddWatchMode.PERSISTENT)
        await c.set("/aw", b"1")
        assert (await events.next()).type is EventType.NODE_DATA_CHANGED
        await c.remove_all_watches("/aw", WatcherType.PERSISTENT)
        assert (await events.next()).type is EventType.PERSISTENT_WATCH_REMOVED
        await c.set("/aw", b"2")
        assert await events.none_within(0.3)


async def test_remove_one_watcher(hosts: str) -> None:
    async with Client(hosts) as c:
        await c.create("/rw")
        keep, drop = Events(), Events()
        await c.get("/rw", watch=keep)
        await c.get("/rw", watch=drop)
        await c.remove_watches("/rw", drop, WatcherType.DATA)
        assert (await drop.next()).type is EventType.DATA_WATCH_REMOVED
        with pytest.raises(NoWatcherError):
            await c.remove_watches("/rw", drop, WatcherType.DATA)
        await c.set("/rw", b"x")
        assert (await keep.next()).type is EventType.NODE_DATA_CHANGED
        assert await drop.none_within(0.2)


async def test_remove_all_data_watches_on_the_server(hosts: str) -> None:
    async with Client(hosts) as c:
        await c.create("/ra")
        events = Events()
        await c.get("/ra", watch=events)
        await c.remove_all_watches("/ra", WatcherType.DATA)
        assert (await events.next()).type is EventType.DATA_WATCH_REMOVED
        with pytest.raises(NoWatcherError):
            await c.remove_all_watches("/ra", WatcherType.DATA)


async def test_iterators_stop_when_the_client_closes(hosts: str) -> None:
    c = Client(hosts)
    await c.start()
    stream = await c.watch_data("/x").start()
    await c.close()
    with pytest.raises(StopAsyncIteration):
        await next_event(stream)
