"""Session life: states a program can await or follow, timeouts, resuming after a lost
connection (same session, watches re-registered), expiry, and closing."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.client.harness import Events, next_event, wait_until
from zkeeper.client import (
    AuthFailedError,
    Client,
    ConnectionClosedError,
    ConnectionLoss,
    ConnectTimeoutError,
    EventType,
    KeeperState,
    RetrySafety,
    SessionExpiredError,
    State,
)
from zkeeper.testing import Proxy, expire_session, free_port


async def test_states_from_start_to_close(hosts: str) -> None:
    c = Client(hosts)
    seen: list[State] = []
    c.add_listener(seen.append)
    assert c.state is State.CONNECTING and not c.connected
    await c.start()
    assert c.connected and c.session_id and c.session_timeout
    follower = c.states()
    assert await c.wait_for_state(State.CONNECTED) is State.CONNECTED
    await c.close()
    assert seen == [State.CONNECTED, State.CLOSED]
    assert [s async for s in follower] == [State.CLOSED]
    with pytest.raises(ConnectionClosedError):
        await c.get("/")
    await c.close()  # idempotent


async def test_session_timeout_is_negotiated(hosts: str) -> None:
    # The shared servers tick every 500 ms: timeouts are clamped to [1 s, 10 s].
    async with Client(hosts, timeout=100.0) as c:
        assert c.session_timeout == 10.0
    async with Client(hosts, timeout=0.1) as c:
        assert c.session_timeout == 1.0


async def test_connect_timeout_when_nothing_listens() -> None:
    c = Client(f"127.0.0.1:{free_port()}", connect_timeout=1.0)
    start = time.monotonic()
    with pytest.raises(ConnectTimeoutError):
        await c.start()
    assert time.monotonic() - start < 10
    assert c.state is State.CLOSED


async def test_lost_connection_resumes_the_same_session(server, root: str) -> None:  # noqa: ANN001
    async with Proxy(server.port) as proxy:
        async with Client(proxy.hosts + root, timeout=6.0) as c:
            session = c.session_id
            await c.create("/mine", ephemeral=True)
            seen: list[State] = []
            c.add_listener(seen.append)
            proxy.cut()
            await c.wait_for_state(State.SUSPENDED, timeout=10)
            await c.wait_for_state(State.CONNECTED, timeout=10)
            assert seen[:2] == [State.SUSPENDED, State.CONNECTED]
            assert c.session_id == session
            stat = await c.exists("/mine")
            assert stat is not None and stat.owner_session_id == session


async def test_watches_missed_while_away_fire_after_reconnect(server, root: str) -> None:  # noqa: ANN001
    """SetWatches carries the last zxid we saw; the server fires what changed since."""
    async with Proxy(server.port) as proxy:
        async with Client(proxy.hosts + root, timeout=4.0) as c, Client(server.hosts + root) as writer:
            await c.create("/changes", b"0")
            await c.create("/gone")
            data_events, gone_events, child_events = Events(), Events(), Events()
            await c.get("/changes", watch=data_events)
            await c.exists("/gone", watch=gone_events)
            await c.get_children("/", watch=child_events)
            proxy.silence(True)
            proxy.cut()
            await c.wait_for_state(State.SUSPENDED, timeout=10)
            await writer.set("/changes", b"1")
            await writer.delete("/gone")
            await writer.create("/new")
            proxy.silence(False)
            await c.wait_for_state(State.CONNECTED, timeout=15)
            assert (await data_events.next()).type is EventType.NODE_DATA_CHANGED
            assert (await gone_events.next()).type is EventType.NODE_DELETED
            assert (await child_events.next()).type is EventType.NODE_CHILDREN_CHANGED


async def test_many_watches_are_reregistered_in_chunks(server, root: str) -> None:  # noqa: ANN001
    """More watched paths than fit in one 128 KB SetWatches frame."""
    async with Proxy(server.port) as proxy:
        long = "x" * 200
        count = 1200  # ~250 KB of paths: at least two SetWatches requests
        async with Client(proxy.hosts + root, timeout=4.0) as c, Client(server.hosts + root) as writer:
            events = Events()
            await asyncio.gather(*(c.exists(f"/{long}-{i}", watch=events) for i in range(count)))
            assert len(c._session.registry) == count
            proxy.cut()
            await c.wait_for_state(State.SUSPENDED, timeout=10)
            await c.wait_for_state(State.CONNECTED, timeout=10)
            await writer.create(f"/{long}-0")
            await writer.create(f"/{long}-{count - 1}")
            got = {(await events.next()).path, (await events.next()).path}
            assert got == {f"/{long}-0", f"/{long}-{count - 1}"}


async def test_in_flight_request_gets_connection_loss(server, root: str) -> None:  # noqa: ANN001
    async with Proxy(server.port) as proxy:
        async with Client(proxy.hosts + root, timeout=3.0) as c:
            proxy.silence(True)
            with pytest.raises(ConnectionLoss) as e:
                await c.create("/maybe-", sequence=True)
            assert e.value.retry_safety is RetrySafety.UNSAFE
            proxy.silence(False)
            await c.wait_for_state(State.CONNECTED, timeout=15)
            assert await c.exists("/") is not None


async def test_requests_made_while_suspended_go_out_after_reconnect(server, root: str) -> None:  # noqa: ANN001
    async with Proxy(server.port) as proxy:
        async with Client(proxy.hosts + root, timeout=4.0) as c:
            proxy.silence(True)
            proxy.cut()
            await c.wait_for_state(State.SUSPENDED, timeout=10)
            pending = asyncio.ensure_future(c.create("/queued"))
            await asyncio.sleep(0.3)
            assert not pending.done()
            proxy.silence(False)
            assert await asyncio.wait_for(pending, 15) == "/queued"


async def test_expired_session(hosts: str) -> None:
    async with Client(hosts) as c, Client(hosts) as observer:
        await c.create("/eph", ephemeral=True)
        callbacks = Events()
        await c.get("/eph", watch=callbacks)
        stream = await c.watch_data("/other").start()
        seen: list[State] = []
        c.add_listener(seen.append)
        old = c.session_id
        await expire_session(c)
        assert seen == [State.SUSPENDED, State.EXPIRED, State.CONNECTED]
        assert c.session_id != old
        assert await observer.exists("/eph") is None
        event = await callbacks.next()
        assert (event.type, event.state) == (EventType.NONE, KeeperState.EXPIRED)
        with pytest.raises(SessionExpiredError):
            await next_event(stream)
        # The new session works as any other.
        await c.create("/eph", ephemeral=True)


async def test_resuming_an_expired_session_reports_expiry(hosts: str) -> None:
    async with Client(hosts) as c:
        old = c.client_id
    c2 = Client(hosts, session=old)
    seen: list[State] = []
    c2.add_listener(seen.append)
    await c2.start()
    try:
        assert seen == [State.EXPIRED, State.CONNECTED]
        assert c2.session_id != old[0]
    finally:
        await c2.close()


async def test_last_zxid_follows_replies(hosts: str) -> None:
    async with Client(hosts) as c:
        before = c.last_zxid
        await c.create("/z")
        assert c.last_zxid > before


async def test_pings_keep_an_idle_session_alive(hosts: str) -> None:
    async with Client(hosts, timeout=1.0) as c:  # pings every ~0.33 s
        session = c.session_id
        await asyncio.sleep(2.5)
        assert c.state is State.CONNECTED and c.session_id == session
        await c.create("/still-here", ephemeral=True)


async def test_states_iterator_sees_suspension(server, root: str) -> None:  # noqa: ANN001
    async with Proxy(server.port) as proxy:
        async with Client(proxy.hosts + root, timeout=4.0) as c:
            follower = c.states()
            first = asyncio.ensure_future(follower.__anext__())
            await asyncio.sleep(0)
            proxy.cut()
            assert await asyncio.wait_for(first, 10) is State.SUSPENDED
            assert await asyncio.wait_for(follower.__anext__(), 10) is State.CONNECTED
            await follower.aclose()


async def test_wait_until_helper_is_bounded() -> None:
    with pytest.raises(AssertionError):
        await wait_until(lambda: False, timeout=0.1)


async def test_refused_credentials(hosts: str) -> None:
    async with Client(hosts) as c:
        with pytest.raises(AuthFailedError):
            await c.add_auth("no-such-scheme", "x")
        # The server dropped that connection; the session carries on on a new one.
        await c.wait_for_state(State.CONNECTED, timeout=10)
        assert await c.create("/after") == "/after"


async def test_four_letter_words(hosts: str) -> None:
    async with Client(hosts) as c:
        assert await c.command("ruok") == "imok"
        assert "Mode: standalone" in await c.command("srvr")
