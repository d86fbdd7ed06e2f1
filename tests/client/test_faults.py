"""Faults under a connected client: the server stops and comes back, a server goes
silent, a partition outlasts the session. Real servers; the network is a Proxy."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.harness import SERVER_KINDS, Events, start_server, wait_until
from tests.support.servers import RunningServer
from zkeeper.client import Client, EventType, State
from zkeeper.testing import Proxy


class Restartable:
    """One server kind in one data folder, stopped and started again at will."""

    def __init__(self, kind: str, directory: Path) -> None:
        self.kind = kind
        self.directory = directory
        self.current: RunningServer | None = None

    def start(self) -> RunningServer:
        self.current = start_server(self.kind, self.directory)
        return self.current

    def stop(self) -> None:
        if self.current is not None:
            self.current.stop()


@pytest.fixture(params=SERVER_KINDS)
def restartable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Restartable]:
    r = Restartable(request.param, tmp_path / request.param)
    r.start()
    yield r
    r.stop()


@pytest.mark.async_timeout(90)
async def test_server_restart_resumes_the_session_and_replays_missed_watches(restartable: Restartable) -> None:
    first = restartable.current
    assert first is not None
    async with Proxy(first.port) as proxy, Client(proxy.hosts, timeout=10.0) as c:
        await c.create("/eph", ephemeral=True)
        await c.create("/watched", b"0")
        events = Events()
        await c.get("/watched", watch=events)
        session = c.session_id

        await asyncio.to_thread(restartable.stop)
        await c.wait_for_state(State.SUSPENDED, timeout=10)
        second = await asyncio.to_thread(restartable.start)  # same data, a new port
        async with Client(second.hosts) as writer:  # a change the client cannot see yet
            await writer.set("/watched", b"1")
        proxy.target_port = second.port
        await c.wait_for_state(State.CONNECTED, timeout=20)

        assert c.session_id == session
        assert (await events.next()).type is EventType.NODE_DATA_CHANGED
        stat = await c.exists("/eph")
        assert stat is not None and stat.owner_session_id == session


async def test_a_silent_server_makes_the_client_move_to_another(server: RunningServer) -> None:
    async with Proxy(server.port) as p1, Proxy(server.port) as p2:
        async with Client(f"{p1.hosts},{p2.hosts}", timeout=3.0) as c:
            session = c.session_id
            silent, other = (p1, p2) if c.server == p1.hosts else (p2, p1)
            seen: list[State] = []
            c.add_listener(seen.append)
            silent.silence(True)  # the TCP connection stays up; nothing comes back
            await c.wait_for_state(State.SUSPENDED, timeout=10)
            await c.wait_for_state(State.CONNECTED, timeout=10)
            assert seen == [State.SUSPENDED, State.CONNECTED]
            assert c.server == other.hosts and c.session_id == session
            assert await c.create("/still-mine", ephemeral=True) == "/still-mine"


async def test_a_partition_longer_than_the_session_ends_in_expiry(server: RunningServer, root: str) -> None:
    async with Proxy(server.port) as proxy, Client(server.hosts + root) as observer:
        async with Client(proxy.hosts + root, timeout=1.0) as c:
            await c.create("/eph", ephemeral=True)
            events = Events()
            await c.exists("/eph", watch=events)
            old = c.session_id
            seen: list[State] = []
            c.add_listener(seen.append)
            proxy.silence(True)
            await wait_until(lambda: _gone(observer, "/eph"), timeout=20, message="the server to expire the session")
            proxy.silence(False)
            await c.wait_for_state(State.CONNECTED, timeout=20)
            assert seen[0] is State.SUSPENDED and State.EXPIRED in seen and seen[-1] is State.CONNECTED
            assert c.session_id != old
            assert (await events.next()).state.name == "EXPIRED"
            assert await c.exists("/eph") is None


async def _gone(client: Client, path: str) -> bool:
    return await client.exists(path) is None
