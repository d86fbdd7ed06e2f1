"""A virtual machine room for the real server code: one asyncio loop on a virtual clock,
an in-memory network between hosts, and hosts that can crash.

The replicated server reaches the outside only through `zkeeper.server.host.Host`
(listen, connect, blocking work) and the loop's clock, so the very same election
service, leader, learner and durable log run here unchanged:
  - VirtualLoop: when nothing is ready, time jumps to the next timer instead of waiting;
    an idle world with no timers is a bug (StalledWorld).
  - SimNetwork: connections are in-memory pipes with a seeded delay per write, kept in
    order as TCP keeps them. Faults are what TCP shows: a connection reset (both ends
    see it close), a refused connect, a partition (resets plus refusals until healed).
  - SimHost: one server's machine. Blocking work (log writes, recovery) runs inline on
    its real data folder; `crash()` cuts its connections and fails any later disk work
    of that incarnation, so what was appended but not yet written is lost.
Everything is driven by one seeded random.Random: the same seed replays the same run.
"""

from __future__ import annotations

import asyncio
import contextvars
import random
import selectors
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from ..server.host import StreamHandler
from ..storage import StorageError

T = TypeVar("T")


class StalledWorld(RuntimeError):
    """Nothing ready and no timer pending: the simulated servers wait on each other forever."""


class _InstantSelector(selectors.BaseSelector):
    """Never waits: a select with a timeout moves the virtual clock by that much."""

    def __init__(self, loop: VirtualLoop) -> None:
        self._loop = loop
        self._keys: dict[Any, selectors.SelectorKey] = {}

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        key = selectors.SelectorKey(fileobj, fileobj if isinstance(fileobj, int) else fileobj.fileno(), events, data)
        self._keys[fileobj] = key
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._keys.pop(fileobj)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            raise StalledWorld("no callback ready and no timer pending")
        if timeout > 0:
            self._loop.advance(timeout)
        return []

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._keys

    def close(self) -> None:
        self._keys.clear()


class VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        super().__init__(_InstantSelector(self))
        self._clock_resolution = 1e-9

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


# ---- the network -----------------------------------------------------------------------


class _Pipe(asyncio.Transport):
    """One end of an in-memory connection; what is written arrives at the other end."""

    def __init__(self, net: SimNetwork, src: str, dst: str, peername: tuple[str, int]) -> None:
        super().__init__()
        self.net = net
        self.src = src
        self.dst = dst
        self.peername = peername
        self.other: _Pipe | None = None
        self.protocol: asyncio.StreamReaderProtocol | None = None
        self._closed = False
        self._lost = False
        self._arrive_at = 0.0  # the last delivery scheduled from this end: TCP keeps order

    # asyncio.Transport
    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closed or not data:
            return
        self._schedule(lambda other: other._receive(bytes(data)))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.net.pipes.discard(self)
        self._schedule(lambda other: other._peer_closed())
        self.net.loop.call_soon(self._lose)

    def abort(self) -> None:
        self.close()

    def is_closing(self) -> bool:
        return self._closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.peername if name == "peername" else default

    def can_write_eof(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    # delivery
    def _schedule(self, action: Callable[[_Pipe], None]) -> None:
        other = self.other
        if other is None or self.net.loop.is_closed():
            return
        # Strictly later than the last: timers due at the same instant may run in any order.
        at = max(self.net.loop.time() + self.net.delay(), self._arrive_at + 1e-6)
        self._arrive_at = at
        self.net.loop.call_at(at, lambda: action(other))

    def _receive(self, data: bytes) -> None:
        if not self._closed and self.protocol is not None:
            self.protocol.data_received(data)

    def _peer_closed(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.net.pipes.discard(self)
        self._lose()

    def _lose(self) -> None:
        if not self._lost and self.protocol is not None:
            self._lost = True
            self.protocol.eof_received()
            self.protocol.connection_lost(None)

    def reset(self) -> None:
        """Both ends see the connection die (a crash, a partition, a dropped link)."""
        if self.other is not None:
            self.other._peer_closed()
        self._peer_closed()


class _SimListener:
    def __init__(self, net: SimNetwork, address: tuple[str, int]) -> None:
        self.net = net
        self.address = address

    def close(self) -> None:
        self.net.listeners.pop(self.address, None)


class SimNetwork:
    def __init__(self, loop: VirtualLoop, rng: random.Random, *, min_delay_ms: float = 0.2,
                 max_delay_ms: float = 5.0) -> None:
        self.loop = loop
        self.rng = rng
        self.min_delay = min_delay_ms / 1000
        self.max_delay = max_delay_ms / 1000
        # Each listener keeps the context it was opened in, so the connections it
        # accepts run as the listening server (its logging tag, for one).
        self.listeners: dict[tuple[str, int], tuple[SimHost, StreamHandler, contextvars.Context]] = {}
        self.pipes: set[_Pipe] = set()
        self.cut: set[frozenset[str]] = set()  # host pairs that cannot reach each other
        self._tasks: set[asyncio.Task[Any]] = set()

    def delay(self) -> float:
        return self.rng.uniform(self.min_delay, self.max_delay)

    def host(self, name: str) -> SimHost:
        return SimHost(self, name)

    def reachable(self, a: str, b: str) -> bool:
        return frozenset((a, b)) not in self.cut

    def partition(self, side: set[str], everyone: set[str]) -> None:
        """Cut every link between `side` and the rest."""
        for a in side:
            for b in everyone - side:
                self.cut.add(frozenset((a, b)))
        for p in sorted(self.pipes, key=_pipe_order):
            if not self.reachable(p.src, p.dst):
                p.reset()

    def heal(self) -> None:
        self.cut.clear()

    def reset_random_connection(self) -> None:
        pipes = sorted(self.pipes, key=_pipe_order)
        if pipes:
            self.rng.choice(pipes).reset()

    def drop_host(self, name: str) -> None:
        for p in sorted(self.pipes, key=_pipe_order):
            if name in (p.src, p.dst):
                p.reset()
        for address, (h, _, _) in list(self.listeners.items()):
            if h.name == name:
                del self.listeners[address]

    async def open(self, src: SimHost, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        await asyncio.sleep(self.delay())
        target = self.listeners.get((host, port))
        if not src.alive or target is None or not target[0].alive or not self.reachable(src.name, target[0].name):
            raise ConnectionRefusedError(f"{src.name} -> {host}:{port}: connection refused")
        dst, handler, context = target
        mine = _Pipe(self, src.name, dst.name, (host, port))
        theirs = _Pipe(self, dst.name, src.name, (src.name, 40000 + len(self.pipes)))
        mine.other, theirs.other = theirs, mine
        self.pipes.update((mine, theirs))
        reader, writer = self._ends(mine)
        their_reader, their_writer = self._ends(theirs)
        result = context.run(handler, their_reader, their_writer)
        if asyncio.iscoroutine(result):
            task = self.loop.create_task(result, context=context)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return reader, writer

    def _ends(self, pipe: _Pipe) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader = asyncio.StreamReader(loop=self.loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=self.loop)
        pipe.protocol = protocol
        protocol.connection_made(pipe)
        return reader, asyncio.StreamWriter(pipe, protocol, reader, self.loop)


def _pipe_order(p: _Pipe) -> tuple[str, str, int]:
    return (p.src, p.dst, p.peername[1])


class SimHost:
    """One machine: its listeners, its connections, its disk work; crash and come back."""

    def __init__(self, net: SimNetwork, name: str) -> None:
        self.net = net
        self.name = name
        self.alive = True

    async def listen(self, host: str, port: int, handler: StreamHandler) -> _SimListener:
        if (host, port) in self.net.listeners:
            raise OSError(f"{host}:{port}: address already in use")
        self.net.listeners[(host, port)] = (self, handler, contextvars.copy_context())
        return _SimListener(self.net, (host, port))

    async def connect(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await self.net.open(self, host, port)

    async def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        if not self.alive:
            raise StorageError(f"{self.name} has crashed")
        result = fn(*args)
        await asyncio.sleep(0)  # the work took a moment: let others run
        if not self.alive:
            raise StorageError(f"{self.name} has crashed")
        return result

    def crash(self) -> None:
        self.alive = False
        self.net.drop_host(self.name)
