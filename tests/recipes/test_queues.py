"""Queue (FIFO with priorities) and LockingQueue with several consumers at once."""

from __future__ import annotations

import asyncio

import pytest

from zkeeper.client import Client
from zkeeper.recipes import LockingQueue, PriorityQueue, Queue


async def test_queue_is_fifo_within_a_priority(hosts: str) -> None:
    async with Client(hosts) as c:
        q = Queue(c, "/q")
        assert await q.get() is None
        for item in (b"1", b"2", b"3"):
            await q.put(item)
        await q.put_all([b"4", b"5"])
        assert await q.length() == 5
        assert [await q.get() for _ in range(5)] == [b"1", b"2", b"3", b"4", b"5"]
        assert await q.get() is None
        with pytest.raises(TypeError):
            await q.put("text")  # type: ignore[arg-type]


async def test_priority_orders_before_arrival(hosts: str) -> None:
    async with Client(hosts) as c:
        q = PriorityQueue(c, "/pq")
        await q.put(b"late-low", priority=200)
        await q.put(b"urgent", priority=1)
        await q.put(b"normal")
        assert [await q.get() for _ in range(3)] == [b"urgent", b"normal", b"late-low"]


async def test_blocking_get_waits_for_an_item(hosts: str) -> None:
    async with Client(hosts) as c, Client(hosts) as producer:
        q = Queue(c, "/q")
        assert await q.get(block=True, timeout=0.2) is None
        waiting = asyncio.ensure_future(q.get(block=True, timeout=10))
        await asyncio.sleep(0.1)
        await Queue(producer, "/q").put(b"hello")
        assert await waiting == b"hello"


async def test_competing_consumers_take_each_item_once(hosts: str) -> None:
    items = [str(i).encode() for i in range(60)]
    async with Client(hosts) as p:
        await Queue(p, "/q").put_all(items)
    taken: list[bytes] = []

    async def consume() -> None:
        async with Client(hosts) as c:
            q = Queue(c, "/q")
            while (item := await q.get()) is not None:
                taken.append(item)

    await asyncio.gather(*(consume() for _ in range(4)))
    assert sorted(taken) == sorted(items)


async def test_locking_queue_hands_back_what_a_consumer_did_not_finish(hosts: str) -> None:
    async with Client(hosts) as a, Client(hosts) as b:
        qa, qb = LockingQueue(a, "/lq"), LockingQueue(b, "/lq")
        await qa.put_all([b"x", b"y"])
        assert await qa.get() == b"x" and qa.holds_lock()
        assert await qb.get(timeout=5) == b"y"  # x is locked by a: b gets the next one
        assert await qa.release()
        assert await qb.consume()
        assert await qb.get(timeout=5) == b"x"
        assert await qb.consume()
        assert await qa.length() == 0
        assert await qa.get(timeout=0.2) is None


async def test_locking_queue_item_of_a_dead_consumer_goes_to_another(hosts: str) -> None:
    async with Client(hosts) as survivor:
        q = LockingQueue(survivor, "/lq")
        await q.put(b"job")
        async with Client(hosts) as doomed:
            assert await LockingQueue(doomed, "/lq").get() == b"job"
            assert await q.get(timeout=0.2) is None
        # The consumer's session closed without consuming: its lock is gone.
        assert await q.get(timeout=10) == b"job"
        await q.consume()


async def test_locking_queue_consumers_under_contention(hosts: str) -> None:
    async with Client(hosts) as p:
        await LockingQueue(p, "/lq").put_all([str(i).encode() for i in range(30)])
    done: list[bytes] = []

    async def worker() -> None:
        async with Client(hosts) as c:
            q = LockingQueue(c, "/lq")
            while (item := await q.get(timeout=0.5)) is not None:
                done.append(item)
                await q.consume()

    await asyncio.gather(*(worker() for _ in range(3)))
    assert sorted(done, key=int) == [str(i).encode() for i in range(30)]
