"""How watch events reach the program: callbacks, or async iterators of events.

A watcher is anything with `notify(event)` and `end(error)`; the driver calls them in
the event loop, in the order the server sent the events. `end` says the watch is gone
for good: with SessionExpiredError when the session expired, with None when the
client was closed.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..types import EventType, KeeperState
from .exceptions import ConnectionLoss, SessionExpiredError
from .states import WatchedEvent

_REMOVED = frozenset({EventType.DATA_WATCH_REMOVED, EventType.CHILD_WATCH_REMOVED,
                      EventType.PERSISTENT_WATCH_REMOVED})
# Tasks running coroutine callbacks, kept so they are not collected mid-run.
_running: set[asyncio.Task[Any]] = set()


class Watcher(Protocol):
    def __hash__(self) -> int: ...

    def notify(self, event: WatchedEvent) -> None: ...

    def end(self, error: BaseException | None) -> None: ...


@dataclass(frozen=True, slots=True)
class CallbackWatcher:
    """A plain function or coroutine function called with each event.

    Equal for the same function, so registering one function twice on a path wakes
    it once, as in ZooKeeper. On session expiry it gets an event of type NONE and
    state EXPIRED (ZooKeeper's Java client does the same), telling it the watch is gone.
    """

    fn: Callable[[WatchedEvent], Any]

    def notify(self, event: WatchedEvent) -> None:
        # Later in this loop turn, not now: a callback never runs inside the reader.
        asyncio.get_running_loop().call_soon(call_maybe_async, self.fn, event)

    def end(self, error: BaseException | None) -> None:
        if isinstance(error, SessionExpiredError):
            self.notify(WatchedEvent(EventType.NONE, KeeperState.EXPIRED, None))


def call_maybe_async(fn: Callable[..., Any], *args: Any) -> None:
    """Call `fn`; if it returns an awaitable (a coroutine function), run it as a task."""
    result = fn(*args)
    if inspect.isawaitable(result):
        task = asyncio.ensure_future(result)
        _running.add(task)
        task.add_done_callback(_running.discard)


def as_watcher(watch: Watcher | Callable[[WatchedEvent], Any]) -> Watcher:
    if hasattr(watch, "notify") and hasattr(watch, "end"):
        return watch
    return CallbackWatcher(watch)


@dataclass(frozen=True, slots=True)
class _End:
    error: BaseException | None


class EventStream:
    """An async iterator of the events of one watch.

    The watch is set at `async with` (or `await stream.start()`), else at the first
    iteration; leaving the `async with` removes a persistent watch from the server.

    A one-shot stream re-sets its watch before handing out each event, so a change
    made after the program reads the node always produces another event. A watch
    set while the connection is down waits for it; ConnectionLoss while setting one
    is retried (setting a watch is a read). The stream raises SessionExpiredError if
    the session expires (events may have been missed) and stops when the client closes,
    when its watch is removed, or after an event in `last_events`.
    """

    def __init__(self, arm: Callable[[EventStream], Awaitable[Any]], *, one_shot: bool,
                 disarm: Callable[[EventStream], Awaitable[Any]] | None = None,
                 last_events: frozenset[EventType] = frozenset()) -> None:
        self._arm = arm
        self._disarm = disarm
        self._one_shot = one_shot
        self._last_events = last_events
        self._queue: asyncio.Queue[WatchedEvent | _End] = asyncio.Queue()
        self._armed = False
        self._done = False

    # ---- the Watcher side ------------------------------------------------------

    def notify(self, event: WatchedEvent) -> None:
        self._queue.put_nowait(event)

    def end(self, error: BaseException | None) -> None:
        self._queue.put_nowait(_End(error))

    # ---- the program's side ----------------------------------------------------

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> WatchedEvent:
        if self._done:
            raise StopAsyncIteration
        if not self._armed:
            await self._set_watch()
        item = await self._queue.get()
        if isinstance(item, _End):
            self._done = True
            if item.error is not None:
                raise item.error
            raise StopAsyncIteration
        if item.type in _REMOVED:
            self._done = True
            raise StopAsyncIteration
        if item.type in self._last_events:
            self._done = True
        elif self._one_shot:
            await self._set_watch()
        return item

    async def _set_watch(self) -> None:
        while True:
            try:
                await self._arm(self)
                break
            except ConnectionLoss:
                continue
        self._armed = True

    async def start(self) -> EventStream:
        """Set the watch now (otherwise the first iteration does), so no later change is missed."""
        if not self._armed and not self._done:
            await self._set_watch()
        return self

    async def aclose(self) -> None:
        if self._done:
            return
        self._done = True
        if self._disarm is not None and self._armed:
            await self._disarm(self)

    async def __aenter__(self) -> EventStream:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
