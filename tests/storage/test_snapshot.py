"""Snapshot files: round trips, the ACL cache, checksums, atomic writes."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from zkeeper.jute import CreateRequest
from zkeeper.storage import CorruptSnapshotError, SnapshotWriteError, is_valid_snapshot, load_snapshot
from zkeeper.storage import snapshot as snapshot_mod
from zkeeper.storage import tree_digest, write_snapshot
from zkeeper.storage.digest import ZxidDigest
from zkeeper.storage.snapformat import SnapshotDecoder
from zkeeper.tree.acl import OPEN_ACL_UNSAFE
from zkeeper.tree.datatree import DataTree
from zkeeper.types import OpCode

from .helpers import Scenario, assert_same_tree, build_mixed


@pytest.fixture
def scenario() -> Scenario:
    sc = Scenario()
    build_mixed(sc)
    return sc


def test_round_trip(tmp_path: Path, scenario: Scenario) -> None:
    path = write_snapshot(scenario.tree, scenario.open_sessions, scenario.last_zxid, tmp_path)
    assert path == tmp_path / "version-2" / f"snapshot.{scenario.last_zxid:x}"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left
    assert is_valid_snapshot(path)
    snap = load_snapshot(path)
    assert snap.zxid == scenario.last_zxid
    assert snap.sessions == scenario.open_sessions
    assert snap.digest == ZxidDigest(scenario.last_zxid, 2, tree_digest(scenario.tree))
    assert_same_tree(snap.tree, scenario.tree)
    # Ephemerals, containers and TTL nodes are registered as DataTree registers them.
    live = next(iter(scenario.open_sessions))
    assert sorted(snap.tree.ephemerals[live].items) == ["/app/eph", "/app/seq-0000000003"]
    assert snap.tree.containers == {"/box"} and snap.tree.ttls == {"/ttl", "/ttl-seq-0000000003"}
    # Children come back in the order ZooKeeper lists them.
    for p, node in scenario.tree.nodes.items():
        assert snap.tree.nodes[p].children_in_java_order() == node.children_in_java_order()


def test_acl_cache_uses_zookeepers_open_acl_index(tmp_path: Path, scenario: Scenario) -> None:
    path = write_snapshot(scenario.tree, {}, scenario.last_zxid, tmp_path)
    d = SnapshotDecoder(path.read_bytes())
    d.header()
    d.sessions()
    acls = d.acls()
    # Two distinct non-open lists (the user's ALL and READ|WRITE) and world:anyone READ of
    # /zookeeper/config; the open ACL is ZooKeeper's reserved -1 and needs no entry.
    assert sorted(len(v) for v in acls.values()) == [1, 1, 1]
    refs = {n.path: n.acl_index for n in d.nodes()}
    assert refs[""] == refs["/app/eph"] == -1
    assert refs["/secure"] > 0 and refs["/app"] > 0 and refs["/secure"] != refs["/app"]
    assert d.trailer() is not None


def test_any_flipped_byte_is_caught(tmp_path: Path, scenario: Scenario) -> None:
    path = write_snapshot(scenario.tree, scenario.open_sessions, 5, tmp_path)
    good = path.read_bytes()
    for offset in range(0, len(good), max(1, len(good) // 97)):
        bad = bytearray(good)
        bad[offset] ^= 0x10
        path.write_bytes(bytes(bad))
        with pytest.raises(CorruptSnapshotError):
            load_snapshot(path)
    path.write_bytes(good)
    load_snapshot(path)


def test_truncated_snapshot_is_invalid(tmp_path: Path, scenario: Scenario) -> None:
    path = write_snapshot(scenario.tree, {}, 9, tmp_path)
    good = path.read_bytes()
    for cut in (0, 9, 16, len(good) // 2, len(good) - 1):
        path.write_bytes(good[:cut])
        assert not is_valid_snapshot(path)
        with pytest.raises(CorruptSnapshotError):
            load_snapshot(path)


def test_snapshot_without_digest_loads(tmp_path: Path, scenario: Scenario) -> None:
    """As written by ZooKeeper < 3.6 or with digests disabled."""
    path = write_snapshot(scenario.tree, {}, 3, tmp_path, with_digest=False)
    snap = load_snapshot(path)
    assert snap.digest is None
    assert_same_tree_ignoring_zxid(snap.tree, scenario.tree)


def assert_same_tree_ignoring_zxid(a: DataTree, b: DataTree) -> None:
    a.last_processed_zxid = b.last_processed_zxid
    assert_same_tree(a, b)


def test_gzip_compressed_snapshot_loads(tmp_path: Path, scenario: Scenario) -> None:
    """snapshot.compression.method=gz writes snapshot.<zxid>.gz."""
    path = write_snapshot(scenario.tree, scenario.open_sessions, scenario.last_zxid, tmp_path)
    gz = path.with_name(path.name + ".gz")
    gz.write_bytes(gzip.compress(path.read_bytes()))
    path.unlink()
    assert is_valid_snapshot(gz)
    assert_same_tree(load_snapshot(gz).tree, scenario.tree)


def test_deep_tree(tmp_path: Path) -> None:
    sc = Scenario()
    sid = sc.session()
    path = ""
    for _ in range(1500):
        path += "/d"
        sc.run(sid, OpCode.CREATE, CreateRequest(path, b"", list(OPEN_ACL_UNSAFE), 0))
    snap = load_snapshot(write_snapshot(sc.tree, sc.open_sessions, sc.last_zxid, tmp_path))
    assert_same_tree(snap.tree, sc.tree)


def test_failed_write_leaves_no_file(tmp_path: Path, scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(snapshot_mod, "encode_snapshot", boom)
    with pytest.raises(SnapshotWriteError) as info:
        write_snapshot(scenario.tree, {}, 7, tmp_path)
    assert info.value.errno == 28
    assert os.listdir(tmp_path / "version-2") == []


def test_empty_tree_snapshot(tmp_path: Path) -> None:
    snap = load_snapshot(write_snapshot(DataTree(), {}, 0, tmp_path))
    assert_same_tree(snap.tree, DataTree())
    assert snap.sessions == {} and snap.zxid == 0
