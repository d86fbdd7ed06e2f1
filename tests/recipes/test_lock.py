"""Lock, ReadLock/WriteLock and Semaphore: exclusion under contention (tasks and
processes), herd-free waiting, timeouts, and recovery from session expiry."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.client.harness import wait_until
from tests.recipes.processes import finish, spawn
from zkeeper.client import Client, LockTimeout
from zkeeper.recipes import Lock, ReadLock, ReadWriteLock, Semaphore, WriteLock
from zkeeper.testing import expire_session


async def test_acquire_release_and_contenders(hosts: str) -> None:
    async with Client(hosts) as a, Client(hosts) as b:
        first, second = Lock(a, "/lock", "first"), Lock(b, "/lock", "second")
        assert await first.acquire()
        assert first.is_acquired
        assert not await second.acquire(blocking=False)
        assert await a.get_children("/lock") == [first.node]  # the refused try left nothing
        waiting = asyncio.ensure_future(second.acquire())
        await wait_until(lambda: second.node is not None)
        assert await first.contenders() == ["first", "second"]
        await first.release()
        assert await asyncio.wait_for(waiting, 10)
        assert not first.is_acquired and second.is_acquired
        await second.release()
        assert await a.get_children("/lock") == []


async def test_timeout_raises_and_leaves_no_node(hosts: str) -> None:
    async with Client(hosts) as a, Client(hosts) as b:
        async with Lock(a, "/lock"):
            with pytest.raises(LockTimeout):
                await Lock(b, "/lock").acquire(timeout=0.3)
            assert len(await a.get_children("/lock")) == 1


async def test_waiters_watch_only_their_predecessor(hosts: str) -> None:
    async with Client(hosts) as c:
        watched: list[str] = []
        real_exists = c.exists

        async def spying_exists(path, watch=None):  # noqa: ANN001, ANN202
            if watch is not None:
                watched.append(path)
            return await real_exists(path, watch)

        c.exists = spying_exists  # type: ignore[method-assign]
        holder = Lock(c, "/lock", "holder")
        await holder.acquire()
        waiters = [Lock(c, "/lock", f"w{i}") for i in range(4)]
        tasks = []
        for w in waiters:  # queue them one by one so their order is known
            tasks.append(asyncio.ensure_future(w.acquire()))
            await wait_until(lambda: len(watched) == len(tasks))
        nodes = [holder.node] + [w.node for w in waiters]
        assert watched == [f"/lock/{n}" for n in nodes[:-1]]
        await holder.release()
        for w, t in zip(waiters, tasks):
            await asyncio.wait_for(t, 10)
            assert w.is_acquired
            await w.release()
        # Each release woke exactly one waiter, which then watched nobody new.
        assert len(watched) == 4


async def test_tasks_never_overlap(hosts: str) -> None:
    async with Client(hosts) as setup:
        await setup.create("/value", b"0")
        inside = 0
        max_inside = 0

        async def worker(i: int) -> None:
            nonlocal inside, max_inside
            async with Client(hosts) as c:
                lock = Lock(c, "/lock", f"w{i}")
                for _ in range(5):
                    async with lock:
                        inside += 1
                        max_inside = max(max_inside, inside)
                        value = int((await c.get("/value"))[0])  # read-modify-write, unprotected but for the lock
                        await asyncio.sleep(0.001)
                        await c.set("/value", str(value + 1).encode())
                        inside -= 1

        await asyncio.gather(*(worker(i) for i in range(6)))
        assert max_inside == 1
        assert (await setup.get("/value"))[0] == b"30"


@pytest.mark.async_timeout(150)
async def test_processes_never_overlap(hosts: str, tmp_path: Path) -> None:
    log = tmp_path / "lock.log"
    procs = [spawn("lock", hosts, "/lock", "10", str(log)) for _ in range(5)]
    await asyncio.to_thread(finish, procs)
    events = [line.split() for line in log.read_text().splitlines()]
    assert len(events) == 5 * 10 * 2
    for enter, leave in zip(events[0::2], events[1::2]):
        # Every "enter P" is followed directly by "exit P": nobody got in between.
        assert (enter[0], leave[0], enter[1]) == ("enter", "exit", leave[1]), (enter, leave)
    assert len({pid for _, pid in events}) == 5


async def test_waiter_whose_session_expires_queues_again(hosts: str) -> None:
    async with Client(hosts) as a, Client(hosts) as b, Client(hosts) as c:
        holder, early, late = Lock(a, "/lock", "holder"), Lock(b, "/lock", "early"), Lock(c, "/lock", "late")
        await holder.acquire()
        early_wait = asyncio.ensure_future(early.acquire())
        await wait_until(lambda: early.node is not None)
        late_wait = asyncio.ensure_future(late.acquire())
        await wait_until(lambda: late.node is not None)
        await expire_session(b)
        # "early" lost its place with its session and queued again behind "late".
        await wait_until(lambda: _order_is(early, ["holder", "late", "early"]))
        await holder.release()
        assert await asyncio.wait_for(late_wait, 10)
        await late.release()
        assert await asyncio.wait_for(early_wait, 10)
        assert early.is_acquired
        await early.release()


async def _order_is(lock: Lock, expected: list[str]) -> bool:
    return await lock.contenders() == expected


async def test_holder_learns_it_lost_the_lock_when_the_session_expires(hosts: str) -> None:
    async with Client(hosts) as a, Client(hosts) as b:
        lock = Lock(a, "/lock", "a")
        await lock.acquire()
        waiter = Lock(b, "/lock", "b")
        waiting = asyncio.ensure_future(waiter.acquire())
        await expire_session(a)
        assert not lock.is_acquired
        assert await asyncio.wait_for(waiting, 10)  # the next in line took over
        await lock.release()  # harmless
        await waiter.release()


async def test_read_locks_share_and_write_locks_exclude(hosts: str) -> None:
    async with Client(hosts) as a, Client(hosts) as b, Client(hosts) as c:
        r1, r2 = ReadLock(a, "/rw", "r1"), ReadLock(b, "/rw", "r2")
        assert await r1.acquire(timeout=5) and await r2.acquire(timeout=5)
        writer = WriteLock(c, "/rw", "w")
        assert not await writer.acquire(blocking=False)
        waiting = asyncio.ensure_future(writer.acquire())
        await asyncio.sleep(0.2)
        late_reader = ReadWriteLock(a, "/rw", "r3").read_lock
        late = asyncio.ensure_future(late_reader.acquire())  # queued behind the writer
        await r1.release()
        await asyncio.sleep(0.2)
        assert not waiting.done()
        await r2.release()
        assert await asyncio.wait_for(waiting, 10)
        await asyncio.sleep(0.2)
        assert not late.done()
        await writer.release()
        assert await asyncio.wait_for(late, 10)
        await late_reader.release()


async def test_semaphore_admits_at_most_max_leases(hosts: str) -> None:
    inside = 0
    peak = 0

    async def worker(i: int) -> None:
        nonlocal inside, peak
        async with Client(hosts) as c:
            for _ in range(3):
                async with Semaphore(c, "/sem", f"w{i}", max_leases=2):
                    inside += 1
                    peak = max(peak, inside)
                    await asyncio.sleep(0.02)
                    inside -= 1

    await asyncio.gather(*(worker(i) for i in range(5)))
    assert peak == 2
    async with Client(hosts) as c:
        assert await Semaphore(c, "/sem", max_leases=2).lease_holders() == []
        with pytest.raises(ValueError):
            await Semaphore(c, "/sem", max_leases=3).acquire()
