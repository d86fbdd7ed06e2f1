"""ElectionService: zab.Election over real election-port sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager

import pytest

from tests.support.servers import free_port
from zkeeper.server.config import OBSERVER, PARTICIPANT, ServerSpec
from zkeeper.server.election_service import ElectionService, ElectionStopped, Listener, StreamHandler
from zkeeper.zab.election import ElectionTiming, Outcome
from zkeeper.zab.vote import Notification, ServerState
from zkeeper.zab.wire import (
    InitialMessage,
    decode_initial_message,
    decode_notification,
    encode_initial_message,
    encode_notification,
    frame,
    split_frames,
)
from zkeeper.zab.zxid import make_zxid

LOOKING, FOLLOWING, LEADING, OBSERVING = (ServerState.LOOKING, ServerState.FOLLOWING, ServerState.LEADING,
                                          ServerState.OBSERVING)
FAST = ElectionTiming(finalize_wait=50, min_notification_interval=50, max_notification_interval=400)
LIMIT = 10.0  # seconds for any one wait


def ensemble(voters: Iterable[int], observers: Iterable[int] = ()) -> dict[int, ServerSpec]:
    roles = {sid: PARTICIPANT for sid in voters} | {sid: OBSERVER for sid in observers}
    return {sid: ServerSpec(sid, "127.0.0.1", free_port(), free_port(), role, None, None)
            for sid, role in sorted(roles.items())}


def run(test: Callable[[], Awaitable[None]], limit: float = 30.0) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(test(), limit)
    asyncio.run(bounded())


@asynccontextmanager
async def services(servers: dict[int, ServerSpec], ids: Iterable[int] | None = None) -> AsyncIterator[
        dict[int, ElectionService]]:
    """Started services for `ids` (all by default); every one still running is stopped at the end."""
    running: dict[int, ElectionService] = {}
    try:
        for sid in servers if ids is None else ids:
            running[sid] = ElectionService(sid, servers, timing=FAST)
            await running[sid].start()
        yield running
    finally:
        for s in running.values():
            await s.stop()


async def look_all(running: dict[int, ElectionService], zxids: dict[int, int] | None = None,
                   epochs: dict[int, int] | None = None) -> dict[int, Outcome]:
    sids = sorted(running)
    outcomes = await asyncio.wait_for(asyncio.gather(
        *(running[sid].look((zxids or {}).get(sid, 0), (epochs or {}).get(sid, 0)) for sid in sids)), LIMIT)
    return dict(zip(sids, outcomes))


def assert_agree(outcomes: dict[int, Outcome], leader: int) -> None:
    assert {o.leader for o in outcomes.values()} == {leader}, outcomes
    for sid, o in outcomes.items():
        assert o.state == (LEADING if sid == leader else FOLLOWING), (sid, o)
    assert len({o.vote for o in outcomes.values()}) == 1, outcomes


# ---- elections ------------------------------------------------------------------------------


def test_three_servers_elect_the_most_recent_history() -> None:
    async def body() -> None:
        servers = ensemble([1, 2, 3])
        async with services(servers) as running:
            zxids = {1: make_zxid(1, 9), 2: make_zxid(1, 12), 3: make_zxid(1, 12)}
            outcomes = await look_all(running, zxids, {1: 1, 2: 1, 3: 1})
            assert_agree(outcomes, 3)  # the zxid tie goes to the higher id
            assert outcomes[3].zxid == make_zxid(1, 12) and outcomes[3].peer_epoch == 1
    run(body)


def test_five_servers_agree() -> None:
    async def body() -> None:
        servers = ensemble([1, 2, 3, 4, 5])
        async with services(servers) as running:
            zxids = {1: make_zxid(2, 1), 2: make_zxid(3, 0), 3: make_zxid(2, 7), 4: make_zxid(2, 7), 5: make_zxid(2, 1)}
            epochs = {1: 2, 2: 3, 3: 2, 4: 2, 5: 2}
            assert_agree(await look_all(running, zxids, epochs), 2)  # the newest epoch wins
    run(body)


def test_two_of_three_elect_without_the_third() -> None:
    async def body() -> None:
        servers = ensemble([1, 2, 3])
        async with services(servers) as running:
            await running.pop(3).stop()  # its port refuses: calls to it fail quietly
            outcomes = await look_all(running)
            assert_agree(outcomes, 2)
            assert outcomes[2].supporters == {1, 2}
    run(body)


def test_a_new_round_after_the_leader_stops() -> None:
    async def body() -> None:
        servers = ensemble([1, 2, 3])
        async with services(servers) as running:
            first = await look_all(running)
            assert_agree(first, 3)
            for s in running.values():
                s.update_peer_epoch(1)
            await running.pop(3).stop()
            second = await look_all(running, {1: make_zxid(1, 4), 2: make_zxid(1, 4)}, {1: 1, 2: 1})
            assert_agree(second, 2)
            assert second[2].election_epoch == first[3].election_epoch + 1
            assert (second[2].zxid, second[2].peer_epoch) == (make_zxid(1, 4), 1)
    run(body)


def test_a_late_member_joins_the_settled_leader() -> None:
    async def body() -> None:
        servers = ensemble([1, 2, 3])
        async with services(servers, [1, 2]) as running:
            assert_agree(await look_all(running), 2)
            for s in running.values():
                s.update_peer_epoch(1)
            late = ElectionService(3, servers, timing=FAST)
            await late.start()
            try:
                # Its own vote (empty history, highest id) would win a fresh round; the
                # settled servers answer with leader 2 instead, and it follows.
                outcome = await asyncio.wait_for(late.look(0, 0), LIMIT)
            finally:
                await late.stop()
            assert (outcome.state, outcome.leader, outcome.peer_epoch, outcome.joined) == (FOLLOWING, 2, 1, True)
            assert outcome.supporters >= {1, 2}
    run(body)


def test_an_observer_observes() -> None:
    async def body() -> None:
        servers = ensemble([1, 2, 3], observers=[4])
        async with services(servers) as running:
            outcomes = await look_all(running)
            assert (outcomes[4].state, outcomes[4].leader) == (OBSERVING, 3)
            assert_agree({sid: o for sid, o in outcomes.items() if sid != 4}, 3)
    run(body)


def test_a_single_voter_decides_alone() -> None:
    async def body() -> None:
        servers = ensemble([7])
        async with services(servers) as running:
            outcome = await asyncio.wait_for(running[7].look(5, 0), LIMIT)
            assert (outcome.state, outcome.leader, outcome.supporters) == (LEADING, 7, frozenset({7}))
    run(body)


class CountingNetwork:
    """TCP, counting what the service asks of it."""

    def __init__(self) -> None:
        self.listens: list[tuple[str, int]] = []
        self.connects: list[tuple[str, int]] = []

    async def listen(self, host: str, port: int, handler: StreamHandler) -> Listener:
        self.listens.append((host, port))
        return await asyncio.start_server(handler, host, port)

    async def connect(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.connects.append((host, port))
        return await asyncio.open_connection(host, port)


def test_sockets_come_from_the_given_network() -> None:
    async def body() -> None:
        servers = ensemble([1, 2])
        network = CountingNetwork()
        running = {sid: ElectionService(sid, servers, timing=FAST, host=network) for sid in servers}
        try:
            for s in running.values():
                await s.start()
            assert_agree(await look_all(running), 2)
        finally:
            for s in running.values():
                await s.stop()
        assert sorted(network.listens) == sorted(("127.0.0.1", s.election_port) for s in servers.values())
        assert ("127.0.0.1", servers[1].election_port) in network.connects  # 2 calls 1
    run(body)


# ---- connections -----------------------------------------------------------------------------


async def read_greeting(reader: asyncio.StreamReader) -> InitialMessage:
    buf = bytearray()
    for _ in range(100):
        parsed = decode_initial_message(buf)
        if parsed is not None:
            return parsed[0]
        chunk = await asyncio.wait_for(reader.read(4096), LIMIT)
        assert chunk, "closed before the initial message"
        buf += chunk
    raise AssertionError("no initial message")


async def read_notification(reader: asyncio.StreamReader) -> Notification:
    buf = bytearray()
    for _ in range(100):
        frames = split_frames(buf)
        if frames:
            return decode_notification(frames[0])
        chunk = await asyncio.wait_for(reader.read(4096), LIMIT)
        assert chunk, "closed before a notification"
        buf += chunk
    raise AssertionError("no notification")


async def closed_by_peer(reader: asyncio.StreamReader) -> bool:
    try:
        for _ in range(100):
            if not await asyncio.wait_for(reader.read(4096), LIMIT):
                return True
    except ConnectionError:
        return True
    return False


def test_a_lower_id_is_hung_up_on_and_called_back() -> None:
    async def body() -> None:
        servers = ensemble([1, 2])
        called: asyncio.Queue[tuple[InitialMessage, asyncio.StreamWriter]] = asyncio.Queue()

        async def as_server_1(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await called.put((await read_greeting(reader), writer))

        fake_1 = await asyncio.start_server(as_server_1, "127.0.0.1", servers[1].election_port)
        try:
            async with services(servers, [2]) as running:
                reader, writer = await asyncio.open_connection("127.0.0.1", running[2].bound_port)
                writer.write(encode_initial_message(InitialMessage(1, (("127.0.0.1", servers[1].election_port),))))
                assert await closed_by_peer(reader)  # the lower id's call is dropped ...
                writer.close()
                greeting, back = await asyncio.wait_for(called.get(), LIMIT)  # ... and 2 calls 1
                assert greeting == InitialMessage(2, (("127.0.0.1", running[2].bound_port),))
                back.close()
        finally:
            fake_1.close()
    run(body)


def test_calling_a_higher_id_only_greets_it() -> None:
    async def body() -> None:
        servers = ensemble([1, 2])
        greeted: asyncio.Queue[tuple[InitialMessage, bool]] = asyncio.Queue()

        async def as_server_2(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            greeting = await read_greeting(reader)
            await greeted.put((greeting, await closed_by_peer(reader)))
            writer.close()

        fake_2 = await asyncio.start_server(as_server_2, "127.0.0.1", servers[2].election_port)
        try:
            async with services(servers, [1]) as running:
                looking = asyncio.create_task(running[1].look(0, 0))  # it has a vote for 2: it calls
                greeting, hung_up = await asyncio.wait_for(greeted.get(), LIMIT)
                assert greeting.sid == 1 and hung_up
                looking.cancel()
        finally:
            fake_2.close()
    run(body)


def test_garbage_on_the_election_port_closes_only_that_connection() -> None:
    v1 = struct.pack(">q", -65536)
    good_looking = frame(encode_notification(Notification(LOOKING, 99, 0, 1, 0)))
    garbage = [
        b"\x00\x01",  # too short for anything; the caller then shuts its side (below)
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # read as a pre-3.5 id, then an absurd frame length
        struct.pack(">q", -7) + b"x" * 20,  # unknown protocol version
        v1 + struct.pack(">qi", 99, -1),  # negative address length
        v1 + struct.pack(">qi", 99, 1 << 20),  # oversized address
        v1 + struct.pack(">qi", 99, 5) + b"nohost",  # address without a port
        encode_initial_message(InitialMessage(99, (("127.0.0.1", 1),))) + struct.pack(">i", 0),  # frame of 0
        encode_initial_message(InitialMessage(99, (("127.0.0.1", 1),))) + struct.pack(">i", 1 << 30),
    ]

    async def body() -> None:
        servers = ensemble([1, 2, 3])
        async with services(servers) as running:
            ports = [s.bound_port for s in running.values()]
            closed: list[asyncio.Task[bool]] = []
            writers: list[asyncio.StreamWriter] = []
            for port in ports:
                for junk in garbage:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.write(junk)
                    if len(junk) < 8:
                        writer.write_eof()
                    writers.append(writer)
                    closed.append(asyncio.create_task(closed_by_peer(reader)))
            # A stranger whose notification is malformed keeps its connection (skipped message).
            reader, writer = await asyncio.open_connection("127.0.0.1", ports[0])
            writer.write(encode_initial_message(InitialMessage(99, (("127.0.0.1", 1),))) + frame(b"short"))
            writers.append(writer)
            outcomes = await look_all(running)
            assert_agree(outcomes, 3)
            assert all(await asyncio.wait_for(asyncio.gather(*closed), LIMIT))
            # ... and is answered with the leader once it asks properly.
            writer.write(good_looking)
            answer = await read_notification(reader)
            assert (answer.state, answer.leader) == (FOLLOWING, 3)
            for w in writers:
                w.close()
    run(body)


def test_a_busy_port_and_stopping_during_a_round() -> None:
    async def body() -> None:
        servers = ensemble([1, 2, 3])
        async with services(servers, [1]) as running:
            clash = ElectionService(1, servers, timing=FAST)
            with pytest.raises(OSError):
                await clash.start()
            looking = asyncio.create_task(running[1].look(0, 0))  # no quorum: never decides
            await asyncio.sleep(0.2)
            await running[1].stop()
            with pytest.raises(ElectionStopped):
                await asyncio.wait_for(looking, LIMIT)
    run(body)
