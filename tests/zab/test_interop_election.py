"""Elect a leader together with a real Apache ZooKeeper 3.8 (Debian's `zookeeper`).

The ensemble is server.1 and server.3 (zab.Election, driven here over real sockets) and
server.2 (QuorumPeerMain). Connections go from the higher id to the lower, as in
QuorumCnxManager: ZooKeeper calls our 1, our 3 calls ZooKeeper. All data is empty, so
3 must win; then ZooKeeper, FOLLOWING 3, calls 3's quorum port with FOLLOWERINFO.

The later tests run our side with server.election_service.ElectionService instead: one
service that needs ZooKeeper's vote to win, one that follows ZooKeeper, and two settled
services that a late ZooKeeper joins.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tests.support.servers import ZK_CONF_DIR, ZK_JAR, free_port, reference_available
from zkeeper.jute import JuteError
from zkeeper.jute.quorum import LearnerInfo, PacketType, QuorumPacket
from zkeeper.jute.schema import decode
from zkeeper.zab.election import Election, Outcome, Ready
from zkeeper.server.config import ServerSpec, load_config
from zkeeper.server.election_service import ElectionService
from zkeeper.zab.quorum import QuorumMaj, config_text
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

pytestmark = pytest.mark.skipif(not reference_available(), reason="Apache ZooKeeper is not installed")

ZK = 2


class Ours:
    """Servers 1 and 3: in-memory between themselves, a socket each to ZooKeeper."""

    def __init__(self, quorum: QuorumMaj, config: bytes) -> None:
        self.elections = {sid: Election(sid, quorum, last_zxid=0, current_epoch=0, config=config) for sid in (1, 3)}
        self.to_zk: dict[int, asyncio.StreamWriter] = {}
        self.from_zk: list[Notification] = []
        self.outcomes: dict[int, Outcome] = {}
        self.zk_greeting: InitialMessage | None = None

    def now(self) -> int:
        return int(time.monotonic() * 1000)

    def apply(self, sid: int, ready: Ready) -> None:
        for m in ready.messages:
            if m.to == ZK:
                w = self.to_zk.get(sid)
                if w is not None:  # not connected yet: the resend will carry it
                    w.write(frame(encode_notification(m.notification)))
            else:
                self.apply(m.to, self.elections[m.to].step(sid, m.notification, self.now()))
        if ready.outcome is not None:
            self.outcomes[sid] = ready.outcome

    async def read_frames(self, sid: int, reader: asyncio.StreamReader, buf: bytearray) -> None:
        while chunk := await reader.read(65536):
            buf += chunk
            for body in split_frames(buf):
                n = decode_notification(body)
                self.from_zk.append(n)
                self.apply(sid, self.elections[sid].step(ZK, n, self.now()))

    async def accept_for_1(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buf = bytearray()
        while (parsed := decode_initial_message(buf)) is None:
            buf += await reader.read(4096)
        self.zk_greeting, used = parsed
        del buf[:used]
        self.to_zk[1] = writer
        await self.read_frames(1, reader, buf)

    async def connect_3(self, port: int, election_port_3: int) -> None:
        while True:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.1)
        writer.write(encode_initial_message(InitialMessage(3, (("127.0.0.1", election_port_3),))))
        self.to_zk[3] = writer
        await self.read_frames(3, reader, bytearray())

    async def ticker(self) -> None:
        while True:
            for sid, e in self.elections.items():
                self.apply(sid, e.tick(self.now()))
            await asyncio.sleep(0.02)


async def read_quorum_packet(reader: asyncio.StreamReader) -> QuorumPacket:
    buf = b""
    for _ in range(1000):
        chunk = await reader.read(4096)
        if not chunk:
            raise EOFError("the quorum connection closed before a whole packet")
        buf += chunk
        try:
            return decode(QuorumPacket, buf)
        except JuteError:
            continue
    raise AssertionError("no quorum packet in 1000 reads")


async def quorum_listener(port: int) -> tuple[asyncio.Server, asyncio.Queue[QuorumPacket]]:
    """A leader's quorum port that only reads the first packet of each learner that calls."""
    packets: asyncio.Queue[QuorumPacket] = asyncio.Queue()

    async def learner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await packets.put(await read_quorum_packet(reader))
        finally:
            writer.close()

    return await asyncio.start_server(learner, "127.0.0.1", port), packets


def write_zoo_cfg(tmp_path: Path, ports: dict[int, tuple[int, int]]) -> Path:
    """zoo.cfg of server.2 among servers 1-3, given their (quorum, election) ports."""
    client_port = free_port()
    data = tmp_path / "data"
    data.mkdir()
    (data / "myid").write_text("2\n")
    servers = "".join(f"server.{sid}=127.0.0.1:{q}:{e}\n" for sid, (q, e) in ports.items())
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(f"tickTime=2000\ninitLimit=5\nsyncLimit=2\ndataDir={data}\nclientPort={client_port}\n"
                   f"admin.enableServer=false\n{servers}")
    return cfg


@contextmanager
def zookeeper(cfg: Path) -> Iterator[None]:
    """QuorumPeerMain on `cfg`, ended (the process we started, only) when the block ends."""
    log = cfg.parent / "zookeeper.log"  # Debian's jar logs nothing without a binding; kept for debugging
    with log.open("wb") as out:  # the child has its own copy of the descriptor
        proc = subprocess.Popen(
            ["java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", f"{ZK_CONF_DIR}:{ZK_JAR}",
             "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(cfg)],
            stdout=out, stderr=subprocess.STDOUT, cwd=cfg.parent)
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_election_with_apache_zookeeper(tmp_path: Path) -> None:
    ports = {sid: (free_port(), free_port()) for sid in (1, 2, 3)}  # (quorum, election)
    cfg = write_zoo_cfg(tmp_path, ports)
    config = config_text(load_config(str(cfg)).servers).encode()  # what ZooKeeper sends, we hope
    with zookeeper(cfg):
        ours, packet = asyncio.run(_elect(ports, config))
    # ZooKeeper's greeting and first vote (itself, empty history, round 1) parse ...
    assert ours.zk_greeting == InitialMessage(2, (("127.0.0.1", ports[2][1]),))
    first = ours.from_zk[0]
    assert (first.state, first.leader, first.zxid, first.election_epoch, first.peer_epoch, first.version) \
        == (ServerState.LOOKING, 2, 0, 1, 0, 2)
    assert first.config == config  # QuorumMaj.toString(), byte for byte
    # ... we decide for 3 ...
    assert {(o.state, o.leader) for o in ours.outcomes.values()} == {(ServerState.LEADING, 3),
                                                                     (ServerState.FOLLOWING, 3)}
    # ... and so does ZooKeeper, which only heard of 3 from our notifications: it sends
    # FOLLOWERINFO to 3's quorum port, which our jute records read.
    assert packet.type == PacketType.FOLLOWERINFO
    info = decode(LearnerInfo, packet.data or b"")
    assert (info.serverid, info.protocolVersion) == (2, 0x10000)


async def _elect(ports: dict[int, tuple[int, int]], config: bytes) -> tuple[Ours, QuorumPacket]:
    ours = Ours(QuorumMaj.of([1, 2, 3]), config)
    listen_1 = await asyncio.start_server(ours.accept_for_1, "127.0.0.1", ports[1][1])
    leader_port, packets = await quorum_listener(ports[3][0])
    now = ours.now()
    for sid, e in ours.elections.items():
        ours.apply(sid, e.start(now))
    tasks = [asyncio.create_task(ours.connect_3(ports[2][1], ports[3][1])), asyncio.create_task(ours.ticker())]
    try:
        packet = await asyncio.wait_for(packets.get(), timeout=60)
    finally:
        for t in tasks:
            t.cancel()
        for w in ours.to_zk.values():
            w.close()
        listen_1.close()
        leader_port.close()
        await asyncio.sleep(0.05)  # let the connection handlers see the close and end
    return ours, packet


# ---- the same ensemble, our side run by server.election_service.ElectionService ----------------


def test_service_and_zookeeper_elect_the_service(tmp_path: Path) -> None:
    """Only our 3 and ZooKeeper's 2: 3 needs ZooKeeper's vote, and ZooKeeper follows 3."""
    outcomes, packet = _with_zookeeper(tmp_path, ours=(3,), zookeeper_first=True)
    o = outcomes[3]
    assert (o.state, o.leader, o.election_epoch, o.supporters) == (ServerState.LEADING, 3, 1, frozenset({2, 3}))
    assert packet is not None and packet.type == PacketType.FOLLOWERINFO
    assert decode(LearnerInfo, packet.data or b"").serverid == 2


def test_service_follows_zookeeper(tmp_path: Path) -> None:
    """Only our 1 and ZooKeeper's 2: ZooKeeper leads, we follow."""
    outcomes, _ = _with_zookeeper(tmp_path, ours=(1,), zookeeper_first=True)
    o = outcomes[1]
    assert (o.state, o.leader, o.election_epoch, o.supporters) == (ServerState.FOLLOWING, 2, 1, frozenset({1, 2}))


def test_zookeeper_joins_settled_services(tmp_path: Path) -> None:
    """Our 1 and 3 elect 3 first; ZooKeeper, started later, learns 3 from their answers."""
    outcomes, packet = _with_zookeeper(tmp_path, ours=(1, 3), zookeeper_first=False)
    assert {sid: (o.state, o.leader) for sid, o in outcomes.items()} == {
        1: (ServerState.FOLLOWING, 3), 3: (ServerState.LEADING, 3)}
    assert packet is not None and packet.type == PacketType.FOLLOWERINFO
    assert decode(LearnerInfo, packet.data or b"").serverid == 2


def _with_zookeeper(tmp_path: Path, *, ours: tuple[int, ...],
                    zookeeper_first: bool) -> tuple[dict[int, Outcome], QuorumPacket | None]:
    """ElectionServices for `ours` and ZooKeeper as 2, started before our round or after it;
    then the first packet on 3's quorum port (when 3 is ours), where ZooKeeper calls its leader."""
    ports = {sid: (free_port(), free_port()) for sid in (1, 2, 3)}
    cfg = write_zoo_cfg(tmp_path, ports)
    servers = load_config(str(cfg)).servers
    with ExitStack() as stack:
        def launch() -> None:
            stack.enter_context(zookeeper(cfg))

        return asyncio.run(asyncio.wait_for(_services(servers, ours, launch, zookeeper_first), 90))


async def _services(servers: dict[int, ServerSpec], ours: tuple[int, ...], launch: Callable[[], None],
                    zookeeper_first: bool) -> tuple[dict[int, Outcome], QuorumPacket | None]:
    leader_port, packets = await quorum_listener(servers[3].quorum_port) if 3 in ours else (None, asyncio.Queue())
    running = {sid: ElectionService(sid, servers) for sid in ours}  # ZooKeeper's default timing
    try:
        for s in running.values():
            await s.start()
        if zookeeper_first:
            launch()
        decided = await asyncio.wait_for(asyncio.gather(*(s.look(0, 0) for s in running.values())), 60)
        if not zookeeper_first:
            launch()
        packet = await asyncio.wait_for(packets.get(), 60) if leader_port is not None else None
    finally:
        for s in running.values():
            await s.stop()
        if leader_port is not None:
            leader_port.close()
    return dict(zip(running, decided)), packet
