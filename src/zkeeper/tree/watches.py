"""Watch registrations for one kind of trigger (data or children), as ZooKeeper's WatchManager.

A watcher is any hashable object (the server passes its connection) and has one mode
per path, the one set last (ZooKeeper 3.8): a standard watch fires once, a
persistent one stays, a persistent-recursive one also fires for descendants but
never for NodeChildrenChanged. Triggering notifies each watcher at most once.
"""

from __future__ import annotations

from typing import Hashable, Iterable, Iterator

from ..types import EventType

STANDARD = 0
PERSISTENT = 1
RECURSIVE = 2

Watcher = Hashable


def _ancestors(path: str) -> Iterator[str]:
    while path != "/":
        i = path.rfind("/")
        path = path[:i] if i > 0 else "/"
        yield path


class WatchManager:
    __slots__ = ("by_path", "by_watcher", "recursive_count")

    def __init__(self) -> None:
        self.by_path: dict[str, dict[Watcher, int]] = {}
        self.by_watcher: dict[Watcher, dict[str, None]] = {}
        self.recursive_count = 0

    def add(self, path: str, watcher: Watcher, mode: int = STANDARD) -> None:
        watchers = self.by_path.setdefault(path, {})
        old = watchers.get(watcher)
        if old == RECURSIVE:
            self.recursive_count -= 1
        if mode == RECURSIVE:
            self.recursive_count += 1
        watchers[watcher] = mode
        self.by_watcher.setdefault(watcher, {})[path] = None

    def _drop(self, path: str, watcher: Watcher) -> None:
        watchers = self.by_path[path]
        if watchers.pop(watcher) == RECURSIVE:
            self.recursive_count -= 1
        if not watchers:
            del self.by_path[path]
        paths = self.by_watcher[watcher]
        del paths[path]
        if not paths:
            del self.by_watcher[watcher]

    def trigger(self, path: str, etype: EventType, suppress: Iterable[Watcher] = ()) -> list[Watcher]:
        """Watchers to notify of `etype` on `path`; standard watches are consumed."""
        fired: dict[Watcher, None] = {}
        children_event = etype == EventType.NODE_CHILDREN_CHANGED
        watchers = self.by_path.get(path)
        if watchers:
            for w, mode in list(watchers.items()):
                if mode == RECURSIVE:
                    if not children_event:
                        fired[w] = None
                    continue
                fired[w] = None
                if mode == STANDARD:
                    self._drop(path, w)
        if self.recursive_count and not children_event:
            for ancestor in _ancestors(path):
                for w, mode in self.by_path.get(ancestor, {}).items():
                    if mode == RECURSIVE:
                        fired[w] = None
        for w in suppress:
            fired.pop(w, None)
        return list(fired)

    def has_watches(self, path: str) -> bool:
        # ZooKeeper 3.8's containsWatcher answers whether the path has any watcher at
        # all, not only the asking one; checkWatches depends on it.
        return path in self.by_path

    def remove(self, path: str, watcher: Watcher) -> bool:
        if watcher not in self.by_path.get(path, {}):
            return False
        self._drop(path, watcher)
        return True

    def remove_watcher(self, watcher: Watcher) -> None:
        """Forget every registration of a watcher (its connection closed)."""
        for path in list(self.by_watcher.get(watcher, {})):
            self._drop(path, watcher)

    def paths_of(self, watcher: Watcher) -> list[str]:
        return list(self.by_watcher.get(watcher, {}))

    def watchers_of(self, path: str) -> list[Watcher]:
        return list(self.by_path.get(path, {}))

    def count(self) -> int:
        return sum(len(w) for w in self.by_path.values())
