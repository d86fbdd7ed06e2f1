"""TreeCache: a local mirror of a subtree, kept current by one persistent recursive watch.

Reads (`get_data`, `get_children`) are answered from memory. Changes arrive as watch
events and are applied in order by one task, each by re-reading the node, so applying
an event twice or late is harmless. A recursive watch is re-registered after a
reconnect but the server does not replay what changed meanwhile, so after every
reconnect (and after a session expiry, with a new watch) the cache walks the tree
again and reports the differences. Listeners get kazoo-style TreeEvents.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..client import (
    AddWatchMode,
    Client,
    ConnectionClosedError,
    ConnectionLoss,
    EventType,
    NoNodeError,
    SessionExpiredError,
    State,
    WatchedEvent,
    ZnodeStat,
)
from ..paths import join, parent_of

log = logging.getLogger("zkeeper.recipes.cache")


class TreeEventType(enum.Enum):
    NODE_ADDED = "NODE_ADDED"
    NODE_UPDATED = "NODE_UPDATED"
    NODE_REMOVED = "NODE_REMOVED"
    INITIALIZED = "INITIALIZED"  # the first full load is done
    CONNECTION_SUSPENDED = "CONNECTION_SUSPENDED"
    CONNECTION_RECONNECTED = "CONNECTION_RECONNECTED"
    CONNECTION_LOST = "CONNECTION_LOST"  # the session expired; the cache reloads


@dataclass(frozen=True, slots=True)
class NodeData:
    path: str
    data: bytes
    stat: ZnodeStat


@dataclass(frozen=True, slots=True)
class TreeEvent:
    type: TreeEventType
    node: NodeData | None = None


_RESYNC = "resync"
_REWATCH = "rewatch"


class _Feed:
    """The cache's watcher: hands events and the watch's end to the cache's queue."""

    def __init__(self, queue: asyncio.Queue[Any]) -> None:
        self._queue = queue

    def notify(self, event: WatchedEvent) -> None:
        self._queue.put_nowait(event)

    def end(self, error: BaseException | None) -> None:
        self._queue.put_nowait(_REWATCH if isinstance(error, SessionExpiredError) and
                               not isinstance(error, ConnectionClosedError) else None)


class TreeCache:
    def __init__(self, client: Client, path: str) -> None:
        self.client = client
        self.path = path
        self._nodes: dict[str, NodeData] = {}
        self._children: dict[str, set[str]] = {}
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._feed = _Feed(self._queue)
        self._listeners: list[Callable[[TreeEvent], Any]] = []
        self._initialized = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._was_suspended = False

    # ---- lifecycle -------------------------------------------------------------

    async def start(self) -> TreeCache:
        """Set the watch, load the tree, and return once the cache is initialized."""
        self.client.add_listener(self._on_state)
        await self.client.add_watch(self.path, self._feed, AddWatchMode.PERSISTENT_RECURSIVE)
        self._queue.put_nowait(_RESYNC)
        self._worker = asyncio.ensure_future(self._run())
        waiter = asyncio.ensure_future(self._initialized.wait())
        await asyncio.wait({self._worker, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if self._worker.done():
            self._worker.result()
        return self

    async def close(self) -> None:
        self.client.remove_listener(self._on_state)
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        if self.client.connected:
            try:
                await self.client.remove_watches(self.path, self._feed)
            except Exception:
                pass

    async def __aenter__(self) -> TreeCache:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- reading ---------------------------------------------------------------

    def get_data(self, path: str) -> NodeData | None:
        return self._nodes.get(path)

    def get_children(self, path: str) -> list[str] | None:
        """Sorted child names, or None if the node is not in the cache."""
        if path not in self._nodes:
            return None
        return sorted(self._children.get(path, ()))

    def paths(self) -> list[str]:
        return sorted(self._nodes)

    def listen(self, listener: Callable[[TreeEvent], Any]) -> None:
        self._listeners.append(listener)

    def unlisten(self, listener: Callable[[TreeEvent], Any]) -> None:
        self._listeners.remove(listener)

    def _emit(self, event: TreeEvent) -> None:
        for fn in list(self._listeners):
            try:
                fn(event)
            except Exception:
                log.exception("TreeCache listener %r failed", fn)

    # ---- keeping current -------------------------------------------------------

    def _on_state(self, state: State) -> None:
        if state is State.SUSPENDED:
            self._was_suspended = True
            self._emit(TreeEvent(TreeEventType.CONNECTION_SUSPENDED))
        elif state is State.EXPIRED:
            self._emit(TreeEvent(TreeEventType.CONNECTION_LOST))
        elif state.is_connected and self._was_suspended:
            self._was_suspended = False
            self._emit(TreeEvent(TreeEventType.CONNECTION_RECONNECTED))
            self._queue.put_nowait(_RESYNC)

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            if item is None:
                return  # the client closed
            try:
                if item == _REWATCH:
                    await self.client.add_watch(self.path, self._feed, AddWatchMode.PERSISTENT_RECURSIVE)
                    await self._resync()
                elif item == _RESYNC:
                    await self._resync()
                else:
                    await self._apply(item)
            except (ConnectionLoss, SessionExpiredError) as e:
                if isinstance(e, ConnectionClosedError):
                    return
                # Reconnecting (or a new session) will queue a resync; this one is moot.
                log.debug("TreeCache %s: %s while applying %s", self.path, e, item)

    async def _apply(self, event: WatchedEvent) -> None:
        path = event.path or self.path
        if event.type is EventType.NODE_DELETED:
            self._drop(path)
        elif event.type in (EventType.NODE_CREATED, EventType.NODE_DATA_CHANGED):
            await self._load(path, with_children=event.type is EventType.NODE_CREATED)

    async def _load(self, path: str, with_children: bool) -> None:
        try:
            data, stat = await self.client.get(path)
        except NoNodeError:
            self._drop(path)
            return
        self._put(NodeData(path, data, stat))
        if with_children:
            try:
                children = await self.client.get_children(path)
            except NoNodeError:
                return
            for child in children:
                await self._load(join(path, child), True)

    async def _walk(self, path: str, into: dict[str, NodeData]) -> None:
        try:
            data, stat = await self.client.get(path)
            children = await self.client.get_children(path)
        except NoNodeError:
            return
        into[path] = NodeData(path, data, stat)
        for child in children:
            await self._walk(join(path, child), into)

    async def _resync(self) -> None:
        fresh: dict[str, NodeData] = {}
        await self._walk(self.path, fresh)
        for path in [p for p in self._nodes if p not in fresh]:
            self._drop(path)
        for path in sorted(fresh):
            self._put(fresh[path])
        if not self._initialized.is_set():
            self._initialized.set()
            self._emit(TreeEvent(TreeEventType.INITIALIZED))

    def _put(self, node: NodeData) -> None:
        old = self._nodes.get(node.path)
        if old is not None and (old.stat.mzxid, old.stat.version) == (node.stat.mzxid, node.stat.version):
            self._nodes[node.path] = node  # same version (children may differ): no news
            return
        self._nodes[node.path] = node
        if node.path != self.path:
            self._children.setdefault(parent_of(node.path), set()).add(node.path.rsplit("/", 1)[1])
        self._emit(TreeEvent(TreeEventType.NODE_UPDATED if old else TreeEventType.NODE_ADDED, node))

    def _drop(self, path: str) -> None:
        node = self._nodes.pop(path, None)
        if node is None:
            return
        for child in list(self._children.pop(path, ())):
            self._drop(join(path, child))
        if path != self.path:
            self._children.get(parent_of(path), set()).discard(path.rsplit("/", 1)[1])
        self._emit(TreeEvent(TreeEventType.NODE_REMOVED, node))
