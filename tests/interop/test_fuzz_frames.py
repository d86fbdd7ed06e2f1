"""Fuzz a live zkeeper server with malformed and adversarial client frames.

Each test is one batch of hypothesis examples, every example on its own TCP connection:
random bytes, truncated valid frames, valid lengths with garbage bodies, negative and
oversized lengths, a valid handshake followed by random request frames (known and
unknown opcodes, random or structurally valid bodies), and valid sessions delivered in
random chunks. After every example the server process must be alive; after every
batch a kazoo client that stayed connected throughout must still work with the same
session, and once the fuzz connections are gone and their sessions expired (the
server runs with short ticks and a 1.2 s maxSessionTimeout) the session and
connection counts (mntr, cons) must be back at their baseline.

Examples are derandomized (the same on every run) unless ZKEEPER_FUZZ_RANDOM=1.
"""

from __future__ import annotations

import os
import re
import socket
import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kazoo.client import KazooClient
from kazoo.security import make_digest_acl

from tests.support.servers import RunningServer, four_letter, start_zkeeper
from tests.support.wire import encode_multi
from zkeeper.jute import (
    ACL,
    AddWatchRequest,
    AuthPacket,
    CheckVersionRequest,
    CheckWatchesRequest,
    ConnectRequest,
    CreateRequest,
    CreateTTLRequest,
    DeleteRequest,
    ExistsRequest,
    GetACLRequest,
    GetAllChildrenNumberRequest,
    GetChildren2Request,
    GetChildrenRequest,
    GetDataRequest,
    GetEphemeralsRequest,
    Id,
    Reader,
    ReconfigRequest,
    RemoveWatchesRequest,
    ReplyHeader,
    RequestHeader,
    SetACLRequest,
    SetDataRequest,
    SetWatches,
    SetWatches2,
    SyncRequest,
    Writer,
)
from zkeeper.types import AUTH_XID, NOTIFICATION_XID, PING_XID, OpCode

from .conftest import mntr, wait_until

pytestmark = pytest.mark.timeout(90)

TICK_MS = 200
MAX_SESSION_MS = 1200
JUTE_MAX_BUFFER = 0xFFFFF
LEN = struct.Struct(">i")
HEALTHY_AUTH = "healthy:secret"
FOUR_LETTER_WORDS = ("conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "ruok", "stmk",
                     "srvr", "srst", "stat", "wchc", "wchp", "wchs", "mntr", "isro", "hash")

FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,
    derandomize=os.environ.get("ZKEEPER_FUZZ_RANDOM") != "1",
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
)


# ---- fixtures ----------------------------------------------------------------------


class Healthy:
    """A kazoo client connected for the whole module, working in its own ACL-protected subtree."""

    def __init__(self, server: RunningServer) -> None:
        self.client = KazooClient(hosts=server.hosts, timeout=MAX_SESSION_MS / 1000,
                                  auth_data=[("digest", HEALTHY_AUTH)])
        self.states: list[str] = []
        self.client.add_listener(self.states.append)
        self.client.start(timeout=15)
        del self.states[:]  # from here on, any state change is a failure
        self.session_id = self.client.client_id[0]
        user, password = HEALTHY_AUTH.split(":")
        acl = [make_digest_acl(user, password, all=True)]
        # Fuzzed requests may set ACLs or delete nodes anywhere they are allowed to; this
        # subtree is theirs to look at but not to change.
        self.client.create("/healthy", b"", acl=acl)
        self.client.create("/healthy/anchor", b"", acl=acl)
        self.acl = acl
        self.rounds = 0

    def check(self) -> None:
        c = self.client
        self.rounds += 1
        path = f"/healthy/round-{self.rounds}"
        assert c.create(path, b"ok", acl=self.acl) == path
        assert c.get(path)[0] == b"ok"
        c.set(path, b"still ok")
        c.delete(path)
        assert c.exists(path) is None
        assert c.client_id[0] == self.session_id, "the healthy client's session changed"
        assert self.states == [], f"the healthy client saw connection state changes: {self.states}"


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = start_zkeeper(tmp_path_factory.mktemp("fuzz"), tick_time=TICK_MS,
                        extra={"minSessionTimeout": str(2 * TICK_MS), "maxSessionTimeout": str(MAX_SESSION_MS)})
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def healthy(fuzz_server: RunningServer) -> Iterator[Healthy]:
    h = Healthy(fuzz_server)
    try:
        yield h
    finally:
        h.client.stop()
        h.client.close()


@pytest.fixture(scope="module")
def baseline(fuzz_server: RunningServer, healthy: Healthy) -> dict[str, int]:
    return counts(fuzz_server)


def counts(server: RunningServer) -> dict[str, int]:
    m = mntr(server.port)
    sessions_in_cons = len(re.findall(r"sid=0x[0-9a-f]+", four_letter(server.port, "cons")))
    return {
        "zk_global_sessions": int(m["zk_global_sessions"]),
        "zk_num_alive_connections": int(m["zk_num_alive_connections"]),
        "cons sessions": sessions_in_cons,
    }


def assert_batch_clean(server: RunningServer, healthy: Healthy, baseline: dict[str, int]) -> None:
    assert server.proc.poll() is None, f"server died:\n{server.log_tail()}"
    healthy.check()
    # Fuzz sessions were closed or will expire within maxSessionTimeout (+ a tick of rounding).
    try:
        wait_until(lambda: counts(server) == baseline, timeout=MAX_SESSION_MS / 1000 + 4, interval=0.1,
                   message=f"sessions/connections back to baseline {baseline}")
    except AssertionError as e:
        raise AssertionError(f"{e}; now {counts(server)}\n{four_letter(server.port, 'cons')}") from None
    healthy.check()


# ---- talking to the server -----------------------------------------------------------


def frame(payload: bytes) -> bytes:
    return LEN.pack(len(payload)) + payload


def encode(record: Any) -> bytes:
    w = Writer()
    record.write(w)
    return w.getvalue()


def connect_frame(timeout_ms: int = 1000, session_id: int = 0, passwd: bytes = bytes(16),
                  read_only: bool | None = False) -> bytes:
    body = encode(ConnectRequest(0, 0, timeout_ms, session_id, passwd, bool(read_only)))
    if read_only is None:
        body = body[:-1]  # pre-3.4 clients leave the readOnly byte out
    return frame(body)


def request_frame(xid: int, opcode: int, body: bytes = b"") -> bytes:
    return frame(encode(RequestHeader(xid, opcode)) + body)


class Poke:
    """One connection: send chunks, then read what comes back until EOF or a quiet spell."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.received = bytearray()
        self.closed_by_server = False

    def send(self, chunks: list[bytes], pause: float = 0.0) -> None:
        for chunk in chunks:
            try:
                self.sock.sendall(chunk)
            except OSError:  # the server already hung up: fine, it may
                self.closed_by_server = True
                return
            if pause:
                time.sleep(pause)

    def handshake(self) -> None:
        """Open a session and wait for its ConnectResponse (sent alone, in its own segment)."""
        self.send([connect_frame(MAX_SESSION_MS)])
        wait_until(lambda: self.read(quiet=0.05) or self.frames() or self.closed_by_server, 3,
                   message="the ConnectResponse")
        assert len(self.frames()) == 1 and not self.closed_by_server, "no ConnectResponse"

    def read(self, quiet: float, limit: float = 5.0) -> None:
        """Read until the server closes, `quiet` seconds pass with no data, or `limit` overall."""
        deadline = time.monotonic() + limit
        while not self.closed_by_server and time.monotonic() < deadline:
            self.sock.settimeout(min(quiet, max(0.001, deadline - time.monotonic())))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return
            except OSError:
                self.closed_by_server = True
                return
            if not data:
                self.closed_by_server = True
                return
            self.received += data

    def close(self) -> None:
        self.sock.close()
        assert self.server.proc.poll() is None, f"server died:\n{self.server.log_tail()}"

    def frames(self) -> list[bytes]:
        out, buf = [], bytes(self.received)
        while len(buf) >= 4:
            (n,) = LEN.unpack_from(buf)
            assert 0 <= n <= 16 * 1024 * 1024, f"server sent a frame of length {n}"
            if len(buf) < 4 + n:
                break
            out.append(buf[4:4 + n])
            buf = buf[4 + n:]
        return out


def poke(server: RunningServer, data: bytes | list[bytes], *, quiet: float = 0.05,
         expect_close: bool = False) -> Poke:
    p = Poke(server)
    try:
        p.send([data] if isinstance(data, bytes) else data)
        p.read(quiet=3.0 if expect_close else quiet)
        if expect_close:
            assert p.closed_by_server, f"server kept the connection open after {bytes(data)[:64]!r}"
    finally:
        p.close()
    return p


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:]) if b > a]


# ---- strategies --------------------------------------------------------------------

int32 = st.integers(-(2**31), 2**31 - 1)
int64 = st.integers(-(2**63), 2**63 - 1)
small_ints = st.integers(-3, 40)
paths = st.one_of(
    st.sampled_from(["/", "/f", "/f/a", "/f/a/b", "/zookeeper", "/zookeeper/quota", "/zookeeper/config",
                     "", "f", "//", "/f/", "/f/./a", "/f/../a", "/\u0000", "/\u00e9t\u00e9", "/healthy",
                     "/healthy/anchor"]),
    st.text(max_size=24).map(lambda s: "/" + s),
    st.text(max_size=12),
)
ids = st.builds(Id, st.sampled_from(["world", "auth", "digest", "ip", "super", "sasl", "x509", "", "nope"]),
                st.sampled_from(["anyone", "", "127.0.0.1", "10.0.0.0/8", "u:p", "u:AbCd=", "bad/99", "::1"]))
acls = st.one_of(st.none(), st.lists(st.builds(ACL, st.one_of(st.integers(0, 31), int32), ids), max_size=3))
data_bytes = st.one_of(st.none(), st.binary(max_size=64))
flags = st.one_of(st.integers(-1, 8), int32)
versions = st.one_of(st.integers(-2, 3), int32)

RECORDS: dict[int, st.SearchStrategy[Any]] = {
    OpCode.CREATE: st.builds(CreateRequest, paths, data_bytes, acls, flags),
    OpCode.CREATE2: st.builds(CreateRequest, paths, data_bytes, acls, flags),
    OpCode.CREATE_CONTAINER: st.builds(CreateRequest, paths, data_bytes, acls, flags),
    OpCode.CREATE_TTL: st.builds(CreateTTLRequest, paths, data_bytes, acls, flags,
                                 st.one_of(st.integers(-1, 2000), int64)),
    OpCode.DELETE: st.builds(DeleteRequest, paths, versions),
    OpCode.EXISTS: st.builds(ExistsRequest, paths, st.booleans()),
    OpCode.GET_DATA: st.builds(GetDataRequest, paths, st.booleans()),
    OpCode.SET_DATA: st.builds(SetDataRequest, paths, data_bytes, versions),
    OpCode.GET_ACL: st.builds(GetACLRequest, paths),
    OpCode.SET_ACL: st.builds(SetACLRequest, paths, acls, versions),
    OpCode.GET_CHILDREN: st.builds(GetChildrenRequest, paths, st.booleans()),
    OpCode.GET_CHILDREN2: st.builds(GetChildren2Request, paths, st.booleans()),
    OpCode.SYNC: st.builds(SyncRequest, paths),
    OpCode.CHECK: st.builds(CheckVersionRequest, paths, versions),
    OpCode.RECONFIG: st.builds(ReconfigRequest, st.none() | st.text(max_size=20), st.none() | st.text(max_size=8),
                               st.none() | st.text(max_size=20), int64),
    OpCode.CHECK_WATCHES: st.builds(CheckWatchesRequest, paths, small_ints),
    OpCode.REMOVE_WATCHES: st.builds(RemoveWatchesRequest, paths, small_ints),
    OpCode.GET_EPHEMERALS: st.builds(GetEphemeralsRequest, paths),
    OpCode.GET_ALL_CHILDREN_NUMBER: st.builds(GetAllChildrenNumberRequest, paths),
    OpCode.ADD_WATCH: st.builds(AddWatchRequest, paths, small_ints),
    OpCode.AUTH: st.builds(AuthPacket, small_ints, st.sampled_from(["digest", "ip", "sasl", "world", "", "x"]),
                           st.none() | st.binary(max_size=24)),
    OpCode.SET_WATCHES: st.builds(SetWatches, int64, *[st.none() | st.lists(paths, max_size=3)] * 3),
    OpCode.SET_WATCHES2: st.builds(SetWatches2, int64, *[st.none() | st.lists(paths, max_size=3)] * 5),
}
MULTI_OPS = [OpCode.CREATE, OpCode.CREATE2, OpCode.CREATE_CONTAINER, OpCode.CREATE_TTL, OpCode.DELETE,
             OpCode.SET_DATA, OpCode.CHECK, OpCode.GET_DATA, OpCode.GET_CHILDREN]
NO_BODY_OPS = [OpCode.PING, OpCode.CLOSE_SESSION, OpCode.WHO_AM_I, OpCode.SASL, OpCode.DELETE_CONTAINER,
               OpCode.CREATE_SESSION, OpCode.NOTIFICATION, OpCode.ERROR]


@st.composite
def multi_body(draw: st.DrawFn) -> bytes:
    ops = []
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(MULTI_OPS))
        ops.append((op, draw(RECORDS[op])))
    body = encode_multi(ops)
    if draw(st.booleans()):  # sometimes a header type the multi does not allow, or a cut tail
        body = body[: draw(st.integers(0, len(body)))] + draw(st.binary(max_size=16))
    return body


@st.composite
def request(draw: st.DrawFn) -> bytes:
    """One request frame after the handshake: known or unknown opcode, valid or random body."""
    xid = draw(st.one_of(st.integers(-10, 50), int32))
    kind = draw(st.sampled_from(["structured", "structured", "structured", "multi", "nobody", "random"]))
    if kind == "structured":
        op = draw(st.sampled_from(sorted(RECORDS)))
        body = encode(draw(RECORDS[op]))
        if draw(st.integers(0, 9)) == 0:  # a truncated or padded record
            body = body[: draw(st.integers(0, len(body)))] + draw(st.binary(max_size=8))
    elif kind == "multi":
        op = draw(st.sampled_from([OpCode.MULTI, OpCode.MULTI_READ]))
        body = draw(multi_body())
    elif kind == "nobody":
        op = draw(st.sampled_from(NO_BODY_OPS))
        body = draw(st.sampled_from([b"", b"\x00", b"\xff" * 8]))
    else:
        op = draw(st.one_of(st.sampled_from(list(OpCode)), int32))
        body = draw(st.binary(max_size=128))
    return request_frame(xid, int(op), body)


handshakes = st.builds(
    connect_frame,
    timeout_ms=st.one_of(st.sampled_from([0, 1, 400, 1000, 1200, 60_000]), int32),
    session_id=st.one_of(st.just(0), st.just(0), int64),
    passwd=st.one_of(st.just(bytes(16)), st.binary(max_size=40)),
    read_only=st.sampled_from([False, True, None]),
)
bad_lengths = st.one_of(st.integers(-(2**31), -1), st.integers(JUTE_MAX_BUFFER + 1, 2**31 - 1),
                        st.sampled_from([-1, -2**31, JUTE_MAX_BUFFER + 1, 2**31 - 1, 0x7FFFFFFE]))


# ---- the batches -------------------------------------------------------------------


def test_random_bytes(fuzz_server: RunningServer, healthy: Healthy, baseline: dict[str, int]) -> None:
    @settings(FUZZ, max_examples=60)
    @given(data=st.binary(min_size=1, max_size=600), cuts=st.lists(st.integers(0, 600), max_size=4))
    def run(data: bytes, cuts: list[int]) -> None:
        poke(fuzz_server, split(data, cuts))

    run()
    assert_batch_clean(fuzz_server, healthy, baseline)


def test_bad_lengths_close_the_connection(fuzz_server: RunningServer, healthy: Healthy,
                                          baseline: dict[str, int]) -> None:
    """A length < 0 or > jute.maxbuffer closes the connection, before or after the handshake."""
    @FUZZ
    @given(length=bad_lengths, after_handshake=st.booleans(), tail=st.binary(max_size=64))
    def run(length: int, after_handshake: bool, tail: bytes) -> None:
        p = Poke(fuzz_server)
        try:
            if after_handshake:
                # (Handshake and bad frame in one segment is covered, on both servers, by
                # test_kazoo_scenarios.py::test_frames_before_a_bad_length_are_served.)
                p.handshake()
            p.send([LEN.pack(length) + tail])
            p.read(quiet=3.0)
            assert p.closed_by_server, f"length {length} did not close the connection"
        finally:
            p.close()

    run()
    assert_batch_clean(fuzz_server, healthy, baseline)


def test_garbage_bodies_and_truncated_frames(fuzz_server: RunningServer, healthy: Healthy,
                                             baseline: dict[str, int]) -> None:
    @settings(FUZZ, max_examples=80)
    @given(case=st.sampled_from(["short-connect", "garbage-connect", "short-header", "truncated"]),
           garbage=st.binary(max_size=200), handshake=handshakes, req=request(), cut=st.integers(0, 10_000))
    def run(case: str, garbage: bytes, handshake: bytes, req: bytes, cut: int) -> None:
        if case == "short-connect":
            # A ConnectRequest needs at least 28 bytes (passwd -1 = null): shorter must be refused.
            poke(fuzz_server, frame(garbage[: cut % 28]), expect_close=True)
        elif case == "garbage-connect":
            poke(fuzz_server, frame(garbage))
        elif case == "short-header":
            # After the handshake every frame starts with an 8-byte RequestHeader.
            p = Poke(fuzz_server)
            try:
                p.handshake()
                p.send([frame(garbage[: cut % 8])])
                p.read(quiet=3.0)
                assert p.closed_by_server, "a frame shorter than a RequestHeader did not close the connection"
            finally:
                p.close()
        else:
            script = handshake + req
            poke(fuzz_server, script[: cut % len(script)])

    run()
    assert_batch_clean(fuzz_server, healthy, baseline)


def test_random_requests_after_handshake(fuzz_server: RunningServer, healthy: Healthy,
                                         baseline: dict[str, int]) -> None:
    @settings(FUZZ, max_examples=150)
    @given(handshake=handshakes, reqs=st.lists(request(), min_size=1, max_size=6),
           cuts=st.lists(st.integers(0, 4000), max_size=5), close_session=st.booleans())
    def run(handshake: bytes, reqs: list[bytes], cuts: list[int], close_session: bool) -> None:
        script = handshake + b"".join(reqs)
        if close_session:
            script += request_frame(999_999, OpCode.CLOSE_SESSION)
        p = poke(fuzz_server, split(script, cuts), quiet=0.1)
        sent_xids = {LEN.unpack_from(r, 4)[0] for r in reqs} | {999_999}
        for f in p.frames()[1:]:  # after the ConnectResponse: reply headers to what we sent
            assert len(f) >= 16, f"short reply frame {f!r}"
            hdr = ReplyHeader.read(Reader(f))
            # Notifications are -1; ZooKeeper answers every ping with -2 whatever its xid.
            assert hdr.xid in sent_xids | {NOTIFICATION_XID, PING_XID, AUTH_XID}, f"reply {hdr} to xids {sent_xids}"

    run()
    assert_batch_clean(fuzz_server, healthy, baseline)


def test_valid_session_split_into_random_chunks(fuzz_server: RunningServer, healthy: Healthy,
                                                baseline: dict[str, int]) -> None:
    """Frame boundaries must not matter: the same session, cut anywhere, gets the same replies."""
    counter = iter(range(10**6))

    @FUZZ
    @given(cuts=st.lists(st.integers(0, 10_000), max_size=40), pause=st.sampled_from([0.0, 0.0, 0.001]),
           read_only=st.sampled_from([False, True, None]))
    def run(cuts: list[int], pause: float, read_only: bool | None) -> None:
        path = f"/split-{next(counter)}"
        open_acl = [ACL(31, Id("world", "anyone"))]
        script = b"".join([
            connect_frame(MAX_SESSION_MS, read_only=read_only),
            request_frame(1, OpCode.CREATE, encode(CreateRequest(path, b"data", open_acl, 1))),
            request_frame(2, OpCode.GET_DATA, encode(GetDataRequest(path, False))),
            request_frame(3, OpCode.SET_DATA, encode(SetDataRequest(path, b"more", 0))),
            request_frame(4, OpCode.EXISTS, encode(ExistsRequest(path, True))),
            request_frame(PING_XID, OpCode.PING),
            request_frame(5, OpCode.DELETE, encode(DeleteRequest(path, 1))),
            request_frame(6, OpCode.CLOSE_SESSION),
        ])
        p = Poke(fuzz_server)
        try:
            p.send(split(script, cuts), pause=pause)
            p.read(quiet=3.0)
            assert p.closed_by_server, "server did not close the connection after closeSession"
        finally:
            p.close()
        frames = p.frames()
        assert len(frames) == 9, f"expected ConnectResponse + 8 replies, got {len(frames)} frames"
        expected_len = 37 if read_only is not None else 36  # answered in kind (readOnly byte or not)
        assert len(frames[0]) == expected_len
        headers = [ReplyHeader.read(Reader(f)) for f in frames[1:]]
        assert [(h.xid, h.err) for h in headers] == [
            (1, 0), (2, 0), (3, 0), (4, 0), (PING_XID, 0), (NOTIFICATION_XID, 0), (5, 0), (6, 0)]

    run()
    assert_batch_clean(fuzz_server, healthy, baseline)


def test_four_letter_words_amid_fuzz_sessions(fuzz_server: RunningServer, healthy: Healthy,
                                              baseline: dict[str, int]) -> None:
    """Every 4lw answers and closes while odd sessions (watches on odd paths) are live."""
    @settings(FUZZ, max_examples=8)
    @given(reqs=st.lists(request(), min_size=1, max_size=4))
    def run(reqs: list[bytes]) -> None:
        p = Poke(fuzz_server)
        try:
            p.send([connect_frame(MAX_SESSION_MS) + b"".join(reqs)])
            p.read(quiet=0.05)
            for word in FOUR_LETTER_WORDS:
                out = four_letter(fuzz_server.port, word, timeout=5)
                assert isinstance(out, str)
        finally:
            p.close()

    run()
    assert_batch_clean(fuzz_server, healthy, baseline)


def test_no_internal_errors_logged(fuzz_server: RunningServer, healthy: Healthy) -> None:
    """Bad input is contained, and only bad input: a request that decodes must never hit a bug
    (the server logs "Internal error ..." with a traceback when one does)."""
    log = fuzz_server.log_path.read_text(errors="replace")
    bad = [i for i, line in enumerate(log.splitlines()) if "Internal error" in line or "Traceback" in line]
    lines = log.splitlines()
    excerpt = "\n".join("\n".join(lines[i:i + 25]) for i in bad[:3])
    assert not bad, f"{len(bad)} internal errors in the server log, first ones:\n{excerpt}"
    assert fuzz_server.proc.poll() is None
