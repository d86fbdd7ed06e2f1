"""Distributed queues (kazoo's): `Queue` and `LockingQueue`.

`Queue` items are sequential nodes `entry-<priority:03d>-<seq>`, taken in name
order: by priority (lower first), then first in, first out. Several consumers may
race for the head item; the one whose delete succeeds owns it. If the connection
drops during that delete the item may be gone without us knowing it was ours (at
most once). `LockingQueue` is at least once: a consumer locks an item with an
ephemeral node, processes it, then `consume()`s it; if the consumer dies first the
lock vanishes and the item is handed to someone else.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable

from ..client import Client, NodeExistsError, NoNodeError
from ..paths import join
from ._util import Trigger

_PREFIX = "entry-"


def _check_put(value: bytes, priority: int) -> None:
    if not isinstance(value, bytes):
        raise TypeError("value must be bytes")
    if not isinstance(priority, int) or not 0 <= priority <= 999:
        raise ValueError("priority must be an int in 0..999")


class _Entries:
    """What both queues share: items are sequential `entry-<priority>-` nodes under `entries`."""

    def __init__(self, client: Client, entries: str, *also: str) -> None:
        self.client = client
        self.entries = entries
        self._folders = (entries, *also)
        self._ensured = False

    async def _ensure(self) -> None:
        if not self._ensured:
            for folder in self._folders:
                await self.client.retry(self.client.ensure_path, folder)
            self._ensured = True

    async def put(self, value: bytes, priority: int = 100) -> None:
        """Add an item; lower `priority` values are taken first."""
        _check_put(value, priority)
        await self._ensure()
        # A sequential create is not retried: a lost reply could mean two copies.
        await self.client.create(join(self.entries, f"{_PREFIX}{priority:03d}-"), value, sequence=True)

    async def put_all(self, values: Iterable[bytes], priority: int = 100) -> None:
        """Add several items atomically, in order."""
        await self._ensure()
        t = self.client.transaction()
        for value in values:
            _check_put(value, priority)
            t.create(join(self.entries, f"{_PREFIX}{priority:03d}-"), value, sequence=True)
        await t.commit(check=True)

    async def length(self) -> int:
        await self._ensure()
        return len(await self.client.retry(self.client.get_children, self.entries))


class Queue(_Entries):
    def __init__(self, client: Client, path: str) -> None:
        super().__init__(client, path)
        self.path = path
        self._known: list[str] = []  # names seen at the last listing, in order

    async def get(self, block: bool = False, timeout: float | None = None) -> bytes | None:
        """Take the head item; None if the queue is empty (after waiting up to `timeout`
        seconds if `block`)."""
        await self._ensure()
        try:
            async with asyncio.timeout(timeout if block else None):
                while True:
                    trigger = Trigger() if block else None
                    item = await self._take(trigger)
                    if item is not None or trigger is None:
                        return item
                    await trigger.wait()
        except TimeoutError:
            return None

    async def _take(self, watch: Trigger | None) -> bytes | None:
        while True:
            if not self._known or watch is not None:
                self._known = sorted(await self.client.retry(self.client.get_children, self.path, watch=watch))
                watch = None
            if not self._known:
                return None
            name = self._known.pop(0)
            try:
                data, _ = await self.client.retry(self.client.get, join(self.path, name))
                await self.client.delete(join(self.path, name))
            except NoNodeError:
                continue  # another consumer took it
            return data


PriorityQueue = Queue  # kazoo's Queue already orders by priority, then FIFO


class LockingQueue(_Entries):
    """`item = await q.get()` locks the head item; `await q.consume()` removes it,
    `await q.release()` hands it back. One item at a time per LockingQueue object."""

    def __init__(self, client: Client, path: str) -> None:
        super().__init__(client, join(path, "entries"), join(path, "taken"))
        self.path = path
        self.id = uuid.uuid4().hex.encode()
        self.taken = join(path, "taken")
        self.processing: tuple[str, bytes] | None = None  # (entry name, data) we hold

    async def get(self, timeout: float | None = None) -> bytes | None:
        """Lock and return the first free item, waiting for one; None after `timeout`."""
        if self.processing is not None:
            raise RuntimeError("consume() or release() the item you hold first")
        await self._ensure()
        try:
            async with asyncio.timeout(timeout):
                while True:
                    changed = Trigger()
                    entries = sorted(await self.client.retry(self.client.get_children, self.entries, watch=changed))
                    taken = set(await self.client.retry(self.client.get_children, self.taken, watch=changed))
                    for name in entries:
                        if name not in taken and (data := await self._lock(name)) is not None:
                            return data
                    await changed.wait()
        except TimeoutError:
            return None

    async def _lock(self, name: str) -> bytes | None:
        """Lock entry `name` for us; its data, or None if someone else has it or it is gone."""
        try:
            await self.client.retry(self.client.create, join(self.taken, name), self.id, ephemeral=True)
        except NodeExistsError:
            try:
                data, _ = await self.client.retry(self.client.get, join(self.taken, name))
            except NoNodeError:
                return None  # consumed or released this instant: look again next round
            if data != self.id:  # someone else's (ours if a lost reply's create landed)
                return None
        try:
            data, _ = await self.client.retry(self.client.get, join(self.entries, name))
        except NoNodeError:  # consumed meanwhile by the previous holder
            await self._unlock(name)
            return None
        self.processing = (name, data)
        return data

    def holds_lock(self) -> bool:
        return self.processing is not None

    async def consume(self) -> bool:
        """Remove the held item for good (item and lock in one transaction)."""
        if self.processing is None:
            return False
        name = self.processing[0]
        t = self.client.transaction()
        t.delete(join(self.taken, name))
        t.delete(join(self.entries, name))
        await t.commit(check=True)
        self.processing = None
        return True

    async def release(self) -> bool:
        """Hand the held item back to the queue."""
        if self.processing is None:
            return False
        await self._unlock(self.processing[0])
        self.processing = None
        return True

    async def _unlock(self, name: str) -> None:
        try:
            await self.client.retry(self.client.delete, join(self.taken, name))
        except NoNodeError:
            pass
