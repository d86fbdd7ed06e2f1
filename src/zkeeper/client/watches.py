"""Which watchers a notification wakes, and how watches are re-registered after a reconnect.

Pure bookkeeping, keyed by the server's path (chroot included), generic in the
watcher object. It follows the rules of ZooKeeper's client watch manager: data and
exist watches fire on create/change/delete, child watches on child changes and
delete; one-shot watches are removed when they fire, persistent ones stay, and a
recursive watch sees create/change/delete anywhere below it but never child events.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar

from ..jute.records import SetWatches, SetWatches2
from ..types import EventType, OpCode, WatcherType

W = TypeVar("W", bound=Hashable)

# ZooKeeper's client splits SetWatches so one frame stays far below jute.maxbuffer
# (ZOOKEEPER-706); we count encoded bytes rather than characters.
SET_WATCHES_MAX_BYTES = 128 * 1024


class WatchKind(enum.Enum):
    DATA = "data"  # set by get, or exists on a node that is there
    EXIST = "exist"  # set by exists on a node that is not there
    CHILD = "child"
    PERSISTENT = "persistent"
    PERSISTENT_RECURSIVE = "persistent_recursive"

    @property
    def removed_event(self) -> EventType:
        """The event a watcher gets when its watch is removed on request."""
        if self is WatchKind.CHILD:
            return EventType.CHILD_WATCH_REMOVED
        if self in (WatchKind.DATA, WatchKind.EXIST):
            return EventType.DATA_WATCH_REMOVED
        return EventType.PERSISTENT_WATCH_REMOVED


_KINDS_OF_TYPE: dict[WatcherType, tuple[WatchKind, ...]] = {
    WatcherType.CHILDREN: (WatchKind.CHILD,),
    WatcherType.DATA: (WatchKind.DATA, WatchKind.EXIST),
    WatcherType.ANY: tuple(WatchKind),
    WatcherType.PERSISTENT: (WatchKind.PERSISTENT,),
    WatcherType.PERSISTENT_RECURSIVE: (WatchKind.PERSISTENT_RECURSIVE,),
}


def ancestors_and_self(path: str) -> Iterator[str]:
    yield path
    while path != "/":
        i = path.rfind("/")
        path = path[:i] if i > 0 else "/"
        yield path


class WatchRegistry(Generic[W]):
    def __init__(self) -> None:
        # path -> watchers, as an insertion-ordered set (a dict) so each watcher is
        # woken once per event however often it was registered, in registration order.
        self._table: dict[WatchKind, dict[str, dict[W, None]]] = {k: {} for k in WatchKind}

    def __len__(self) -> int:
        return sum(len(ws) for paths in self._table.values() for ws in paths.values())

    def add(self, kind: WatchKind, path: str, watcher: W) -> None:
        self._table[kind].setdefault(path, {})[watcher] = None

    def has(self, kind: WatchKind, path: str) -> bool:
        return path in self._table[kind]

    def remove(self, watcher_type: WatcherType, path: str, watcher: W | None = None) -> list[tuple[WatchKind, W]]:
        """Forget `watcher` (or all watchers) of `watcher_type` on `path`; return what went."""
        removed: list[tuple[WatchKind, W]] = []
        for kind in _KINDS_OF_TYPE[watcher_type]:
            paths = self._table[kind]
            ws = paths.get(path)
            if not ws:
                continue
            if watcher is None:
                removed.extend((kind, w) for w in ws)
                del paths[path]
            elif watcher in ws:
                removed.append((kind, watcher))
                del ws[watcher]
                if not ws:
                    del paths[path]
        return removed

    def materialize(self, event_type: EventType, path: str) -> list[W]:
        """The watchers a node event wakes, in order, each once; one-shot ones are removed."""
        t = self._table
        woken: dict[W, None] = {}
        one_shot: tuple[WatchKind, ...] = ()
        if event_type in (EventType.NODE_CREATED, EventType.NODE_DATA_CHANGED):
            one_shot = (WatchKind.DATA, WatchKind.EXIST)
        elif event_type is EventType.NODE_DELETED:
            one_shot = (WatchKind.DATA, WatchKind.EXIST, WatchKind.CHILD)
        elif event_type is EventType.NODE_CHILDREN_CHANGED:
            one_shot = (WatchKind.CHILD,)
        for kind in one_shot:
            woken.update(t[kind].pop(path, {}))
        woken.update(t[WatchKind.PERSISTENT].get(path, {}))
        if event_type is not EventType.NODE_CHILDREN_CHANGED:
            recursive = t[WatchKind.PERSISTENT_RECURSIVE]
            for p in ancestors_and_self(path):
                woken.update(recursive.get(p, {}))
        return list(woken)

    def drain(self) -> list[W]:
        """Every watcher once, leaving the registry empty (the session is gone)."""
        every: dict[W, None] = {}
        for paths in self._table.values():
            for ws in paths.values():
                every.update(ws)
            paths.clear()
        return list(every)

    def set_watches(self, relative_zxid: int, max_bytes: int = SET_WATCHES_MAX_BYTES
                    ) -> list[tuple[OpCode, SetWatches | SetWatches2]]:
        """Requests that re-register every watched path on a new connection.

        Each request's paths fit in `max_bytes`; plain SetWatches is used when a chunk
        has no persistent watches, so servers older than 3.6 still understand it.
        """
        chunks: list[dict[WatchKind, list[str]]] = []
        current: dict[WatchKind, list[str]] = {k: [] for k in WatchKind}
        size = 0
        for kind in WatchKind:
            for path in self._table[kind]:
                cost = 4 + len(path.encode())
                if size + cost > max_bytes and size > 0:
                    chunks.append(current)
                    current, size = {k: [] for k in WatchKind}, 0
                current[kind].append(path)
                size += cost
        if size > 0:
            chunks.append(current)
        return [_set_watches_record(relative_zxid, c) for c in chunks]


def _set_watches_record(zxid: int, c: dict[WatchKind, list[str]]) -> tuple[OpCode, SetWatches | SetWatches2]:
    data, exist, child = c[WatchKind.DATA], c[WatchKind.EXIST], c[WatchKind.CHILD]
    persistent, recursive = c[WatchKind.PERSISTENT], c[WatchKind.PERSISTENT_RECURSIVE]
    if not persistent and not recursive:
        return OpCode.SET_WATCHES, SetWatches(zxid, data, exist, child)
    return OpCode.SET_WATCHES2, SetWatches2(zxid, data, exist, child, persistent, recursive)
