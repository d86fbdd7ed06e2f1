"""The client's pure parts: connect strings, chroot, host order, watch bookkeeping,
SetWatches chunking, timers, backoff, retry policy and the error classes."""

from __future__ import annotations

import random

import pytest

from zkeeper.client import exceptions as exc
from zkeeper.client.hosts import Address, Chroot, HostRing, parse_connect_string
from zkeeper.client.ops import RetrySafety
from zkeeper.client.retry import Retry, RetryFailedError
from zkeeper.client.timing import Due, Heartbeat, ReconnectDelay, connect_timeout
from zkeeper.client.watches import WatchKind, WatchRegistry
from zkeeper.errors import Code
from zkeeper.jute import SetWatches, SetWatches2
from zkeeper.jute.schema import encode
from zkeeper.types import EventType, OpCode, WatcherType

# ---- connect strings ----------------------------------------------------------------


def test_connect_string_with_hosts_and_chroot() -> None:
    cs = parse_connect_string("zk1:2181, zk2:2182,[::1]:2183,zk4/app/sub")
    assert cs.addresses == (Address("zk1", 2181), Address("zk2", 2182), Address("::1", 2183), Address("zk4", 2181))
    assert cs.chroot == "/app/sub"
    assert parse_connect_string("h:1/").chroot is None


@pytest.mark.parametrize("bad", ["", "/app", "h:0", "h:99999", "h:1/app/", "h:x"])
def test_bad_connect_strings(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_connect_string(bad)


def test_chroot_maps_both_ways() -> None:
    c = Chroot("/app")
    assert c.add("/") == "/app" and c.add("/x") == "/app/x"
    assert c.strip("/app") == "/" and c.strip("/app/x") == "/x"
    assert c.strip("/apple") == "/apple"  # not below the chroot: left alone
    assert Chroot(None).add("/x") == "/x" == Chroot(None).strip("/x")


def test_hosts_are_shuffled_once_then_taken_round_robin() -> None:
    addrs = tuple(Address(f"h{i}", 1) for i in range(5))
    ring = HostRing(addrs, random.Random(7))
    first_round = [ring.next() for _ in range(5)]
    assert sorted(first_round, key=lambda a: a.host) == list(addrs)
    assert [ring.next() for _ in range(5)] == first_round
    orders = {tuple(HostRing(addrs, random.Random(seed)).next() for _ in range(5)) for seed in range(20)}
    assert len(orders) > 1


# ---- watch bookkeeping ----------------------------------------------------------------


def test_one_shot_watches_fire_once_per_rule() -> None:
    reg: WatchRegistry[str] = WatchRegistry()
    reg.add(WatchKind.DATA, "/a", "data")
    reg.add(WatchKind.EXIST, "/b", "exist")
    reg.add(WatchKind.CHILD, "/a", "child")
    assert reg.materialize(EventType.NODE_CHILDREN_CHANGED, "/a") == ["child"]
    assert reg.materialize(EventType.NODE_CREATED, "/b") == ["exist"]
    assert reg.materialize(EventType.NODE_DATA_CHANGED, "/a") == ["data"]
    assert reg.materialize(EventType.NODE_DATA_CHANGED, "/a") == []
    reg.add(WatchKind.DATA, "/c", "d")
    reg.add(WatchKind.CHILD, "/c", "c")
    assert reg.materialize(EventType.NODE_DELETED, "/c") == ["d", "c"]
    assert len(reg) == 0


def test_persistent_and_recursive_watches_stay() -> None:
    reg: WatchRegistry[str] = WatchRegistry()
    reg.add(WatchKind.PERSISTENT, "/a", "p")
    reg.add(WatchKind.PERSISTENT_RECURSIVE, "/", "r")
    assert reg.materialize(EventType.NODE_DATA_CHANGED, "/a") == ["p", "r"]
    assert reg.materialize(EventType.NODE_CHILDREN_CHANGED, "/a") == ["p"]  # never for recursive
    assert reg.materialize(EventType.NODE_CREATED, "/a/b/c") == ["r"]
    assert len(reg) == 2


def test_a_watcher_registered_twice_is_woken_once() -> None:
    reg: WatchRegistry[str] = WatchRegistry()
    reg.add(WatchKind.DATA, "/a", "w")
    reg.add(WatchKind.DATA, "/a", "w")
    reg.add(WatchKind.PERSISTENT, "/a", "w")
    assert reg.materialize(EventType.NODE_DATA_CHANGED, "/a") == ["w"]


def test_remove_by_type() -> None:
    reg: WatchRegistry[str] = WatchRegistry()
    reg.add(WatchKind.DATA, "/a", "x")
    reg.add(WatchKind.EXIST, "/a", "y")
    reg.add(WatchKind.CHILD, "/a", "x")
    assert reg.remove(WatcherType.DATA, "/a", "x") == [(WatchKind.DATA, "x")]
    assert reg.remove(WatcherType.ANY, "/a") == [(WatchKind.EXIST, "y"), (WatchKind.CHILD, "x")]
    assert len(reg) == 0 and reg.remove(WatcherType.ANY, "/a") == []


def test_set_watches_carries_every_path_in_chunks_under_the_limit() -> None:
    reg: WatchRegistry[int] = WatchRegistry()
    paths = [f"/{'p' * 100}/{i}" for i in range(3000)]
    for i, p in enumerate(paths):
        reg.add([WatchKind.DATA, WatchKind.EXIST, WatchKind.CHILD][i % 3], p, i)
    reg.add(WatchKind.PERSISTENT_RECURSIVE, "/r", -1)
    chunks = reg.set_watches(55, max_bytes=64 * 1024)
    assert len(chunks) > 1
    seen = []
    for opcode, record in chunks:
        assert record.relativeZxid == 55
        assert len(encode(record)) < 64 * 1024 + 100
        seen += record.dataWatches + record.existWatches + record.childWatches
        if opcode is OpCode.SET_WATCHES2:
            assert isinstance(record, SetWatches2)
            seen += record.persistentWatches + record.persistentRecursiveWatches
        else:
            assert isinstance(record, SetWatches)
    assert sorted(seen) == sorted(paths + ["/r"])
    assert chunks[0][0] is OpCode.SET_WATCHES  # old servers still understand chunks without persistent ones
    assert reg.set_watches(1) and WatchRegistry().set_watches(1) == []


def test_drain_returns_every_watcher_once() -> None:
    reg: WatchRegistry[str] = WatchRegistry()
    reg.add(WatchKind.DATA, "/a", "w")
    reg.add(WatchKind.CHILD, "/b", "w")
    reg.add(WatchKind.PERSISTENT, "/c", "v")
    assert reg.drain() == ["w", "v"] and len(reg) == 0


# ---- timers -----------------------------------------------------------------------------


def test_heartbeat_pings_at_a_third_and_gives_up_at_two_thirds() -> None:
    hb = Heartbeat(session_timeout=9.0, now=100.0)
    assert hb.due(102.9) is Due.NOTHING and hb.next_deadline() == 103.0
    assert hb.due(103.0) is Due.PING
    hb.sent(103.0)
    hb.received(103.1)
    assert hb.due(105.0) is Due.NOTHING
    assert hb.due(109.1) is Due.DEAD  # nothing heard for 6 s
    assert connect_timeout(9.0, 3) == 3.0
    assert connect_timeout(9.0, 1) == 3.0  # one silent host must not eat the session
    assert connect_timeout(9.0, 9) == 1.0


def test_reconnect_delay_waits_only_after_a_full_round() -> None:
    d = ReconnectDelay(random.Random(1), host_count=3, initial=0.1, maximum=1.0)
    waits = [d.after_failure() for _ in range(15)]
    assert waits[0] == waits[1] == 0.0 and waits[2] > 0
    rounds = waits[2::3]
    assert all(0 < w <= 1.0 for w in rounds)
    assert rounds[-1] > rounds[0]
    d.reset()
    assert d.after_failure() == 0.0


# ---- retry --------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    async def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


def failing(times: int, error: Exception):  # noqa: ANN201
    calls = {"n": 0}

    async def op() -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise error
        return "done"

    return op, calls


def retry_with(clock: FakeClock, **kw: object) -> Retry:
    return Retry(sleep=clock.sleep, clock=lambda: clock.now, rng=random.Random(0), **kw)  # type: ignore[arg-type]


async def test_retry_backs_off_until_success() -> None:
    clock = FakeClock()
    op, calls = failing(3, exc.ConnectionLoss())
    assert await retry_with(clock, delay=0.1, max_jitter=0.0)(op) == "done"
    assert calls["n"] == 4 and clock.sleeps == [0.1, 0.2, 0.4]


async def test_retry_respects_tries_and_deadline() -> None:
    clock = FakeClock()
    op, _ = failing(100, exc.ConnectionLoss())
    with pytest.raises(RetryFailedError):
        await retry_with(clock, max_tries=3)(op)
    op, _ = failing(100, exc.OperationTimeoutError())
    with pytest.raises(RetryFailedError):
        await retry_with(clock, deadline=5.0, max_jitter=0.0)(op)
    assert clock.now <= 5.0


async def test_retry_refuses_what_is_not_safe_to_repeat() -> None:
    clock = FakeClock()
    lost = exc.ConnectionLoss()
    lost.retry_safety = RetrySafety.UNSAFE
    op, calls = failing(1, lost)
    with pytest.raises(exc.ConnectionLoss):
        await retry_with(clock)(op)
    assert calls["n"] == 1
    op, _ = failing(1, lost)
    assert await retry_with(clock, allow_unsafe=True)(op) == "done"
    for error in (exc.NoNodeError(), exc.ConnectionClosedError()):
        op, calls = failing(1, error)
        with pytest.raises(type(error)):
            await retry_with(clock)(op)
    op, _ = failing(1, exc.SessionExpiredError())
    assert await retry_with(clock)(op) == "done"
    op, _ = failing(1, exc.SessionExpiredError())
    with pytest.raises(exc.SessionExpiredError):
        await retry_with(clock, ignore_expire=False)(op)


# ---- errors ---------------------------------------------------------------------------------


def test_one_exception_class_per_code() -> None:
    for code in Code:
        e = exc.error_for(int(code), "/p")
        assert e.code is code and e.path == "/p"
        assert type(e) is not exc.ZookeeperError
    assert isinstance(exc.error_for(-101), exc.NoNodeError)
    assert isinstance(exc.error_for(0), exc.RolledBackError)
    unknown = exc.error_for(-999)
    assert isinstance(unknown, exc.UnknownErrorCode) and unknown.raw_code == -999
    assert issubclass(exc.ConnectionClosedError, exc.SessionExpiredError)
