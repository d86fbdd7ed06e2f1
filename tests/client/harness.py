"""Shared by the client and recipe tests: real servers, a fresh chroot per test, async tests.

Each server kind (Apache ZooKeeper, the oracle, and zkeeper) is started once per test
session on 127.0.0.1 and stopped at the end; every test works below its own chroot so
tests never see each other's nodes. `async def` tests run on a fresh event loop with
a time bound, so a hang fails one test instead of the run.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import REPO_ROOT, RunningServer, reference_available, start_reference, start_zkeeper
from zkeeper.client import Client, EventStream, WatchedEvent

SERVER_KINDS = ("zookeeper", "zkeeper")
TICK_MS = 500  # session timeouts are clamped to [1 s, 10 s]
ASYNC_TEST_TIMEOUT = 60.0
ZKEEPER_ENTRY = REPO_ROOT / "src" / "zkeeper" / "cli" / "zkserver.py"

_servers: dict[str, RunningServer] = {}
_roots = itertools.count()


def start_server(kind: str, directory: Path, *, tick_time: int = TICK_MS,
                 extra: dict[str, str] | None = None) -> RunningServer:
    if kind == "zkeeper":
        if not ZKEEPER_ENTRY.exists():
            pytest.skip("the zkeeper server is not there yet")
        return start_zkeeper(directory, tick_time=tick_time, extra=extra)
    if not reference_available():
        pytest.skip("Apache ZooKeeper (Debian package 'zookeeper') and java are not installed")
    return start_reference(directory, tick_time=tick_time, extra=extra)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    fn = pyfuncitem.obj
    if not inspect.iscoroutinefunction(fn):
        return None
    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    marker = pyfuncitem.get_closest_marker("async_timeout")
    limit = marker.args[0] if marker else ASYNC_TEST_TIMEOUT
    asyncio.run(asyncio.wait_for(fn(**args), limit))
    return True


@pytest.fixture(scope="session", params=SERVER_KINDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> RunningServer:
    """One long-lived server per kind, shared by every test of the session."""
    kind: str = request.param
    srv = _servers.get(kind)
    if srv is None or srv.proc.poll() is not None:
        srv = start_server(kind, tmp_path_factory.mktemp(f"shared-{kind}"))
        _servers[kind] = srv
        request.config.add_cleanup(srv.stop)
    return srv


@pytest.fixture
def root(server: RunningServer, request: pytest.FixtureRequest) -> str:
    """A fresh, empty node for this test to work under."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", request.node.name)[:60]
    path = f"/{name}-{next(_roots)}"

    async def make() -> None:
        async with Client(server.hosts) as c:
            await c.create(path)

    asyncio.run(make())
    return path


@pytest.fixture
def hosts(server: RunningServer, root: str) -> str:
    """A connect string chrooted to this test's own node."""
    return server.hosts + root


async def wait_until(predicate: Callable[[], Any] | Callable[[], Awaitable[Any]], timeout: float = 10.0,
                     interval: float = 0.02, message: str = "condition") -> Any:
    """Poll `predicate` (sync or async) until truthy; AssertionError after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(interval)


async def next_event(stream: EventStream, timeout: float = 10.0) -> WatchedEvent:
    return await asyncio.wait_for(stream.__anext__(), timeout)


class Events:
    """A callback watcher that records events and lets a test await the next one."""

    def __init__(self) -> None:
        self.seen: list[WatchedEvent] = []
        self._queue: asyncio.Queue[WatchedEvent] = asyncio.Queue()

    def __call__(self, event: WatchedEvent) -> None:
        self.seen.append(event)
        self._queue.put_nowait(event)

    async def next(self, timeout: float = 10.0) -> WatchedEvent:
        return await asyncio.wait_for(self._queue.get(), timeout)

    async def none_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self._queue.get(), seconds)
        except TimeoutError:
            return True
        return False
