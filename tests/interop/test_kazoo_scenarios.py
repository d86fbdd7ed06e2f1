"""kazoo drives realistic scenarios against zkeeper and against Apache ZooKeeper 3.8.

Every test runs once per server kind (the `server` fixture in conftest.py is module
scoped and parametrized), and the same assertions must hold on both: the reference
decides what is right. Scenarios cover session life (reconnect vs. expiry vs. close,
refused session ids), watches (one-shot, persistent recursive, SetWatches after a
reconnect), the lock and counter recipes, frame size limits, multi, digest ACLs,
container and TTL nodes; a last section checks a few odd requests on the raw wire
(tests/support/wire.py), with what Apache ZooKeeper 3.8 answers as the expectation.

kazoo 2.11 has no API for container/TTL creation or persistent watches, so three tiny
request records below reuse kazoo's own serializers and its request queue, and
`record_events` taps kazoo's connection to see every notification as it arrives.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections import namedtuple
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import (
    BadArgumentsError,
    BadVersionError,
    ConnectionLoss,
    NoAuthError,
    RolledBackError,
    RuntimeInconsistency,
)
from kazoo.protocol.serialization import Create, Watch, int_struct, long_struct, read_string, write_string
from kazoo.protocol.states import EventType, WatchedEvent
from kazoo.security import OPEN_ACL_UNSAFE, make_digest_acl

from tests.support.servers import RunningServer
from tests.support.wire import Notification, ReplyTimeout, WireClient
from zkeeper.errors import Code
from zkeeper.jute import (
    ACL, AddWatchRequest, AuthPacket, CheckWatchesRequest, ConnectRequest, ConnectResponse, CreateRequest,
    ExistsRequest, GetChildrenRequest, Id, Reader, RemoveWatchesRequest, RequestHeader, SetWatches2,
    WatcherEvent, Writer,
)
from zkeeper.types import NOTIFICATION_XID, PING_XID, SET_WATCHES_XID, OpCode

from .conftest import CONTAINER_CHECK_MS, TICK_MS, TcpProxy, mntr, wait_until

pytestmark = pytest.mark.timeout(120)

JUTE_MAX_BUFFER = 0xFFFFF  # 1,048,575: the default on both servers
FAST_RETRY = {"max_tries": -1, "delay": 0.05, "backoff": 1.5, "max_delay": 0.5, "max_jitter": 0.1}

OPEN_ACL = (ACL(31, Id("world", "anyone")),)
OPEN_KAZOO_ACL = list(OPEN_ACL_UNSAFE)

# Raw notification types (Watcher.Event.EventType).
NODE_CREATED, NODE_DELETED, NODE_DATA_CHANGED, NODE_CHILDREN_CHANGED = 1, 2, 3, 4


# ---- kazoo request records kazoo 2.11 lacks ---------------------------------------


class CreateContainer(Create):
    """createContainer (19): CreateRequest with the CONTAINER flag; reply starts with the path."""

    type = 19


class CreateTTL(namedtuple("CreateTTL", "path data acl flags ttl")):
    """createTTL (21): CreateTTLRequest = CreateRequest fields + long ttl."""

    type = 21

    def serialize(self) -> bytearray:
        b = Create(self.path, self.data, self.acl, self.flags).serialize()
        b.extend(long_struct.pack(self.ttl))
        return b

    @classmethod
    def deserialize(cls, buf: bytes, offset: int) -> str:
        return read_string(buf, offset)[0]


class AddWatch(namedtuple("AddWatch", "path mode")):
    """addWatch (106): AddWatchRequest(path, mode); mode 0 persistent, 1 persistent recursive."""

    type = 106

    def serialize(self) -> bytearray:
        b = bytearray(write_string(self.path))
        b.extend(int_struct.pack(self.mode))
        return b

    @classmethod
    def deserialize(cls, buf: bytes, offset: int) -> bool:
        return True


def call(client: KazooClient, request: Any, timeout: float = 10.0) -> Any:
    result = client.handler.async_result()
    client._call(request, result)
    return result.get(timeout=timeout)


def record_events(client: KazooClient) -> list[tuple[int, str]]:
    """Every notification the client's connection reads, as (type, path), in wire order."""
    events: list[tuple[int, str]] = []
    conn = client._connection
    original = conn._read_watch_event

    def tap(buffer: bytes, offset: int) -> None:
        watch, _ = Watch.deserialize(buffer, offset)
        events.append((watch.type, watch.path))
        original(buffer, offset)

    conn._read_watch_event = tap
    return events


# ---- fixtures ----------------------------------------------------------------------

ClientFactory = Callable[..., KazooClient]


@pytest.fixture
def clients() -> Iterator[ClientFactory]:
    """Make started kazoo clients; all are stopped and closed after the test."""
    made: list[KazooClient] = []

    def make(hosts: str, *, timeout: float = 4.0, **kw: Any) -> KazooClient:
        kw.setdefault("connection_retry", dict(FAST_RETRY))
        c = KazooClient(hosts=hosts, timeout=timeout, **kw)
        made.append(c)
        c.start(timeout=15)
        return c

    yield make
    for c in made:
        try:
            c.stop()
        finally:
            c.close()


class StateLog:
    """kazoo connection state changes, in order."""

    def __init__(self, client: KazooClient) -> None:
        self.states: list[str] = []
        self._cond = threading.Condition()
        client.add_listener(self._listen)

    def _listen(self, state: str) -> None:
        with self._cond:
            self.states.append(state)
            self._cond.notify_all()

    def wait_for(self, seq: list[str], timeout: float) -> None:
        """Wait until `seq` appears as a subsequence of the states seen."""
        def seen() -> bool:
            it = iter(self.states)
            return all(any(s == want for s in it) for want in seq)

        with self._cond:
            if not self._cond.wait_for(seen, timeout):
                raise AssertionError(f"states {self.states} never showed {seq} within {timeout}s")


class EventBox:
    """A watch callback that keeps what it got."""

    def __init__(self) -> None:
        self.events: list[WatchedEvent] = []
        self._cond = threading.Condition()

    def __call__(self, event: WatchedEvent) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait(self, n: int = 1, timeout: float = 5.0) -> list[WatchedEvent]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.events) >= n, timeout):
                raise AssertionError(f"expected {n} watch events within {timeout}s, got {self.events}")
            return list(self.events)


def quiesce(client: KazooClient, settle: float = 0.2) -> None:
    """A round trip on `client` (events it caused are delivered before the reply) plus a pause
    for kazoo's callback thread."""
    client.sync("/")
    client.exists("/")
    time.sleep(settle)


def setdata_frame_len(path: str, n: int) -> int:
    """Length-prefix value of a setData(path, n bytes, version) frame."""
    return 8 + (4 + len(path.encode())) + (4 + n) + 4


def _encode(record: Any) -> bytes:
    w = Writer()
    record.write(w)
    return w.getvalue()


def _drain_notifications(w: WireClient, seconds: float) -> list[Notification]:
    """Notifications that arrive within `seconds` while we send nothing."""
    deadline = time.monotonic() + seconds
    out: list[Notification] = []
    while (left := deadline - time.monotonic()) > 0:
        try:
            frame = w.read_reply(left)
        except ReplyTimeout:
            break
        assert frame.header.xid == NOTIFICATION_XID, f"unexpected reply {frame.header}"
        out.append(Notification(frame.header.zxid, WatcherEvent.read(Reader(frame.body))))
    return out


def ephemerals_count(server: RunningServer) -> int:
    return int(mntr(server.port)["zk_ephemerals_count"])


# ---- sessions: reconnect, expiry, close --------------------------------------------


def test_ephemeral_survives_tcp_reconnect(server: RunningServer, clients: ClientFactory,
                                          proxy_factory: Callable[[int], TcpProxy]) -> None:
    proxy = proxy_factory(server.port)
    c = clients(proxy.hosts, timeout=3.0)
    states = StateLog(c)
    observer = clients(server.hosts)
    path = "/eph-reconnect"
    c.create(path, b"mine", ephemeral=True)
    session_id = c.client_id[0]

    proxy.cut()  # the TCP connection dies; the session must not
    states.wait_for([KazooState.SUSPENDED, KazooState.CONNECTED], timeout=10)

    assert KazooState.LOST not in states.states
    assert c.client_id[0] == session_id, "kazoo resumed a different session"
    stat = observer.exists(path)
    assert stat is not None, "ephemeral vanished after a mere reconnect"
    assert stat.ephemeralOwner == session_id
    assert c.get(path)[0] == b"mine"
    assert proxy.accepted >= 2
    c.delete(path)  # still its owner
    assert observer.exists(path) is None


def test_resumed_session_set_watches_reports_missed_changes(server: RunningServer,
                                                           clients: ClientFactory) -> None:
    """What a client does after a reconnect (kazoo 2.11 drops its watches on SUSPENDED, so this
    speaks the wire): resume the session on a new TCP connection, SetWatches2(lastZxid) for the
    watches it held; changes it missed while away fire at once, the rest stay armed."""
    writer = clients(server.hosts)
    with WireClient(server.port) as w1:
        resp = w1.connect(timeout_ms=4000)
        session_id, password = resp.sessionId, resp.passwd
        reply = w1.call(OpCode.CREATE, CreateRequest("/away", b"v0", list(OPEN_ACL), 0))
        assert reply.header.err == 0
        reply = w1.call(OpCode.CREATE, CreateRequest("/away-rec", b"", list(OPEN_ACL), 0))
        seen = w1.last_zxid
    # The TCP connection is gone, the session is not; meanwhile others change things.
    writer.set("/away", b"v1")
    writer.create("/away-later")
    writer.set("/away-rec", b"missed")  # persistent watches report no missed changes
    with WireClient(server.port) as w2:
        resp = w2.connect(timeout_ms=4000, session_id=session_id, passwd=password, last_zxid=seen)
        assert resp.sessionId == session_id and resp.timeOut > 0
        w2.send_request(SET_WATCHES_XID, OpCode.SET_WATCHES2, _encode(SetWatches2(
            seen, ["/away"], ["/away-later", "/away-never"], ["/away"], [], ["/away-rec"])))
        header = w2.await_xid(SET_WATCHES_XID).header
        assert header.err == 0
        before_reply = [(n.event.type, n.event.path) for n in w2.take_notifications()]
        # Send nothing else: the missed changes must come on their own.
        after_reply = [(n.event.type, n.event.path) for n in _drain_notifications(w2, 1.0)]
        expected = [(NODE_DATA_CHANGED, "/away"), (NODE_CREATED, "/away-later")]
        assert before_reply + after_reply == expected, "missed changes not reported after SetWatches2"
        assert before_reply == expected, "missed-change events must precede the SetWatches reply"
        writer.create("/away/kid")
        writer.set("/away-rec", b"seen")
        writer.create("/away-never")
        w2.ping()
        got = [(n.event.type, n.event.path) for n in w2.take_notifications()]
        assert got == [
            (NODE_CHILDREN_CHANGED, "/away"),
            (NODE_DATA_CHANGED, "/away-rec"),
            (NODE_CREATED, "/away-never"),
        ]
        writer.set("/away", b"v2")  # the data watch already fired: nothing more
        writer.set("/away-rec", b"again")  # the persistent one keeps firing
        w2.ping()
        got = [(n.event.type, n.event.path) for n in w2.take_notifications()]
        assert got == [(NODE_DATA_CHANGED, "/away-rec")]
        w2.close_session()


def test_ephemeral_removed_after_session_expiry(server: RunningServer, clients: ClientFactory,
                                                proxy_factory: Callable[[int], TcpProxy]) -> None:
    proxy = proxy_factory(server.port)
    c = clients(proxy.hosts, timeout=1.0)  # negotiated: 1000 ms (4 ticks)
    states = StateLog(c)
    observer = clients(server.hosts)
    old_id = c.client_id
    path = "/eph-expiry"
    c.create(path, b"", ephemeral=True)
    c.create("/eph-expiry-seq-", b"", ephemeral=True, sequence=True)
    gone = EventBox()
    assert observer.exists(path, watch=gone) is not None
    before = ephemerals_count(server)

    started = time.monotonic()
    proxy.blackhole(True)  # pings stop reaching the server; the TCP connections stay open
    events = gone.wait(1, timeout=10)
    elapsed = time.monotonic() - started

    assert [(e.type, e.path) for e in events] == [(EventType.DELETED, path)]
    # The last ping the server got was at most ~1/3 of the timeout before the cut.
    assert elapsed > 0.4, f"session expired after {elapsed:.2f}s, before its 1 s timeout"
    assert elapsed < 1.0 + 2 * TICK_MS / 1000 + 1.5, f"session expired only after {elapsed:.2f}s"
    assert observer.exists(path) is None
    assert [k for k in observer.get_children("/") if k.startswith("eph-expiry-seq-")] == []
    assert ephemerals_count(server) == before - 2

    # Reconnecting with the expired session id is refused: kazoo sees LOST, then gets a new session.
    proxy.blackhole(False)
    states.wait_for([KazooState.LOST, KazooState.CONNECTED], timeout=15)
    wait_until(lambda: c.connected, 5, message="kazoo reconnect with a new session")
    assert c.client_id[0] != old_id[0]
    assert c.exists(path) is None


def test_session_close_removes_ephemerals_immediately(server: RunningServer, clients: ClientFactory) -> None:
    c = clients(server.hosts, timeout=5.0)  # a 5 s session: removal must come from the close
    observer = clients(server.hosts)
    observer.create("/closing")
    c.create("/closing/e1", ephemeral=True)
    seq = c.create("/closing/e-", ephemeral=True, sequence=True)
    gone, kids = EventBox(), EventBox()
    observer.exists("/closing/e1", watch=gone)
    observer.get_children("/closing", watch=kids)

    started = time.monotonic()
    c.stop()
    events = gone.wait(1, timeout=3)
    elapsed = time.monotonic() - started

    assert elapsed < 2.0, f"ephemeral went only after {elapsed:.2f}s: looks like expiry, not close"
    assert [(e.type, e.path) for e in events] == [(EventType.DELETED, "/closing/e1")]
    assert [(e.type, e.path) for e in kids.wait(1)] == [(EventType.CHILD, "/closing")]
    assert observer.get_children("/closing") == []
    assert observer.exists(seq) is None


def test_reconnect_with_closed_or_forged_session_is_refused(server: RunningServer, clients: ClientFactory) -> None:
    c = clients(server.hosts, timeout=4.0)
    session_id, password = c.client_id
    c.stop()

    # kazoo given the dead session: the server refuses it and kazoo quietly starts a new one.
    again = KazooClient(hosts=server.hosts, timeout=4.0, client_id=(session_id, password),
                        connection_retry=dict(FAST_RETRY))
    try:
        again.start(timeout=15)
        assert again.client_id[0] not in (0, session_id)
        assert again.exists("/") is not None
    finally:
        again.stop()
        again.close()

    # On the wire: ConnectResponse(timeOut 0, sessionId 0, 16 zero bytes), then the server closes.
    with WireClient(server.port) as w:
        resp = w.connect(timeout_ms=4000, session_id=session_id, passwd=password)
        assert (resp.timeOut, resp.sessionId, resp.passwd) == (0, 0, bytes(16))
        assert w.wait_closed(5.0)

    # A live session with a wrong password is refused too, and the session itself survives.
    # (ZooKeeper first closes the session's current connection, whatever the password.)
    live = clients(server.hosts, timeout=4.0)
    live_states = StateLog(live)
    live.create("/forged", ephemeral=True)
    live_id, live_pw = live.client_id
    with WireClient(server.port) as w:
        resp = w.connect(timeout_ms=4000, session_id=live_id, passwd=bytes(b ^ 0xFF for b in live_pw))
        assert (resp.timeOut, resp.sessionId) == (0, 0)
        assert w.wait_closed(5.0)
    live_states.wait_for([KazooState.SUSPENDED, KazooState.CONNECTED], timeout=10)
    assert KazooState.LOST not in live_states.states
    assert live.client_id[0] == live_id
    assert live.exists("/forged").ephemeralOwner == live_id


# ---- watches -------------------------------------------------------------------------


def test_data_watch_fires_exactly_once(server: RunningServer, clients: ClientFactory) -> None:
    watcher = clients(server.hosts)
    raw = record_events(watcher)
    writer = clients(server.hosts)
    writer.create("/once", b"0")
    box = EventBox()
    watcher.get("/once", watch=box)

    writer.set("/once", b"1")
    writer.set("/once", b"2")
    writer.delete("/once")
    quiesce(watcher)

    assert [(e.type, e.path) for e in box.events] == [(EventType.CHANGED, "/once")]
    assert raw == [(NODE_DATA_CHANGED, "/once")], "the server sent more than one notification"

    # A new registration gets the next change, again once.
    box2 = EventBox()
    assert watcher.exists("/once", watch=box2) is None
    writer.create("/once", b"3")
    writer.set("/once", b"4")
    quiesce(watcher)
    assert [(e.type, e.path) for e in box2.events] == [(EventType.CREATED, "/once")]
    assert raw[1:] == [(NODE_CREATED, "/once")]


def test_persistent_recursive_watch(server: RunningServer, clients: ClientFactory) -> None:
    watcher = clients(server.hosts)
    raw = record_events(watcher)
    writer = clients(server.hosts)
    writer.create("/prw")
    writer.create("/prw-sibling")
    call(watcher, AddWatch("/prw", 1))
    call(watcher, AddWatch("/prw-sibling", 0))  # persistent, not recursive

    writer.create("/prw/a", b"1")
    writer.set("/prw/a", b"2")
    writer.set("/prw/a", b"3")
    writer.create("/prw/a/b")
    writer.delete("/prw/a/b")
    writer.set("/prw", b"top")
    writer.create("/prwx")  # same prefix, not in the subtree
    writer.create("/prw-sibling/kid")
    writer.set("/prw-sibling/kid", b"not watched")
    writer.set("/prw-sibling", b"x")
    writer.set("/prw-sibling", b"y")
    quiesce(watcher)

    assert raw == [
        (NODE_CREATED, "/prw/a"),
        (NODE_DATA_CHANGED, "/prw/a"),
        (NODE_DATA_CHANGED, "/prw/a"),
        (NODE_CREATED, "/prw/a/b"),
        (NODE_DELETED, "/prw/a/b"),
        (NODE_DATA_CHANGED, "/prw"),
        (NODE_CHILDREN_CHANGED, "/prw-sibling"),
        (NODE_DATA_CHANGED, "/prw-sibling"),
        (NODE_DATA_CHANGED, "/prw-sibling"),
    ]


# ---- recipes -------------------------------------------------------------------------


def test_lock_with_five_contenders(server: RunningServer, clients: ClientFactory) -> None:
    n = 5
    contenders = [clients(server.hosts) for _ in range(n)]
    guard = threading.Lock()
    holders: list[int] = []
    max_holders = 0
    acquired: list[tuple[int, str]] = []  # (contender, its lock node) in acquisition order
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def run(i: int) -> None:
        nonlocal max_holders
        try:
            lock = contenders[i].Lock("/lock5", identifier=f"c{i}")
            barrier.wait(timeout=10)
            assert lock.acquire(timeout=20), f"contender {i} never got the lock"
            try:
                with guard:
                    holders.append(i)
                    max_holders = max(max_holders, len(holders))
                    acquired.append((i, lock.node))
                time.sleep(0.05)
                with guard:
                    holders.remove(i)
            finally:
                lock.release()
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a contender hung"
    assert errors == []
    assert max_holders == 1, "two contenders held the lock at once"
    assert sorted(i for i, _ in acquired) == list(range(n))
    # Fair: the lock goes in the order of the sequence numbers the server handed out.
    nodes = [node for _, node in acquired]
    assert nodes == sorted(nodes, key=lambda s: int(s[-10:]))
    assert len({s[-10:] for s in nodes}) == n
    assert contenders[0].get_children("/lock5") == []


def test_counter_recipe_under_contention(server: RunningServer, clients: ClientFactory) -> None:
    """kazoo's Counter is a versioned read-modify-write loop: every lost race is a BadVersion
    the server must report, or increments vanish."""
    n, per_client = 4, 15
    workers = [clients(server.hosts) for _ in range(n)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def run(c: KazooClient) -> None:
        try:
            counter = c.Counter("/counter")
            barrier.wait(timeout=10)
            for _ in range(per_client):
                counter += 1
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(c,), daemon=True) for c in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads) and errors == []
    data, stat = workers[0].get("/counter")
    assert int(data) == n * per_client
    assert stat.version == n * per_client


# ---- frame size limits -------------------------------------------------------------


def test_one_megabyte_znode_and_oversized_frame(server: RunningServer, clients: ClientFactory) -> None:
    big = clients(server.hosts, timeout=4.0)
    big_states = StateLog(big)
    bystander = clients(server.hosts, timeout=4.0)
    by_states = StateLog(bystander)
    by_id = bystander.client_id[0]
    bystander.create("/bystander", b"alive", ephemeral=True)
    by_watch = EventBox()
    bystander.get("/bystander", watch=by_watch)

    path = "/big"
    payload = bytes(range(256)) * 3906 + b"!" * 64  # 1,000,000 bytes, not all alike
    assert len(payload) == 1_000_000
    big.create(path, payload)
    data, stat = bystander.get(path)
    assert stat.dataLength == 1_000_000 and data == payload

    # The largest setData frame allowed is exactly jute.maxbuffer bytes long.
    limit = JUTE_MAX_BUFFER - setdata_frame_len(path, 0)
    assert setdata_frame_len(path, limit) == JUTE_MAX_BUFFER
    big.set(path, b"L" * limit)
    assert big.exists(path).dataLength == limit
    big_id = big.client_id[0]

    for oversized in (limit + 1, 2 * 1024 * 1024):
        with pytest.raises(ConnectionLoss):
            big.set(path, b"X" * oversized)
        # Only that connection drops; the client resumes the same session.
        wait_until(lambda: big.connected, 10, message="the big client to reconnect")
        assert big.client_id[0] == big_id
    assert big_states.states.count(KazooState.SUSPENDED) == 2
    assert big.exists(path).dataLength == limit, "a refused write changed the node"

    # The other session never noticed: same connection, same session, still working.
    assert by_states.states == []
    assert bystander.client_id[0] == by_id
    bystander.create("/bystander-ok", b"1")
    assert bystander.get("/bystander-ok")[0] == b"1"
    bystander.delete("/bystander-ok")
    big.set("/bystander", b"poke")
    assert [e.type for e in by_watch.wait(1)] == [EventType.CHANGED]
    big.delete(path)


# ---- multi, ACLs ---------------------------------------------------------------------


def test_transaction_with_version_checks(server: RunningServer, clients: ClientFactory) -> None:
    c = clients(server.hosts)
    other = clients(server.hosts)
    c.create("/txn", b"v0")

    t = c.transaction()
    t.check("/txn", 0)
    t.set_data("/txn", b"v1", version=0)
    t.create("/txn/child", b"c")
    results = t.commit()
    assert results[0] is True
    assert results[1].version == 1
    assert results[2] == "/txn/child"

    # A stale check fails the whole transaction: ops before it roll back, ops after are
    # reported as runtime inconsistency, and nothing is applied.
    t = c.transaction()
    t.create("/txn/early", b"")
    t.check("/txn", 0)
    t.set_data("/txn", b"v2")
    t.delete("/txn/child")
    results = t.commit()
    assert [type(r) for r in results] == [RolledBackError, BadVersionError, RuntimeInconsistency,
                                          RuntimeInconsistency]
    assert other.exists("/txn/early") is None
    data, stat = other.get("/txn")
    assert (data, stat.version) == (b"v1", 1)
    assert other.exists("/txn/child") is not None

    # A version-checked delete inside a transaction.
    t = c.transaction()
    t.delete("/txn/child", version=0)
    t.check("/txn", 1)
    assert t.commit() == [True, True]
    assert other.get_children("/txn") == []


def test_digest_acl_denies_other_clients(server: RunningServer, clients: ClientFactory) -> None:
    owner = clients(server.hosts, auth_data=[("digest", "alice:secret")])
    anonymous = clients(server.hosts)
    impostor = clients(server.hosts, auth_data=[("digest", "alice:guess")])
    friend = clients(server.hosts)
    friend.add_auth("digest", "alice:secret")

    acl = [make_digest_acl("alice", "secret", all=True)]
    owner.create("/vault", b"gold", acl=acl)

    for stranger in (anonymous, impostor):
        with pytest.raises(NoAuthError):
            stranger.get("/vault")
        with pytest.raises(NoAuthError):
            stranger.set("/vault", b"lead")
        with pytest.raises(NoAuthError):
            stranger.create("/vault/kid")
        with pytest.raises(NoAuthError):
            stranger.get_children("/vault")
        with pytest.raises(NoAuthError):
            stranger.set_acls("/vault", OPEN_KAZOO_ACL)
        assert stranger.exists("/vault").dataLength == 4  # exists needs no permission

    assert friend.get("/vault")[0] == b"gold"
    friend.set("/vault", b"platinum")
    assert owner.get("/vault")[0] == b"platinum"
    friend.create("/vault/kid")
    assert owner.get_children("/vault") == ["kid"]
    owner.delete("/vault/kid")
    with pytest.raises(NoAuthError):
        anonymous.get_acls("/vault")  # reading an ACL needs READ or ADMIN
    acls, _ = owner.get_acls("/vault")
    assert [(a.perms, a.id.scheme, a.id.id) for a in acls] == [(31, "digest", acl[0].id.id)]
    # Deleting needs DELETE on the parent ("/" is open), not on the node itself.
    anonymous.delete("/vault")
    assert owner.exists("/vault") is None


# ---- containers and TTL nodes ------------------------------------------------------


# Containers and TTL nodes are marked in the stored ephemeralOwner (0x8000000000000000,
# 0xFF00...<ttl>), but clients are shown 0 (DataTree.getClientEphemeralOwner).
CLIENT_VISIBLE_OWNER = 0


def test_container_and_ttl_nodes_show_no_owner(server: RunningServer, clients: ClientFactory) -> None:
    c = clients(server.hosts)
    call(c, CreateContainer("/owner-box", b"", OPEN_KAZOO_ACL, 4))
    call(c, CreateTTL("/owner-ttl", b"", OPEN_KAZOO_ACL, 5, 60_000))
    c.create("/owner-eph", ephemeral=True)
    assert c.exists("/owner-eph").ephemeralOwner == c.client_id[0]
    for path in ("/owner-box", "/owner-ttl"):
        assert c.exists(path).ephemeralOwner == CLIENT_VISIBLE_OWNER, path
        assert c.get(path)[1].ephemeralOwner == CLIENT_VISIBLE_OWNER, path
        assert c.set(path, b"x").ephemeralOwner == CLIENT_VISIBLE_OWNER, path
    c.delete("/owner-box")
    c.delete("/owner-ttl")


def test_container_deleted_after_last_child(server: RunningServer, clients: ClientFactory) -> None:
    c = clients(server.hosts)
    observer = clients(server.hosts)
    assert call(c, CreateContainer("/box", b"", OPEN_KAZOO_ACL, 4)) == "/box"
    assert call(c, CreateContainer("/unused-box", b"", OPEN_KAZOO_ACL, 4)) == "/unused-box"
    c.create("/box/a")
    c.create("/box/b", ephemeral=True)
    time.sleep(5 * CONTAINER_CHECK_MS / 1000)
    assert c.exists("/box") is not None, "container with children was reaped"

    gone = EventBox()
    observer.exists("/box", watch=gone)
    c.delete("/box/a")
    time.sleep(3 * CONTAINER_CHECK_MS / 1000)
    assert c.exists("/box") is not None, "container reaped while it still had a child"
    started = time.monotonic()
    c.delete("/box/b")
    assert [(e.type, e.path) for e in gone.wait(1, timeout=5)] == [(EventType.DELETED, "/box")]
    assert time.monotonic() - started < 3
    assert observer.exists("/box") is None
    # A container that never had a child stays.
    assert observer.exists("/unused-box") is not None


def test_ttl_node_expires(server: RunningServer, clients: ClientFactory) -> None:
    c = clients(server.hosts)
    ttl_ms = 600
    assert call(c, CreateTTL("/ttl", b"t", OPEN_KAZOO_ACL, 5, ttl_ms)) == "/ttl"
    seq = call(c, CreateTTL("/ttl-seq-", b"", OPEN_KAZOO_ACL, 6, ttl_ms))
    assert seq.startswith("/ttl-seq-") and len(seq) == len("/ttl-seq-") + 10
    assert call(c, CreateTTL("/ttl-parent", b"", OPEN_KAZOO_ACL, 5, ttl_ms)) == "/ttl-parent"
    c.create("/ttl-parent/kid")

    with pytest.raises(BadArgumentsError):
        call(c, CreateTTL("/ttl-zero", b"", OPEN_KAZOO_ACL, 5, 0))
    with pytest.raises(BadArgumentsError):
        call(c, CreateTTL("/ttl-bad-mode", b"", OPEN_KAZOO_ACL, 1, ttl_ms))  # ephemeral + TTL
    assert c.exists("/ttl-zero") is None and c.exists("/ttl-bad-mode") is None

    time.sleep(ttl_ms / 1000 / 2)
    assert c.exists("/ttl") is not None, "TTL node reaped before its TTL"
    gone = EventBox()
    c.exists("/ttl", watch=gone)
    assert [(e.type, e.path) for e in gone.wait(1, timeout=5)] == [(EventType.DELETED, "/ttl")]
    wait_until(lambda: c.exists(seq) is None, 5, message="the sequential TTL node to be reaped")
    time.sleep(3 * CONTAINER_CHECK_MS / 1000)
    assert c.exists("/ttl-parent") is not None, "TTL node with a child was reaped"
    c.delete("/ttl-parent/kid")
    wait_until(lambda: c.exists("/ttl-parent") is None, 5, message="the emptied TTL node to be reaped")




# ---- the wire, where kazoo never goes ----------------------------------------------------


def test_frames_before_a_bad_length_are_served(server: RunningServer, clients: ClientFactory) -> None:
    """Handshake, a create and then a frame with a bad length, all in one TCP segment: the server
    must handle the good frames in order (session, create) before dropping the connection, as it
    would had they come in separate reads."""
    observer = clients(server.hosts)
    for bad_length in (-1, JUTE_MAX_BUFFER + 1):
        path = f"/pipelined{bad_length}"
        connect = _encode(ConnectRequest(0, 0, 4000, 0, bytes(16), False))
        create = _encode(RequestHeader(1, OpCode.CREATE)) + _encode(CreateRequest(path, b"", list(OPEN_ACL), 0))
        segment = b"".join(struct.pack(">i", len(f)) + f for f in (connect, create)) + struct.pack(">i", bad_length)
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(segment)
            received = bytearray()
            while chunk := _recv_or_empty(s):
                received += chunk
        assert len(received) >= 4 + 37, f"no ConnectResponse before the close (got {bytes(received)!r})"
        resp = ConnectResponse.read(Reader(bytes(received[4:4 + 37])))
        assert resp.sessionId != 0 and resp.timeOut == 4000
        assert observer.exists(path) is not None, "the create before the bad frame was dropped"


def _recv_or_empty(s: socket.socket) -> bytes:
    try:
        return s.recv(65536)
    except OSError:  # reset: the server is gone from this connection
        return b""


# (xid, opcode, body) -> what Apache ZooKeeper 3.8 answers: (reply xid, err, connection closed)
ODD_REQUESTS = {
    "ping-with-any-xid": ((7, OpCode.PING, b""), (PING_XID, 0, False)),
    "auth-reply-echoes-xid": ((9, OpCode.AUTH, AuthPacket(0, "digest", b"odd:one")), (9, 0, False)),
    "unknown-opcode": ((14, 99, b""), (14, Code.UNIMPLEMENTED, True)),
    "addWatch-invalid-mode": ((3, OpCode.ADD_WATCH, AddWatchRequest("/", 2)), (3, Code.MARSHALLINGERROR, False)),
    "checkWatches-invalid-type": ((4, OpCode.CHECK_WATCHES, CheckWatchesRequest("/", 0)),
                                  (4, Code.MARSHALLINGERROR, False)),
    "removeWatches-invalid-type": ((5, OpCode.REMOVE_WATCHES, RemoveWatchesRequest("/", 9)),
                                   (5, Code.MARSHALLINGERROR, False)),
    # ZooKeeper's DataTree maps "" to the root node too, and reads do not validate paths.
    "exists-empty-path": ((6, OpCode.EXISTS, ExistsRequest("", False)), (6, 0, False)),
    "getChildren-empty-path": ((8, OpCode.GET_CHILDREN, GetChildrenRequest("", False)), (8, 0, False)),
}


@pytest.mark.parametrize("case", sorted(ODD_REQUESTS))
def test_odd_requests_answered_like_the_reference(server: RunningServer, case: str) -> None:
    (xid, opcode, body), expected = ODD_REQUESTS[case]
    with WireClient(server.port) as w:
        w.connect(timeout_ms=4000)
        w.send_request(xid, int(opcode), body if isinstance(body, bytes) else _encode(body))
        header = w.read_reply(5.0).header
        closed = w.wait_closed(0.5)
    assert (header.xid, header.err, closed) == expected
