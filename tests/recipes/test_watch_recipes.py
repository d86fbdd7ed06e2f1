"""DataWatch, ChildrenWatch, ConfigWatch and TreeCache: current through changes from
several writers, lost connections and session expiry."""

from __future__ import annotations

import asyncio
import json

from tests.client.harness import wait_until
from zkeeper.client import Client
from zkeeper.recipes import ChildrenWatch, ConfigWatch, DataWatch, TreeCache, TreeEventType
from zkeeper.testing import Proxy, expire_session


async def test_data_watch_calls_back_with_each_version(hosts: str) -> None:
    async with Client(hosts) as c:
        seen: list[bytes | None] = []
        watch = DataWatch(c, "/d", lambda data, stat: seen.append(data))
        await watch.start()
        assert seen == [None]  # not there yet
        await c.create("/d", b"1")
        await wait_until(lambda: seen[-1] == b"1")
        await c.set("/d", b"2")
        await wait_until(lambda: seen[-1] == b"2")
        await c.delete("/d")
        await wait_until(lambda: seen[-1] is None)
        await watch.stop()


async def test_data_watch_stops_when_the_function_says_so(hosts: str) -> None:
    async with Client(hosts) as c:
        await c.create("/d", b"0")
        calls: list[bytes] = []

        def func(data: bytes, stat: object) -> bool:
            calls.append(data)
            return len(calls) < 2

        watch = await DataWatch(c, "/d", func).start()
        await c.set("/d", b"1")
        await wait_until(lambda: not watch.running)
        await c.set("/d", b"2")
        await asyncio.sleep(0.2)
        assert calls == [b"0", b"1"]


async def test_data_watch_survives_session_expiry(hosts: str) -> None:
    async with Client(hosts) as c, Client(hosts) as writer:
        await c.create("/d", b"0")
        versions = DataWatch(c, "/d").__aiter__()
        assert (await versions.__anext__())[0] == b"0"
        await expire_session(c)
        await writer.set("/d", b"after")
        data, _ = await asyncio.wait_for(versions.__anext__(), 10)
        assert data == b"after"


async def test_children_watch_follows_concurrent_writers(hosts: str) -> None:
    async with Client(hosts) as c:
        await c.create("/kids")
        latest: list[list[str]] = []
        watch = await ChildrenWatch(c, "/kids", latest.append).start()

        async def writer(i: int) -> None:
            async with Client(hosts) as w:
                for j in range(5):
                    await w.create(f"/kids/w{i}-{j}")

        await asyncio.gather(*(writer(i) for i in range(4)))
        await wait_until(lambda: len(latest[-1]) == 20)
        await c.delete("/kids", recursive=True)
        await wait_until(lambda: not watch.running)  # the node is gone: the watch ends


async def test_config_watch_hands_out_each_new_version(hosts: str) -> None:
    async with Client(hosts) as c, Client(hosts) as admin:
        configs = ConfigWatch(c, "/config", parse=json.loads).__aiter__()
        first = asyncio.ensure_future(configs.__anext__())
        await asyncio.sleep(0.1)
        assert not first.done()  # waits for the node to exist
        await admin.create("/config", b'{"workers": 2}')
        assert (await asyncio.wait_for(first, 10)).value == {"workers": 2}
        await admin.set("/config", b"not json")  # skipped, the program keeps version 0
        await admin.set("/config", b'{"workers": 5}')
        latest = await asyncio.wait_for(configs.__anext__(), 10)
        assert latest.value == {"workers": 5} and latest.version == 2


async def test_tree_cache_mirrors_a_subtree(hosts: str) -> None:
    async with Client(hosts) as c, Client(hosts) as writer:
        await c.create("/tree/a", b"1", makepath=True)
        events: list[tuple[TreeEventType, str | None]] = []
        async with TreeCache(c, "/tree") as cache:
            cache.listen(lambda e: events.append((e.type, e.node.path if e.node else None)))
            assert cache.get_children("/tree") == ["a"]
            assert cache.get_data("/tree/a").data == b"1"  # type: ignore[union-attr]

            async def scribble(i: int) -> None:
                async with Client(hosts) as w:
                    await w.create(f"/tree/w{i}/leaf", str(i).encode(), makepath=True)
                    await w.set(f"/tree/w{i}/leaf", b"changed")

            await asyncio.gather(*(scribble(i) for i in range(4)))
            await writer.delete("/tree/a")
            await wait_until(lambda: cache.get_children("/tree") == ["w0", "w1", "w2", "w3"])
            await wait_until(lambda: all(cache.get_data(f"/tree/w{i}/leaf") is not None and
                                         cache.get_data(f"/tree/w{i}/leaf").data == b"changed"  # type: ignore[union-attr]
                                         for i in range(4)))
            assert cache.get_data("/tree/a") is None
            assert (TreeEventType.NODE_REMOVED, "/tree/a") in events
            assert (TreeEventType.NODE_ADDED, "/tree/w0/leaf") in events


async def test_tree_cache_catches_up_after_reconnect_and_expiry(server, root: str) -> None:  # noqa: ANN001
    async with Proxy(server.port) as proxy, Client(proxy.hosts + root, timeout=3.0) as c, \
            Client(server.hosts + root) as writer:
        await c.create("/tree/x", b"0", makepath=True)
        async with TreeCache(c, "/tree") as cache:
            proxy.silence(True)
            proxy.cut()
            await wait_until(lambda: not c.connected)
            await writer.set("/tree/x", b"while away")
            await writer.create("/tree/new", b"n")
            proxy.silence(False)
            await wait_until(lambda: cache.get_data("/tree/new") is not None, timeout=15)
            assert cache.get_data("/tree/x").data == b"while away"  # type: ignore[union-attr]

            await expire_session(c)
            await writer.create("/tree/after-expiry")
            await wait_until(lambda: cache.get_data("/tree/after-expiry") is not None, timeout=15)
