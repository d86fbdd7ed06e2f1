"""Counter and Election under contention, across tasks and processes, and Election
take-over when the leader's session dies."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from tests.client.harness import wait_until
from tests.recipes.processes import finish, spawn, stop, wait_ready
from zkeeper.client import Client
from zkeeper.recipes import Counter, Election
from zkeeper.testing import expire_session


async def test_counter_add_and_subtract(hosts: str) -> None:
    async with Client(hosts) as c:
        counter = Counter(c, "/count")
        assert await counter.get() == 0
        assert await counter.add(5) == 5
        assert await counter.subtract(2) == 3
        assert (counter.pre_value, counter.post_value) == (5, 3)
        assert (await c.get("/count"))[0] == b"3"  # kazoo's format: repr of the value
        floats = Counter(c, "/f", default=0.5)
        assert await floats.add(1.25) == 1.75
        with pytest.raises(TypeError):
            await floats.add(1)


async def test_counter_tasks_race(hosts: str) -> None:
    async def bump() -> None:
        async with Client(hosts) as c:
            counter = Counter(c, "/count")
            for _ in range(20):
                await counter.add(1)

    await asyncio.gather(*(bump() for _ in range(5)))
    async with Client(hosts) as c:
        assert await Counter(c, "/count").get() == 100


@pytest.mark.async_timeout(200)
async def test_counter_processes_race(hosts: str) -> None:
    procs = [spawn("counter", hosts, "/count", "100") for _ in range(8)]
    await asyncio.to_thread(finish, procs, 180)
    async with Client(hosts) as c:
        assert await Counter(c, "/count").get() == 800


async def test_election_runs_the_leader_then_the_next(hosts: str) -> None:
    order: list[str] = []

    async def candidate(name: str) -> str:
        async with Client(hosts) as c:
            async def lead() -> str:
                order.append(name)
                await asyncio.sleep(0.05)
                return name

            return await Election(c, "/election", name).run(lead)

    first = asyncio.ensure_future(candidate("a"))
    await asyncio.sleep(0.3)
    rest = [asyncio.ensure_future(candidate(n)) for n in "bc"]
    assert await asyncio.gather(first, *rest) == ["a", "b", "c"]
    assert order[0] == "a" and sorted(order) == ["a", "b", "c"]


async def test_leader_whose_session_dies_is_replaced_and_rejoins_at_the_back(hosts: str) -> None:
    async with Client(hosts) as ca, Client(hosts) as cb, Client(hosts) as cc:
        leading: list[str] = []
        stop_leading = {n: asyncio.Event() for n in "abc"}

        def runner(name: str, client: Client) -> asyncio.Future[None]:
            async def lead() -> None:
                leading.append(name)
                await stop_leading[name].wait()

            return asyncio.ensure_future(Election(client, "/election", name).run(lead))

        a = runner("a", ca)
        await wait_until(lambda: leading == ["a"])
        watcher = Election(ca, "/election")
        b = runner("b", cb)
        await wait_until(lambda: _contenders_are(watcher, ["a", "b"]))
        c = runner("c", cc)
        await wait_until(lambda: _contenders_are(watcher, ["a", "b", "c"]))

        await expire_session(ca)  # the leader's session dies
        await wait_until(lambda: leading == ["a", "b"], message="b takes over")
        await wait_until(lambda: _contenders_are(watcher, ["b", "c", "a"]), message="a rejoins at the back")
        assert not a.done()  # a is a candidate again, not gone

        stop_leading["b"].set()
        await asyncio.wait_for(b, 10)
        await wait_until(lambda: leading == ["a", "b", "c"])
        stop_leading["c"].set()
        await asyncio.wait_for(c, 10)
        await wait_until(lambda: leading == ["a", "b", "c", "a"])
        stop_leading["a"].set()
        await asyncio.wait_for(a, 10)


async def _contenders_are(election: Election, expected: list[str]) -> bool:
    return await election.contenders() == expected


@pytest.mark.async_timeout(120)
async def test_election_across_processes_survives_the_leader_dying(hosts: str, tmp_path: Path) -> None:
    log = tmp_path / "leaders.log"
    procs = []
    try:
        async with Client(hosts) as c:
            names: list[str] = []
            for name in ("p1", "p2", "p3"):  # one at a time, so the queue order is known
                proc = spawn("elect", hosts, "/election", name, str(log))
                procs.append(proc)
                await asyncio.to_thread(wait_ready, proc)
                names.append(name)
                await wait_until(lambda: _contenders_are(Election(c, "/election"), names))
        assert log.read_text().splitlines() == ["leader p1"]
        procs[0].send_signal(signal.SIGKILL)  # no goodbye: the server expires its session
        await wait_until(lambda: log.read_text().splitlines() == ["leader p1", "leader p2"], timeout=30)
        procs[1].send_signal(signal.SIGKILL)
        await wait_until(lambda: log.read_text().splitlines() == ["leader p1", "leader p2", "leader p3"], timeout=30)
    finally:
        await asyncio.to_thread(stop, procs)
