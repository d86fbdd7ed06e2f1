"""zkeeper and Apache ZooKeeper in one ensemble: the quorum protocol is ZooKeeper's own.

The same election notifications, QuorumPackets, DIFF/SNAP sync streams and forwarded
requests pass between a real QuorumPeerMain and zkeeper members, whichever of them leads.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kazoo.client import KazooClient

from tests.server.durability_helpers import wait_until
from tests.support.ensemble import Ensemble
from tests.support.servers import reference_available

pytestmark = pytest.mark.skipif(not reference_available(), reason="Apache ZooKeeper (Debian package) is not installed")


def _start_mixed(directory: Path, zookeeper_members: set[int]) -> Ensemble:
    ens = Ensemble.create("zkeeper", directory, 3)
    ens.mixed = {sid: "zookeeper" for sid in zookeeper_members}
    ens.start()
    ens.wait_serving(timeout=60)
    ens.leader(timeout=30)
    return ens


def _client(ens: Ensemble, sid: int) -> KazooClient:
    c = KazooClient(hosts=f"127.0.0.1:{ens.members[sid].client_port}", timeout=10)
    c.start(timeout=20)
    return c


def _check_replication(ens: Ensemble, prefix: str) -> None:
    """Writes through every member (forwarded to whichever leads) are seen everywhere."""
    clients = {sid: _client(ens, sid) for sid in ens.live()}
    try:
        for i in range(30):
            sid = sorted(clients)[i % len(clients)]
            clients[sid].create(f"/{prefix}{i}", b"%d" % i)
        owner = sorted(clients)[0]
        clients[owner].create(f"/{prefix}-eph", ephemeral=True)
        stats = set()
        for c in clients.values():
            c.sync("/")
            assert sum(1 for n in c.get_children("/") if n.startswith(prefix) and n != f"{prefix}-eph") == 30
            stats.add(c.exists(f"/{prefix}7"))
        assert len(stats) == 1, stats  # the same zxids and versions on every member
        clients.pop(owner).stop()
        other = next(iter(clients.values()))
        wait_until("the ephemeral node to go with its session",
                   lambda: other.sync("/") is not None and other.exists(f"/{prefix}-eph") is None, timeout=30)
    finally:
        for c in clients.values():
            c.stop()
            c.close()


def _wiped_member_catches_up(ens: Ensemble, sid: int, prefix: str) -> None:
    """Restart `sid` with no data: the leader of the other kind sends it everything (a SNAP)."""
    ens.kill(sid)
    ens.restart(sid, wipe=True)
    ens.wait_serving(timeout=60)
    c = _client(ens, sid)
    try:
        assert sum(1 for n in c.get_children("/") if n.startswith(prefix)) == 30
    finally:
        c.stop()
        c.close()


def test_zookeeper_follows_a_zkeeper_leader(tmp_path: Path) -> None:
    ens = _start_mixed(tmp_path / "e", {1})  # with equal data the highest id leads: zkeeper's 3
    try:
        assert ens.mode(3) == "leader" and ens.mode(1) == "follower"
        _check_replication(ens, "a")
        _wiped_member_catches_up(ens, 1, "a")
    finally:
        ens.stop()


def test_zkeeper_follows_a_zookeeper_leader_after_failover(tmp_path: Path) -> None:
    ens = _start_mixed(tmp_path / "e", {3})
    try:
        leader = ens.leader()
        if leader != 3:
            ens.kill(leader)  # ZooKeeper's 3 then wins the next round
            wait_until("ZooKeeper to lead", lambda: ens.mode(3) == "leader", timeout=30)
            ens.restart(leader)
            ens.wait_serving(timeout=60)
        assert ens.mode(3) == "leader"
        _check_replication(ens, "b")
        _wiped_member_catches_up(ens, 1, "b")
    finally:
        ens.stop()
