"""Small pieces the recipes share: a one-shot watch to await, sequence-number order."""

from __future__ import annotations

import asyncio
import re

from ..client import Client, ConnectionClosedError, NoNodeError, WatchedEvent
from ..paths import join

_SEQUENCE = re.compile(r"(\d{10})$")


class Trigger:
    """A one-shot watch to await: `t = Trigger(); await client.exists(p, watch=t); await t.wait()`.

    It also wakes when the watch is dropped because the session expired or the client
    closed (`ended` then says why), so a recipe waiting on it can notice and start over
    or stop: its next request raises accordingly.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.fired: WatchedEvent | None = None
        self.ended: BaseException | None = None

    def notify(self, event: WatchedEvent) -> None:
        self.fired = event
        self._event.set()

    def end(self, error: BaseException | None) -> None:
        self.ended = error or ConnectionClosedError()
        self._event.set()

    async def wait(self, timeout: float | None = None) -> bool:
        """True once it fired; False after `timeout` seconds."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return False
        return True


def sequence_of(name: str) -> int:
    """The 10-digit counter ZooKeeper appended to a sequential node's name."""
    m = _SEQUENCE.search(name)
    if m is None:
        raise ValueError(f"{name!r} is not a sequential node name")
    return int(m.group(1))


def by_sequence(names: list[str]) -> list[str]:
    return sorted(names, key=sequence_of)


async def data_of_children(client: Client, parent: str, names: list[str]) -> list[str]:
    """The data (as text) of each named child, in order, skipping any that vanished."""
    out = []
    for name in names:
        try:
            data, _ = await client.retry(client.get, join(parent, name))
        except NoNodeError:
            continue
        out.append(data.decode("utf-8", "replace"))
    return out
