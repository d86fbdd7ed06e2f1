"""ConfigWatch: each new version of a configuration node, parsed, as it is written.

    async for config in ConfigWatch(client, "/app/config", parse=json.loads):
        apply(config.value)

A program gets the current version first (once the node exists), then every later
one; versions written in quick succession may be coalesced into the latest. A version
that does not parse is logged and skipped, so one bad write never takes the program
down; `config.stat.version` says which version it is.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from ..client import Client, ZnodeStat
from .watchers import DataWatch

T = TypeVar("T")
log = logging.getLogger("zkeeper.recipes.config")


@dataclass(frozen=True, slots=True)
class ConfigVersion(Generic[T]):
    value: T
    stat: ZnodeStat

    @property
    def version(self) -> int:
        return self.stat.version


class ConfigWatch(Generic[T]):
    def __init__(self, client: Client, path: str, parse: Callable[[bytes], T] = lambda b: b,  # type: ignore[assignment, return-value]
                 strict: bool = False) -> None:
        """`parse` turns the node's bytes into the value; with `strict`, a parse error
        is raised instead of skipped."""
        self.client = client
        self.path = path
        self.parse = parse
        self.strict = strict
        self.current: ConfigVersion[T] | None = None

    def __aiter__(self) -> AsyncIterator[ConfigVersion[T]]:
        return self._versions()

    async def _versions(self) -> AsyncIterator[ConfigVersion[T]]:
        async for data, stat in DataWatch(self.client, self.path):
            if stat is None:
                continue  # not there (yet, or any more): keep the last good version
            try:
                value = self.parse(data or b"")
            except Exception as e:
                if self.strict:
                    raise
                log.warning("%s version %d does not parse, skipped: %s", self.path, stat.version, e)
                continue
            self.current = ConfigVersion(value, stat)
            yield self.current

    async def first(self) -> ConfigVersion[T]:
        """The first parsable version (waits for the node to appear)."""
        async for config in self:
            return config
        raise RuntimeError("unreachable")  # pragma: no cover
