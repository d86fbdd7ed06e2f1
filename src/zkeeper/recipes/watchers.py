"""`DataWatch` and `ChildrenWatch` (kazoo's): a node's data or children, now and after
every change, handed to a function or taken with `async for`.

Unlike a bare watch they survive everything but their own end: a lost connection (the
watch is re-registered), an expired session (they read again in the new session and
set a new watch), a node that does not exist yet (DataWatch reports None and waits for
it). Changes that happen close together may be reported once, with the latest value.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..client import Client, ConnectionClosedError, NoNodeError, ZnodeStat
from ._util import Trigger


async def _call(func: Callable[..., Any], *args: Any) -> Any:
    result = func(*args)
    return await result if inspect.isawaitable(result) else result


class _Watch:
    """Runs `func` on every change in a task (`await w.start()`), or iterates (`async for`)."""

    def __init__(self, client: Client, path: str, func: Callable[..., Any] | None = None) -> None:
        self.client = client
        self.path = path
        self.func = func
        self._task: asyncio.Task[None] | None = None
        self._first = asyncio.Event()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._changes()

    def _changes(self) -> AsyncIterator[Any]:
        raise NotImplementedError

    async def start(self) -> _Watch:
        """Start calling `func`; returns after its first call."""
        if self.func is None:
            raise ValueError("no function to call: iterate the watch instead")
        if self._task is None:
            self._task = asyncio.ensure_future(self._feed(self.func))
            await asyncio.wait({self._task, asyncio.ensure_future(self._first.wait())},
                               return_when=asyncio.FIRST_COMPLETED)
            if self._task.done():
                self._task.result()
        return self

    async def _feed(self, func: Callable[..., Any]) -> None:
        try:
            async for value in self._changes():
                result = await _call(func, *value) if isinstance(value, tuple) else await _call(func, value)
                self._first.set()
                if result is False:
                    return
        except ConnectionClosedError:
            pass
        finally:
            self._first.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()


class DataWatch(_Watch):
    """`func(data, stat)` now and after each change; (None, None) while the node is absent.
    The watch ends when `func` returns False."""

    async def _changes(self) -> AsyncIterator[tuple[bytes | None, ZnodeStat | None]]:
        last: tuple[int, int] | None | bool = False  # (mzxid, version) last reported
        while True:
            trigger = Trigger()
            try:
                data, stat = await self.client.retry(self.client.get, self.path, watch=trigger)
            except NoNodeError:
                if await self.client.retry(self.client.exists, self.path, watch=trigger) is not None:
                    continue  # created just now: read it
                data, stat = None, None
            seen = None if stat is None else (stat.mzxid, stat.version)
            if seen != last:
                last = seen
                yield data, stat
            await trigger.wait()


class ChildrenWatch(_Watch):
    """`func(children)` now and after each change; ends when the node is deleted (or
    does not exist) or `func` returns False."""

    async def _changes(self) -> AsyncIterator[list[str]]:
        last: list[str] | None = None
        while True:
            trigger = Trigger()
            try:
                children = sorted(await self.client.retry(self.client.get_children, self.path, watch=trigger))
            except NoNodeError:
                return
            if children != last:
                last = children
                yield children
            await trigger.wait()
