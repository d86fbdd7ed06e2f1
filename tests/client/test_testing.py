"""zkeeper.testing: servers for users' own tests (in-process and subprocess), the
Proxy for network faults, and expire_session."""

from __future__ import annotations

import asyncio

import pytest

from tests.client.harness import ZKEEPER_ENTRY
from zkeeper.client import Client, State, SyncClient
from zkeeper.testing import Proxy, expire_session, start_server

pytestmark = pytest.mark.skipif(not ZKEEPER_ENTRY.exists(), reason="the zkeeper server is not there yet")


@pytest.mark.parametrize("in_process", [True, False], ids=["in-process", "subprocess"])
def test_start_server_serves_and_cleans_up(in_process: bool) -> None:
    with start_server(in_process=in_process, tick_time=200) as server:
        folder = server.directory
        with SyncClient(server.hosts) as zk:
            assert zk.create("/hello", b"world") == "/hello"
            assert zk.session_timeout is not None and zk.session_timeout <= 200 * 20 / 1000
    assert not folder.exists()


def test_start_server_keeps_a_given_folder(tmp_path) -> None:  # noqa: ANN001
    with start_server(tmp_path / "zk", in_process=True) as server:
        assert (tmp_path / "zk" / "zoo.cfg").exists()
        assert server.port > 0
    assert (tmp_path / "zk" / "zoo.cfg").exists()


async def test_proxy_cut_and_silence() -> None:
    server = await asyncio.to_thread(start_server, in_process=True)
    try:
        async with Proxy(server.port) as proxy, Client(proxy.hosts, timeout=3.0) as c:
            session = c.session_id
            proxy.cut()
            await c.wait_for_state(State.SUSPENDED, timeout=10)
            await c.wait_for_state(State.CONNECTED, timeout=10)
            proxy.silence(True)
            await c.wait_for_state(State.SUSPENDED, timeout=10)  # heard nothing for 2 s
            proxy.silence(False)
            await c.wait_for_state(State.CONNECTED, timeout=10)
            assert c.session_id == session and proxy.connections >= 3
    finally:
        await asyncio.to_thread(server.stop)


async def test_expire_session_helper() -> None:
    server = await asyncio.to_thread(start_server, in_process=True)
    try:
        async with Client(server.hosts) as c:
            await c.create("/e", ephemeral=True)
            old = c.session_id
            await expire_session(c)
            assert c.connected and c.session_id != old
            assert await c.exists("/e") is None
    finally:
        await asyncio.to_thread(server.stop)
