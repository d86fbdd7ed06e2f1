"""What a replicated server needs from the machine it runs on: listen, connect, block.

The ensemble code (election service, leader, learner, durable log) reaches the network
and blocking disk work only through a Host, so the simulator can run that very code on
a virtual network and clock (zkeeper.sim.world) while a real server uses TCP and threads.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

StreamHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None] | None]


class Listener(Protocol):
    def close(self) -> None: ...


class Network(Protocol):
    """Where sockets come from (all the election service needs)."""

    async def listen(self, host: str, port: int, handler: StreamHandler) -> Listener: ...

    async def connect(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]: ...


class Host(Network, Protocol):
    async def blocking(self, fn: Callable[..., T], *args: Any) -> T: ...


class RealHost:
    """TCP sockets and worker threads."""

    async def listen(self, host: str, port: int, handler: StreamHandler) -> Listener:
        return await asyncio.start_server(handler, host, port, reuse_address=True)

    async def connect(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(host, port)

    async def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)


REAL_HOST = RealHost()


class Clock:
    """The monotonic clock the servers read: time.monotonic, or the simulator's virtual
    loop time while a simulation runs (`use`). A plain attribute read on the hot path:
    looking up the running loop per request cost a visible share of a write."""

    now: Callable[[], float] = time.monotonic

    @classmethod
    def use(cls, now: Callable[[], float]) -> Callable[[], float]:
        """Install `now`; returns the clock it replaced (put it back when done)."""
        previous, cls.now = cls.now, now  # type: ignore[assignment]
        return previous


def clock_ms() -> int:
    """Milliseconds on the servers' monotonic clock (virtual in the simulator)."""
    return int(Clock.now() * 1000)


def clock_s() -> float:
    return Clock.now()
