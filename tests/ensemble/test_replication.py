"""Replicated mode, observed from outside: the same tests run against an Apache ZooKeeper
3.8 pseudo-cluster (QuorumPeerMain) and against zkeeper's (see conftest.impl_params).

Everything runs on 127.0.0.1 with tickTime 200 ms (initLimit 10, syncLimit 5), so an
election takes a few hundred milliseconds. Every wait is bounded; nothing asserts on
timing (bench/failover.py measures that).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NodeExistsError
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.states import EventType, WatchedEvent

from tests.ensemble.conftest import EnsembleFactory
from tests.interop.test_kazoo_scenarios import ClientFactory
from tests.server.durability_helpers import wait_until
from tests.support.ensemble import Ensemble
from tests.support.servers import four_letter
from tests.support.wire import WireClient
from zkeeper.jute.records import CreateRequest
from zkeeper.tree.acl import OPEN_ACL_UNSAFE
from zkeeper.types import CreateMode, OpCode

CALL_TIMEOUT = 10.0  # seconds one kazoo request may take before it counts as unanswered


# ---- helpers ---------------------------------------------------------------------------


def followers(ens: Ensemble) -> list[int]:
    return [sid for sid in ens.live() if ens.mode(sid) == "follower"]


def synced_children(c: KazooClient, path: str) -> set[str]:
    c.sync(path)
    return set(c.get_children(path))


def create_retrying(c: KazooClient, path: str, value: bytes = b"", *, timeout: float = 30, **kwargs: Any) -> None:
    """Create `path`, retrying across connection loss (an election) until `timeout`. A
    NodeExists after an unanswered attempt means that attempt went through."""
    deadline = time.monotonic() + timeout
    attempted = False
    while True:
        try:
            c.create_async(path, value, **kwargs).get(timeout=CALL_TIMEOUT)
            return
        except NodeExistsError:
            if attempted:
                return
            raise
        except (KazooException, KazooTimeoutError):
            attempted = True
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def write_through_each(ens: Ensemble, clients: ClientFactory, sids: list[int], prefix: str) -> None:
    """One write through every given member (a client that knows only that member)."""
    for sid in sids:
        c = clients(ens.hosts([sid]))
        create_retrying(c, f"{prefix}-{sid}", str(sid).encode())


# ---- (a) election and replication ----------------------------------------------------------


def test_three_members_elect_one_leader_and_replicate_writes(ensembles: EnsembleFactory,
                                                            clients: ClientFactory) -> None:
    ens = ensembles(3)
    leader = ens.leader()
    modes = ens.modes()
    assert sorted(str(m) for m in modes.values()) == ["follower", "follower", "leader"], ens.describe()
    assert modes[leader] == "leader"

    per_member = {sid: clients(ens.hosts([sid])) for sid in ens.members}
    per_member[1].create("/a")
    for sid, c in per_member.items():
        c.create(f"/a/from{sid}", f"written via {sid}".encode())
        c.set("/a", str(sid).encode())

    expected = {f"from{sid}" for sid in ens.members}
    for sid, c in per_member.items():
        assert synced_children(c, "/a") == expected, f"member {sid} after sync"
        for other in ens.members:
            assert c.get(f"/a/from{other}")[0] == f"written via {other}".encode()
        data, stat = c.get("/a")
        assert (data, stat.version) == (str(max(ens.members)).encode(), len(ens.members))


# ---- (b) leader failover under write load ----------------------------------------------------


@dataclass
class Writer:
    """Creates /b/w<n>-<i> one after the other; records which calls returned success."""

    name: str
    client: KazooClient
    count: int
    deadline: float
    acked: list[int] = field(default_factory=list)
    acked_after_kill: int = 0
    unanswered: list[tuple[int, str]] = field(default_factory=list)  # may or may not have happened
    killed: threading.Event = field(default_factory=threading.Event)

    def path(self, i: int) -> str:
        return f"/b/{self.name}-{i:04d}"

    def run(self) -> None:
        for i in range(self.count):
            if time.monotonic() >= self.deadline:
                return
            try:
                self.client.create_async(self.path(i), str(i).encode()).get(timeout=CALL_TIMEOUT)
            except (KazooException, KazooTimeoutError) as e:
                self.unanswered.append((i, type(e).__name__))
                time.sleep(0.02)
                continue
            self.acked.append(i)
            if self.killed.is_set():
                self.acked_after_kill += 1
            time.sleep(0.005)


def test_leader_killed_under_write_load_loses_no_acknowledged_write(ensembles: EnsembleFactory,
                                                                   clients: ClientFactory) -> None:
    ens = ensembles(3)
    old_leader = ens.leader()
    order = sorted(ens.members)
    setup = clients(ens.hosts())
    setup.create("/b")

    # Three clients, each first connected to a different member, each able to move on to the others.
    writers = []
    for n, sid in enumerate(order):
        hosts = ",".join(ens.members[s].hosts for s in order[n:] + order[:n])
        writers.append(Writer(f"w{sid}", clients(hosts, randomize_hosts=False), count=150, deadline=time.monotonic() + 60))
    sessions = {w.name: w.client.client_id for w in writers}
    threads = [threading.Thread(target=w.run, name=w.name, daemon=True) for w in writers]
    for t in threads:
        t.start()
    wait_until("every writer to get 25 writes acknowledged",
               lambda: all(len(w.acked) >= 25 for w in writers) or not any(t.is_alive() for t in threads), 20,
               interval=0.02)
    for w in writers:
        w.killed.set()
    ens.kill(old_leader)
    for t in threads:
        t.join(timeout=90)
    assert not any(t.is_alive() for t in threads), "a writer is still running after 90 s"

    for w in writers:
        print(f"{w.name}: {len(w.acked)} acknowledged ({w.acked_after_kill} after the kill), "
              f"unanswered: {w.unanswered}")
    new_leader = ens.leader()
    assert new_leader != old_leader
    survivors = [sid for sid in order if sid != old_leader]
    ens.wait_serving(survivors)

    checker = clients(ens.hosts([survivors[0]]))
    present = synced_children(checker, "/b")
    for w in writers:
        missing = [w.path(i) for i in w.acked if w.path(i).rsplit("/", 1)[1] not in present]
        assert not missing, f"{w.name}: acknowledged writes lost after failover: {missing[:10]}"
        assert w.acked_after_kill > 0, f"{w.name}: no write acknowledged after the leader died ({w.unanswered[-5:]})"
        # ZAB keeps each client's writes in order: creation zxids grow with the write number.
        stats = [checker.exists_async(w.path(i)) for i in w.acked]
        czxids = [s.get(timeout=CALL_TIMEOUT).czxid for s in stats]
        assert czxids == sorted(czxids) and len(set(czxids)) == len(czxids), f"{w.name}: writes out of order"
    # A failover is invisible to sessions: the new leader takes them all over.
    assert {w.name: w.client.client_id for w in writers} == sessions

    write_through_each(ens, clients, survivors, "/b/after")
    # The old leader comes back as a follower and has every acknowledged write.
    ens.restart(old_leader)
    assert ens.mode(old_leader) == "follower"
    back = set(clients(ens.hosts([old_leader])).get_children("/b"))
    for w in writers:
        assert {w.path(i).rsplit("/", 1)[1] for i in w.acked} <= back, f"{w.name}: missing on the old leader"


# ---- (c) five members, a minority down ------------------------------------------------------


def test_five_members_keep_writing_while_two_are_down(ensembles: EnsembleFactory, clients: ClientFactory) -> None:
    ens = ensembles(5)
    c = clients(ens.hosts())
    c.create("/c")
    rounds, per_round = 3, 10
    for r in range(rounds):
        leader = ens.leader()
        others = [sid for sid in sorted(ens.members) if sid != leader]
        # rounds 0 and 2 take the leader with them, round 1 only followers
        victims = [leader, others[r % len(others)]] if r != 1 else others[-2:]
        for sid in victims:
            ens.kill(sid)
        remaining = [sid for sid in sorted(ens.members) if sid not in victims]
        assert ens.leader() in remaining
        for i in range(per_round):
            create_retrying(c, f"/c/r{r}-{i:02d}", b"x")
        for sid in victims:
            ens.restart(sid)

    expected = {f"r{r}-{i:02d}" for r in range(rounds) for i in range(per_round)}
    for sid in sorted(ens.members):
        assert synced_children(clients(ens.hosts([sid])), "/c") == expected, f"member {sid}"


# ---- (d) a member restarted with an empty dataDir ---------------------------------------------


def test_member_restarted_with_wiped_data_catches_up(ensembles: EnsembleFactory, clients: ClientFactory) -> None:
    ens = ensembles(3)
    leader = ens.leader()
    wiped, other = followers(ens)
    c = clients(ens.hosts([leader]))
    c.create("/d")
    for i in range(100):
        c.create(f"/d/n{i:03d}", f"v{i}".encode() * 10)
    ens.kill(wiped)
    for i in range(100, 150):  # written while it is down
        c.create(f"/d/n{i:03d}", f"v{i}".encode() * 10)
    c.set("/d/n000", b"changed")
    c.delete("/d/n001")

    ens.restart(wiped, wipe=True)
    assert ens.mode(wiped) == "follower"
    expected = {f"n{i:03d}" for i in range(150)} - {"n001"}
    mine = clients(ens.hosts([wiped]))
    # Everything committed before it rejoined is there without a sync.
    assert set(mine.get_children("/d")) == expected
    assert mine.get("/d/n000")[0] == b"changed"
    assert mine.get("/d/n149")[0] == b"v149" * 10

    # Its copy counts: with the leader gone it and the other follower carry on.
    ens.kill(leader)
    assert ens.leader() in (wiped, other)
    create_retrying(mine, "/d/after", b"")
    assert synced_children(mine, "/d") == expected | {"after"}


# ---- (e) observers ----------------------------------------------------------------------------


def test_observer_serves_reads_and_forwards_writes(ensembles: EnsembleFactory, clients: ClientFactory) -> None:
    ens = ensembles(3, observers=1)
    obs = next(sid for sid, m in ens.members.items() if m.observer)
    ens.leader()
    assert "Mode: observer" in four_letter(ens.members[obs].client_port, "srvr"), ens.describe()
    assert ens.mode(obs) == "observer"
    participants = sorted(sid for sid in ens.members if sid != obs)
    assert sorted(str(ens.mode(s)) for s in participants) == ["follower", "follower", "leader"]

    at_obs = clients(ens.hosts([obs]))
    at_participant = clients(ens.hosts([participants[0]]))
    at_obs.create("/e")
    at_obs.create("/e/from-observer", b"o")
    assert at_obs.get("/e/from-observer")[0] == b"o"  # its own write, at once
    assert synced_children(at_participant, "/e") == {"from-observer"}

    at_participant.create("/e/from-participant", b"p")
    assert synced_children(at_obs, "/e") == {"from-observer", "from-participant"}
    assert at_obs.get("/e/from-participant")[0] == b"p"

    # Watches set through the observer fire for writes made elsewhere.
    fired: list[WatchedEvent] = []
    got = threading.Event()

    def watch(event: WatchedEvent) -> None:
        fired.append(event)
        got.set()

    at_obs.get("/e/from-participant", watch=watch)
    at_participant.set("/e/from-participant", b"p2")
    assert got.wait(10), "data watch set via the observer did not fire"
    assert [(e.type, e.path) for e in fired] == [(EventType.CHANGED, "/e/from-participant")]
    assert at_obs.get("/e/from-participant")[0] == b"p2"


# ---- (f) consistency seen from a follower ------------------------------------------------------


def test_follower_client_reads_its_own_writes_and_syncs(ensembles: EnsembleFactory, clients: ClientFactory) -> None:
    ens = ensembles(3)
    leader = ens.leader()
    follower = followers(ens)[0]
    at_follower = clients(ens.hosts([follower]))
    at_leader = clients(ens.hosts([leader]))
    at_follower.create("/f")
    for i in range(30):
        path = f"/f/n{i:02d}"
        at_follower.create(path, b"a")
        assert at_follower.get(path)[0] == b"a"  # no sync: the follower applied it before answering
        at_follower.set(path, b"b")
        assert at_follower.get(path)[0] == b"b"
        at_follower.delete(path)
        assert at_follower.exists(path) is None

    for i in range(10):
        at_leader.create(f"/f/elsewhere{i}", str(i).encode())
        at_follower.sync("/f")  # after sync, a write made through another member is visible
        assert at_follower.get(f"/f/elsewhere{i}")[0] == str(i).encode()


# ---- (g) sessions move between members and expire cluster-wide ----------------------------------


def test_session_moves_between_members_and_expires_everywhere(ensembles: EnsembleFactory,
                                                             clients: ClientFactory) -> None:
    ens = ensembles(3)
    leader = ens.leader()
    a, b = followers(ens)
    at_leader = clients(ens.hosts([leader]))
    at_leader.create("/g")

    # Session opened at A by a raw client, which creates an ephemeral and then drops its TCP
    # connection without closing the session (what a client does when its server vanishes).
    with WireClient(ens.members[a].client_port) as w:
        resp = w.connect(timeout_ms=2000)
        session_id, passwd = resp.sessionId, resp.passwd
        assert session_id != 0
        reply = w.call(OpCode.CREATE, CreateRequest("/g/eph", b"a", list(OPEN_ACL_UNSAFE), int(CreateMode.EPHEMERAL)))
        assert reply.header.err == 0

    # The same session resumed at B by kazoo, which knows only B.
    moved = clients(ens.hosts([b]), timeout=2.0, client_id=(session_id, passwd))
    assert moved.client_id[0] == session_id, "the session was not resumed at the other member"
    assert moved.get("/g/eph")[0] == b"a"
    moved.create("/g/eph2", b"b", ephemeral=True)
    for c in (at_leader, clients(ens.hosts([a]))):
        c.sync("/g")
        for path in ("/g/eph", "/g/eph2"):
            stat = c.exists(path)
            assert stat is not None and stat.ephemeralOwner == session_id, path

    # B dies: nobody pings for the session any more, the leader expires it, both ephemerals go.
    ens.kill(b)
    wait_until("the leader to expire the session and delete its ephemerals",
               lambda: at_leader.exists("/g/eph") is None and at_leader.exists("/g/eph2") is None, 20)
    assert synced_children(clients(ens.hosts([a])), "/g") == set()
    ens.restart(b)
    assert set(clients(ens.hosts([b])).get_children("/g")) == set()
