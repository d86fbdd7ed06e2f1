"""Counter: a number in one node, changed by compare-and-set (kazoo's Counter).

`await counter.add(5)` reads the value and its version, writes the sum only if the
version is unchanged, and tries again if another client won the race. The value is
stored as its repr (b"42"), as kazoo stores it, so both can share a counter. If the
connection drops while the write is in flight, ConnectionLoss is raised: the add may
or may not have happened, and re-adding could count twice.
"""

from __future__ import annotations

from ..client import BadVersionError, Client, NodeExistsError, NoNodeError


class Counter:
    def __init__(self, client: Client, path: str, default: int | float = 0) -> None:
        self.client = client
        self.path = path
        self.default = default
        self.default_type = type(default)
        self.pre_value: int | float | None = None  # around the last add of this object
        self.post_value: int | float | None = None

    async def get(self) -> int | float:
        """The current value (the default if the node does not exist yet)."""
        try:
            data, _ = await self.client.retry(self.client.get, self.path)
        except NoNodeError:
            return self.default
        return self._parse(data)

    def _parse(self, data: bytes) -> int | float:
        return self.default_type(data.decode()) if data else self.default

    async def add(self, delta: int | float) -> int | float:
        """Add `delta` (negative to subtract); the new value."""
        if not isinstance(delta, self.default_type):
            raise TypeError(f"delta must be {self.default_type.__name__}")
        while True:
            try:
                data, stat = await self.client.retry(self.client.get, self.path)
            except NoNodeError:
                await self._create_default()
                continue
            old = self._parse(data)
            new = old + delta
            try:
                await self.client.set(self.path, repr(new).encode(), version=stat.version)
            except BadVersionError:
                continue  # someone else changed it first
            except NoNodeError:
                continue
            self.pre_value, self.post_value = old, new
            return new

    async def _create_default(self) -> None:
        try:
            await self.client.retry(self.client.create, self.path, repr(self.default).encode(), makepath=True)
        except NodeExistsError:
            pass

    async def subtract(self, delta: int | float) -> int | float:
        return await self.add(-delta)
