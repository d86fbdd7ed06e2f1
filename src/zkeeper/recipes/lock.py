"""Locks: `Lock` (exclusive), `ReadLock`/`WriteLock` (shared/exclusive), `ReadWriteLock`.

The classic ZooKeeper recipe, as kazoo lays it out: each contender makes an
ephemeral sequential node `<path>/<guid>__lock__<seq>`; the lowest sequence holds
the lock. A waiter watches only the node right before its own (no herd when the lock
changes hands). The guid lets a contender find its node again when the create's reply
was lost (ConnectionLoss), so a lost reply never leaves an orphan that blocks everyone.
If the session expires the node is gone: a waiter queues again at the back; a holder
finds `is_acquired` False (check it, or follow the client's state, before trusting it).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterable

from ..client import Client, ConnectionLoss, LockTimeout, NoNodeError
from ..paths import join
from ._util import Trigger, data_of_children, sequence_of


class Lock:
    """`async with Lock(client, "/locks/db", "worker-1"):` holds it for the block. Not re-entrant."""

    _NODE_NAME = "__lock__"  # between the guid and the sequence number
    _EXCLUDE_NAMES: tuple[str, ...] = ("__lock__",)  # names an earlier node must have to block us

    def __init__(self, client: Client, path: str, identifier: str = "",
                 extra_lock_patterns: Iterable[str] = ()) -> None:
        self.client = client
        self.path = path
        self.identifier = identifier
        self.prefix = uuid.uuid4().hex + self._NODE_NAME
        self.node: str | None = None  # our node's name while we hold or wait
        self._exclude = set(self._EXCLUDE_NAMES) | set(extra_lock_patterns)
        names = "|".join(re.escape(n) for n in sorted(self._exclude | {self._NODE_NAME}))
        self._contender = re.compile(rf"^.*({names})(\d{{10}})$")
        self._held_in: int | None = None  # the session that made our node
        self._creating = False  # a create is under way or was cut short: our node may exist

    @property
    def is_acquired(self) -> bool:
        """Held, and by a session that is still ours (an expiry took the node with it)."""
        return self._held_in is not None and self._held_in == self.client.session_id

    async def acquire(self, blocking: bool = True, timeout: float | None = None, ephemeral: bool = True) -> bool:
        """Wait for the lock; True when held. False if not `blocking` and it is taken.
        LockTimeout after `timeout` seconds; either way our node is removed."""
        try:
            async with asyncio.timeout(timeout):
                got = await self._acquire(blocking, ephemeral)
        except TimeoutError:
            await self._forget_node()
            raise LockTimeout(f"failed to acquire {self.path} within {timeout}s") from None
        except BaseException:
            await self._forget_node()
            raise
        if not got:
            await self._forget_node()
            return False
        self._held_in = self.client.session_id
        return True

    async def _acquire(self, blocking: bool, ephemeral: bool) -> bool:
        retry = self.client.retry
        while True:
            if self.node is None:
                self.node = await self._create_node(ephemeral)
            children = await retry(self.client.get_children, self.path)
            if self.node not in children:
                self.node = None  # gone with an expired session: queue again, at the back
                continue
            blocker = self._blocker(children)
            if blocker is None:
                return True
            if not blocking:
                return False
            trigger = Trigger()
            if await retry(self.client.exists, join(self.path, blocker), watch=trigger) is not None:
                await trigger.wait()

    async def _create_node(self, ephemeral: bool) -> str:
        self._creating = True
        while True:
            try:
                created: str = await self.client.create(join(self.path, self.prefix), self.identifier.encode(),
                                                   ephemeral=ephemeral, sequence=True, makepath=True)
                self._creating = False
                return created.rsplit("/", 1)[1]
            except ConnectionLoss:
                # The create may have landed: our guid finds it if it did.
                mine = await self._find_node()
                if mine is not None:
                    self._creating = False
                    return mine

    async def _find_node(self) -> str | None:
        try:
            children = await self.client.retry(self.client.get_children, self.path)
        except NoNodeError:
            return None
        return next((c for c in children if c.startswith(self.prefix)), None)

    def _blocker(self, children: list[str]) -> str | None:
        """The nearest earlier contender whose kind blocks ours, if any."""
        assert self.node is not None
        mine = sequence_of(self.node)
        best: tuple[int, str] | None = None
        for name in children:
            m = self._contender.match(name)
            if m is None or m.group(1) not in self._exclude:
                continue
            seq = int(m.group(2))
            if seq < mine and (best is None or seq > best[0]):
                best = (seq, name)
        return None if best is None else best[1]

    async def release(self) -> None:
        """Give the lock up (idempotent)."""
        await self._forget_node()

    async def _forget_node(self) -> None:
        node, self.node, self._held_in = self.node, None, None
        if node is None and self._creating:
            node = await self._find_node_quietly()
        self._creating = False
        if node is None:
            return
        try:
            await self.client.retry(self.client.delete, join(self.path, node))
        except NoNodeError:
            pass

    async def _find_node_quietly(self) -> str | None:
        # A create cut short by cancellation may still have landed.
        try:
            return await self._find_node()
        except Exception:
            return None

    async def contenders(self) -> list[str]:
        """The identifiers of the holder and the waiters, in lock order."""
        try:
            children = await self.client.retry(self.client.get_children, self.path)
        except NoNodeError:
            return []
        ours = sorted((c for c in children if self._contender.match(c)), key=sequence_of)
        return await data_of_children(self.client, self.path, ours)

    async def __aenter__(self) -> Lock:
        await self.acquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.release()


class WriteLock(Lock):
    """Exclusive: waits for every earlier reader and writer."""

    _NODE_NAME = "__lock__"
    _EXCLUDE_NAMES = ("__lock__", "__rlock__")


class ReadLock(Lock):
    """Shared: waits only for earlier writers; readers hold it together."""

    _NODE_NAME = "__rlock__"
    _EXCLUDE_NAMES = ("__lock__",)


class ReadWriteLock:
    """A read lock and a write lock on one path: `rw.read_lock`, `rw.write_lock`."""

    def __init__(self, client: Client, path: str, identifier: str = "") -> None:
        self.read_lock = ReadLock(client, path, identifier)
        self.write_lock = WriteLock(client, path, identifier)
