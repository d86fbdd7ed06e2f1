"""Recovery on real files: snapshot + logs, fuzzy snapshots, torn tails, corruption."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from zkeeper.jute import CreateRequest, DeleteRequest
from zkeeper.storage import (
    CorruptLogError, NoValidSnapshotError, StorageError, TxnLogWriter, recover, recover_detailed, write_snapshot,
)
from zkeeper.storage.files import version_dir
from zkeeper.storage.snapformat import encode_snapshot
from zkeeper.storage.txnlog import LogReader
from zkeeper.tree.acl import OPEN_ACL_UNSAFE
from zkeeper.tree.datatree import DataTree
from zkeeper.types import CreateMode, OpCode

from .helpers import Scenario, assert_same_tree, build_mixed, log_paths, persist, tree_view


@pytest.fixture(scope="module")
def mixed() -> Scenario:
    sc = Scenario(with_digests=True, keep_views=True)
    build_mixed(sc)
    return sc


def _records(path: Path) -> list[tuple[int, int, int]]:
    """(zxid, offset, end) of each record."""
    with LogReader(path) as r:
        return [(rec.zxid, rec.offset, rec.end) for rec in r.records()]


def test_empty_data_dir_starts_empty_and_writes_snapshot_0(tmp_path: Path) -> None:
    r = recover_detailed(tmp_path)
    assert r.last_zxid == 0 and r.sessions == {}
    assert_same_tree(r.tree, DataTree())
    assert r.initial_snapshot == tmp_path / "version-2" / "snapshot.0"
    again = recover_detailed(tmp_path)
    assert again.snapshot == r.initial_snapshot and again.initial_snapshot is None


@pytest.mark.parametrize("snapshots", [(0,), (0, 9), (0, 9, 18), (0, 25)])
def test_snapshot_and_logs(tmp_path: Path, mixed: Scenario, snapshots: tuple[int, ...]) -> None:
    persist(mixed, tmp_path, snapshots=snapshots)
    r = recover_detailed(tmp_path)
    assert r.snapshot_zxid == max(snapshots)
    assert r.last_zxid == mixed.last_zxid
    assert_same_tree(r.tree, mixed.tree)
    assert r.sessions == mixed.open_sessions
    assert r.digest_mismatches == [] and r.digests_checked >= mixed.last_zxid - max(snapshots)
    assert r.truncated == [] and r.removed == []
    tree, sessions, zxid = recover(tmp_path)
    assert zxid == mixed.last_zxid and sessions == mixed.open_sessions


def test_separate_log_dir(tmp_path: Path, mixed: Scenario) -> None:
    data, logs = tmp_path / "data", tmp_path / "logs"
    persist(mixed, data, snapshots=(0, 9), log_dir=logs)
    assert not list(version_dir(data).glob("log.*")) and list(version_dir(logs).glob("log.*"))
    r = recover_detailed(data, logs)
    assert_same_tree(r.tree, mixed.tree)
    with pytest.raises(StorageError, match="Check if dataLogDir and dataDir"):
        recover_detailed(logs, data)  # swapped in zoo.cfg


def test_fuzzy_snapshots(tmp_path: Path, mixed: Scenario) -> None:
    """A snapshot named at zxid j whose content is already at k >= j (ZooKeeper keeps
    applying txns while it writes a snapshot): replaying j+1.. must still converge,
    and the digests ZooKeeper-style checking sees must agree once past k."""
    persist(mixed, tmp_path, snapshots=())
    snap_dir = version_dir(tmp_path)
    last = mixed.last_zxid
    for j in range(0, last):
        for k in sorted({j, j + 1, j + 3, last} - {0}):
            if k > last:
                continue
            tree, sessions = mixed.state_at(k)
            for old in snap_dir.glob("snapshot.*"):
                old.unlink()
            with open(snap_dir / f"snapshot.{j:x}", "wb") as f:
                encode_snapshot(tree, sessions, k, f.write)
            r = recover_detailed(tmp_path, repair=False)
            assert r.snapshot_zxid == j
            assert tree_view(r.tree) == tree_view(mixed.tree), (j, k)
            assert r.sessions == mixed.open_sessions, (j, k)
            assert r.digest_mismatches == [], (j, k)
            assert r.tree.approximate_data_size == mixed.tree.approximate_data_size


def test_recreated_node_in_the_fuzzy_window(tmp_path: Path) -> None:
    """delete + create of the same path after the snapshot point: the replayed create
    hits NodeExists, and ZooKeeper still raises the parent's cversion/pzxid."""
    sc = Scenario(with_digests=True, keep_views=True)
    sid = sc.session()
    acl = list(OPEN_ACL_UNSAFE)
    sc.run(sid, OpCode.CREATE, CreateRequest("/p", b"", acl, 0))
    sc.run(sid, OpCode.CREATE, CreateRequest("/p/x", b"1", acl, 0))
    j = sc.last_zxid
    sc.run(sid, OpCode.DELETE, DeleteRequest("/p/x", -1))
    sc.run(sid, OpCode.CREATE, CreateRequest("/p/x", b"2", acl, 0))
    sc.create(sid, "/p/s-", b"", CreateMode.EPHEMERAL_SEQUENTIAL)
    persist(sc, tmp_path, snapshots=())
    tree, sessions = sc.state_at(sc.last_zxid)
    with open(version_dir(tmp_path) / f"snapshot.{j:x}", "wb") as f:
        encode_snapshot(tree, sessions, sc.last_zxid, f.write)
    r = recover_detailed(tmp_path)
    assert_same_tree(r.tree, sc.tree)
    assert r.digest_mismatches == []


def _expected_after_cut(records: list[tuple[int, int, int]], cut: int) -> tuple[int, int]:
    """(zxid of the last complete record, where the valid data ends) for a cut at `cut`."""
    zxid, end = 0, 16
    for z, _, e in records:
        if e <= cut:
            zxid, end = z, e
    return zxid, end


@pytest.mark.parametrize("damage", ["truncate", "zero-fill"])
def test_torn_tail_at_random_offsets(tmp_path: Path, mixed: Scenario, damage: str) -> None:
    base = tmp_path / "orig"
    persist(mixed, base)
    (log,) = log_paths(base)
    records = _records(log)
    original = log.read_bytes()
    rng = random.Random(20240601 + len(damage))
    cuts = {rng.randrange(16, records[-1][2] + 1) for _ in range(40)}
    for _, start, end in records[-3:]:  # every spot of a record's head and tail
        cuts |= set(range(start, start + 40)) | set(range(end - 4, end + 1))
    for cut in sorted(cuts):
        work = tmp_path / "work"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(base, work)
        wlog = work / "version-2" / log.name
        if damage == "truncate":
            with open(wlog, "r+b") as f:
                f.truncate(cut)
        else:
            with open(wlog, "r+b") as f:
                size = f.seek(0, 2)
                f.seek(cut)
                f.write(bytes(size - cut))
        zxid, end = _expected_after_cut(records, cut)
        r = recover_detailed(work)
        view, sessions = mixed.view_at(zxid)
        assert r.last_zxid == zxid, cut
        assert tree_view(r.tree) == view, cut
        assert r.sessions == sessions, cut
        assert r.digest_mismatches == [], cut
        # Zeroing from `cut` leaves a clean end when only zeros (the high bytes of the
        # next checksum) survive past the last record.
        torn = cut != end if damage == "truncate" else any(original[end:cut])
        assert r.truncated == ([(wlog, end)] if torn else []), cut
        if torn:
            assert wlog.stat().st_size == end
        again = recover_detailed(work)
        assert again.truncated == [] and again.last_zxid == zxid


def test_corruption_in_the_middle_is_refused(tmp_path: Path, mixed: Scenario) -> None:
    persist(mixed, tmp_path)
    (log,) = log_paths(tmp_path)
    records = _records(log)
    good = log.read_bytes()
    for i in (1, len(records) // 2, len(records) - 2):
        zxid, offset, end = records[i]
        for how in ("flip", "hole"):
            bad = bytearray(good)
            if how == "flip":
                bad[offset + 30] ^= 0x04
            else:
                bad[offset:end] = bytes(end - offset)
            log.write_bytes(bytes(bad))
            with pytest.raises(CorruptLogError) as info:
                recover_detailed(tmp_path)
            assert info.value.path == log and info.value.offset == offset, (i, how)
            assert str(log) in str(info.value) and str(offset) in str(info.value)
            assert log.read_bytes() == bytes(bad)  # nothing was cut
    # Damage to the very last record is a torn tail, not corruption.
    zxid, offset, end = records[-1]
    bad = bytearray(good)
    bad[offset + 30] ^= 0x04
    log.write_bytes(bytes(bad))
    r = recover_detailed(tmp_path)
    assert r.truncated == [(log, offset)] and r.last_zxid == records[-2][0]


def test_bad_magic_is_refused(tmp_path: Path, mixed: Scenario) -> None:
    persist(mixed, tmp_path)
    (log,) = log_paths(tmp_path)
    with open(log, "r+b") as f:
        f.write(b"XXXX")
    with pytest.raises(CorruptLogError) as info:
        recover_detailed(tmp_path)
    assert info.value.offset == 0


def test_corruption_in_an_older_log(tmp_path: Path, mixed: Scenario) -> None:
    persist(mixed, tmp_path, snapshots=(0, 12))
    first = log_paths(tmp_path)[0]
    zxid, offset, _ = _records(first)[5]
    for snap in version_dir(tmp_path).glob("snapshot.c"):
        snap.unlink()  # make recovery read the first log
    data = bytearray(first.read_bytes())
    data[offset + 20] ^= 0xFF
    first.write_bytes(bytes(data))
    with pytest.raises(CorruptLogError) as info:
        recover_detailed(tmp_path)
    assert info.value.path == first and info.value.offset == offset


def test_torn_tail_of_an_older_log(tmp_path: Path, mixed: Scenario) -> None:
    """A crash tore the last record of log.1; the restarted server began log.<that zxid>."""
    persist(mixed, tmp_path, upto=10)
    (first,) = log_paths(tmp_path)
    zxid, offset, end = _records(first)[-1]
    with open(first, "r+b") as f:
        f.truncate(offset + (end - offset) // 2)
    with TxnLogWriter(tmp_path, prealloc_size=4096) as w:
        for e in mixed.logged:
            if e.hdr.zxid >= zxid:
                w.append(e.hdr, e.txn, e.digest)
    r = recover_detailed(tmp_path)
    assert_same_tree(r.tree, mixed.tree)
    assert r.truncated == [(first, offset)]


def test_blank_logs_are_removed(tmp_path: Path, mixed: Scenario) -> None:
    persist(mixed, tmp_path)
    d = version_dir(tmp_path)
    (d / f"log.{mixed.last_zxid + 1:x}").write_bytes(bytes(4096))  # created, header never written
    r = recover_detailed(tmp_path)
    assert_same_tree(r.tree, mixed.tree)
    assert r.removed == [d / f"log.{mixed.last_zxid + 1:x}"]
    assert len(log_paths(tmp_path)) == 1


def test_repair_off_reports_only(tmp_path: Path, mixed: Scenario) -> None:
    persist(mixed, tmp_path)
    (log,) = log_paths(tmp_path)
    zxid, offset, end = _records(log)[-1]
    with open(log, "r+b") as f:
        f.truncate(end - 1)
    size = log.stat().st_size
    r = recover_detailed(tmp_path, repair=False)
    assert r.last_zxid == _records(log)[-1][0] and log.stat().st_size == size and r.truncated == []


def test_newest_snapshot_corrupt_falls_back(tmp_path: Path, mixed: Scenario) -> None:
    persist(mixed, tmp_path, snapshots=(0, 9, 18))
    newest = version_dir(tmp_path) / "snapshot.12"
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0x01
    newest.write_bytes(bytes(data))
    incomplete = version_dir(tmp_path) / f"snapshot.{mixed.last_zxid:x}"
    incomplete.write_bytes(data[:100])  # a snapshot a crash cut short
    r = recover_detailed(tmp_path)
    assert r.snapshot_zxid == 9
    assert [p.name for p, _ in r.skipped_snapshots] == [incomplete.name, "snapshot.12"]
    assert_same_tree(r.tree, mixed.tree)


def test_logs_without_snapshot(tmp_path: Path, mixed: Scenario) -> None:
    persist(mixed, tmp_path, snapshots=())
    with pytest.raises(NoValidSnapshotError, match="Something is broken"):
        recover_detailed(tmp_path)
    r = recover_detailed(tmp_path, trust_empty_snapshot=True)
    assert_same_tree(r.tree, mixed.tree)


def test_only_snapshots_corrupt(tmp_path: Path, mixed: Scenario) -> None:
    persist(mixed, tmp_path, snapshots=(0, 9))
    for snap in version_dir(tmp_path).glob("snapshot.*"):
        data = bytearray(snap.read_bytes())
        data[20] ^= 0x01
        snap.write_bytes(bytes(data))
    with pytest.raises(NoValidSnapshotError):
        recover_detailed(tmp_path)


def test_orphan_ephemerals_are_dropped(tmp_path: Path) -> None:
    sc = Scenario(keep_views=True)
    sid = sc.session()
    sc.create(sid, "/e", b"", CreateMode.EPHEMERAL)
    tree, _ = sc.state_at(sc.last_zxid)
    write_snapshot(tree, {}, sc.last_zxid, tmp_path)  # a session table without the owner
    r = recover_detailed(tmp_path)
    assert "/e" not in r.tree.nodes and r.orphan_sessions == [sid]
    assert r.tree.nodes["/"].pzxid == sc.last_zxid
