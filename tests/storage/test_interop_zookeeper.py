"""Interchange with Apache ZooKeeper 3.8 in both directions, on real processes.

(a) ZooKeeper writes a data set through kazoo and is stopped (SIGTERM or SIGKILL);
    our recovery must rebuild exactly the tree ZooKeeper served just before, from the
    final state and from every (fuzzy) snapshot ZooKeeper took along the way.
(b) We write logs and snapshots; ZooKeeper started on that dataDir must serve exactly
    our tree, agree with our digests, and we must read back what it then wrote.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from zkeeper.storage import recover_detailed
from zkeeper.storage.files import version_dir
from zkeeper.storage.format import zxid_from_name
from zkeeper.tree.datatree import DataTree

from tests.support.servers import RunningServer, four_letter, reference_available, start_reference

from .helpers import DIGEST_USER, Scenario, build_mixed, client_owner, log_paths, persist, tree_view

kazoo_client = pytest.importorskip("kazoo.client")
kazoo_security = pytest.importorskip("kazoo.security")
kazoo_serialization = pytest.importorskip("kazoo.protocol.serialization")

pytestmark = [
    pytest.mark.skipif(not reference_available(), reason="Apache ZooKeeper is not installed"),
    pytest.mark.timeout(120),
]

# Keep ZooKeeper's container/TTL reaper out of the way, and snapshot often so that
# snapshots are taken while writes keep arriving (fuzzy snapshots) and logs roll.
JVM_FLAGS = ("-Dznode.container.checkIntervalMs=3600000", "-Dzookeeper.snapCount=40")
SESSION_TIMEOUT_S = 20.0
OPEN = kazoo_security.OPEN_ACL_UNSAFE

from tests.support.kazoo_raw import CreateContainer, CreateTTL, call  # noqa: E402 - after the kazoo importorskip




# ---- reading what a server serves -------------------------------------------------------


Served = dict[str, tuple[bytes, tuple[int, ...], list[tuple[int, str, str]], list[str]]]


def read_served_tree(zk: Any) -> Served:
    out: Served = {}
    stack = ["/"]
    while stack:
        path = stack.pop()
        data, st = zk.get(path)
        acls, _ = zk.get_acls(path)
        children = zk.get_children(path)
        out[path] = (data, (st.czxid, st.mzxid, st.ctime, st.mtime, st.version, st.cversion, st.aversion,
                            st.ephemeralOwner, st.dataLength, st.numChildren, st.pzxid),
                     [(a.perms, a.id.scheme, a.id.id) for a in acls], children)
        prefix = "/" if path == "/" else path + "/"
        stack.extend(prefix + c for c in children)
    return out


def _acl_matches(served: tuple[int, str, str], ours: tuple[int, str, str]) -> bool:
    # ZooKeeper masks digest ids ("user:x") for callers without ADMIN on the node.
    if served[1] == "digest" and served[2].endswith(":x"):
        return served[:2] == ours[:2] and served[2].split(":")[0] == ours[2].split(":")[0]
    return served == ours


def assert_tree_matches_served(tree: DataTree, served: Served, *, order: bool = True) -> None:
    """Every node's data, Stat and ACL as served. With `order`, also the order of
    getChildren, which is a Java HashSet's: it depends on the set's history (a running
    server's sets may be larger than the ones rebuilt at load), so it is only comparable
    between trees loaded the same way."""
    assert sorted(tree.nodes) == sorted(served), set(tree.nodes) ^ set(served)
    for path, (data, stat, acls, children) in served.items():
        node = tree.nodes[path]
        s = node.stat()
        ours = (s.czxid, s.mzxid, s.ctime, s.mtime, s.version, s.cversion, s.aversion,
                client_owner(s.ephemeralOwner), s.dataLength, s.numChildren, s.pzxid)
        assert node.data == data, path
        assert ours == stat, f"{path}: ours {ours} != served {stat}"
        mine = [(int(a.perms), a.id.scheme, a.id.id) for a in node.acl]
        assert len(mine) == len(acls) and all(map(_acl_matches, acls, mine)), f"{path}: {mine} != {acls}"
        assert sorted(node.children) == sorted(children), path
        if order:
            assert node.children_in_java_order() == children, f"{path}: listing order differs"


def _copy_data(src: Path, dst: Path) -> None:
    """Copy a data dir keeping ZooKeeper's 64 MB preallocated logs sparse (a plain copy
    would write every zero)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-r", "--sparse=always", str(src), str(dst)], check=True, timeout=60)


def _digest_mismatches(server: RunningServer) -> int:
    for line in four_letter(server.port, "mntr").splitlines():
        if line.startswith("zk_digest_mismatches_count"):
            return int(line.split("\t")[1])
    raise AssertionError("mntr has no zk_digest_mismatches_count")


def _client(server: RunningServer) -> Any:
    zk = kazoo_client.KazooClient(hosts=server.hosts, timeout=SESSION_TIMEOUT_S,
                                  connection_retry={"max_tries": 1}, command_retry={"max_tries": 0})
    zk.start(timeout=15)
    zk.add_auth("digest", DIGEST_USER)
    return zk


@pytest.fixture
def reference(tmp_path: Path) -> Iterator[list[RunningServer]]:
    """Servers started by a test; each is stopped (if still running) afterwards."""
    started: list[RunningServer] = []
    yield started
    for s in started:
        s.kill()


# ---- (a) ZooKeeper writes, we recover -------------------------------------------------


def zookeeper_workload(zk: Any, other: Any) -> None:
    make_acl = kazoo_security.make_digest_acl
    zk.create("/app", b"root of app")
    zk.create("/app/config", b"v0")
    zk.create("/app/eph", b"ephemeral", ephemeral=True)
    for i in range(3):
        zk.create("/app/seq-", f"s{i}".encode(), sequence=True)
    zk.create("/app/eseq-", b"", ephemeral=True, sequence=True)
    other.create("/app/goner", b"dies with its session", ephemeral=True)
    other.create("/app/goner-seq-", b"", ephemeral=True, sequence=True)
    call(zk, CreateContainer("/box", b"", OPEN, 4))
    zk.create("/box/item", b"1")
    call(zk, CreateTTL("/ttl", b"lives long", OPEN, 5, 3_600_000))
    call(zk, CreateTTL("/ttl-seq-", b"", OPEN, 6, 3_600_000))
    zk.create("/secure", b"secret", acl=[make_acl("user", "pw", all=True)])
    zk.set("/app/config", b"v1")
    zk.set("/app/config", b"v2", version=1)
    zk.set_acls("/app", [make_acl("user", "pw", read=True, write=True)])
    t = zk.transaction()
    t.create("/multi", b"m")
    t.create("/multi/child", b"c")
    t.set_data("/app/config", b"v3")
    t.check("/app/config", 3)
    t.delete("/box/item")
    assert not any(isinstance(r, Exception) for r in t.commit())
    failing = zk.transaction()
    failing.create("/never", b"")
    failing.delete("/does-not-exist")
    failing.commit()  # logged as a multi of error txns
    other.stop()  # closeSession deletes both
    other.close()
    zk.create("/utf8-ñ-✓", "dätä".encode())
    zk.create("/big", bytes(range(256)) * 400)
    # A pipelined burst, so ZooKeeper snapshots (snapCount=40) while txns keep coming.
    zk.create("/load", b"")
    results = [zk.create_async(f"/load/n{i:03d}", str(i).encode()) for i in range(120)]
    results += [zk.set_async(f"/load/n{i:03d}", b"again") for i in range(0, 120, 3)]
    results += [zk.delete_async(f"/load/n{i:03d}") for i in range(0, 120, 7)]
    results += [zk.create_async(f"/load/n{i:03d}", b"re") for i in range(0, 120, 14)]
    for r in results:
        r.get(timeout=20)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_recover_what_zookeeper_wrote(tmp_path: Path, reference: list[RunningServer], sig: int) -> None:
    server = start_reference(tmp_path, jvm_flags=JVM_FLAGS)
    reference.append(server)
    zk = _client(server)
    other = _client(server)
    other_sid = other.client_id[0]
    zookeeper_workload(zk, other)
    served = read_served_tree(zk)
    live_sid = zk.client_id[0]
    server.stop(sig)  # with our session still open: its ephemerals are on disk
    zk.stop()
    zk.close()

    data = tmp_path / "data"
    snapshots = sorted(version_dir(data).glob("snapshot.*"), key=lambda p: zxid_from_name(p.name, "snapshot"))
    assert len(snapshots) >= 3 and len(log_paths(data)) >= 3, "expected ZooKeeper to snapshot and roll"
    r = recover_detailed(data, write_initial_snapshot=False)
    assert_tree_matches_served(r.tree, served, order=False)
    assert r.sessions.get(live_sid) == int(SESSION_TIMEOUT_S * 1000)
    assert other_sid not in r.sessions
    assert r.digest_mismatches == [] and r.digests_checked > 0
    assert r.truncated == [] and r.removed == []

    # Every snapshot ZooKeeper took, fuzzy ones included, is a valid starting point.
    expected = tree_view(r.tree)
    for snap in snapshots[:-1]:
        work = tmp_path / "from" / snap.name
        _copy_data(data, work)
        for newer in snapshots:
            if zxid_from_name(newer.name, "snapshot") > zxid_from_name(snap.name, "snapshot"):
                (work / "version-2" / newer.name).unlink()
        older = recover_detailed(work, write_initial_snapshot=False)
        assert older.snapshot_zxid == zxid_from_name(snap.name, "snapshot")
        assert tree_view(older.tree) == expected, snap.name
        assert older.sessions == r.sessions and older.digest_mismatches == []
        # Txns inside a fuzzy snapshot's window can't be digest-checked (ZooKeeper
        # skips them too), so only some of the replayed ones are.
        assert older.txns_replayed > 0 and older.digests_checked > 0

    # A ZooKeeper restarted on the same files lists children as our recovered tree does.
    again = tmp_path / "again"
    _copy_data(data, again / "data")
    restarted = start_reference(again, jvm_flags=JVM_FLAGS)
    reference.append(restarted)
    zk = _client(restarted)
    try:
        assert_tree_matches_served(r.tree, read_served_tree(zk))
    finally:
        zk.stop()
        zk.close()
    restarted.stop()


# ---- (b) we write, ZooKeeper serves ----------------------------------------------------


@pytest.mark.parametrize("snapshots", [(0,), (0, 9, 18)], ids=["one-log", "snapshots-and-rolls"])
def test_zookeeper_serves_what_we_wrote(tmp_path: Path, reference: list[RunningServer],
                                        snapshots: tuple[int, ...]) -> None:
    sc = Scenario(with_digests=True, keep_views=True)
    roles = build_mixed(sc)
    data = tmp_path / "data"
    persist(sc, data, snapshots=snapshots, prealloc=64 * 1024)

    server = start_reference(tmp_path, jvm_flags=JVM_FLAGS)
    reference.append(server)
    zk = _client(server)
    try:
        assert_tree_matches_served(sc.tree, read_served_tree(zk))
        # ZooKeeper checked our snapshot digest and every logged txn digest on load.
        assert _digest_mismatches(server) == 0
        dump = four_letter(server.port, "dump")
        assert f"0x{roles['live']:x}" in dump and "/app/eph" in dump
        assert f"0x{roles['closed']:x}" not in dump
    finally:
        zk.stop()
        zk.close()
    server.stop()

    # And back: ZooKeeper snapshotted at startup and logged kazoo's session; we read both.
    r = recover_detailed(data, write_initial_snapshot=False)
    assert r.snapshot_zxid == sc.last_zxid  # ZooKeeper's own snapshot, taken at load
    assert r.digest_mismatches == []
    assert tree_view(r.tree) == tree_view(sc.tree)
    assert r.sessions == sc.open_sessions
