"""Semaphore (kazoo's): at most `max_leases` holders at once.

Holders are ephemeral nodes under `<path>/leases`; a short internal Lock at
`<path>/lock` makes "count the leases, then take one" atomic. Waiters watch the lease
list and try again when it changes. The semaphore node's data records max_leases so
that two programs cannot disagree about it silently.
"""

from __future__ import annotations

import asyncio
import uuid

from ..client import Client, LockTimeout, NodeExistsError, NoNodeError
from ..paths import join
from ._util import Trigger, data_of_children
from .lock import Lock


class Semaphore:
    def __init__(self, client: Client, path: str, identifier: str = "", max_leases: int = 1) -> None:
        if max_leases < 1:
            raise ValueError("max_leases must be at least 1")
        self.client = client
        self.path = path
        self.identifier = identifier
        self.max_leases = max_leases
        self.leases = join(path, "leases")
        self.node = uuid.uuid4().hex + "__lease__"
        self._lock = Lock(client, join(path, "lock"), identifier)
        self.is_acquired = False

    async def _ensure(self) -> None:
        try:
            await self.client.retry(self.client.create, self.path, str(self.max_leases).encode(), makepath=True)
        except NodeExistsError:
            data, _ = await self.client.retry(self.client.get, self.path)
            if data and int(data) != self.max_leases:
                raise ValueError(f"{self.path} has max_leases {int(data)}, not {self.max_leases}") from None
        await self.client.retry(self.client.ensure_path, self.leases)

    async def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        await self._ensure()
        try:
            async with asyncio.timeout(timeout):
                while True:
                    changed = Trigger()
                    async with self._lock:
                        holders = await self.client.retry(self.client.get_children, self.leases, watch=changed)
                        if self.node in holders or len(holders) < self.max_leases:
                            await self._take_lease()
                            self.is_acquired = True
                            return True
                    if not blocking:
                        return False
                    await changed.wait()
        except TimeoutError:
            raise LockTimeout(f"no lease on {self.path} within {timeout}s") from None

    async def _take_lease(self) -> None:
        try:
            await self.client.retry(self.client.create, join(self.leases, self.node),
                                    self.identifier.encode(), ephemeral=True)
        except NodeExistsError:
            pass  # ours, from a create whose reply was lost

    async def release(self) -> None:
        self.is_acquired = False
        try:
            await self.client.retry(self.client.delete, join(self.leases, self.node))
        except NoNodeError:
            pass

    async def lease_holders(self) -> list[str]:
        try:
            names = await self.client.retry(self.client.get_children, self.leases)
        except NoNodeError:
            return []
        return await data_of_children(self.client, self.leases, names)

    async def __aenter__(self) -> Semaphore:
        await self.acquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.release()
