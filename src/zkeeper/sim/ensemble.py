"""Simulated runs of real zkeeper servers: QuorumPeer, election, leader, learner, log.

`run_ensemble(EnsembleSimConfig(seed=...), workdir)` boots N QuorumPeers (the server
code itself, each on its own SimHost with a real data folder under `workdir`) inside a
VirtualLoop, lets seeded clients create znodes through whichever members serve, and
injects seeded faults: crashes (unwritten log tail lost), restarts, partitions, heals,
connection resets. Then it heals everything, restarts every member, waits for the
ensemble to settle and checks:
  - at most one leader per epoch;
  - every acknowledged create is in the final tree, with the zxid its reply carried,
    and each client's acknowledged zxids increase (nothing committed is lost or reordered);
  - all members end with the same tree, stat for stat, and the same sessions on disk
    (the same sequence was applied everywhere; ephemerals and sessions agree).
A failure raises EnsembleInvariantViolation naming the seed; the same seed replays it.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..jute import ConnectRequest, ConnectResponse, CreateRequest, ExistsRequest, ReplyHeader, RequestHeader
from ..jute.schema import encode
from ..proto.server import Request as RequestEvent
from ..server.config import ServerConfig, load_config
from ..server.connection import ClientConnection
from ..server.host import Clock
from ..server.persistence import recover_state
from ..server.quorum_peer import QuorumPeer
from ..tree.acl import OPEN_ACL_UNSAFE
from ..tree.datatree import DataTree
from ..types import CreateMode, OpCode
from ..zab.zxid import epoch_of
from .world import SimHost, SimNetwork, VirtualLoop

log = logging.getLogger("zkeeper.sim.ensemble")


class EnsembleInvariantViolation(AssertionError):
    pass


NODE: contextvars.ContextVar[str] = contextvars.ContextVar("sim_node", default="-")


class NodeLogFilter(logging.Filter):
    """Adds `node` (the simulated server a log line comes from) and the virtual time."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.node = NODE.get()
        try:
            record.vtime = f"{asyncio.get_running_loop().time():.3f}"
        except RuntimeError:
            record.vtime = "-"
        return True


@dataclass(frozen=True, slots=True)
class EnsembleSimConfig:
    seed: int
    voters: int = 3
    observers: int = 0
    tick_time: int = 100
    init_limit: int = 10
    sync_limit: int = 5
    clients: int = 3
    write_gap_ms: int = 40  # between one client's writes
    faults_for_ms: int = 8_000
    mean_fault_gap_ms: int = 1_000
    settle_within_ms: int = 60_000
    session_timeout_ms: int = 1_000


@dataclass
class EnsembleReport:
    seed: int
    acked: int = 0
    failed_writes: int = 0
    faults: list[str] = field(default_factory=list)
    leaders: dict[int, int] = field(default_factory=dict)  # epoch -> leader sid
    final_zxid: int = 0
    virtual_ms: int = 0

    def summary(self) -> str:
        return (f"seed {self.seed}: {self.acked} writes acked, {self.failed_writes} failed, "
                f"{len(self.faults)} faults, epochs {sorted(self.leaders)}, final zxid 0x{self.final_zxid:x}, "
                f"{self.virtual_ms} virtual ms")


def write_configs(cfg: EnsembleSimConfig, workdir: Path) -> dict[int, ServerConfig]:
    """zoo.cfg and myid for every member, loaded with the real config loader."""
    n = cfg.voters + cfg.observers
    lines = [f"server.{i}=127.0.0.1:{20000 + i}:{30000 + i}" + (":observer" if i > cfg.voters else "")
             for i in range(1, n + 1)]
    configs = {}
    for i in range(1, n + 1):
        d = workdir / f"s{i}"
        (d / "data").mkdir(parents=True, exist_ok=True)
        (d / "data" / "myid").write_text(f"{i}\n")
        text = "\n".join([
            f"tickTime={cfg.tick_time}", f"initLimit={cfg.init_limit}", f"syncLimit={cfg.sync_limit}",
            f"dataDir={d / 'data'}", f"clientPort={10000 + i}", "clientPortAddress=127.0.0.1",
            "forceSync=no", "snapCount=1000000", "admin.enableServer=false",
            *(["peerType=observer"] if i > cfg.voters else []), *lines,
        ]) + "\n"
        (d / "zoo.cfg").write_text(text)
        configs[i] = load_config(str(d / "zoo.cfg"))
    return configs


class SimClient(ClientConnection):
    """A client session driven from inside the loop: requests in, replies to futures."""

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        self.peer = ("sim-client", 0)
        self.handshake: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.pending: dict[int, asyncio.Future[ReplyHeader]] = {}
        self.xid = 0

    def session_established(self, response: ConnectResponse) -> None:
        self.established = True
        if not self.handshake.done():
            self.handshake.set_result(True)

    def send_reply(self, header: ReplyHeader, body: Any = None) -> None:
        fut = self.pending.pop(header.xid, None)
        if fut is not None and not fut.done():
            fut.set_result(header)

    def send_event(self, event: Any) -> None:
        pass

    def write(self, data: bytes) -> None:
        pass  # only the refusal of a session is written raw; close() follows

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if not self.handshake.done():
            self.handshake.set_result(False)
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("connection closed"))
        self.pending.clear()
        self.server.connection_closed(self)

    async def create(self, path: str, mode: CreateMode, timeout: float) -> ReplyHeader:
        return await self._call(OpCode.CREATE, CreateRequest(path, b"x", OPEN_ACL_UNSAFE, int(mode)), timeout)

    async def exists(self, path: str, timeout: float) -> ReplyHeader:
        return await self._call(OpCode.EXISTS, ExistsRequest(path, False), timeout)

    async def _call(self, op: int, record: Any, timeout: float) -> ReplyHeader:
        self.xid += 1
        frame = encode(RequestHeader(self.xid, op)) + encode(record)
        fut: asyncio.Future[ReplyHeader] = asyncio.get_running_loop().create_future()
        self.pending[self.xid] = fut
        self.server.handle_request(self, RequestEvent(self.xid, op, record, True, frame))
        return await asyncio.wait_for(fut, timeout)


class EnsembleRun:
    def __init__(self, cfg: EnsembleSimConfig, workdir: Path) -> None:
        self.cfg = cfg
        self.workdir = workdir
        self.rng = random.Random(cfg.seed)
        self.configs = write_configs(cfg, workdir)
        self.report = EnsembleReport(cfg.seed)
        self.net: SimNetwork | None = None
        self.peers: dict[int, QuorumPeer] = {}
        self.hosts: dict[int, SimHost] = {}
        self.down: set[int] = set()
        self.acked: list[tuple[int, str, int]] = []  # (client, path, zxid) in ack order
        self._stop_clients = False

    def fail(self, what: str) -> None:
        raise EnsembleInvariantViolation(f"seed {self.cfg.seed}: {what}")

    # ---- servers ----------------------------------------------------------------------

    async def boot(self, sid: int) -> None:
        assert self.net is not None
        # Tasks copy the context they start in: every log line of this server says so.
        NODE.set(f"s{sid}")
        host = self.hosts[sid] = self.net.host(f"s{sid}")
        peer = self.peers[sid] = QuorumPeer(self.configs[sid], host, serve_clients=False)
        peer.on_serving = self._serving
        await peer.start()
        self.down.discard(sid)

    def _serving(self, peer: QuorumPeer, server: Any) -> None:
        if server.mode == "leader":
            epoch = server.leader.epoch
            other = self.report.leaders.setdefault(epoch, peer.my_id)
            if other != peer.my_id:
                self.fail(f"two leaders in epoch {epoch}: {other} and {peer.my_id}")

    async def crash(self, sid: int) -> None:
        self.hosts[sid].crash()
        peer = self.peers.pop(sid)
        self.down.add(sid)
        await peer.stop()  # its tasks end; its host already refuses all disk and network work

    # ---- load -------------------------------------------------------------------------

    def serving_members(self) -> list[int]:
        return [sid for sid, p in sorted(self.peers.items()) if p.serving is not None]

    async def client(self, n: int) -> None:
        count = 0
        last_zxid = 0
        session: SimClient | None = None
        while not self._stop_clients:
            await asyncio.sleep(self.cfg.write_gap_ms / 1000)
            if session is None or session.closed:
                members = self.serving_members()
                if not members:
                    continue
                server = self.peers[self.rng.choice(members)].serving
                session = SimClient(server)
                server.accept_connection(session)
                server.handle_connect(session, ConnectRequest(0, last_zxid, self.cfg.session_timeout_ms, 0, bytes(16)))
                try:
                    if not await asyncio.wait_for(asyncio.shield(session.handshake), 2.0):
                        session = None
                        continue
                except asyncio.TimeoutError:
                    session.close()
                    session = None
                    continue
            count += 1
            mode = CreateMode.EPHEMERAL if count % 5 == 0 else CreateMode.PERSISTENT
            path = f"/c{n}-{count}"
            # The read goes out right behind the write, pipelined as clients do: the
            # member must answer it after the create, never before.
            create = asyncio.ensure_future(session.create(path, mode, 2.0))
            read = asyncio.ensure_future(session.exists(path, 4.0))
            try:
                reply = await create
            except (ConnectionError, asyncio.TimeoutError):
                self.report.failed_writes += 1
                read.cancel()
                session.close()
                session = None
                continue
            if reply.err == 0:
                if reply.zxid <= last_zxid:
                    self.fail(f"client {n}: ack of {path} at 0x{reply.zxid:x} after 0x{last_zxid:x}")
                last_zxid = reply.zxid
                self.acked.append((n, path, reply.zxid))
                self.report.acked += 1
                # Read your own write, on the member that answered it (a follower's read
                # must wait for this session's commit, not for anyone else's).
                try:
                    seen = await read
                except (ConnectionError, asyncio.TimeoutError):
                    session.close()
                    session = None
                    continue
                if seen.err != 0:
                    self.fail(f"client {n}: {path} acked at 0x{reply.zxid:x} but not there for its own read "
                              f"(error {seen.err})")
            else:
                self.report.failed_writes += 1
                await asyncio.gather(read, return_exceptions=True)

    # ---- faults -----------------------------------------------------------------------

    async def faults(self) -> None:
        assert self.net is not None
        loop = asyncio.get_running_loop()
        until = loop.time() + self.cfg.faults_for_ms / 1000
        everyone = set(self.configs)
        while loop.time() < until:
            await asyncio.sleep(self.rng.expovariate(1000 / self.cfg.mean_fault_gap_ms))
            kind = self.rng.choice(["crash", "restart", "partition", "heal", "reset", "crash_leader"])
            up = sorted(everyone - self.down)
            if kind == "crash" and up:
                sid = self.rng.choice(up)
            elif kind == "crash_leader":
                leaders = [s for s in up if self.peers[s].mode == "leader"]
                sid = leaders[0] if leaders else -1
            else:
                sid = -1
            if kind in ("crash", "crash_leader") and sid > 0:
                await self.crash(sid)
            elif kind == "restart" and self.down:
                sid = self.rng.choice(sorted(self.down))
                await self.boot(sid)
            elif kind == "partition":
                side = set(self.rng.sample(sorted(everyone), self.rng.randint(1, len(everyone) // 2)))
                self.net.partition({f"s{s}" for s in side}, {f"s{s}" for s in everyone})
                sid = min(side)
                kind = f"partition {sorted(side)}"
            elif kind == "heal":
                self.net.heal()
            elif kind == "reset":
                self.net.reset_random_connection()
            else:
                continue
            self.report.faults.append(f"{loop.time():.3f} {kind} {sid if sid > 0 else ''}".rstrip())

    # ---- the run ----------------------------------------------------------------------

    async def main(self) -> EnsembleReport:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualLoop)
        self.net = SimNetwork(loop, self.rng)
        started = loop.time()
        for sid in sorted(self.configs):
            await self.boot(sid)
        clients = [asyncio.create_task(self.client(n)) for n in range(self.cfg.clients)]
        await self.faults()
        self.net.heal()
        for sid in sorted(self.down):
            await self.boot(sid)
        await self.settle(loop.time() + self.cfg.settle_within_ms / 1000)
        self._stop_clients = True
        await asyncio.gather(*clients, return_exceptions=True)
        for c in clients:
            if c.done() and not c.cancelled() and c.exception() is not None:
                raise c.exception()  # type: ignore[misc]
        # Let the last commits and session expiries reach everyone, then compare.
        await self.settle(loop.time() + self.cfg.settle_within_ms / 1000, quiet_ms=3 * self.cfg.session_timeout_ms)
        for sid in sorted(self.peers):
            await self.peers[sid].stop()
        self.report.virtual_ms = int((loop.time() - started) * 1000)
        self.check_disks()
        return self.report

    async def settle(self, deadline: float, quiet_ms: int = 0) -> None:
        """Until every member serves under one leader, all at the same zxid (for quiet_ms)."""
        loop = asyncio.get_running_loop()
        same_since: float | None = None
        while loop.time() < deadline:
            await asyncio.sleep(self.cfg.tick_time / 1000)
            servers = [p.serving for p in self.peers.values()]
            if any(s is None for s in servers):
                same_since = None
                continue
            zxids = {s.tree.last_processed_zxid for s in servers}  # type: ignore[union-attr]
            leaders = [s for s in servers if s.mode == "leader"]  # type: ignore[union-attr]
            if len(zxids) == 1 and len(leaders) == 1:
                same_since = same_since if same_since is not None else loop.time()
                if (loop.time() - same_since) * 1000 >= quiet_ms:
                    return
            else:
                same_since = None
        modes = {sid: p.mode for sid, p in sorted(self.peers.items())}
        self.fail(f"the ensemble did not settle: modes {modes}")

    def check_disks(self) -> None:
        """Recover every member from its own folder: all the same, and all acks in it."""
        states = {sid: recover_state(cfg) for sid, cfg in sorted(self.configs.items())}
        first_sid, (tree, sessions, last) = next(iter(states.items()))
        self.report.final_zxid = last
        reference = _tree_view(tree)
        for sid, (t, s, z) in states.items():
            if z != last:
                self.fail(f"member {sid} ends at zxid 0x{z:x}, member {first_sid} at 0x{last:x}")
            if _tree_view(t) != reference:
                self.fail(f"member {sid}'s tree differs from member {first_sid}'s")
            if s != sessions:
                self.fail(f"member {sid}'s sessions {sorted(s)} differ from member {first_sid}'s {sorted(sessions)}")
        for n, path, zxid in self.acked:
            node = tree.get(path)
            if node is None:
                # An acked ephemeral may be gone with its expired session; its create is
                # still in the history, which the zxid order check below covers.
                if _is_ephemeral_path(path):
                    continue
                self.fail(f"acknowledged create of {path} (zxid 0x{zxid:x}) is lost")
            elif node.czxid != zxid:
                self.fail(f"{path} has czxid 0x{node.czxid:x}, its create was acked at 0x{zxid:x}")
        for epoch in self.report.leaders:
            if epoch <= 0 or epoch > epoch_of(last) + 1:
                self.fail(f"leader epoch {epoch} out of range")


def _is_ephemeral_path(path: str) -> bool:
    return int(path.rsplit("-", 1)[1]) % 5 == 0


def _tree_view(tree: DataTree) -> dict[str, tuple[Any, ...]]:
    out = {}
    for path in tree.nodes:
        n = tree.get(path)
        assert n is not None
        out[path] = (n.data, n.czxid, n.mzxid, n.version, n.cversion, n.ephemeral_owner, tuple(sorted(n.children)))
    return out


def run_ensemble(cfg: EnsembleSimConfig, workdir: Path) -> EnsembleReport:
    """One seeded run in a fresh VirtualLoop; `workdir` holds the members' data folders."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    loop = VirtualLoop()
    real_clock = Clock.use(loop.time)
    try:
        return loop.run_until_complete(EnsembleRun(cfg, workdir).main())
    finally:
        close_loop(loop)
        Clock.use(real_clock)


def close_loop(loop: VirtualLoop) -> None:
    """As asyncio.run ends: cancel what still runs (crashed servers' leftovers), let it
    unwind, then close."""
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for t in tasks:
        t.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


__all__ = ["EnsembleInvariantViolation", "EnsembleReport", "EnsembleSimConfig", "run_ensemble"]
