"""Barriers (kazoo's): `Barrier` holds everyone until it is removed; `DoubleBarrier`
lets `num_clients` members start together and finish together."""

from __future__ import annotations

import asyncio
import uuid

from ..client import Client, NodeExistsError, NoNodeError
from ..paths import join
from ._util import Trigger

_READY = "ready"


class Barrier:
    """`await barrier.create()` raises it, `await barrier.remove()` drops it, and
    `await barrier.wait(timeout)` returns True once it is down (False on timeout)."""

    def __init__(self, client: Client, path: str) -> None:
        self.client = client
        self.path = path

    async def create(self) -> None:
        await self.client.retry(self.client.ensure_path, self.path)

    async def remove(self) -> bool:
        try:
            await self.client.retry(self.client.delete, self.path)
        except NoNodeError:
            return False
        return True

    async def wait(self, timeout: float | None = None) -> bool:
        try:
            async with asyncio.timeout(timeout):
                while True:
                    trigger = Trigger()
                    if await self.client.retry(self.client.exists, self.path, watch=trigger) is None:
                        return True
                    await trigger.wait()
        except TimeoutError:
            return False


class DoubleBarrier:
    """`await b.enter()` waits until `num_clients` members are in; `await b.leave()`
    waits until all have left. Members are ephemeral: one that dies counts as left."""

    def __init__(self, client: Client, path: str, num_clients: int, identifier: str = "") -> None:
        self.client = client
        self.path = path
        self.num_clients = num_clients
        self.identifier = identifier
        self.node = uuid.uuid4().hex
        self.participating = False

    async def _members(self) -> list[str]:
        children = await self.client.retry(self.client.get_children, self.path)
        return sorted(c for c in children if c != _READY)

    async def enter(self, timeout: float | None = None) -> None:
        ready_path = join(self.path, _READY)
        async with asyncio.timeout(timeout):
            try:
                await self.client.retry(self.client.create, join(self.path, self.node),
                                        self.identifier.encode(), ephemeral=True, makepath=True)
            except NodeExistsError:
                pass
            self.participating = True
            while True:
                # Watch "ready" before counting, so the last member's create is never missed.
                ready = Trigger()
                if await self.client.retry(self.client.exists, ready_path, watch=ready) is not None:
                    return
                if len(await self._members()) >= self.num_clients:
                    try:
                        await self.client.retry(self.client.create, ready_path)
                    except NodeExistsError:
                        pass
                    return
                await ready.wait()

    async def leave(self, timeout: float | None = None) -> None:
        async with asyncio.timeout(timeout):
            try:
                await self.client.retry(self.client.delete, join(self.path, _READY))
            except NoNodeError:
                pass
            while True:
                members = await self._members()
                if not members:
                    break
                if members == [self.node]:
                    await self._delete_own()
                    break
                if members[0] == self.node:
                    watched = members[-1]  # the lowest leaves last: it waits for the highest
                else:
                    await self._delete_own()
                    watched = members[0]  # the others leave, then wait for the lowest
                trigger = Trigger()
                if await self.client.retry(self.client.exists, join(self.path, watched), watch=trigger) is not None:
                    await trigger.wait()
            self.participating = False

    async def _delete_own(self) -> None:
        try:
            await self.client.retry(self.client.delete, join(self.path, self.node))
        except NoNodeError:
            pass
