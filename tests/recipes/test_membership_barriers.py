"""Party/ShallowParty/GroupMembership, Barrier and DoubleBarrier, with several members."""

from __future__ import annotations

import asyncio

from tests.client.harness import wait_until
from zkeeper.client import Client
from zkeeper.recipes import Barrier, DoubleBarrier, GroupMembership, Party, ShallowParty
from zkeeper.testing import expire_session


async def test_party_members_come_and_go(hosts: str) -> None:
    async with Client(hosts) as a, Client(hosts) as b:
        pa, pb = Party(a, "/party", "alpha"), Party(b, "/party", "beta")
        await pa.join()
        await pb.join()
        await pa.join()  # idempotent
        assert sorted(await pa.members()) == ["alpha", "beta"]
        assert await pa.count() == 2
        await pb.leave()
        assert await pa.members() == ["alpha"]
    async with Client(hosts) as c:
        assert await Party(c, "/party").count() == 0  # members are ephemeral


async def test_shallow_party(hosts: str) -> None:
    async with Client(hosts) as c:
        members = [ShallowParty(c, "/sp", f"m{i}") for i in range(3)]
        await asyncio.gather(*(m.join() for m in members))
        assert await members[0].members() == ["m0", "m1", "m2"]


async def test_group_membership_watch_and_rejoin_after_expiry(hosts: str) -> None:
    async with Client(hosts) as a, Client(hosts) as b:
        group = GroupMembership(a, "/group", "a")
        await group.join()
        seen = group.watch()
        assert await asyncio.wait_for(seen.__anext__(), 10) == ["a"]
        other = GroupMembership(b, "/group", "b")
        await other.join()
        assert sorted(await asyncio.wait_for(seen.__anext__(), 10)) == ["a", "b"]
        await expire_session(b)  # b's node goes with its session, then b joins again
        await wait_until(lambda: _members_are(group, ["a", "b"]), message="b back in the group")
        await seen.aclose()


async def _members_are(party: Party, expected: list[str]) -> bool:
    return sorted(await party.members()) == expected


async def test_barrier_holds_everyone_until_removed(hosts: str) -> None:
    async with Client(hosts) as c:
        barrier = Barrier(c, "/gate")
        await barrier.create()
        assert not await barrier.wait(timeout=0.2)
        waiters = [asyncio.ensure_future(Barrier(c, "/gate").wait()) for _ in range(4)]
        await asyncio.sleep(0.2)
        assert not any(w.done() for w in waiters)
        assert await barrier.remove()
        assert await asyncio.wait_for(asyncio.gather(*waiters), 10) == [True] * 4
        assert await barrier.wait(timeout=1)


async def test_double_barrier_starts_and_ends_together(hosts: str) -> None:
    log: list[str] = []

    async def member(i: int, delay: float) -> None:
        async with Client(hosts) as c:
            barrier = DoubleBarrier(c, "/double", 4, f"m{i}")
            await asyncio.sleep(delay)
            await barrier.enter(timeout=20)
            log.append("in")
            await asyncio.sleep(delay)
            await barrier.leave(timeout=20)
            log.append("out")

    await asyncio.gather(*(member(i, 0.05 * i) for i in range(4)))
    # Nobody got in before all four arrived, nobody got out before all four were done.
    assert log == ["in"] * 4 + ["out"] * 4
    async with Client(hosts) as c:
        assert await c.get_children("/double") == []
